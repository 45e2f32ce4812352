/* usage_report.c — see usage_report.h. Response shapes follow the public
 * API references: OpenAI "Usage API: completions" (page of buckets, each
 * with organization.usage.completions.result objects) and Anthropic "Get
 * Messages Usage Report" (data of buckets with results, has_more,
 * next_page). Both page with an opaque cursor: here the next bucket's start
 * as decimal Unix seconds. */
#include "usage_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "util.h"

#define DAY_S 86400LL
#define OPENAI_PATH "/v1/organization/usage/completions"
#define ANTHROPIC_PATH "/v1/organizations/usage_report/messages"

bool emu_usage_report_route(const char *url)
{
    return strcmp(url, OPENAI_PATH) == 0 || strcmp(url, ANTHROPIC_PATH) == 0;
}

struct query {
    bool anthropic;
    long long start, end; /* day-aligned Unix seconds, [start, end) */
    long limit;
    bool by_model, by_tier; /* group_by model; batch / service_tier */
    const char *error;
};

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct query *q = cls;
    (void)kind;
    if (value && (strcmp(key, "group_by") == 0 || strcmp(key, "group_by[]") == 0)) {
        if (strcmp(value, "model") == 0)
            q->by_model = true;
        else if (strcmp(value, q->anthropic ? "service_tier" : "batch") == 0)
            q->by_tier = true;
    }
    return MHD_YES;
}

/* "2026-12-07T00:00:00Z" (fraction and offset "Z" only) → Unix seconds. */
static int parse_rfc3339(const char *s, long long *out)
{
    struct tm tm = {0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (long long)timegm(&tm);
    return 0;
}

static void format_rfc3339(long long t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int parse_time(const struct query *q, const char *v, long long *out)
{
    char *end = NULL;
    if (!q->anthropic) {
        long long t = strtoll(v, &end, 10);
        if (end == v || *end != '\0')
            return -1;
        *out = t;
        return 0;
    }
    return parse_rfc3339(v, out);
}

static void parse_query(struct MHD_Connection *c, struct query *q)
{
    const char *start = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
                                                    q->anthropic ? "starting_at" : "start_time");
    const char *end = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
                                                  q->anthropic ? "ending_at" : "end_time");
    const char *width = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "bucket_width");
    const char *limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *page = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "page");
    q->limit = limit ? strtol(limit, NULL, 10) : 7;
    if (!start || parse_time(q, start, &q->start) != 0)
        q->error = q->anthropic ? "starting_at: a RFC 3339 time is required" : "start_time: Unix seconds required";
    else if (end && parse_time(q, end, &q->end) != 0)
        q->error = q->anthropic ? "ending_at: not a RFC 3339 time" : "end_time: not Unix seconds";
    else if (width && strcmp(width, "1d") != 0)
        q->error = "bucket_width: only 1d is emulated";
    else if (q->limit < 1 || q->limit > 31)
        q->error = "limit: must be 1..31 for bucket_width 1d";
    if (q->error)
        return;
    if (!end)
        q->end = (long long)time(NULL) / DAY_S * DAY_S + DAY_S;
    if (page)
        q->start = strtoll(page, NULL, 10);
    q->start = q->start / DAY_S * DAY_S; /* buckets snap to 00:00 UTC */
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_arg, q);
}

