/* provider_json.c — small cJSON helpers for the provider kinds' request
 * builders and response parsers (declared in provider_json.h). */
#include "provider_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sl.h"

cJSON *provider__must(cJSON *item)
{
    if (!item) {
        fprintf(stderr, "sluice: out of memory building JSON\n");
        abort();
    }
    return item;
}

const char *provider__str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

char *provider__dup(const cJSON *obj, const char *key)
{
    const char *s = provider__str(obj, key);
    return s ? xstrdup(s) : NULL;
}

int64_t provider__count(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) ||
        item->valuedouble < 0)
        return 0;
    /* 2^53: past this a double no longer holds every integer, and no call
     * ever comes near it. */
    if (item->valuedouble >= 9007199254740992.0)
        return INT64_C(9007199254740992);
    return (int64_t)item->valuedouble;
}

void provider__clamp_usage(struct llm_usage *u)
{
    if (u->cached_tokens > u->input_tokens)
        u->cached_tokens = u->input_tokens;
    if (u->cache_write_tokens > u->input_tokens - u->cached_tokens)
        u->cache_write_tokens = u->input_tokens - u->cached_tokens;
}
