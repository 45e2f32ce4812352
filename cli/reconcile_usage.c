/* reconcile_usage.c — the ledger against the providers' usage reports (see reconcile_usage.h). */
#include "reconcile_usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "pricing.h"

#define REPORT_MAX_BYTES (8u << 20) /* a month of daily buckets is far less */
#define REPORT_TIMEOUT_MS 30000
#define MAX_PAGES 64

struct rows {
    struct reconcile_row *v;
    size_t n, cap;
};

static struct reconcile_row *row_for(struct rows *rs, const char *day,
                                     const char *provider, const char *model,
                                     const char *mode)
{
    for (size_t i = 0; i < rs->n; i++) {
        struct reconcile_row *r = &rs->v[i];
        if (strcmp(r->day, day) == 0 && strcmp(r->provider_name, provider) == 0 &&
            strcmp(r->model, model) == 0 && strcmp(r->mode, mode) == 0)
            return r;
    }
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 32;
        rs->v = xrealloc(rs->v, rs->cap * sizeof(*rs->v));
    }
    struct reconcile_row *r = &rs->v[rs->n++];
    memset(r, 0, sizeof(*r));
    sl_strlcpy(r->day, day, sizeof(r->day));
    sl_strlcpy(r->provider_name, provider, sizeof(r->provider_name));
    sl_strlcpy(r->model, model, sizeof(r->model));
    sl_strlcpy(r->mode, mode, sizeof(r->mode));
    return r;
}

/* ---- HTTP ---- */

struct body {
    char *p;
    size_t len;
    bool over;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > REPORT_MAX_BYTES) {
        b->over = true;
        return 0;
    }
    b->p = xrealloc(b->p, b->len + n + 1);
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* GETs url with the provider's admin key; returns the parsed JSON body of a
 * 200 (cJSON_Delete) or NULL with errstr. The key goes into a header only. */
static cJSON *get_json(const struct provider_conf *p, const char *url,
                       char *errstr, size_t errstr_size)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    struct body b = {0};
    cJSON *out = NULL;
    char line[1024];
    const char *key = p->admin_key_env ? getenv(p->admin_key_env) : NULL;
    if (!h)
        abort(); /* allocation */
    if (p->kind == PROVIDER_ANTHROPIC) {
        hdr = curl_slist_append(hdr, "anthropic-version: 2023-06-01");
        if (key && key[0]) {
            snprintf(line, sizeof(line), "x-api-key: %s", key);
            hdr = curl_slist_append(hdr, line);
        }
    } else if (key && key[0]) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", key);
        hdr = curl_slist_append(hdr, line);
    }
    memset(line, 0, sizeof(line));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)REPORT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)p->connect_timeout_ms);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK)
        snprintf(errstr, errstr_size, "%s usage report: %s", p->name,
                 b.over ? "body too large" : curl_easy_strerror(cc));
    else if (status != 200)
        snprintf(errstr, errstr_size, "%s usage report: HTTP %ld: %.200s",
                 p->name, status, b.p ? b.p : "");
    else if (!(out = cJSON_Parse(b.p ? b.p : "")))
        snprintf(errstr, errstr_size, "%s usage report: not JSON", p->name);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(b.p);
    return out;
}

static int64_t num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static void day_of(int64_t t, char out[11])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* writes: cache-write tokens (Anthropic), of which write_1h 1-hour. */
static void add_provider_usage(struct rows *rs, const struct config *cfg,
                               const struct provider_conf *p, const char *day,
                               const char *model, bool batch, int64_t calls,
                               int64_t in, int64_t cached, int64_t out,
                               int64_t writes, int64_t write_1h)
{
    struct reconcile_row *r = row_for(rs, day, p->name, model,
                                      batch ? "batch" : "realtime");
    struct llm_usage u = {.input_tokens = in, .cached_tokens = cached,
                          .cache_write_tokens = writes, .output_tokens = out,
                          .cache_write_1h_tokens = write_1h};
    const struct price *price = config_price(cfg, model);
    r->provider.calls += calls;
    r->provider.tokens_in += in;
    r->provider.tokens_cached += cached;
    r->provider.tokens_out += out;
    if (price)
        r->provider.nanousd += pricing_cost_nano(price, &u, batch);
}

