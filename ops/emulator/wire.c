/* wire.c — OpenAI chat completions and Anthropic messages on the wire. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "wire.h"

/* Text of a message content: a string or an array of parts, of which only
 * text parts count (images etc. are ignored). Appends to *out when given. */
static int content_text(const cJSON *content, char **out, size_t *chars)
{
    const cJSON *part;
    if (content == NULL || cJSON_IsNull(content))
        return 0;
    if (cJSON_IsString(content)) {
        *chars += emu_utf8_chars(content->valuestring);
        if (out) {
            free(*out);
            *out = emu_xstrdup(content->valuestring);
        }
        return 0;
    }
    if (!cJSON_IsArray(content))
        return -1;
    if (out) {
        free(*out);
        *out = emu_xstrdup("");
    }
    cJSON_ArrayForEach(part, content) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsObject(part))
            return -1;
        if (!cJSON_IsString(text))
            continue;
        *chars += emu_utf8_chars(text->valuestring);
        if (out) {
            size_t a = strlen(*out), b = strlen(text->valuestring);
            *out = emu_xrealloc(*out, a + b + 1);
            memcpy(*out + a, text->valuestring, b + 1);
        }
    }
    return 0;
}

static void add_block(struct emu_request *r, char role, const char *text, int ttl_s)
{
    if (r->n_blocks == r->cap_blocks) {
        r->cap_blocks = r->cap_blocks ? r->cap_blocks * 2 : 8;
        r->blocks = emu_xrealloc(r->blocks, r->cap_blocks * sizeof(*r->blocks));
    }
    r->blocks[r->n_blocks++] = (struct emu_block){.text = emu_xstrdup(text),
                                                  .chars = emu_utf8_chars(text),
                                                  .role = role, .ttl_s = ttl_s};
}

/* A part's cache_control: {"type":"ephemeral","ttl"?: "5m"|"1h"}. Only
 * Anthropic reads it; the TTL in seconds, 0 when absent, -1 when invalid. */
static int cache_control_ttl(enum emu_api api, const cJSON *part, char *why, size_t why_size)
{
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(part, "cache_control");
    if (api != EMU_API_ANTHROPIC || cc == NULL || cJSON_IsNull(cc))
        return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(cc, "type");
    const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(cc, "ttl");
    if (!cJSON_IsObject(cc) || !cJSON_IsString(type) || strcmp(type->valuestring, "ephemeral") != 0) {
        snprintf(why, why_size, "cache_control.type: Input should be 'ephemeral'");
        return -1;
    }
    if (ttl == NULL)
        return 300;
    if (cJSON_IsString(ttl) && strcmp(ttl->valuestring, "5m") == 0)
        return 300;
    if (cJSON_IsString(ttl) && strcmp(ttl->valuestring, "1h") == 0)
        return 3600;
    snprintf(why, why_size, "cache_control.ttl: Input should be '5m' or '1h'");
    return -1;
}

/* The blocks of a content value (string or text parts), for the cache. */
static int add_blocks(enum emu_api api, struct emu_request *r, char role, const cJSON *content,
                      char *why, size_t why_size)
{
    const cJSON *part;
    if (cJSON_IsString(content)) {
        add_block(r, role, content->valuestring, 0);
        return 0;
    }
    cJSON_ArrayForEach(part, content) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        int ttl = cache_control_ttl(api, part, why, why_size);
        if (ttl < 0)
            return -1;
        r->n_breakpoints += ttl > 0;
        if (cJSON_IsString(text))
            add_block(r, role, text->valuestring, ttl);
    }
    return 0;
}

static char role_code(const char *role)
{
    if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
        return 's';
    if (strcmp(role, "user") == 0)
        return 'u';
    return strcmp(role, "assistant") == 0 ? 'a' : 'o';
}

static bool is_system_role(enum emu_api api, const char *role)
{
    return api == EMU_API_OPENAI && (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0);
}

