/* prompt_shape.h — how a request's prompt is laid out for prompt caching.
 *
 * Providers cache a prompt by its exact prefix, so everything that repeats
 * across a task's jobs comes first and byte-identical, and the job's input
 * last:
 *   system = the task's system prompt, the output-shape instruction, then
 *            the task's few-shot examples            (stable)
 *   head   = the prompt template up to {{input}}, with {{labels}} and
 *            {{schema}} filled in                    (stable)
 *   tail   = the input and the rest of the template  (per job)
 * head + tail is exactly provider_render_prompt()'s output.
 *
 * The cache hints derived from it (docs/providers.md, "Prompt caching"):
 * Anthropic gets a cache_control breakpoint on the last stable block when
 * the stable prefix is at least providers.*.cache_min_tokens (estimated as
 * characters / 4, rounded up, like provider_estimate_request); OpenAI gets
 * prompt_cache_key "sluice-<task>-<16 hex digits of the prefix's FNV-1a>",
 * which changes exactly when the task's stable prefix does (a new task
 * version). Both only with providers.*.prompt_caching.
 *
 * Ownership: the strings of struct prompt_shape are owned; free with
 * prompt_shape_clear(). Allocation failure aborts. */
#ifndef SL_PROMPT_SHAPE_H
#define SL_PROMPT_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct prompt_shape {
    char *system;          /* stable */
    char *head;            /* stable, may be "" */
    char *tail;            /* the job's part */
    int64_t prefix_tokens; /* estimated tokens of system + head */
    bool breakpoint;       /* Anthropic: cache_control on the last stable block */
    int ttl_s;             /* the task's cache TTL: 300 or 3600 */
    char cache_key[80];    /* OpenAI prompt_cache_key; "" when caching is off */
};

/* Lays out task's prompt for input (input_len bytes) as provider p wants it. */
void prompt_shape_build(const struct provider_conf *p,
                        const struct task_conf *task, const char *input,
                        size_t input_len, struct prompt_shape *out);
void prompt_shape_clear(struct prompt_shape *s);

/* Renders tmpl_len bytes of a prompt template in one pass: {{input}} (the
 * input_len bytes of input), {{labels}} (joined ", "), {{schema}}
 * (task->schema_text, "" when NULL). Placeholders inside substituted text
 * are not expanded again. Returns a new string. */
char *prompt_shape_render(const struct task_conf *task, const char *tmpl,
                          size_t tmpl_len, const char *input,
                          size_t input_len);

#endif