/* One page of buckets, either wire format; *next gets the cursor or NULL. */
static void read_buckets(struct rows *rs, const struct config *cfg,
                         const struct provider_conf *p, const cJSON *root)
{
    bool anthropic = p->kind == PROVIDER_ANTHROPIC;
    const cJSON *bucket, *res;
    cJSON_ArrayForEach(bucket, cJSON_GetObjectItemCaseSensitive(root, "data")) {
        char day[11] = "";
        if (anthropic) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(bucket, "starting_at");
            if (cJSON_IsString(s))
                sl_strlcpy(day, s->valuestring, sizeof(day));
        } else {
            day_of(num(bucket, "start_time"), day);
        }
        cJSON_ArrayForEach(res, cJSON_GetObjectItemCaseSensitive(bucket, "results")) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(res, "model");
            const char *model = cJSON_IsString(m) ? m->valuestring : "(none)";
            if (anthropic) {
                const cJSON *tier = cJSON_GetObjectItemCaseSensitive(res, "service_tier");
                const cJSON *cc = cJSON_GetObjectItemCaseSensitive(res, "cache_creation");
                int64_t cached = num(res, "cache_read_input_tokens");
                int64_t w5m = num(cc, "ephemeral_5m_input_tokens");
                int64_t w1h = num(cc, "ephemeral_1h_input_tokens");
                int64_t in = num(res, "uncached_input_tokens") + cached +
                             w5m + w1h;
                add_provider_usage(rs, cfg, p, day, model,
                                   cJSON_IsString(tier) &&
                                       strcmp(tier->valuestring, "batch") == 0,
                                   0, in, cached, num(res, "output_tokens"),
                                   w5m + w1h, w1h);
            } else {
                add_provider_usage(rs, cfg, p, day, model,
                                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "batch")),
                                   num(res, "num_model_requests"),
                                   num(res, "input_tokens"),
                                   num(res, "input_cached_tokens"),
                                   num(res, "output_tokens"), 0, 0);
            }
        }
    }
}

static int fetch_provider(struct rows *rs, const struct config *cfg,
                          const struct provider_conf *p, int64_t from_s,
                          int64_t to_s, char *errstr, size_t errstr_size)
{
    char *base = xstrdup(p->base_url);
    size_t bl = strlen(base);
    if (bl && base[bl - 1] == '/')
        base[bl - 1] = '\0';
    char from[32], to[32], cursor[128] = "";
    if (p->kind == PROVIDER_ANTHROPIC) {
        time_t f = (time_t)from_s, t = (time_t)to_s;
        struct tm tm;
        strftime(from, sizeof(from), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&f, &tm));
        strftime(to, sizeof(to), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    } else {
        snprintf(from, sizeof(from), "%lld", (long long)from_s);
        snprintf(to, sizeof(to), "%lld", (long long)to_s);
    }
    int rc = SL_OK;
    for (int page = 0; page < MAX_PAGES; page++) {
        char *url = p->kind == PROVIDER_ANTHROPIC
            ? xasprintf("%s/v1/organizations/usage_report/messages?starting_at=%s"
                        "&ending_at=%s&bucket_width=1d&group_by[]=model"
                        "&group_by[]=service_tier&limit=31%s%s", base, from, to,
                        cursor[0] ? "&page=" : "", cursor)
            : xasprintf("%s/organization/usage/completions?start_time=%s"
                        "&end_time=%s&bucket_width=1d&group_by=model"
                        "&group_by=batch&limit=31%s%s", base, from, to,
                        cursor[0] ? "&page=" : "", cursor);
        cJSON *root = get_json(p, url, errstr, errstr_size);
        free(url);
        if (!root) {
            rc = SL_EHTTP;
            break;
        }
        read_buckets(rs, cfg, p, root);
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(root, "next_page");
        bool more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "has_more")) &&
                    cJSON_IsString(next) && strlen(next->valuestring) < sizeof(cursor);
        if (more) { /* cursors are opaque: pass them on percent-encoded */
            char *esc = curl_easy_escape(NULL, next->valuestring, 0);
            sl_strlcpy(cursor, esc ? esc : "", sizeof(cursor));
            curl_free(esc);
        }
        cJSON_Delete(root);
        if (!more)
            break;
    }
    free(base);
    return rc;
}