static int parse_messages(enum emu_api api, const cJSON *messages, struct emu_request *r,
                          char *why, size_t why_size)
{
    const cJSON *msg;
    int i = 0;
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0) {
        snprintf(why, why_size, "messages: must be a non-empty array");
        return -1;
    }
    cJSON_ArrayForEach(msg, messages) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        size_t chars = 0;
        if (!cJSON_IsString(role) ||
            content_text(content, strcmp(role->valuestring, "user") == 0 ? &r->user_text : NULL, &chars)) {
            snprintf(why, why_size, "messages.%d: needs a string role and string or array content", i);
            return -1;
        }
        r->prompt_chars += chars;
        if (is_system_role(api, role->valuestring))
            r->system_chars += chars;
        if (add_blocks(api, r, role_code(role->valuestring), content, why, why_size))
            return -1;
        i++;
    }
    return 0;
}

/* Absent or null is "no limit" (-1); otherwise a positive integer. */
static int parse_max(const cJSON *root, const char *name, long *out, char *why, size_t why_size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e9 ||
        v->valuedouble != (double)(long)v->valuedouble) {
        snprintf(why, why_size, "%s: must be a positive integer", name);
        return -1;
    }
    *out = (long)v->valuedouble;
    return 0;
}

static int parse_limits(enum emu_api api, const cJSON *root, struct emu_request *r, char *why, size_t why_size)
{
    if (api == EMU_API_OPENAI) {
        if (parse_max(root, "max_tokens", &r->max_tokens, why, why_size))
            return -1;
        /* The newer name wins when a client sends both. */
        return parse_max(root, "max_completion_tokens", &r->max_tokens, why, why_size);
    }
    if (parse_max(root, "max_tokens", &r->max_tokens, why, why_size))
        return -1;
    if (r->max_tokens < 0) {
        snprintf(why, why_size, "max_tokens: Field required");
        return -1;
    }
    return 0;
}

static int parse_system(const cJSON *root, struct emu_request *r, char *why, size_t why_size)
{
    size_t chars = 0;
    const cJSON *system = cJSON_GetObjectItemCaseSensitive(root, "system");
    if (content_text(system, NULL, &chars)) {
        snprintf(why, why_size, "system: must be a string or an array of text blocks");
        return -1;
    }
    r->system_chars += chars;
    r->prompt_chars += chars;
    if (system == NULL || cJSON_IsNull(system))
        return 0;
    /* The system text comes first in the cached prefix: its blocks go
     * before the messages' (parsed earlier). */
    size_t before = r->n_blocks;
    if (add_blocks(EMU_API_ANTHROPIC, r, 's', system, why, why_size))
        return -1;
    size_t n_sys = r->n_blocks - before;
    struct emu_block *tmp = emu_xcalloc(n_sys + 1, sizeof(*tmp));
    memcpy(tmp, r->blocks + before, n_sys * sizeof(*tmp));
    memmove(r->blocks + n_sys, r->blocks, before * sizeof(*tmp));
    memcpy(r->blocks, tmp, n_sys * sizeof(*tmp));
    free(tmp);
    return 0;
}

/* OpenAI: auto, default, flex, priority; Anthropic: auto, standard_only. */
static int parse_service_tier(enum emu_api api, const cJSON *root, struct emu_request *r, char *why,
                              size_t why_size)
{
    static const char *const openai[] = {"auto", "default", "flex", "priority", NULL};
    static const char *const anthropic[] = {"auto", "standard_only", NULL};
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "service_tier");
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    for (const char *const *t = api == EMU_API_OPENAI ? openai : anthropic; cJSON_IsString(v) && *t; t++)
        if (strcmp(v->valuestring, *t) == 0) {
            r->service_tier = emu_xstrdup(*t);
            return 0;
        }
    snprintf(why, why_size, api == EMU_API_OPENAI
                                ? "service_tier: must be one of 'auto', 'default', 'flex', 'priority'"
                                : "service_tier: Input should be 'auto' or 'standard_only'");
    return -1;
}

