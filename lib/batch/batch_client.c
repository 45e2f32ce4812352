/* batch_client.c — blocking libcurl-easy transport for the batch APIs (see
 * batch_client.h). Every call goes through perform(): one reset handle,
 * the provider's headers, a capped buffer or a line splitter for the
 * answer, then check_reply() turns the outcome into SL_E*, err and
 * *retryable. */
#include "batch_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "provider/provider.h"
#include "retry.h"

/* Page size of list calls: OpenAI's maximum (Anthropic allows 1000). */
#define LIST_PAGE 100
/* A list that keeps saying has_more this long is not trusted further. */
#define LIST_MAX_PAGES 1000
/* OpenAI metadata values are at most 512 characters. */
#define SLUICE_BATCH_ID_MAX 512

struct batch_client {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    long connects; /* sum of CURLINFO_NUM_CONNECTS */
};

struct batch_client *batch_client_new(void)
{
    struct batch_client *c = xcalloc(1, sizeof(*c));
    c->curl = curl_easy_init();
    if (!c->curl) {
        fprintf(stderr, "sluice: curl_easy_init failed (out of memory)\n");
        abort();
    }
    return c;
}

long batch_client_connects(const struct batch_client *c)
{
    return c->connects;
}

void batch_client_free(struct batch_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

/* ---------------------------------------------------------------- one call */

struct call {
    const char *what;              /* "openai upload", for err */
    const char *url;
    const char *content_type;      /* replaces the JSON one; NULL: keep */
    const char *extra_header;      /* one more "Name: value"; NULL: none */
    const char *body;              /* POST when not NULL */
    size_t body_len;
    bool large;                    /* no total timeout: a speed floor */
    struct batch_splitter *split;  /* 2xx bodies go here, not to memory */
};

enum sink_mode { SINK_UNDECIDED, SINK_BUFFER, SINK_STREAM };

struct reply {
    CURL *curl;
    enum sink_mode mode;
    struct batch_splitter *split;
    int split_rc;          /* nonzero: the line callback stopped the stream */
    char *body;            /* NUL-terminated, <= BATCH_CLIENT_BODY_MAX */
    size_t len, cap;
    bool truncated;
    bool sent;             /* curl wrote the request */
    CURLcode cc;
    long status;
    char should_retry[8];  /* x-should-retry, "" when absent */
    int64_t retry_after_ms; /* the server's hint, -1 when none */
    char curl_error[CURL_ERROR_SIZE]; /* curl's detail, "" when none */
    int64_t elapsed_us;
};

static void reply_clear(struct reply *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Buffers an answer up to the cap; past it the transfer is aborted (curl
 * reports CURLE_WRITE_ERROR) rather than read to the end for nothing. */
static size_t buffer_body(struct reply *r, const char *data, size_t n)
{
    if (n > BATCH_CLIENT_BODY_MAX - r->len) {
        r->truncated = true;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        r->body = xrealloc(r->body, cap);
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

/* Streams a 2xx answer into the splitter; any other status (an error
 * body) is buffered for its text. The status is known by the first
 * body byte. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct reply *r = arg;
    size_t n = size * nmemb;
    if (r->mode == SINK_UNDECIDED) {
        long status = 0;
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
        r->mode = r->split && status >= 200 && status < 300 ? SINK_STREAM
                                                             : SINK_BUFFER;
    }
    if (r->mode == SINK_BUFFER)
        return buffer_body(r, data, n);
    int rc = batch_splitter_feed(r->split, data, n);
    if (rc != 0) {
        r->split_rc = rc;
        return 0;
    }
    return n;
}

/* provider_headers with its JSON Content-Type swapped for content_type. */
static struct curl_slist *call_headers(const struct provider_conf *p,
                                       const char *content_type,
                                       const char *extra_header)
{
    struct curl_slist *base = provider_headers(p);
    if (extra_header && !(base = curl_slist_append(base, extra_header))) {
        fprintf(stderr, "sluice: out of memory building headers\n");
        abort();
    }
    if (!content_type)
        return base;
    struct curl_slist *out = NULL;
    for (const struct curl_slist *h = base; h; h = h->next) {
        if (strncasecmp(h->data, "Content-Type:", 13) == 0)
            continue;
        out = curl_slist_append(out, h->data);
    }
    char *ct = xasprintf("Content-Type: %s", content_type);
    out = curl_slist_append(out, ct);
    free(ct);
    curl_slist_free_all(base);
    if (!out) {
        fprintf(stderr, "sluice: out of memory building headers\n");
        abort();
    }
    return out;
}

static CURLcode set_options(struct batch_client *c,
                            const struct provider_conf *p,
                            const struct call *call,
                            struct curl_slist *headers, struct reply *r)
{
    CURL *h = c->curl;
    CURLcode cc = CURLE_OK;
    long timeout = p->timeout_ms > 0 ? p->timeout_ms : 30000;
    c->errbuf[0] = '\0';
#define SET(opt, val) \
    if (cc == CURLE_OK) \
    cc = curl_easy_setopt(h, opt, val)
    SET(CURLOPT_URL, call->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_CONNECTTIMEOUT_MS,
        (long)(p->connect_timeout_ms > 0 ? p->connect_timeout_ms : 3000));
    if (call->large) {
        /* Hundreds of MB have no fair total limit; a stall does. */
        SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
        SET(CURLOPT_LOW_SPEED_TIME, timeout / 1000 > 0 ? timeout / 1000 : 1);
    } else {
        SET(CURLOPT_TIMEOUT_MS, timeout);
    }
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, r);
    if (call->body) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
        SET(CURLOPT_POSTFIELDS, call->body);
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
#undef SET
    return cc;
}

/* The value of the last response's header name, or NULL; valid until the
 * handle's next transfer. */
static const char *header_value(CURL *curl, const char *name)
{
    struct curl_header *h = NULL;
    return curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK
        ? h->value : NULL;
}

/* Runs one request on the client's handle. Never fails by itself: the
 * outcome (transport code, status, body, stop value) is in *r. */
static void perform(struct batch_client *c, const struct provider_conf *p,
                    const struct call *call, struct reply *r)
{
    memset(r, 0, sizeof(*r));
    r->curl = c->curl;
    r->split = call->split;
    /* reset keeps the connection cache: keep-alive survives. */
    curl_easy_reset(c->curl);
    struct curl_slist *headers = call_headers(p, call->content_type,
                                              call->extra_header);
    int64_t start = sl_monotonic_us();
    r->cc = set_options(c, p, call, headers, r);
    if (r->cc == CURLE_OK)
        r->cc = curl_easy_perform(c->curl);
    r->elapsed_us = sl_monotonic_us() - start;
    sl_strlcpy(r->curl_error, c->errbuf, sizeof(r->curl_error));
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
    /* Bytes of request headers curl sent: 0 when it never connected. */
    long request_size = 0;
    r->sent = curl_easy_getinfo(c->curl, CURLINFO_REQUEST_SIZE,
                                &request_size) == CURLE_OK && request_size > 0;
    long opened = 0;
    if (curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &opened) ==
        CURLE_OK)
        c->connects += opened;
    const char *should = header_value(c->curl, "x-should-retry");
    if (should)
        sl_strlcpy(r->should_retry, should, sizeof(r->should_retry));
    r->retry_after_ms = retry_parse_hint(header_value(c->curl, "retry-after-ms"),
                                         header_value(c->curl, "retry-after"),
                                         sl_now_ms() / 1000);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
}

static bool is_2xx(long status)
{
    return status >= 200 && status < 300;
}

static bool decide_retry(bool transport, long status, const char *should,
                         bool no_retry)
{
    static const struct retry_policy one = {.max_retries = 1};
    return retry_decide(&one, 0, transport, status,
                        should[0] ? should : NULL,
                        no_retry) == RETRY_AFTER_DELAY;
}

/* 0 for a complete 2xx answer; otherwise SL_EHTTP (SL_ENOTFOUND for 404
 * when notfound_ok) with err and *retryable. A stop by the line callback
 * is not judged here (see r->split_rc). */
static int check_reply(const struct provider_conf *p, const struct call *call,
                       const struct reply *r, bool notfound_ok,
                       bool *retryable, char *err, size_t err_size)
{
    *retryable = false;
    if (r->truncated) {
        snprintf(err, err_size, "%s: answer (HTTP %ld) over %zu bytes",
                 call->what, r->status, BATCH_CLIENT_BODY_MAX);
        return SL_EHTTP;
    }
    if (r->cc != CURLE_OK) {
        *retryable = decide_retry(true, 0, r->should_retry, false);
        snprintf(err, err_size, "%s: %s", call->what,
                 r->curl_error[0] ? r->curl_error
                                  : curl_easy_strerror(r->cc));
        return SL_EHTTP;
    }
    if (is_2xx(r->status))
        return SL_OK;
    struct llm_response resp;
    char why[256] = "";
    if (provider_parse_response(p->kind, r->status, r->body ? r->body : "",
                                r->len, &resp, why, sizeof(why)) != SL_OK)
        resp.error_message = xstrdup(why);
    *retryable = decide_retry(false, r->status, r->should_retry,
                              resp.no_retry);
    snprintf(err, err_size, "%s: HTTP %ld %s: %s", call->what, r->status,
             resp.error_type ? resp.error_type : "",
             resp.error_message ? resp.error_message : "");
    llm_response_clear(&resp);
    return notfound_ok && r->status == 404 ? SL_ENOTFOUND : SL_EHTTP;
}

/* perform + check_reply for calls with a buffered answer. On 0, *r holds
 * the answer (reply_clear it); otherwise it is already cleared. */
static int request(struct batch_client *c, const struct provider_conf *p,
                   const struct call *call, bool notfound_ok, struct reply *r,
                   bool *retryable, char *err, size_t err_size)
{
    perform(c, p, call, r);
    int rc = check_reply(p, call, r, notfound_ok, retryable, err, err_size);
    if (rc != SL_OK)
        reply_clear(r);
    return rc;
}

/* ---------------------------------------------------------------- submit */

/* POSTs body to url and parses the batch object it answers. */
static int create_batch(struct batch_client *c, const struct provider_conf *p,
                        const struct call *call, char **provider_batch_id,
                        bool *retryable, char *err, size_t err_size)
{
    struct reply r;
    int rc = request(c, p, call, false, &r, retryable, err, err_size);
    if (rc != SL_OK)
        return rc;
    struct batch_status st;
    rc = batch_parse_status(p->kind, r.body, r.len, &st, err, err_size);
    if (rc == SL_OK) {
        *provider_batch_id = st.id;
        st.id = NULL;
        batch_status_clear(&st);
    }
    reply_clear(&r);
    return rc;
}

/* POST /files with the JSONL as a multipart form → *file_id. */
static int openai_upload(struct batch_client *c, const struct provider_conf *p,
                         const char *jsonl, size_t len,
                         const char *sluice_batch_id, char **file_id,
                         bool *retryable, char *err, size_t err_size)
{
    char *name = batch_provider_id_valid(sluice_batch_id)
        ? xasprintf("sluice-%s.jsonl", sluice_batch_id)
        : xstrdup("sluice-batch.jsonl");
    char *body = NULL, *ctype = NULL, *url = batch_url(p, BATCH_CALL_UPLOAD,
                                                       NULL);
    size_t body_len = 0;
    struct reply r = {0};
    int rc = batch_openai_upload_body(jsonl, len, name, &body, &body_len,
                                      &ctype, err, err_size);
    if (rc != SL_OK)
        goto out;
    struct call call = {.what = "openai upload", .url = url,
                        .content_type = ctype, .body = body,
                        .body_len = body_len,
                        .large = body_len > BATCH_CLIENT_BODY_MAX};
    rc = request(c, p, &call, false, &r, retryable, err, err_size);
    if (rc == SL_OK)
        rc = batch_parse_file_id(r.body, r.len, file_id, err, err_size);
out:
    reply_clear(&r);
    free(name);
    free(body);
    free(ctype);
    free(url);
    return rc;
}

static int openai_submit(struct batch_client *c, const struct provider_conf *p,
                         const struct batch_item *items, size_t n,
                         const char *sluice_batch_id, char **provider_batch_id,
                         bool *retryable, char *err, size_t err_size)
{
    char *jsonl = NULL, *file_id = NULL, *body = NULL, *url = NULL;
    size_t len = 0;
    int rc = batch_openai_input_jsonl(p, items, n, &jsonl, &len, err,
                                      err_size);
    if (rc != SL_OK)
        goto out;
    rc = openai_upload(c, p, jsonl, len, sluice_batch_id, &file_id,
                       retryable, err, err_size);
    if (rc != SL_OK)
        goto out;
    body = batch_openai_create_body(file_id, sluice_batch_id);
    url = batch_url(p, BATCH_CALL_CREATE, NULL);
    struct call call = {.what = "openai create", .url = url, .body = body,
                        .body_len = strlen(body)};
    rc = create_batch(c, p, &call, provider_batch_id, retryable, err,
                      err_size);
out:
    free(jsonl);
    free(file_id);
    free(body);
    free(url);
    return rc;
}

static int anthropic_submit(struct batch_client *c,
                            const struct provider_conf *p,
                            const struct batch_item *items, size_t n,
                            char **provider_batch_id, bool *retryable,
                            char *err, size_t err_size)
{
    char *body = NULL;
    size_t len = 0;
    int rc = batch_anthropic_create_body(p, items, n, &body, &len, err,
                                         err_size);
    if (rc != SL_OK)
        return rc;
    char *url = batch_url(p, BATCH_CALL_CREATE, NULL);
    struct call call = {.what = "anthropic create", .url = url, .body = body,
                        .body_len = len,
                        .large = len > BATCH_CLIENT_BODY_MAX};
    rc = create_batch(c, p, &call, provider_batch_id, retryable, err,
                      err_size);
    free(url);
    free(body);
    return rc;
}

int batch_client_submit(struct batch_client *c, const struct provider_conf *p,
                        const struct batch_item *items, size_t n,
                        const char *sluice_batch_id, char **provider_batch_id,
                        bool *retryable, char *err, size_t err_size)
{
    *provider_batch_id = NULL;
    *retryable = false;
    if (!sluice_batch_id || !sluice_batch_id[0] ||
        strlen(sluice_batch_id) > SLUICE_BATCH_ID_MAX) {
        snprintf(err, err_size, "batch submit: sluice batch id must be "
                 "1..%d bytes", SLUICE_BATCH_ID_MAX);
        return SL_EINVAL;
    }
    if (p->kind == PROVIDER_ANTHROPIC)
        return anthropic_submit(c, p, items, n, provider_batch_id, retryable,
                                err, err_size);
    return openai_submit(c, p, items, n, sluice_batch_id, provider_batch_id,
                         retryable, err, err_size);
}

/* ---------------------------------------------------------------- get */

int batch_client_get(struct batch_client *c, const struct provider_conf *p,
                     const char *provider_batch_id, struct batch_status *out,
                     bool *retryable, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    *retryable = false;
    char *url = batch_url(p, BATCH_CALL_GET, provider_batch_id);
    if (!url) {
        snprintf(err, err_size, "batch get: invalid batch id");
        return SL_EINVAL;
    }
    struct call call = {.what = p->kind == PROVIDER_ANTHROPIC
                                    ? "anthropic batch get"
                                    : "openai batch get",
                        .url = url};
    struct reply r;
    int rc = request(c, p, &call, true, &r, retryable, err, err_size);
    if (rc == SL_OK)
        rc = batch_parse_status(p->kind, r.body, r.len, out, err, err_size);
    reply_clear(&r);
    free(url);
    return rc;
}

/* ---------------------------------------------------------------- results */

struct stream_ctx {
    enum provider_kind kind;
    batch_client_line_cb on_line;
    void *arg;
    size_t bad;
};

static int on_raw_line(const char *line, size_t len, void *arg)
{
    struct stream_ctx *s = arg;
    struct batch_line parsed;
    char why[256];
    if (!line || batch_parse_line(s->kind, line, len, &parsed, why,
                                  sizeof(why)) != SL_OK) {
        s->bad++;
        return 0;
    }
    int rc = s->on_line(&parsed, s->arg);
    batch_line_clear(&parsed);
    return rc;
}

/* GETs url and hands every line to s. Returns 0, the line callback's stop
 * value, or an error. */
static int stream_url(struct batch_client *c, const struct provider_conf *p,
                      const char *what, const char *url,
                      struct stream_ctx *s, char *err, size_t err_size)
{
    struct batch_splitter *split =
        batch_splitter_new(BATCH_MAX_LINE_DEFAULT, on_raw_line, s);
    struct call call = {.what = what, .url = url, .large = true,
                        .split = split};
    struct reply r;
    bool retryable;
    perform(c, p, &call, &r);
    int rc = r.split_rc;
    if (rc == 0)
        rc = check_reply(p, &call, &r, false, &retryable, err, err_size);
    if (rc == SL_OK)
        rc = batch_splitter_finish(split);
    reply_clear(&r);
    batch_splitter_free(split);
    return rc;
}

/* results_url comes from the network: the key is only sent to it when it
 * lies under the configured base URL. */
static char *anthropic_results_url(const struct provider_conf *p,
                                   const struct batch_status *st)
{
    size_t blen = strlen(p->base_url);
    while (blen > 0 && p->base_url[blen - 1] == '/')
        blen--;
    const char *u = st->results_url;
    if (u && strncmp(u, p->base_url, blen) == 0 && u[blen] == '/' &&
        !strchr(u, '#'))
        return xstrdup(u);
    return batch_url(p, BATCH_CALL_RESULTS, st->id);
}

static int openai_results(struct batch_client *c,
                          const struct provider_conf *p,
                          const struct batch_status *st, struct stream_ctx *s,
                          char *err, size_t err_size)
{
    const char *files[] = {st->output_file_id, st->error_file_id};
    const char *what[] = {"openai output file", "openai error file"};
    for (size_t i = 0; i < SL_ARRAY_LEN(files); i++) {
        if (!files[i])
            continue;
        char *url = batch_url(p, BATCH_CALL_FILE_CONTENT, files[i]);
        if (!url) {
            snprintf(err, err_size, "%s: invalid file id", what[i]);
            return SL_EINVAL;
        }
        int rc = stream_url(c, p, what[i], url, s, err, err_size);
        free(url);
        if (rc != 0)
            return rc;
    }
    return SL_OK;
}

static int stream_results(struct batch_client *c,
                          const struct provider_conf *p,
                          const struct batch_status *st, struct stream_ctx *s,
                          char *err, size_t err_size)
{
    if (p->kind != PROVIDER_ANTHROPIC)
        return openai_results(c, p, st, s, err, err_size);
    if (st->state != BATCH_ENDED) {
        snprintf(err, err_size, "anthropic results: batch %s has not ended",
                 st->id ? st->id : "?");
        return SL_EINVAL;
    }
    char *url = anthropic_results_url(p, st);
    if (!url) {
        snprintf(err, err_size, "anthropic results: invalid batch id");
        return SL_EINVAL;
    }
    int rc = stream_url(c, p, "anthropic results", url, s, err, err_size);
    free(url);
    return rc;
}

int batch_client_results(struct batch_client *c, const struct provider_conf *p,
                         const struct batch_status *st,
                         batch_client_line_cb on_line, void *arg,
                         size_t *bad_lines, char *err, size_t err_size)
{
    struct stream_ctx s = {.kind = p->kind, .on_line = on_line, .arg = arg};
    int rc = stream_results(c, p, st, &s, err, err_size);
    if (bad_lines)
        *bad_lines = s.bad;
    return rc;
}

/* ---------------------------------------------------------------- find */

/* GETs one list page; cursor is NULL for the first. */
static int list_page(struct batch_client *c, const struct provider_conf *p,
                     const char *cursor, struct batch_list *out, char *err,
                     size_t err_size)
{
    bool ant = p->kind == PROVIDER_ANTHROPIC, retryable;
    memset(out, 0, sizeof(*out));
    if (cursor && !batch_provider_id_valid(cursor)) {
        snprintf(err, err_size, "batch list: odd cursor from the server");
        return SL_EINVAL;
    }
    /* The list is a GET on the create URL. */
    char *base = batch_url(p, BATCH_CALL_CREATE, NULL);
    char *url = cursor ? xasprintf("%s?limit=%d&%s=%s", base, LIST_PAGE,
                                   ant ? "after_id" : "after", cursor)
                       : xasprintf("%s?limit=%d", base, LIST_PAGE);
    struct call call = {.what = ant ? "anthropic batch list"
                                    : "openai batch list",
                        .url = url};
    struct reply r;
    int rc = request(c, p, &call, false, &r, &retryable, err, err_size);
    if (rc == SL_OK)
        rc = batch_parse_list(p->kind, r.body, r.len, out, err, err_size);
    reply_clear(&r);
    free(url);
    free(base);
    return rc;
}

struct probe {
    const char *prefix;
    size_t len;
};

enum { PROBE_FOUND = 1 };

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* A prefix match that never ends inside a number of the custom_id, so
 * that "r12-a1" finds "r12-a1" but not "r12-a10", and "r12" (or "r12-a")
 * finds every attempt of row 12 but not row 120. */
static int probe_line(const struct batch_line *line, void *arg)
{
    const struct probe *pr = arg;
    const char *id = line->custom_id;
    if (strncmp(id, pr->prefix, pr->len) != 0)
        return 0;
    bool inside_number = is_digit(id[pr->len]) &&
                         is_digit(pr->prefix[pr->len - 1]);
    return inside_number ? 0 : PROBE_FOUND;
}

struct find {
    const char *sluice_batch_id;
    struct probe probe;
    int64_t after_ms;
    bool pending;      /* an in-progress candidate could not be checked */
    char *found;
};

/* Checks one listed batch. Returns 0 (no match, go on), PROBE_FOUND, or
 * an error of its results download. */
static int check_candidate(struct batch_client *c,
                           const struct provider_conf *p,
                           const struct batch_status *st, struct find *f,
                           char *err, size_t err_size)
{
    if (p->kind != PROVIDER_ANTHROPIC) {
        bool match = st->sluice_batch_id &&
                     strcmp(st->sluice_batch_id, f->sluice_batch_id) == 0;
        return match ? PROBE_FOUND : 0;
    }
    if (st->state != BATCH_ENDED) {
        f->pending = true;
        return 0;
    }
    struct stream_ctx s = {.kind = p->kind, .on_line = probe_line,
                           .arg = &f->probe};
    return stream_results(c, p, st, &s, err, err_size);
}

/* Walks one page; sets *older when the page reached batches created
 * before the window (the list is newest first: no need to go on). */
static int scan_page(struct batch_client *c, const struct provider_conf *p,
                     const struct batch_list *page, struct find *f,
                     bool *older, char *err, size_t err_size)
{
    for (size_t i = 0; i < page->n; i++) {
        const struct batch_status *st = &page->items[i];
        if (st->created_ms > 0 && st->created_ms < f->after_ms) {
            *older = true;
            return 0;
        }
        int rc = check_candidate(c, p, st, f, err, err_size);
        if (rc == PROBE_FOUND) {
            f->found = xstrdup(st->id);
            return PROBE_FOUND;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int walk_lists(struct batch_client *c, const struct provider_conf *p,
                      struct find *f, char *err, size_t err_size)
{
    char *cursor = NULL;
    int rc = 0;
    for (int page_no = 0; page_no < LIST_MAX_PAGES; page_no++) {
        struct batch_list page;
        rc = list_page(c, p, cursor, &page, err, err_size);
        if (rc != SL_OK)
            break;
        bool older = false;
        rc = scan_page(c, p, &page, f, &older, err, err_size);
        bool more = page.has_more && page.last_id && !older &&
                    (!cursor || strcmp(cursor, page.last_id) != 0);
        free(cursor);
        cursor = page.last_id;
        page.last_id = NULL;
        batch_list_clear(&page);
        if (rc != 0 || !more)
            break;
    }
    free(cursor);
    return rc;
}

int batch_client_find(struct batch_client *c, const struct provider_conf *p,
                      const char *sluice_batch_id, const char *custom_id_probe,
                      int64_t created_after_ms, char **provider_batch_id,
                      char *err, size_t err_size)
{
    *provider_batch_id = NULL;
    bool ant = p->kind == PROVIDER_ANTHROPIC;
    const char *key = ant ? custom_id_probe : sluice_batch_id;
    if (!key || !key[0]) {
        snprintf(err, err_size, "batch find: %s is required",
                 ant ? "a custom_id probe" : "the sluice batch id");
        return SL_EINVAL;
    }
    struct find f = {.sluice_batch_id = sluice_batch_id,
                     .probe = {custom_id_probe,
                               custom_id_probe ? strlen(custom_id_probe) : 0},
                     .after_ms = created_after_ms};
    int rc = walk_lists(c, p, &f, err, err_size);
    if (rc == PROBE_FOUND) {
        *provider_batch_id = f.found;
        return SL_OK;
    }
    free(f.found);
    if (rc != 0)
        return rc;
    if (f.pending) {
        snprintf(err, err_size, "batch find: no match yet; a batch still "
                 "in progress may hold %s: try later", key);
        return SL_ETIMEOUT;
    }
    snprintf(err, err_size, "batch find: no batch holds %s", key);
    return SL_ENOTFOUND;
}

/* ---------------------------------------------------------------- realtime */

int batch_client_realtime(struct batch_client *c,
                          const struct provider_conf *p,
                          const struct task_conf *task, const char *model,
                          const char *input, size_t input_len,
                          struct llm_response *out,
                          struct batch_realtime_call *info, char *err,
                          size_t err_size)
{
    memset(out, 0, sizeof(*out));
    info->latency_ms = 0;
    info->retryable = info->sent = info->truncated = info->timed_out = false;
    char *url = provider_url(p);
    char *body = provider_request_body_ex(p, task, model, input, input_len,
                                          info->flex, NULL);
    char *id_header = info->client_request_id
        ? xasprintf("X-Client-Request-Id: %s", info->client_request_id) : NULL;
    struct call call = {.what = p->kind == PROVIDER_ANTHROPIC
                                    ? "anthropic realtime"
                                    : "openai realtime",
                        .url = url, .body = body, .body_len = strlen(body),
                        .extra_header = id_header};
    struct reply r;
    perform(c, p, &call, &r);
    info->latency_ms = (int)(r.elapsed_us / 1000);
    info->sent = r.sent;
    info->truncated = r.truncated;
    info->timed_out = r.cc == CURLE_OPERATION_TIMEDOUT;
    info->retry_after_ms = r.retry_after_ms;
    int rc = check_reply(p, &call, &r, false, &info->retryable, err, err_size);
    if (rc == SL_OK || (!r.truncated && r.cc == CURLE_OK)) {
        /* Also for error statuses: out gets error_type, no_retry… */
        int prc = provider_parse_response(p->kind, r.status,
                                          r.body ? r.body : "", r.len, out,
                                          err, err_size);
        if (rc == SL_OK)
            rc = prc;
    } else {
        out->http_status = r.status;
    }
    reply_clear(&r);
    free(id_header);
    free(body);
    free(url);
    return rc;
}