/* ---- the ledger ---- */

static const char SQL_LEDGER[] =
    "SELECT to_char((created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'),"
    " provider, model, mode, outcome = 'unconfirmed', count(*),"
    " sum(tokens_in), sum(tokens_cached_in), sum(tokens_out), sum(cost_nanousd)"
    " FROM cost_lines"
    " WHERE (created_at AT TIME ZONE 'UTC')::date BETWEEN $1::date AND $2::date"
    "  AND tier > 0"
    " GROUP BY 1, 2, 3, 4, 5";

static int read_ledger(struct rows *rs, struct db *db, const char *from_day,
                       const char *to_day, char *errstr, size_t errstr_size)
{
    const char *params[] = {from_day, to_day};
    PGresult *res = db_query(db, "reconcile ledger", SQL_LEDGER, 2, params,
                             errstr, errstr_size);
    if (!res)
        return SL_EDB;
    for (int i = 0; i < PQntuples(res); i++) {
        struct reconcile_row *r = row_for(rs, PQgetvalue(res, i, 0),
                                          PQgetvalue(res, i, 1),
                                          PQgetvalue(res, i, 2),
                                          PQgetvalue(res, i, 3));
        struct reconcile_side *s =
            strcmp(PQgetvalue(res, i, 4), "t") == 0 ? &r->unconfirmed : &r->ledger;
        s->calls += atoll(PQgetvalue(res, i, 5));
        s->tokens_in += atoll(PQgetvalue(res, i, 6));
        s->tokens_cached += atoll(PQgetvalue(res, i, 7));
        s->tokens_out += atoll(PQgetvalue(res, i, 8));
        s->nanousd += atoll(PQgetvalue(res, i, 9));
    }
    PQclear(res);
    return SL_OK;
}

static int row_cmp(const void *a, const void *b)
{
    const struct reconcile_row *x = a, *y = b;
    int c = strcmp(x->day, y->day);
    if (!c) c = strcmp(x->provider_name, y->provider_name);
    if (!c) c = strcmp(x->model, y->model);
    return c ? c : strcmp(x->mode, y->mode);
}

static int64_t day_start(const char *day)
{
    struct tm tm = {0};
    if (sscanf(day, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

int reconcile_run(const struct config *cfg, struct db *db, const char *from_day,
                  const char *to_day, struct reconcile_row **rows, size_t *n,
                  char *errstr, size_t errstr_size)
{
    struct rows rs = {0};
    int64_t from_s = day_start(from_day), to_s = day_start(to_day);
    *rows = NULL;
    *n = 0;
    if (from_s < 0 || to_s < from_s) {
        snprintf(errstr, errstr_size, "bad range %s..%s", from_day, to_day);
        return SL_EINVAL;
    }
    int rc = read_ledger(&rs, db, from_day, to_day, errstr, errstr_size);
    for (size_t i = 0; rc == SL_OK && i < cfg->n_providers; i++)
        rc = fetch_provider(&rs, cfg, &cfg->providers[i], from_s,
                            to_s + 86400, errstr, errstr_size);
    if (rc != SL_OK) {
        free(rs.v);
        return rc;
    }
    qsort(rs.v, rs.n, sizeof(*rs.v), row_cmp);
    *rows = rs.v;
    *n = rs.n;
    return SL_OK;
}

int64_t reconcile_diff_tokens(const struct reconcile_row *r)
{
    return (r->provider.tokens_in + r->provider.tokens_out) -
           (r->ledger.tokens_in + r->ledger.tokens_out);
}

int64_t reconcile_diff_nanousd(const struct reconcile_row *r)
{
    return r->provider.nanousd - r->ledger.nanousd;
}