static int parse_root(enum emu_api api, const cJSON *root, struct emu_request *r, char *why, size_t why_size)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(root)) {
        snprintf(why, why_size, "the request body must be a JSON object");
        return -1;
    }
    if (!cJSON_IsString(model) || model->valuestring[0] == '\0') {
        snprintf(why, why_size, "model: Field required");
        return -1;
    }
    r->model = emu_xstrdup(model->valuestring);
    if (parse_messages(api, cJSON_GetObjectItemCaseSensitive(root, "messages"), r, why, why_size) ||
        parse_limits(api, root, r, why, why_size))
        return -1;
    if (api == EMU_API_ANTHROPIC && parse_system(root, r, why, why_size))
        return -1;
    if (r->n_breakpoints > 4) {
        snprintf(why, why_size, "A maximum of 4 blocks with cache_control may be provided. Found %d.",
                 r->n_breakpoints);
        return -1;
    }
    if (parse_service_tier(api, root, r, why, why_size))
        return -1;
    if (r->user_text == NULL)
        r->user_text = emu_xstrdup("");
    return 0;
}

int emu_request_parse(enum emu_api api, const char *body, size_t len, struct emu_request *r,
                      char *why, size_t why_size)
{
    *r = (struct emu_request){.max_tokens = -1};
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (root == NULL) {
        snprintf(why, why_size, "We could not parse the JSON body of your request.");
        return -1;
    }
    int rc = parse_root(api, root, r, why, why_size);
    cJSON_Delete(root);
    if (rc != 0)
        emu_request_free(r);
    return rc;
}

int emu_request_from_json(enum emu_api api, const cJSON *root, struct emu_request *r, char *why, size_t why_size)
{
    *r = (struct emu_request){.max_tokens = -1};
    int rc = parse_root(api, root, r, why, why_size);
    if (rc != 0)
        emu_request_free(r);
    return rc;
}

void emu_request_free(struct emu_request *r)
{
    free(r->model);
    free(r->user_text);
    for (size_t i = 0; i < r->n_blocks; i++)
        free(r->blocks[i].text);
    free(r->blocks);
    free(r->service_tier);
    *r = (struct emu_request){0};
}

static char *print(cJSON *root)
{
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (s == NULL)
        abort(); /* cJSON only fails on OOM */
    return s;
}

static void openai_usage(cJSON *root, const struct emu_reply *r)
{
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)r->input_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)r->output_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(r->input_tokens + r->output_tokens));
    cJSON *pd = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(pd, "cached_tokens", (double)r->cached_tokens);
    cJSON_AddNumberToObject(pd, "audio_tokens", 0);
    cJSON *cd = cJSON_AddObjectToObject(u, "completion_tokens_details");
    cJSON_AddNumberToObject(cd, "reasoning_tokens", 0);
    cJSON_AddNumberToObject(cd, "audio_tokens", 0);
    cJSON_AddNumberToObject(cd, "accepted_prediction_tokens", 0);
    cJSON_AddNumberToObject(cd, "rejected_prediction_tokens", 0);
}

static char *openai_reply(const struct emu_reply *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", r->id);
    cJSON_AddStringToObject(root, "object", "chat.completion");
    cJSON_AddNumberToObject(root, "created", (double)time(NULL));
    cJSON_AddStringToObject(root, "model", r->model);
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "choices"), choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(choice, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", r->content);
    cJSON_AddNullToObject(msg, "refusal");
    cJSON_AddArrayToObject(msg, "annotations");
    cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddStringToObject(choice, "finish_reason", r->truncated ? "length" : "stop");
    openai_usage(root, r);
    cJSON_AddStringToObject(root, "service_tier", r->service_tier ? r->service_tier : "default");
    cJSON_AddStringToObject(root, "system_fingerprint", r->fingerprint);
    return print(root);
}

/* Anthropic counts cache reads and writes apart from input_tokens
 * (additive). */
static void anthropic_usage(cJSON *root, const struct emu_reply *r)
{
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "input_tokens",
                            (double)(r->input_tokens - r->cached_tokens - r->cache_write_tokens));
    cJSON_AddNumberToObject(u, "output_tokens", (double)r->output_tokens);
    cJSON_AddNumberToObject(u, "cache_creation_input_tokens", (double)r->cache_write_tokens);
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", (double)r->cached_tokens);
    cJSON *cc = cJSON_AddObjectToObject(u, "cache_creation");
    cJSON_AddNumberToObject(cc, "ephemeral_5m_input_tokens",
                            (double)(r->cache_write_tokens - r->cache_write_1h_tokens));
    cJSON_AddNumberToObject(cc, "ephemeral_1h_input_tokens", (double)r->cache_write_1h_tokens);
    cJSON_AddNullToObject(u, "server_tool_use");
    cJSON_AddStringToObject(u, "service_tier", r->service_tier ? r->service_tier : "standard");
    cJSON_AddStringToObject(u, "inference_geo", "us");
    cJSON_AddNullToObject(u, "output_tokens_details");
}

