/* batch_parse.c — reading the batch APIs' answers: batch objects, the
 * uploaded file's id, and result lines (see batch_wire.h). */
#include "batch_wire.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "provider/provider.h"
#include "rfc3339.h"

static const char *jstr(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static char *jdup(const cJSON *obj, const char *key)
{
    const char *s = jstr(obj, key);
    return s ? xstrdup(s) : NULL;
}

static const cJSON *jget(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A request count: a finite number >= 0 below 2^53, else 0. */
static int64_t jcount(const cJSON *obj, const char *key)
{
    const cJSON *item = jget(obj, key);
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) ||
        item->valuedouble < 0 || item->valuedouble >= 9007199254740992.0)
        return 0;
    return (int64_t)item->valuedouble;
}

static char *print_json(const cJSON *item)
{
    char *s = cJSON_PrintUnformatted(item);
    if (!s) {
        fprintf(stderr, "sluice: out of memory printing JSON\n");
        abort();
    }
    return s;
}

/* An error body in place of the expected object: say what the server
 * said (OpenAI error.{code,message}; Anthropic error.{type,message}). */
static bool describe_error(const cJSON *root, const char *what, char *errstr,
                           size_t errstr_size)
{
    const cJSON *err = jget(root, "error");
    if (!cJSON_IsObject(err))
        return false;
    const char *code = jstr(err, "code");
    const char *type = code ? code : jstr(err, "type");
    const char *msg = jstr(err, "message");
    snprintf(errstr, errstr_size, "%s: error %s: %s", what,
             type ? type : "?", msg ? msg : "");
    return true;
}

/* --- batch objects --- */

struct state_name {
    const char *name;
    enum batch_state state;
};

static const struct state_name openai_states[] = {
    {"validating", BATCH_IN_PROGRESS}, {"in_progress", BATCH_IN_PROGRESS},
    {"finalizing", BATCH_IN_PROGRESS}, {"cancelling", BATCH_IN_PROGRESS},
    {"completed", BATCH_ENDED},        {"failed", BATCH_FAILED},
    {"expired", BATCH_EXPIRED},        {"cancelled", BATCH_CANCELLED},
};

static const struct state_name anthropic_states[] = {
    {"in_progress", BATCH_IN_PROGRESS}, {"canceling", BATCH_IN_PROGRESS},
    {"ended", BATCH_ENDED},
};

static bool lookup_state(enum provider_kind kind, const char *name,
                         enum batch_state *out)
{
    const struct state_name *t = openai_states;
    size_t n = SL_ARRAY_LEN(openai_states);
    if (kind == PROVIDER_ANTHROPIC) {
        t = anthropic_states;
        n = SL_ARRAY_LEN(anthropic_states);
    }
    for (size_t i = 0; name && i < n; i++) {
        if (strcmp(t[i].name, name) == 0) {
            *out = t[i].state;
            return true;
        }
    }
    return false;
}

/* errors.data[0] → "code: message (line N)". */
static char *openai_batch_error(const cJSON *root)
{
    const cJSON *first = cJSON_GetArrayItem(jget(jget(root, "errors"),
                                                 "data"), 0);
    const char *code = jstr(first, "code");
    const char *msg = jstr(first, "message");
    const cJSON *line = jget(first, "line");
    if (!code && !msg)
        return xstrdup("batch failed");
    if (cJSON_IsNumber(line))
        return xasprintf("%s: %s (line %d)", code ? code : "error",
                         msg ? msg : "", line->valueint);
    return xasprintf("%s: %s", code ? code : "error", msg ? msg : "");
}

static void openai_status(const cJSON *root, struct batch_status *out)
{
    out->output_file_id = jdup(root, "output_file_id");
    out->error_file_id = jdup(root, "error_file_id");
    out->sluice_batch_id = jdup(jget(root, "metadata"), "sluice_batch_id");
    const cJSON *counts = jget(root, "request_counts");
    out->total = jcount(counts, "total");
    out->completed = jcount(counts, "completed");
    out->failed = jcount(counts, "failed");
    if (out->state == BATCH_FAILED)
        out->error = openai_batch_error(root);
}

