/* provider_internal.h — shared between provider.c and the per-kind files
 * provider_openai.c and provider_anthropic.c. Not for other modules. */
#ifndef SL_PROVIDER_INTERNAL_H
#define SL_PROVIDER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "llm.h"
#include "prompt_shape.h"
#include "provider_json.h"

/* Per-kind request bodies: the whole JSON object, owned by the caller. */
cJSON *provider__openai_body(const struct task_conf *task, const char *model,
                             const struct prompt_shape *shape, bool flex);
cJSON *provider__anthropic_body(const struct task_conf *task,
                                const char *model,
                                const struct prompt_shape *shape);

/* Per-kind parsers of an already parsed body. *_ok fill a 200 answer and
 * return 0 or SL_EINVAL with errstr; *_error fill the error fields and
 * return false when the body is not an error object they recognise. */
int provider__openai_ok(const cJSON *root, struct llm_response *out,
                        char *errstr, size_t errstr_size);
bool provider__openai_error(const cJSON *root, struct llm_response *out);
int provider__anthropic_ok(const cJSON *root, struct llm_response *out,
                           char *errstr, size_t errstr_size);
bool provider__anthropic_error(const cJSON *root, struct llm_response *out);

#endif
