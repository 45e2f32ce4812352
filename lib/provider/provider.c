/* provider.c — provider-neutral parts of the client: URL, headers, prompt
 * rendering, and the dispatch to provider_openai.c / provider_anthropic.c. */
#include "provider.h"
#include "utf8.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prompt_shape.h"
#include "provider_internal.h"

/* An unparseable error body (an HTML page from a proxy, say) is kept only
 * this long, for the log line. */
#define UNPARSEABLE_PREFIX_MAX 160

const char *provider_kind_name(enum provider_kind kind)
{
    switch (kind) {
    case PROVIDER_OPENAI: return "openai";
    case PROVIDER_ANTHROPIC: return "anthropic";
    }
    return "unknown";
}

char *provider_url(const struct provider_conf *p)
{
    size_t len = strlen(p->base_url);
    while (len > 0 && p->base_url[len - 1] == '/')
        len--;
    const char *path = p->kind == PROVIDER_ANTHROPIC ? "/v1/messages"
                                                     : "/chat/completions";
    return xasprintf("%.*s%s", (int)len, p->base_url, path);
}

static struct curl_slist *append_header(struct curl_slist *list,
                                        const char *header)
{
    struct curl_slist *next = curl_slist_append(list, header);
    if (!next) {
        fprintf(stderr, "sluice: out of memory building headers\n");
        abort();
    }
    return next;
}

/* curl copies the header, so our copy holding the key is wiped at once. */
static struct curl_slist *append_secret(struct curl_slist *list,
                                        const char *name, const char *key)
{
    char *header = xasprintf("%s%s", name, key);
    list = append_header(list, header);
    explicit_bzero(header, strlen(header));
    free(header);
    return list;
}

struct curl_slist *provider_headers(const struct provider_conf *p)
{
    struct curl_slist *list = append_header(NULL,
                                            "Content-Type: application/json");
    /* Without this curl may hold a large body back waiting for "100
     * Continue", which the providers never send: a wasted round trip. */
    list = append_header(list, "Expect:");
    const char *key = p->api_key_env ? getenv(p->api_key_env) : NULL;
    bool have_key = key && key[0];
    if (p->kind == PROVIDER_ANTHROPIC) {
        list = append_header(list, "anthropic-version: 2023-06-01");
        if (have_key)
            list = append_secret(list, "x-api-key: ", key);
    } else if (have_key) {
        list = append_secret(list, "Authorization: Bearer ", key);
    }
    return list;
}

char *provider_render_prompt(const struct task_conf *task, const char *input,
                             size_t input_len)
{
    const char *t = task->prompt ? task->prompt : "";
    return prompt_shape_render(task, t, strlen(t), input, input_len);
}

/* Characters (code points) of a content value: a string, or an array of
 * {"type":"text","text":...} blocks. Other shapes count 0. */
static int64_t content_chars(const cJSON *content)
{
    if (cJSON_IsString(content))
        return (int64_t)utf8_chars(content->valuestring);
    int64_t n = 0;
    const cJSON *part;
    if (cJSON_IsArray(content))
        cJSON_ArrayForEach(part, content) {
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(text))
                n += (int64_t)utf8_chars(text->valuestring);
        }
    return n;
}

/* provider_estimate_request on a request's tree; out zeroed first. */
static void estimate_tree(const cJSON *root, struct llm_usage *out)
{
    memset(out, 0, sizeof(*out));
    int64_t chars = content_chars(cJSON_GetObjectItemCaseSensitive(root, "system"));
    const cJSON *msg;
    cJSON_ArrayForEach(msg, cJSON_GetObjectItemCaseSensitive(root, "messages"))
        chars += content_chars(cJSON_GetObjectItemCaseSensitive(msg, "content"));
    out->input_tokens = (chars + 3) / 4;
    const char *names[] = {"max_completion_tokens", "max_tokens"};
    for (size_t i = 0; i < SL_ARRAY_LEN(names) && !out->output_tokens; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, names[i]);
        if (cJSON_IsNumber(m) && m->valuedouble > 0)
            out->output_tokens = (int64_t)m->valuedouble;
    }
}

int provider_estimate_request(const char *body, size_t len,
                              struct llm_usage *out)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return SL_EINVAL;
    }
    estimate_tree(root, out);
    cJSON_Delete(root);
    return SL_OK;
}

char *provider_request_body_ex(const struct provider_conf *p,
                               const struct task_conf *task,
                               const char *model, const char *input,
                               size_t input_len, bool flex,
                               struct llm_usage *bound)
{
    struct prompt_shape shape;
    prompt_shape_build(p, task, input, input_len, &shape);
    cJSON *root = p->kind == PROVIDER_ANTHROPIC
        ? provider__anthropic_body(task, model, &shape)
        : provider__openai_body(task, model, &shape, flex);
    if (bound)
        estimate_tree(root, bound);
    char *body = cJSON_PrintUnformatted(root);
    if (!body) {
        fprintf(stderr, "sluice: out of memory printing a request body\n");
        abort();
    }
    cJSON_Delete(root);
    prompt_shape_clear(&shape);
    return body;
}

char *provider_request_body(const struct provider_conf *p,
                            const struct task_conf *task, const char *model,
                            const char *input, size_t input_len)
{
    return provider_request_body_ex(p, task, model, input, input_len, false, NULL);
}

/* Keeps enough of a non-JSON error body to recognise it in a log line,
 * with control bytes replaced so it cannot forge log lines. */
static void set_unparseable(struct llm_response *out, const char *body,
                            size_t len)
{
    size_t n = len < UNPARSEABLE_PREFIX_MAX ? len : UNPARSEABLE_PREFIX_MAX;
    char *msg = xstrndup(body ? body : "", body ? n : 0);
    for (char *c = msg; *c; c++) {
        if (iscntrl((unsigned char)*c))
            *c = ' ';
    }
    out->error_type = xstrdup("unparseable");
    out->error_message = msg;
}

static int parse_ok(enum provider_kind kind, const cJSON *root,
                    struct llm_response *out, char *errstr,
                    size_t errstr_size)
{
    if (!root) {
        snprintf(errstr, errstr_size, "%s response: malformed JSON",
                 provider_kind_name(kind));
        return SL_EINVAL;
    }
    if (kind == PROVIDER_ANTHROPIC)
        return provider__anthropic_ok(root, out, errstr, errstr_size);
    return provider__openai_ok(root, out, errstr, errstr_size);
}

int provider_parse_response(enum provider_kind kind, long http_status,
                            const char *body, size_t len,
                            struct llm_response *out, char *errstr,
                            size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    out->http_status = http_status;
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    int rc = SL_OK;

    if (http_status == 200) {
        rc = parse_ok(kind, root, out, errstr, errstr_size);
        if (rc != SL_OK) {
            llm_response_clear(out);
            out->http_status = http_status;
        }
    } else {
        bool known = root && (kind == PROVIDER_ANTHROPIC
                                  ? provider__anthropic_error(root, out)
                                  : provider__openai_error(root, out));
        if (!known)
            set_unparseable(out, body, len);
    }
    cJSON_Delete(root);
    return rc;
}
