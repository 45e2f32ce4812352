/* provider_openai.c — the OpenAI Chat Completions wire format, also spoken
 * by OpenAI-compatible servers (vLLM, llama.cpp, Ollama, …). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_internal.h"
#include "sl.h"

cJSON *provider__openai_body(const struct task_conf *task, const char *model,
                             const struct prompt_shape *shape, bool flex)
{
    /* OpenAI caches automatically by exact prefix: the order (system, then
     * the stable head of the user message) is what makes it hit. */
    char *prompt = xasprintf("%s%s", shape->head, shape->tail);
    cJSON *root = provider__must(cJSON_CreateObject());
    provider__must(cJSON_AddStringToObject(root, "model", model));
    cJSON *messages = provider__must(cJSON_AddArrayToObject(root, "messages"));
    cJSON *sys = provider__must(cJSON_CreateObject());
    cJSON_AddItemToArray(messages, sys);
    provider__must(cJSON_AddStringToObject(sys, "role", "system"));
    provider__must(cJSON_AddStringToObject(sys, "content", shape->system));
    cJSON *user = provider__must(cJSON_CreateObject());
    cJSON_AddItemToArray(messages, user);
    provider__must(cJSON_AddStringToObject(user, "role", "user"));
    provider__must(cJSON_AddStringToObject(user, "content", prompt));
    free(prompt);
    provider__must(cJSON_AddNumberToObject(root, "max_completion_tokens",
                                           task->max_output_tokens));
    provider__must(cJSON_AddNumberToObject(root, "temperature", 0));
    cJSON *fmt = provider__must(cJSON_AddObjectToObject(root,
                                                        "response_format"));
    provider__must(cJSON_AddStringToObject(fmt, "type", "json_object"));
    if (shape->cache_key[0])
        provider__must(cJSON_AddStringToObject(root, "prompt_cache_key",
                                               shape->cache_key));
    if (flex)
        provider__must(cJSON_AddStringToObject(root, "service_tier", "flex"));
    return root;
}

/* cached_tokens (and the newer cache_write_tokens) are subsets of
 * prompt_tokens, which already is the total input llm.h wants. */
static void parse_usage(const cJSON *root, struct llm_response *out)
{
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    if (!cJSON_IsObject(usage))
        return;
    const cJSON *details =
        cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
    out->usage.input_tokens = provider__count(usage, "prompt_tokens");
    out->usage.output_tokens = provider__count(usage, "completion_tokens");
    out->usage.cached_tokens = provider__count(details, "cached_tokens");
    out->usage.cache_write_tokens =
        provider__count(details, "cache_write_tokens");
    provider__clamp_usage(&out->usage);
    /* The tier that served the call, which is what is billed: a flex
     * request may be served at another tier. */
    const char *tier = provider__str(root, "service_tier");
    out->flex = tier && strcmp(tier, "flex") == 0;
    out->has_usage = true;
}

int provider__openai_ok(const cJSON *root, struct llm_response *out,
                        char *errstr, size_t errstr_size)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *choice = cJSON_GetArrayItem(choices, 0);
    const cJSON *message =
        cJSON_GetObjectItemCaseSensitive(choice, "message");
    if (!cJSON_IsArray(choices) || !cJSON_IsObject(message)) {
        snprintf(errstr, errstr_size,
                 "openai response: no choices[0].message");
        return SL_EINVAL;
    }
    const char *finish = provider__str(choice, "finish_reason");
    out->truncated = finish && strcmp(finish, "length") == 0;
    out->refused = provider__str(message, "refusal") != NULL;
    out->content = provider__dup(message, "content");
    if (!out->content && !out->refused && !out->truncated) {
        snprintf(errstr, errstr_size, "openai response: no message content");
        return SL_EINVAL;
    }
    out->response_id = provider__dup(root, "id");
    parse_usage(root, out);
    return SL_OK;
}

/* {"error":{"message","type","param","code"}}; some compatible servers send
 * {"error":"text"} instead. */
bool provider__openai_error(const cJSON *root, struct llm_response *out)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsString(err)) {
        out->error_type = xstrdup("error");
        out->error_message = xstrdup(err->valuestring);
        return true;
    }
    if (!cJSON_IsObject(err))
        return false;
    const char *code = provider__str(err, "code");
    const char *type = provider__str(err, "type");
    const char *kind = code ? code : type;
    out->error_type = xstrdup(kind ? kind : "error");
    out->error_message = provider__dup(err, "message");
    out->no_retry = (code && strcmp(code, "insufficient_quota") == 0) ||
                    (type && strcmp(type, "insufficient_quota") == 0);
    return true;
}
