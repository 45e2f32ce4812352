/* provider.c — provider-neutral parts of the client: URL, headers, prompt
 * rendering, and the dispatch to provider_openai.c / provider_anthropic.c. */
#include "provider.h"
#include "utf8.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct strbuf {
    char *data;
    size_t len, cap;
};

static void sb_add(struct strbuf *sb, const char *s, size_t n)
{
    if (sb->len + n + 1 > sb->cap) {
        sb->cap = (sb->len + n + 1) * 2;
        sb->data = xrealloc(sb->data, sb->cap);
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

static void sb_add_str(struct strbuf *sb, const char *s)
{
    sb_add(sb, s, strlen(s));
}

static void sb_add_labels(struct strbuf *sb, const struct task_conf *task)
{
    for (size_t i = 0; i < task->n_labels; i++) {
        if (i > 0)
            sb_add_str(sb, ", ");
        sb_add_str(sb, task->labels[i]);
    }
}

char *provider_render_prompt(const struct task_conf *task, const char *input,
                             size_t input_len)
{
    struct strbuf sb = {0};
    const char *t = task->prompt ? task->prompt : "";
    sb_add(&sb, "", 0);
    while (*t) {
        if (strncmp(t, "{{input}}", 9) == 0) {
            sb_add(&sb, input, input_len);
            t += 9;
        } else if (strncmp(t, "{{labels}}", 10) == 0) {
            sb_add_labels(&sb, task);
            t += 10;
        } else if (strncmp(t, "{{schema}}", 10) == 0) {
            sb_add_str(&sb, task->schema_text ? task->schema_text : "");
            t += 10;
        } else {
            /* Copy up to the next possible placeholder in one go. */
            const char *next = strstr(t + 1, "{{");
            size_t n = next ? (size_t)(next - t) : strlen(t);
            sb_add(&sb, t, n);
            t += n;
        }
    }
    return sb.data;
}

/* The words "JSON" in these also satisfy OpenAI's json_object mode, which
 * rejects requests whose messages never mention JSON. */
static const char *output_instruction(enum output_type type)
{
    switch (type) {
    case OUTPUT_LABEL:
        return "Reply with exactly one JSON object and nothing else: "
               "{\"label\": \"<one of the allowed labels>\", "
               "\"confidence\": <number from 0.0 to 1.0>}";
    case OUTPUT_JSON:
        return "Reply with exactly one JSON object and nothing else: "
               "{\"data\": <a JSON value matching the schema>, "
               "\"confidence\": <number from 0.0 to 1.0>}";
    case OUTPUT_TEXT:
        break;
    }
    return "Reply with exactly one JSON object and nothing else: "
           "{\"text\": \"<your answer>\", "
           "\"confidence\": <number from 0.0 to 1.0>}";
}

static char *system_text(const struct task_conf *task)
{
    const char *sys = task->system ? task->system : "";
    return xasprintf("%s%s%s", sys, sys[0] ? "\n\n" : "",
                     output_instruction(task->output));
}

char *provider_request_body(const struct provider_conf *p,
                            const struct task_conf *task, const char *model,
                            const char *input, size_t input_len)
{
    char *system = system_text(task);
    char *prompt = provider_render_prompt(task, input, input_len);
    cJSON *root = p->kind == PROVIDER_ANTHROPIC
        ? provider__anthropic_body(task, model, system, prompt)
        : provider__openai_body(task, model, system, prompt);
    char *body = cJSON_PrintUnformatted(root);
    if (!body) {
        fprintf(stderr, "sluice: out of memory printing a request body\n");
        abort();
    }
    cJSON_Delete(root);
    free(prompt);
    free(system);
    return body;
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

int provider_estimate_request(const char *body, size_t len,
                              struct llm_usage *out)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return SL_EINVAL;
    }
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
    cJSON_Delete(root);
    return SL_OK;
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
