/* provider_anthropic.c — the Anthropic Messages wire format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_internal.h"
#include "sl.h"

static cJSON *text_block(const char *text, const struct prompt_shape *shape,
                         bool breakpoint)
{
    cJSON *block = provider__must(cJSON_CreateObject());
    provider__must(cJSON_AddStringToObject(block, "type", "text"));
    provider__must(cJSON_AddStringToObject(block, "text", text));
    if (breakpoint) {
        cJSON *cc = provider__must(cJSON_AddObjectToObject(block,
                                                           "cache_control"));
        provider__must(cJSON_AddStringToObject(cc, "type", "ephemeral"));
        if (shape->ttl_s == 3600)
            provider__must(cJSON_AddStringToObject(cc, "ttl", "1h"));
    }
    return block;
}

/* Anthropic caches only up to a cache_control breakpoint: it goes on the
 * last stable block, the head of the user message (or the system text when
 * the template starts with the input). Without one the body keeps the
 * plain string form. */
cJSON *provider__anthropic_body(const struct task_conf *task,
                                const char *model,
                                const struct prompt_shape *shape)
{
    bool on_head = shape->breakpoint && shape->head[0];
    bool on_system = shape->breakpoint && !shape->head[0];
    cJSON *root = provider__must(cJSON_CreateObject());
    provider__must(cJSON_AddStringToObject(root, "model", model));
    provider__must(cJSON_AddNumberToObject(root, "max_tokens",
                                           task->max_output_tokens));
    if (on_system) {
        cJSON *sys = provider__must(cJSON_AddArrayToObject(root, "system"));
        cJSON_AddItemToArray(sys, text_block(shape->system, shape, true));
    } else {
        provider__must(cJSON_AddStringToObject(root, "system", shape->system));
    }
    cJSON *messages = provider__must(cJSON_AddArrayToObject(root, "messages"));
    cJSON *user = provider__must(cJSON_CreateObject());
    cJSON_AddItemToArray(messages, user);
    provider__must(cJSON_AddStringToObject(user, "role", "user"));
    if (on_head) {
        cJSON *content = provider__must(cJSON_AddArrayToObject(user,
                                                               "content"));
        cJSON_AddItemToArray(content, text_block(shape->head, shape, true));
        if (shape->tail[0]) /* Anthropic refuses empty text blocks */
            cJSON_AddItemToArray(content, text_block(shape->tail, shape, false));
    } else {
        char *prompt = xasprintf("%s%s", shape->head, shape->tail);
        provider__must(cJSON_AddStringToObject(user, "content", prompt));
        free(prompt);
    }
    provider__must(cJSON_AddNumberToObject(root, "temperature", 0));
    return root;
}

/* Unlike OpenAI, Anthropic's input_tokens excludes the cached parts: the
 * total input is the sum of the three counters. */
static void parse_usage(const cJSON *root, struct llm_response *out)
{
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    if (!cJSON_IsObject(usage))
        return;
    int64_t plain = provider__count(usage, "input_tokens");
    int64_t write = provider__count(usage, "cache_creation_input_tokens");
    int64_t read = provider__count(usage, "cache_read_input_tokens");
    out->usage.input_tokens = plain + write + read;
    out->usage.cached_tokens = read;
    out->usage.cache_write_tokens = write;
    /* The 1-hour share of the writes is priced apart (2x input, not 1.25x). */
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(usage, "cache_creation");
    int64_t write_1h = provider__count(cc, "ephemeral_1h_input_tokens");
    out->usage.cache_write_1h_tokens = write_1h < write ? write_1h : write;
    out->usage.output_tokens = provider__count(usage, "output_tokens");
    out->has_usage = true;
}

/* The answer is the concatenation of the text blocks; other block types
 * (thinking, tool_use) carry no answer. NULL when there is no text. */
static char *join_text_blocks(const cJSON *content)
{
    char *text = NULL;
    size_t len = 0;
    const cJSON *block;
    cJSON_ArrayForEach(block, content) {
        const char *type = provider__str(block, "type");
        const char *t = provider__str(block, "text");
        if (!type || strcmp(type, "text") != 0 || !t)
            continue;
        size_t n = strlen(t);
        text = xrealloc(text, len + n + 1);
        memcpy(text + len, t, n + 1);
        len += n;
    }
    return text;
}

static bool is_one_of(const char *s, const char *a, const char *b)
{
    return s && (strcmp(s, a) == 0 || (b && strcmp(s, b) == 0));
}

int provider__anthropic_ok(const cJSON *root, struct llm_response *out,
                           char *errstr, size_t errstr_size)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content");
    if (!cJSON_IsArray(content)) {
        snprintf(errstr, errstr_size, "anthropic response: no content array");
        return SL_EINVAL;
    }
    const char *stop = provider__str(root, "stop_reason");
    out->truncated = is_one_of(stop, "max_tokens",
                               "model_context_window_exceeded");
    out->refused = is_one_of(stop, "refusal", NULL);
    out->content = join_text_blocks(content);
    if (!out->content && !out->refused && !out->truncated) {
        snprintf(errstr, errstr_size, "anthropic response: no text content");
        return SL_EINVAL;
    }
    out->response_id = provider__dup(root, "id");
    parse_usage(root, out);
    return SL_OK;
}

/* {"type":"error","error":{"type","message","details"?},"request_id"} */
bool provider__anthropic_error(const cJSON *root, struct llm_response *out)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (!cJSON_IsObject(err))
        return false;
    const char *type = provider__str(err, "type");
    out->error_type = xstrdup(type ? type : "error");
    out->error_message = provider__dup(err, "message");
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(err, "details");
    const char *code = provider__str(details, "error_code");
    out->no_retry = is_one_of(code, "enforced_spend_limit_reached", NULL);
    return true;
}
