/* provider_json.h — cJSON helpers shared by the provider kinds
 * (provider_openai.c, provider_anthropic.c) and provider.c; below all of
 * them. Not for modules outside lib/provider/. */
#ifndef SL_PROVIDER_JSON_H
#define SL_PROVIDER_JSON_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "llm.h"

/* Aborts when a cJSON constructor ran out of memory (returned NULL), so
 * that a body is never sent with a field silently missing. */
cJSON *provider__must(cJSON *item);

/* Borrowed valuestring of obj[key] when it is a string, else NULL. */
const char *provider__str(const cJSON *obj, const char *key);
/* New copy of obj[key] when it is a string, else NULL. */
char *provider__dup(const cJSON *obj, const char *key);
/* obj[key] as a token count: a finite number >= 0, else 0. */
int64_t provider__count(const cJSON *obj, const char *key);
/* Keeps cached + cache_write within input, whatever the server reported. */
void provider__clamp_usage(struct llm_usage *u);

#endif
