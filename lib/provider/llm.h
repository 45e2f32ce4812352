/* llm.h — provider-neutral types for one model call and its answer.
 *
 * Provider clients (provider_openai.c, provider_anthropic.c via provider.h)
 * translate between these and the wire formats; pricing, escalation and the
 * ledger only ever see these. */
#ifndef SL_LLM_H
#define SL_LLM_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Token usage normalised across providers:
 *   input_tokens is the TOTAL input (OpenAI prompt_tokens; Anthropic
 *   input_tokens + cache_creation_input_tokens + cache_read_input_tokens),
 *   cached_tokens and cache_write_tokens are subsets of it,
 *   cache_write_1h_tokens a subset of cache_write_tokens. */
struct llm_usage {
    int64_t input_tokens;
    int64_t cached_tokens;
    int64_t cache_write_tokens;
    int64_t output_tokens;
    int64_t cache_write_1h_tokens; /* the part of cache_write_tokens written
                                      with a 1-hour TTL (Anthropic) */
};

/* A parsed provider response (HTTP 200) or error body (other statuses).
 * Strings are owned; free with llm_response_clear(). */
struct llm_response {
    long http_status;
    char *content;      /* assistant text, NULL when absent */
    char *response_id;  /* body id: "chatcmpl-…" / "msg_…" */
    bool truncated;     /* finish_reason "length" / stop_reason "max_tokens" */
    bool refused;       /* OpenAI message.refusal set / stop_reason "refusal" */
    bool flex;          /* OpenAI service_tier "flex": billed at the batch rate */
    struct llm_usage usage;
    bool has_usage;
    char *error_type;   /* error bodies: OpenAI error.code or error.type,
                           Anthropic error.type (e.g. "rate_limit_error") */
    char *error_message;
    bool no_retry;      /* body says retrying is useless: insufficient_quota,
                           enforced_spend_limit_reached */
};

void llm_response_clear(struct llm_response *resp);

/* The validated answer extracted from a model's content. Owned strings and
 * cJSON; free with llm_answer_clear(). Exactly one of label/data/text is set
 * for an accepted answer. */
struct llm_answer {
    char *label;   /* canonical label from the task's set */
    cJSON *data;   /* json tasks */
    char *text;    /* text tasks */
    double confidence; /* 0..1; 0 when the model gave none */
    bool has_confidence;
};

void llm_answer_clear(struct llm_answer *answer);

/* The usage a response bills: its reported usage, or zero tokens when it
 * reported none (resp may be NULL: no response at all). */
struct llm_usage llm_response_usage(const struct llm_response *resp);

#endif