static void anthropic_status(const cJSON *root, struct batch_status *out)
{
    out->results_url = jdup(root, "results_url");
    const cJSON *c = jget(root, "request_counts");
    int64_t failed = jcount(c, "errored") + jcount(c, "canceled") +
                     jcount(c, "expired");
    out->completed = jcount(c, "succeeded");
    out->failed = failed;
    out->total = jcount(c, "processing") + out->completed + failed;
}

/* Anthropic's timestamps are RFC 3339; 0 when absent or unreadable. An
 * instant up to the epoch is no batch's creation time: 0 too, as for
 * OpenAI's seconds, so created_ms is never negative (found by fuzzing:
 * "1450-11-24T18:37:24Z" came back as a negative time). */
static int64_t rfc3339_ms(const char *s)
{
    int64_t ms;
    return s && rfc3339_parse_ms(s, &ms) == SL_OK && ms > 0 ? ms : 0;
}

/* openai created_at is unix seconds. */
static int64_t unix_s_ms(const cJSON *item)
{
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) ||
        item->valuedouble <= 0 || item->valuedouble >= 9e12)
        return 0;
    return (int64_t)(item->valuedouble * 1000.0);
}

static int parse_status_obj(enum provider_kind kind, const cJSON *root,
                            struct batch_status *out, char *errstr,
                            size_t errstr_size)
{
    const char *what = kind == PROVIDER_ANTHROPIC ? "anthropic batch"
                                                  : "openai batch";
    const char *status_key = kind == PROVIDER_ANTHROPIC ? "processing_status"
                                                        : "status";
    if (!cJSON_IsObject(root)) {
        snprintf(errstr, errstr_size, "%s: malformed JSON", what);
        return SL_EINVAL;
    }
    const char *id = jstr(root, "id");
    if (!id) {
        if (!describe_error(root, what, errstr, errstr_size))
            snprintf(errstr, errstr_size, "%s: no id", what);
        return SL_EINVAL;
    }
    const char *status = jstr(root, status_key);
    if (!lookup_state(kind, status, &out->state)) {
        snprintf(errstr, errstr_size, "%s %s: unknown %s %.40s", what, id,
                 status_key, status ? status : "(none)");
        return SL_EINVAL;
    }
    out->id = xstrdup(id);
    if (kind == PROVIDER_ANTHROPIC) {
        anthropic_status(root, out);
        out->created_ms = rfc3339_ms(jstr(root, "created_at"));
    } else {
        openai_status(root, out);
        out->created_ms = unix_s_ms(jget(root, "created_at"));
    }
    return SL_OK;
}

int batch_parse_status(enum provider_kind kind, const char *body, size_t len,
                       struct batch_status *out, char *errstr,
                       size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    int rc = parse_status_obj(kind, root, out, errstr, errstr_size);
    cJSON_Delete(root);
    return rc;
}

int batch_parse_list(enum provider_kind kind, const char *body, size_t len,
                     struct batch_list *out, char *errstr,
                     size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    const char *what = kind == PROVIDER_ANTHROPIC ? "anthropic batch list"
                                                  : "openai batch list";
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *data = jget(root, "data");
    int rc = SL_EINVAL;
    if (!cJSON_IsObject(root)) {
        snprintf(errstr, errstr_size, "%s: malformed JSON", what);
        goto out;
    }
    if (!cJSON_IsArray(data)) {
        if (!describe_error(root, what, errstr, errstr_size))
            snprintf(errstr, errstr_size, "%s: no data array", what);
        goto out;
    }
    size_t n = (size_t)cJSON_GetArraySize(data);
    out->items = xcalloc(n ? n : 1, sizeof(*out->items));
    const cJSON *entry;
    cJSON_ArrayForEach(entry, data) {
        char why[128];
        struct batch_status *st = &out->items[out->n];
        memset(st, 0, sizeof(*st));
        if (parse_status_obj(kind, entry, st, why, sizeof(why)) == SL_OK)
            out->n++;
        else
            out->skipped++;
    }
    out->has_more = cJSON_IsTrue(jget(root, "has_more"));
    out->last_id = jdup(root, "last_id");
    if (!out->last_id && n > 0)
        out->last_id = jdup(cJSON_GetArrayItem(data, (int)n - 1), "id");
    rc = SL_OK;
out:
    cJSON_Delete(root);
    return rc;
}