static char *anthropic_reply(const struct emu_reply *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", r->id);
    cJSON_AddStringToObject(root, "type", "message");
    cJSON_AddStringToObject(root, "role", "assistant");
    cJSON *block = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "content"), block);
    cJSON_AddStringToObject(block, "type", "text");
    cJSON_AddStringToObject(block, "text", r->content);
    cJSON_AddStringToObject(root, "model", r->model);
    cJSON_AddStringToObject(root, "stop_reason", r->truncated ? "max_tokens" : "end_turn");
    cJSON_AddNullToObject(root, "stop_sequence");
    cJSON_AddNullToObject(root, "stop_details");
    anthropic_usage(root, r);
    return print(root);
}

char *emu_render_reply(enum emu_api api, const struct emu_reply *r)
{
    return api == EMU_API_OPENAI ? openai_reply(r) : anthropic_reply(r);
}

struct err_shape {
    int status;
    const char *type, *code; /* code: OpenAI only, NULL renders null */
};

static const struct err_shape openai_errors[] = {
    [EMU_ERR_INVALID] = {400, "invalid_request_error", NULL},
    [EMU_ERR_MODEL] = {404, "invalid_request_error", "model_not_found"},
    [EMU_ERR_ROUTE] = {404, "invalid_request_error", NULL},
    [EMU_ERR_METHOD] = {405, "invalid_request_error", NULL},
    [EMU_ERR_TOO_LARGE] = {413, "invalid_request_error", "request_too_large"},
    [EMU_ERR_SERVER] = {500, "server_error", NULL},
    [EMU_ERR_RATE_LIMIT] = {429, "requests", "rate_limit_exceeded"},
    [EMU_ERR_OVERLOAD] = {503, "service_unavailable_error", "server_is_overloaded"},
    [EMU_ERR_NOT_FOUND] = {404, "invalid_request_error", NULL},
    [EMU_ERR_CONFLICT] = {409, "invalid_request_error", NULL},
};

static const struct err_shape anthropic_errors[] = {
    [EMU_ERR_INVALID] = {400, "invalid_request_error", NULL},
    [EMU_ERR_MODEL] = {404, "not_found_error", NULL},
    [EMU_ERR_ROUTE] = {404, "not_found_error", NULL},
    [EMU_ERR_METHOD] = {405, "invalid_request_error", NULL},
    [EMU_ERR_TOO_LARGE] = {413, "request_too_large", NULL},
    [EMU_ERR_SERVER] = {500, "api_error", NULL},
    [EMU_ERR_RATE_LIMIT] = {429, "rate_limit_error", NULL},
    [EMU_ERR_OVERLOAD] = {529, "overloaded_error", NULL},
    [EMU_ERR_NOT_FOUND] = {404, "not_found_error", NULL},
    [EMU_ERR_CONFLICT] = {409, "conflict_error", NULL},
};

int emu_error_status(enum emu_api api, enum emu_err e)
{
    return (api == EMU_API_OPENAI ? openai_errors : anthropic_errors)[e].status;
}

char *emu_render_error(enum emu_api api, enum emu_err e, const char *message, const char *request_id)
{
    cJSON *root = cJSON_CreateObject(), *err;
    if (api == EMU_API_OPENAI) {
        err = cJSON_AddObjectToObject(root, "error");
        cJSON_AddStringToObject(err, "message", message);
        cJSON_AddStringToObject(err, "type", openai_errors[e].type);
        cJSON_AddNullToObject(err, "param");
        if (openai_errors[e].code)
            cJSON_AddStringToObject(err, "code", openai_errors[e].code);
        else
            cJSON_AddNullToObject(err, "code");
        return print(root);
    }
    cJSON_AddStringToObject(root, "type", "error");
    err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "type", anthropic_errors[e].type);
    cJSON_AddStringToObject(err, "message", message);
    cJSON_AddStringToObject(root, "request_id", request_id);
    return print(root);
}
