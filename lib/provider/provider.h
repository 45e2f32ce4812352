/* provider.h — the pure part of a provider client: URL, headers, request
 * body, response parsing. No I/O: the worker and scheduler do the HTTP.
 *
 * Two wire formats are spoken (see docs/providers.md and
 * docs/prompt-contract.md): OpenAI Chat Completions (and every
 * OpenAI-compatible server) and Anthropic Messages. Everything above this
 * module sees only the neutral types of llm.h.
 *
 * Ownership: every returned string is new; free with free(). Header lists
 * are new; free with curl_slist_free_all(). Allocation failure aborts, like
 * xmalloc. */
#ifndef SL_PROVIDER_H
#define SL_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "config.h"
#include "llm.h"
#include "sl.h"

/* Returns a new string: the endpoint URL (openai: base_url +
 * "/chat/completions"; anthropic: base_url + "/v1/messages"). A trailing
 * '/' on base_url is ignored. */
char *provider_url(const struct provider_conf *p);

/* Returns a new curl header list: Content-Type, and for openai
 * "Authorization: Bearer <key>", for anthropic "x-api-key: <key>" +
 * "anthropic-version: 2023-06-01"; plus an empty "Expect:" so that curl
 * never waits for a 100-continue. The key is read with
 * getenv(p->api_key_env) here and nowhere else; no auth header when unset
 * or empty. Free with curl_slist_free_all. */
struct curl_slist *provider_headers(const struct provider_conf *p);

/* Renders the task prompt in one pass over the template: {{input}} (the
 * input_len bytes of input), {{labels}} (joined ", "), {{schema}}
 * (task->schema_text, "" when NULL). Placeholders inside the substituted
 * text are not expanded again. Returns a new string. */
char *provider_render_prompt(const struct task_conf *task, const char *input,
                             size_t input_len);

/* Returns a new JSON request body for the chat call (see
 * docs/prompt-contract.md): system + user message, model, max tokens
 * (openai "max_completion_tokens"; anthropic "max_tokens"), temperature 0;
 * openai also "response_format":{"type":"json_object"}. The system text is
 * the task's system prompt, the output-shape instruction for its output
 * type and the task's few-shot examples (OpenAI system message; Anthropic
 * top-level "system"). Laid out for prompt caching (prompt_shape.h): the
 * stable prefix first, the input last; Anthropic gets a cache_control
 * breakpoint on the last stable block when the prefix is long enough,
 * OpenAI a prompt_cache_key. flex (OpenAI only) adds
 * "service_tier":"flex". bound, when not NULL, gets what the body can bill
 * at most (provider_estimate_request), read off the tree before it is
 * printed rather than parsed back. */
char *provider_request_body_ex(const struct provider_conf *p,
                               const struct task_conf *task,
                               const char *model, const char *input,
                               size_t input_len, bool flex,
                               struct llm_usage *bound);
/* provider_request_body_ex without flex. */
char *provider_request_body(const struct provider_conf *p,
                            const struct task_conf *task, const char *model,
                            const char *input, size_t input_len);

/* Parses a response body of any status into *out (zeroed first; free with
 * llm_response_clear()).
 * 200: content, response_id, usage (normalised per llm.h, clamped so that
 *   cached + cache_write <= input), truncated (OpenAI finish_reason
 *   "length"; Anthropic stop_reason "max_tokens" or
 *   "model_context_window_exceeded"), refused (OpenAI message.refusal;
 *   Anthropic stop_reason "refusal"). content may be NULL only when the
 *   answer is refused or truncated.
 * Other statuses: error_type, error_message, no_retry (OpenAI
 *   insufficient_quota; Anthropic error.details.error_code ==
 *   "enforced_spend_limit_reached").
 * Returns 0, or SL_EINVAL with a reason in errstr (and *out cleared except
 * http_status) when a 200 body is not the expected shape (malformed JSON,
 * no choices/content). Bodies of error statuses that do not parse still
 * return 0 with error_type "unparseable" and error_message a sanitised
 * prefix of the body. */
int provider_parse_response(enum provider_kind kind, long http_status,
                            const char *body, size_t len,
                            struct llm_response *out, char *errstr,
                            size_t errstr_size) SL_MUSTCHECK;

/* What a request body would be billed at most, for a call whose answer
 * never arrived (a cost line with outcome "unconfirmed"): input_tokens is
 * the characters of the system text and every message's content / 4,
 * rounded up (the usual estimate; a real provider's tokenizer differs by a
 * few per cent, which `sluice reconcile` shows); output_tokens is the
 * request's max_completion_tokens or max_tokens (0 when absent), the most
 * the provider can bill. Cached and cache-write tokens are 0. Returns 0, or
 * SL_EINVAL (out zeroed) when body is not a JSON object. */
int provider_estimate_request(const char *body, size_t len,
                              struct llm_usage *out) SL_MUSTCHECK;

/* "openai" / "anthropic"; "unknown" for anything else. Static string. */
const char *provider_kind_name(enum provider_kind kind);

#endif