/* Sums totals of one day into per-group rows (model and tier as asked). */
static cJSON *day_results(const struct query *q, const struct emu_usage_total *t, size_t n, long long day)
{
    cJSON *results = cJSON_CreateArray();
    struct emu_usage_total groups[64];
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].day != day)
            continue;
        bool wanted_api = q->anthropic ? strncmp(t[i].api, "anthropic", 9) == 0 : strncmp(t[i].api, "openai", 6) == 0;
        if (!wanted_api)
            continue;
        bool batch = strstr(t[i].api, "-batch") != NULL;
        struct emu_usage_total key = {0};
        if (q->by_model)
            snprintf(key.model, sizeof(key.model), "%s", t[i].model);
        if (q->by_tier)
            snprintf(key.api, sizeof(key.api), "%s", batch ? "batch" : "standard");
        size_t g = 0;
        while (g < ng && (strcmp(groups[g].model, key.model) != 0 || strcmp(groups[g].api, key.api) != 0))
            g++;
        if (g == ng) {
            if (ng == sizeof(groups) / sizeof(groups[0]))
                continue;
            groups[ng++] = key;
        }
        groups[g].requests += t[i].requests;
        groups[g].input_tokens += t[i].input_tokens;
        groups[g].cached_tokens += t[i].cached_tokens;
        groups[g].output_tokens += t[i].output_tokens;
        groups[g].cache_write_tokens += t[i].cache_write_tokens;
        groups[g].cache_write_1h_tokens += t[i].cache_write_1h_tokens;
    }
    for (size_t g = 0; g < ng; g++) {
        const struct emu_usage_total *r = &groups[g];
        cJSON *o = cJSON_CreateObject();
        if (q->anthropic) {
            cJSON_AddNumberToObject(o, "uncached_input_tokens",
                                    (double)(r->input_tokens - r->cached_tokens - r->cache_write_tokens));
            cJSON *cc = cJSON_AddObjectToObject(o, "cache_creation");
            cJSON_AddNumberToObject(cc, "ephemeral_1h_input_tokens", (double)r->cache_write_1h_tokens);
            cJSON_AddNumberToObject(cc, "ephemeral_5m_input_tokens",
                                    (double)(r->cache_write_tokens - r->cache_write_1h_tokens));
            cJSON_AddNumberToObject(o, "cache_read_input_tokens", (double)r->cached_tokens);
            cJSON_AddNumberToObject(o, "output_tokens", (double)r->output_tokens);
            cJSON *stu = cJSON_AddObjectToObject(o, "server_tool_use");
            cJSON_AddNumberToObject(stu, "web_search_requests", 0);
            cJSON_AddNullToObject(o, "api_key_id");
            cJSON_AddNullToObject(o, "workspace_id");
            if (q->by_model) cJSON_AddStringToObject(o, "model", r->model); else cJSON_AddNullToObject(o, "model");
            if (q->by_tier) cJSON_AddStringToObject(o, "service_tier", r->api); else cJSON_AddNullToObject(o, "service_tier");
            cJSON_AddNullToObject(o, "context_window");
        } else {
            cJSON_AddStringToObject(o, "object", "organization.usage.completions.result");
            cJSON_AddNumberToObject(o, "input_tokens", (double)r->input_tokens);
            cJSON_AddNumberToObject(o, "output_tokens", (double)r->output_tokens);
            cJSON_AddNumberToObject(o, "input_cached_tokens", (double)r->cached_tokens);
            cJSON_AddNumberToObject(o, "input_audio_tokens", 0);
            cJSON_AddNumberToObject(o, "output_audio_tokens", 0);
            cJSON_AddNumberToObject(o, "num_model_requests", (double)r->requests);
            cJSON_AddNullToObject(o, "project_id");
            cJSON_AddNullToObject(o, "user_id");
            cJSON_AddNullToObject(o, "api_key_id");
            if (q->by_model) cJSON_AddStringToObject(o, "model", r->model); else cJSON_AddNullToObject(o, "model");
            if (q->by_tier) cJSON_AddBoolToObject(o, "batch", strcmp(r->api, "batch") == 0); else cJSON_AddNullToObject(o, "batch");
        }
        cJSON_AddItemToArray(results, o);
    }
    return results;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, cJSON *root)
{
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *c, bool anthropic, int status, const char *msg)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_CreateObject();
    if (anthropic) {
        cJSON_AddStringToObject(root, "type", "error");
        cJSON_AddStringToObject(e, "type", "invalid_request_error");
        cJSON_AddStringToObject(e, "message", msg);
    } else {
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddStringToObject(e, "type", "invalid_request_error");
        cJSON_AddNullToObject(e, "param");
        cJSON_AddNullToObject(e, "code");
    }
    cJSON_AddItemToObject(root, "error", e);
    return send_json(c, status, root);
}

enum MHD_Result emu_usage_report_answer(struct MHD_Connection *c, const char *url, const char *method,
                                        struct emu_usage_log *usage)
{
    struct query q = {.anthropic = strcmp(url, ANTHROPIC_PATH) == 0};
    if (strcmp(method, "GET") != 0)
        return send_error(c, q.anthropic, 405, "Only GET is supported here.");
    parse_query(c, &q);
    if (q.error)
        return send_error(c, q.anthropic, 400, q.error);
    size_t n = 0;
    struct emu_usage_total *t = emu_usage_totals(usage, q.start, q.end, &n);
    cJSON *root = cJSON_CreateObject();
    if (!q.anthropic)
        cJSON_AddStringToObject(root, "object", "page");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    long long day = q.start;
    for (long k = 0; k < q.limit && day < q.end; k++, day += DAY_S) {
        cJSON *b = cJSON_CreateObject();
        if (q.anthropic) {
            char s[32], e[32];
            format_rfc3339(day, s, sizeof(s));
            format_rfc3339(day + DAY_S, e, sizeof(e));
            cJSON_AddStringToObject(b, "starting_at", s);
            cJSON_AddStringToObject(b, "ending_at", e);
        } else {
            cJSON_AddStringToObject(b, "object", "bucket");
            cJSON_AddNumberToObject(b, "start_time", (double)day);
            cJSON_AddNumberToObject(b, "end_time", (double)(day + DAY_S));
        }
        cJSON_AddItemToObject(b, "results", day_results(&q, t, n, day));
        cJSON_AddItemToArray(data, b);
    }
    free(t);
    cJSON_AddBoolToObject(root, "has_more", day < q.end);
    if (day < q.end) {
        char cursor[32];
        snprintf(cursor, sizeof(cursor), "%lld", day);
        cJSON_AddStringToObject(root, "next_page", cursor);
    } else {
        cJSON_AddNullToObject(root, "next_page");
    }
    return send_json(c, 200, root);
}