void batch_list_clear(struct batch_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        batch_status_clear(&l->items[i]);
    free(l->items);
    free(l->last_id);
    memset(l, 0, sizeof(*l));
}

void batch_status_clear(struct batch_status *s)
{
    if (!s)
        return;
    free(s->id);
    free(s->output_file_id);
    free(s->error_file_id);
    free(s->sluice_batch_id);
    free(s->results_url);
    free(s->error);
    memset(s, 0, sizeof(*s));
}

int batch_parse_file_id(const char *body, size_t len, char **id_out,
                        char *errstr, size_t errstr_size)
{
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    const char *id = jstr(root, "id");
    int rc = SL_OK;
    if (id) {
        *id_out = xstrdup(id);
    } else {
        if (!cJSON_IsObject(root) ||
            !describe_error(root, "openai file", errstr, errstr_size))
            snprintf(errstr, errstr_size, "openai file: no id");
        rc = SL_EINVAL;
    }
    cJSON_Delete(root);
    return rc;
}

/* --- result lines --- */

/* Parses the inner answer with the realtime parser, so a batch answer is
 * read exactly like a realtime one. A 200 body that is not an answer is a
 * failed request, with the parser's reason. */
static void parse_answer(enum provider_kind kind, long status,
                         const cJSON *body, struct batch_line *out)
{
    char *text = NULL;
    if (cJSON_IsString(body))
        text = xstrdup(body->valuestring);
    else if (body)
        text = print_json(body);
    char why[256] = "";
    int rc = provider_parse_response(kind, status, text,
                                     text ? strlen(text) : 0, &out->resp,
                                     why, sizeof(why));
    free(text);
    if (status == 200 && rc == SL_OK) {
        out->kind = BATCH_LINE_SUCCEEDED;
        return;
    }
    out->kind = BATCH_LINE_ERRORED;
    if (rc != SL_OK) {
        out->resp.error_type = xstrdup("invalid_response");
        out->resp.error_message = xstrdup(why);
    }
    out->error = xasprintf("HTTP %ld %s: %s", status,
                           out->resp.error_type ? out->resp.error_type : "",
                           out->resp.error_message ? out->resp.error_message
                                                   : "");
}

/* A line that never reached the model: the kind, resp.error_type and a
 * one-line reason. */
static void set_unanswered(struct batch_line *out, enum batch_line_kind kind,
                           const char *type, const char *msg)
{
    out->kind = kind;
    out->resp.error_type = xstrdup(type);
    out->resp.error_message = msg ? xstrdup(msg) : NULL;
    out->error = xasprintf("%s: %s", type, msg ? msg : "");
}

/* {id, custom_id, response:{status_code, request_id, body}|null,
 *  error:{code, message}|null} */
static int openai_line(const cJSON *root, struct batch_line *out,
                       char *errstr, size_t errstr_size)
{
    const cJSON *resp = jget(root, "response");
    const cJSON *err = jget(root, "error");
    if (cJSON_IsObject(resp)) {
        const cJSON *code = jget(resp, "status_code");
        long status = 0;
        if (cJSON_IsNumber(code) && code->valuedouble >= 100 &&
            code->valuedouble < 600)
            status = (long)code->valuedouble;
        parse_answer(PROVIDER_OPENAI, status, jget(resp, "body"), out);
        return SL_OK;
    }
    if (!cJSON_IsObject(err)) {
        snprintf(errstr, errstr_size,
                 "openai batch line %s: neither response nor error",
                 out->custom_id);
        return SL_EINVAL;
    }
    const char *code = jstr(err, "code");
    enum batch_line_kind kind = BATCH_LINE_ERRORED;
    if (code && strcmp(code, "batch_expired") == 0)
        kind = BATCH_LINE_EXPIRED;
    else if (code && strcmp(code, "batch_cancelled") == 0)
        kind = BATCH_LINE_CANCELED;
    set_unanswered(out, kind, code ? code : "error", jstr(err, "message"));
    return SL_OK;
}

/* The HTTP status the realtime API gives for each Anthropic error type,
 * so that retry_decide classifies a batch error like a realtime one. */
static long anthropic_error_status(const char *type)
{
    static const struct {
        const char *type;
        long status;
    } map[] = {
        {"invalid_request_error", 400}, {"authentication_error", 401},
        {"billing_error", 402},         {"permission_error", 403},
        {"not_found_error", 404},       {"request_too_large", 413},
        {"rate_limit_error", 429},      {"api_error", 500},
        {"overloaded_error", 529},
    };
    for (size_t i = 0; type && i < SL_ARRAY_LEN(map); i++) {
        if (strcmp(map[i].type, type) == 0)
            return map[i].status;
    }
    return 0;
}

/* result.error is {type:"error", error:{type,message}, request_id}, the
 * realtime error body; older pages show {type, message} directly, which
 * parses as the body when wrapped by result itself. */
static void anthropic_errored(const cJSON *result, struct batch_line *out)
{
    const cJSON *err = jget(result, "error");
    const cJSON *body = cJSON_IsObject(jget(err, "error")) ? err : result;
    const char *type = jstr(jget(body, "error"), "type");
    parse_answer(PROVIDER_ANTHROPIC, anthropic_error_status(type), body, out);
}

/* {"custom_id", "result":{"type":"succeeded","message":{…}} | errored |
 *  canceled | expired} */
static int anthropic_line(const cJSON *root, struct batch_line *out,
                          char *errstr, size_t errstr_size)
{
    const cJSON *result = jget(root, "result");
    const char *type = jstr(result, "type");
    if (type && strcmp(type, "succeeded") == 0) {
        parse_answer(PROVIDER_ANTHROPIC, 200, jget(result, "message"), out);
    } else if (type && strcmp(type, "errored") == 0) {
        anthropic_errored(result, out);
    } else if (type && strcmp(type, "canceled") == 0) {
        set_unanswered(out, BATCH_LINE_CANCELED, "canceled",
                       "batch canceled before this request ran");
    } else if (type && strcmp(type, "expired") == 0) {
        set_unanswered(out, BATCH_LINE_EXPIRED, "expired",
                       "batch expired before this request ran");
    } else {
        snprintf(errstr, errstr_size,
                 "anthropic batch line %s: unknown result type %.40s",
                 out->custom_id, type ? type : "(none)");
        return SL_EINVAL;
    }
    return SL_OK;
}

int batch_parse_line(enum provider_kind kind, const char *line, size_t len,
                     struct batch_line *out, char *errstr,
                     size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = line ? cJSON_ParseWithLength(line, len) : NULL;
    const char *id = jstr(root, "custom_id");
    int rc = SL_EINVAL;
    if (!id) {
        snprintf(errstr, errstr_size, "%s batch line: %s",
                 provider_kind_name(kind),
                 cJSON_IsObject(root) ? "no custom_id" : "malformed JSON");
        goto out;
    }
    out->custom_id = xstrdup(id);
    rc = kind == PROVIDER_ANTHROPIC
        ? anthropic_line(root, out, errstr, errstr_size)
        : openai_line(root, out, errstr, errstr_size);
    if (rc != SL_OK)
        batch_line_clear(out);
out:
    cJSON_Delete(root);
    return rc;
}

void batch_line_clear(struct batch_line *l)
{
    if (!l)
        return;
    free(l->custom_id);
    llm_response_clear(&l->resp);
    free(l->error);
    memset(l, 0, sizeof(*l));
}
