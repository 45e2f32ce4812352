/* sources: worker/http_multi.c lib/sl.c lib/log.c */
/* http_multi against a real HTTP server (libmicrohttpd, in-process, on
 * 127.0.0.1, one thread per connection): concurrency, keep-alive, header
 * capture, timeouts, body cap, refused connections, close with requests in
 * flight. Every test ends with http_multi_close, an emptied loop and
 * uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <uv.h>

#include "http_multi.h"
#include "sl.h"

/* ---- the server ----------------------------------------------------------- */

/* Headers the server sends for /status/N and what the client must report. */
struct status_case {
    unsigned status;
    const char *send[9]; /* name, value pairs, NULL-terminated */
    const char *retry_after, *retry_after_ms, *x_should_retry, *request_id;
};

static const struct status_case status_cases[] = {
    {429,
     {"Retry-After", " 7 ", "retry-after-ms", "7000", "X-Should-Retry",
      "true", "X-Request-Id", "req-429"},
     "7", "7000", "true", "req-429"},
    /* "request-id" is the fallback name, matched in any case */
    {503,
     {"RETRY-AFTER", "Wed, 21 Oct 2015 07:28:00 GMT", "Request-Id", "req-503"},
     "Wed, 21 Oct 2015 07:28:00 GMT", NULL, NULL, "req-503"},
    /* x-request-id wins over request-id, whatever the order */
    {500,
     {"request-id", "rid-b", "x-request-id", "rid-a", "x-should-retry",
      "false"},
     NULL, NULL, "false", "rid-a"},
    /* look-alike names are not captured */
    {400,
     {"x-retry-after", "1", "retry-after-mss", "2", "request-idx", "3"},
     NULL, NULL, NULL, NULL},
    {200, {NULL}, NULL, NULL, NULL, NULL},
};

static struct server {
    struct MHD_Daemon *daemon;
    unsigned port;
    atomic_int accepted; /* connections ever accepted */
    atomic_int open;     /* connections open now */
    atomic_int max_open;
    atomic_bool stopping;
} srv;

struct upload {
    char *data;
    size_t len;
};

static void on_connection(void *cls, struct MHD_Connection *c, void **ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)c;
    (void)ctx;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&srv.accepted, 1);
        int now = atomic_fetch_add(&srv.open, 1) + 1;
        int max = atomic_load(&srv.max_open);
        while (now > max && !atomic_compare_exchange_weak(&srv.max_open, &max, now))
            ;
    } else {
        atomic_fetch_sub(&srv.open, 1);
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct upload *up = *req_cls;
    if (up)
        free(up->data);
    free(up);
    *req_cls = NULL;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *body, size_t len,
                             const char *const *headers)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    for (size_t i = 0; headers && headers[i]; i += 2)
        if (MHD_add_response_header(r, headers[i], headers[i + 1]) != MHD_YES)
            fprintf(stderr, "server: header %s refused\n", headers[i]);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_status(struct MHD_Connection *c, unsigned status)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(status_cases); i++)
        if (status_cases[i].status == status)
            return reply(c, status, "status", 6, status_cases[i].send);
    return reply(c, status, "status", 6, NULL);
}

static enum MHD_Result reply_slow(struct MHD_Connection *c, long ms)
{
    for (long waited = 0; waited < ms && !atomic_load(&srv.stopping); waited += 10)
        usleep(10 * 1000);
    return reply(c, 200, "slow", 4, NULL);
}

static enum MHD_Result reply_big(struct MHD_Connection *c, size_t n)
{
    char *body = xmalloc(n + 1);
    memset(body, 'x', n);
    enum MHD_Result ret = reply(c, 200, body, n, NULL);
    free(body);
    return ret;
}

static enum MHD_Result route(struct MHD_Connection *c, const char *url,
                             const char *method, const struct upload *up)
{
    static const char *const echo_headers[] = {"X-Request-Id", "req-echo", NULL};
    const char *body = up->data ? up->data : "";

    if (strcmp(url, "/echo") == 0)
        return reply(c, 200, body, up->len, echo_headers);
    if (strcmp(url, "/method") == 0) {
        char *text = xasprintf("%s:%s", method, body);
        enum MHD_Result ret = reply(c, 200, text, strlen(text), NULL);
        free(text);
        return ret;
    }
    if (strncmp(url, "/status/", 8) == 0)
        return reply_status(c, (unsigned)strtoul(url + 8, NULL, 10));
    if (strncmp(url, "/slow/", 6) == 0)
        return reply_slow(c, strtol(url + 6, NULL, 10));
    if (strncmp(url, "/big/", 5) == 0)
        return reply_big(c, strtoul(url + 5, NULL, 10));
    return reply(c, 404, "", 0, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **req_cls)
{
    (void)cls;
    (void)version;
    struct upload *up = *req_cls;
    if (!up) {
        *req_cls = xcalloc(1, sizeof(*up));
        return MHD_YES;
    }
    if (*data_size > 0) {
        up->data = xrealloc(up->data, up->len + *data_size + 1);
        memcpy(up->data + up->len, data, *data_size);
        up->len += *data_size;
        up->data[up->len] = '\0';
        *data_size = 0;
        return MHD_YES;
    }
    return route(c, url, method, up);
}

static void server_start(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    memset(&srv, 0, sizeof(srv));
    srv.daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
        NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sin,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    assert_non_null(srv.daemon);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv.daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    srv.port = info->port;
    assert_true(srv.port > 0);
}

static void server_stop(void)
{
    atomic_store(&srv.stopping, true);
    MHD_stop_daemon(srv.daemon);
    srv.daemon = NULL;
}

/* ---- the client side ------------------------------------------------------ */

/* What one callback saw, copied out of the borrowed response. */
struct result {
    int calls;
    int transport_error;
    long status;
    char *error;
    char *body;
    size_t body_len;
    bool truncated;
    char *retry_after, *retry_after_ms, *x_should_retry, *request_id;
    int64_t elapsed_us;
    int resubmit_rc; /* set by callbacks that submit again */
};

struct fixture {
    uv_loop_t loop;
    struct http_multi *m;
    int completed; /* callbacks run, across all requests */
    int completed_in_close;
    bool in_close;
};

static struct fixture *fx; /* the running test's, for the callbacks */

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void record(const struct http_response *r, struct result *res)
{
    res->calls++;
    res->transport_error = r->transport_error;
    res->status = r->status;
    assert_non_null(r->error);
    assert_non_null(r->body);
    assert_int_equal(r->body[r->body_len], '\0');
    free(res->error);
    free(res->body);
    res->error = xstrdup(r->error);
    res->body = xstrndup(r->body, r->body_len);
    res->body_len = r->body_len;
    res->truncated = r->body_truncated;
    res->retry_after = dup_or_null(r->retry_after);
    res->retry_after_ms = dup_or_null(r->retry_after_ms);
    res->x_should_retry = dup_or_null(r->x_should_retry);
    res->request_id = dup_or_null(r->request_id);
    res->elapsed_us = r->elapsed_us;
    fx->completed++;
    if (fx->in_close)
        fx->completed_in_close++;
}

static void result_clear(struct result *res)
{
    free(res->error);
    free(res->body);
    free(res->retry_after);
    free(res->retry_after_ms);
    free(res->x_should_retry);
    free(res->request_id);
    memset(res, 0, sizeof(*res));
}

static void on_done(const struct http_response *r, void *arg)
{
    record(r, arg);
}

static char *url_for(const char *path)
{
    return xasprintf("http://127.0.0.1:%u%s", srv.port, path);
}

struct req_spec {
    const char *method;
    const char *path;
    const char *body;
    long timeout_ms;
    size_t max_body;
    http_done_cb done;
};

static int submit_spec(const struct req_spec *s, struct result *res)
{
    char *url = url_for(s->path);
    struct http_request req = {
        .method = s->method ? s->method : "POST",
        .url = url,
        .headers = curl_slist_append(NULL, "Content-Type: text/plain"),
        .body = s->body ? xstrdup(s->body) : NULL,
        .body_len = s->body ? strlen(s->body) : 0,
        .timeout_ms = s->timeout_ms ? s->timeout_ms : 10000,
        .connect_timeout_ms = 2000,
        .max_body = s->max_body ? s->max_body : 1 << 20,
        .done = s->done ? s->done : on_done,
        .arg = res,
    };
    int rc = http_multi_submit(fx->m, &req);
    assert_null(req.headers);
    assert_null(req.body);
    free(url);
    return rc;
}

static void submit_ok(const struct req_spec *s, struct result *res)
{
    assert_int_equal(submit_spec(s, res), SL_OK);
}

/* Runs the loop until n callbacks have run in total. */
static void run_until(int n)
{
    while (fx->completed < n) {
        /* an empty loop before the last callback would wait forever */
        if (uv_run(&fx->loop, UV_RUN_ONCE) == 0)
            assert_int_equal(fx->completed, n);
    }
}

/* The end of every test: close, empty the loop, close the loop. */
static void close_and_check_loop(void)
{
    http_multi_close(fx->m);
    fx->m = NULL;
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
}

static int setup_with(void **state, long max_host)
{
    fx = xcalloc(1, sizeof(*fx));
    server_start();
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->m = http_multi_new(&fx->loop, max_host);
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 8);
}

static int setup_cap2(void **state)
{
    return setup_with(state, 2);
}

static int teardown(void **state)
{
    (void)state;
    server_stop();
    free(fx);
    fx = NULL;
    return 0;
}

/* ---- tests ------------------------------------------------------------------ */

#define N_CONCURRENT 500

static void test_concurrent_echo(void **state)
{
    (void)state;
    static struct result res[N_CONCURRENT];
    static char bodies[N_CONCURRENT][2200];

    for (int i = 0; i < N_CONCURRENT; i++) {
        /* sizes from a few bytes to ~2 KB, each body unique */
        int n = snprintf(bodies[i], sizeof(bodies[i]), "body-%d-", i);
        memset(bodies[i] + n, 'a' + i % 26, (size_t)(i % 50) * 40);
        bodies[i][n + (i % 50) * 40] = '\0';
        struct req_spec s = {.path = "/echo", .body = bodies[i]};
        submit_ok(&s, &res[i]);
    }
    assert_int_equal(http_multi_in_flight(fx->m), N_CONCURRENT);
    assert_int_equal(fx->completed, 0); /* never inside submit */
    run_until(N_CONCURRENT);
    assert_int_equal(http_multi_in_flight(fx->m), 0);
    for (int i = 0; i < N_CONCURRENT; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].transport_error, 0);
        assert_int_equal(res[i].status, 200);
        assert_string_equal(res[i].body, bodies[i]);
        assert_int_equal(res[i].body_len, strlen(bodies[i]));
        assert_false(res[i].truncated);
        assert_string_equal(res[i].request_id, "req-echo");
        assert_string_equal(res[i].error, "");
        assert_true(res[i].elapsed_us > 0);
        result_clear(&res[i]);
    }
    /* keep-alive and the per-host cap: at most 8 connections, reused */
    assert_true(atomic_load(&srv.max_open) <= 8);
    assert_true(atomic_load(&srv.accepted) <= 16);
    close_and_check_loop();
}

/* Each callback submits the next request: a reentrant submit, and with
 * keep-alive all of them share one connection. */
#define CHAIN_LEN 5
static struct result chain[CHAIN_LEN];

static void on_chain_done(const struct http_response *r, void *arg)
{
    struct result *res = arg;
    record(r, res);
    if (res + 1 < chain + CHAIN_LEN) {
        struct req_spec s = {.path = "/echo", .body = "again",
                             .done = on_chain_done};
        res->resubmit_rc = submit_spec(&s, res + 1);
    }
}

static void test_keepalive_chain(void **state)
{
    (void)state;
    struct req_spec s = {.path = "/echo", .body = "first", .done = on_chain_done};
    submit_ok(&s, &chain[0]);
    run_until(CHAIN_LEN);
    for (int i = 0; i < CHAIN_LEN; i++) {
        assert_int_equal(chain[i].calls, 1);
        assert_int_equal(chain[i].status, 200);
        assert_int_equal(chain[i].resubmit_rc, SL_OK);
        assert_string_equal(chain[i].body, i == 0 ? "first" : "again");
        result_clear(&chain[i]);
    }
    assert_int_equal(atomic_load(&srv.accepted), 1);
    close_and_check_loop();
}

static void test_header_capture(void **state)
{
    (void)state;
    struct result res[SL_ARRAY_LEN(status_cases)] = {0};
    for (size_t i = 0; i < SL_ARRAY_LEN(status_cases); i++) {
        char path[32];
        snprintf(path, sizeof(path), "/status/%u", status_cases[i].status);
        struct req_spec s = {.method = "GET", .path = path};
        submit_ok(&s, &res[i]);
    }
    run_until((int)SL_ARRAY_LEN(status_cases));
    for (size_t i = 0; i < SL_ARRAY_LEN(status_cases); i++) {
        const struct status_case *c = &status_cases[i];
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].transport_error, 0);
        assert_int_equal(res[i].status, c->status);
        assert_string_equal(res[i].body, "status");
#define CHECK_HDR(field)                                                       \
    do {                                                                       \
        if (c->field)                                                          \
            assert_string_equal(res[i].field, c->field);                       \
        else                                                                   \
            assert_null(res[i].field);                                         \
    } while (0)
        CHECK_HDR(retry_after);
        CHECK_HDR(retry_after_ms);
        CHECK_HDR(x_should_retry);
        CHECK_HDR(request_id);
#undef CHECK_HDR
        result_clear(&res[i]);
    }
    close_and_check_loop();
}

static void test_methods(void **state)
{
    (void)state;
    static const struct {
        const char *method, *body, *want;
    } cases[] = {
        {"GET", NULL, "GET:"},
        {"POST", "payload", "POST:payload"},
        {"POST", NULL, "POST:"},
        {"DELETE", NULL, "DELETE:"},
        {"DELETE", "gone", "DELETE:gone"},
    };
    struct result res[SL_ARRAY_LEN(cases)] = {0};
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        struct req_spec s = {.method = cases[i].method, .path = "/method",
                             .body = cases[i].body};
        submit_ok(&s, &res[i]);
    }
    run_until((int)SL_ARRAY_LEN(cases));
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        assert_int_equal(res[i].status, 200);
        assert_string_equal(res[i].body, cases[i].want);
        result_clear(&res[i]);
    }
    close_and_check_loop();
}

static void test_timeout(void **state)
{
    (void)state;
    struct result res = {0};
    struct req_spec s = {.method = "GET", .path = "/slow/5000",
                         .timeout_ms = 200};
    submit_ok(&s, &res);
    run_until(1);
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.transport_error, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.body_len, 0);
    assert_string_not_equal(res.error, "");
    assert_true(res.elapsed_us >= 190 * 1000);
    assert_true(res.elapsed_us < 3000 * 1000);
    result_clear(&res);
    close_and_check_loop();
}

/* timeout_ms runs from submit: time queued behind the per-host cap (2
 * here) counts, so the third of three 1 s requests misses a 1.5 s limit. */
static void test_timeout_counts_queue(void **state)
{
    (void)state;
    struct result res[3] = {0};
    for (int i = 0; i < 3; i++) {
        struct req_spec s = {.method = "GET", .path = "/slow/1000",
                             .timeout_ms = 1500};
        submit_ok(&s, &res[i]);
    }
    run_until(3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].transport_error,
                         i < 2 ? CURLE_OK : CURLE_OPERATION_TIMEDOUT);
        assert_int_equal(res[i].status, i < 2 ? 200 : 0);
        result_clear(&res[i]);
    }
    assert_int_equal(atomic_load(&srv.max_open), 2);
    close_and_check_loop();
}

static void test_body_cap(void **state)
{
    (void)state;
    static const struct {
        size_t size, max_body;
        bool truncated;
    } cases[] = {
        {65536, 1000, true},
        {65536, 65535, true},
        {65536, 65536, false},
        {300000, 1 << 20, false},
        {10, 1, true},
        {0, 1, false},
    };
    struct result res[SL_ARRAY_LEN(cases)] = {0};
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        char path[32];
        snprintf(path, sizeof(path), "/big/%zu", cases[i].size);
        struct req_spec s = {.method = "GET", .path = path,
                             .max_body = cases[i].max_body};
        submit_ok(&s, &res[i]);
    }
    run_until((int)SL_ARRAY_LEN(cases));
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].transport_error, 0);
        assert_int_equal(res[i].status, 200);
        assert_int_equal(res[i].truncated, cases[i].truncated);
        if (cases[i].truncated)
            assert_true(res[i].body_len <= cases[i].max_body);
        else
            assert_int_equal(res[i].body_len, cases[i].size);
        assert_int_equal(strspn(res[i].body, "x"), res[i].body_len);
        result_clear(&res[i]);
    }
    close_and_check_loop();
}

static void test_transport_errors(void **state)
{
    (void)state;
    /* A bound socket that never listens: connecting to it is refused, and
     * no other process can take the port meanwhile. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, len), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    char *refused = xasprintf("http://127.0.0.1:%u/echo", ntohs(sin.sin_port));
    const struct {
        const char *url;
        int want;
    } cases[] = {
        {refused, CURLE_COULDNT_CONNECT},
        /* only http and https: a URL from config never reads a file */
        {"file:///etc/hostname", CURLE_UNSUPPORTED_PROTOCOL},
        {"ftp://127.0.0.1/x", CURLE_UNSUPPORTED_PROTOCOL},
    };
    struct result res[SL_ARRAY_LEN(cases)] = {0};
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        struct http_request req = {
            .method = "GET",
            .url = cases[i].url,
            .timeout_ms = 5000,
            .connect_timeout_ms = 2000,
            .max_body = 100,
            .done = on_done,
            .arg = &res[i],
        };
        assert_int_equal(http_multi_submit(fx->m, &req), SL_OK);
    }
    assert_int_equal(fx->completed, 0); /* never inside submit */
    run_until((int)SL_ARRAY_LEN(cases));
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].transport_error, cases[i].want);
        assert_int_equal(res[i].status, 0);
        assert_string_equal(res[i].body, "");
        assert_string_not_equal(res[i].error, "");
        result_clear(&res[i]);
    }
    free(refused);
    close(fd);
    close_and_check_loop();
}

/* Callbacks run by http_multi_close try to submit again: refused. */
static void on_done_resubmit(const struct http_response *r, void *arg)
{
    struct result *res = arg;
    record(r, res);
    struct req_spec s = {.path = "/echo", .body = "late"};
    res->resubmit_rc = submit_spec(&s, res);
}

static void close_now(void)
{
    fx->in_close = true;
    http_multi_close(fx->m);
    fx->in_close = false;
    fx->m = NULL;
}

static void on_close_timer(uv_timer_t *t)
{
    close_now();
    uv_close((uv_handle_t *)t, NULL);
}

#define N_SLOW 20

static void check_aborted(struct result *res, int n)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].transport_error, CURLE_ABORTED_BY_CALLBACK);
        assert_int_equal(res[i].status, 0);
        assert_int_equal(res[i].resubmit_rc, SL_EINVAL);
        result_clear(&res[i]);
    }
}

static void test_close_in_flight(void **state)
{
    (void)state;
    struct result res[N_SLOW] = {0};
    for (int i = 0; i < N_SLOW; i++) {
        struct req_spec s = {.path = "/slow/5000", .body = "s",
                             .done = on_done_resubmit};
        submit_ok(&s, &res[i]);
    }
    /* Close from a loop callback once requests are on the wire (2 on
     * connections, the rest queued inside curl by the per-host cap). */
    uv_timer_t t;
    uv_timer_init(&fx->loop, &t);
    uv_timer_start(&t, on_close_timer, 300, 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    assert_int_equal(atomic_load(&srv.max_open), 2);
    assert_int_equal(fx->completed, N_SLOW);
    assert_int_equal(fx->completed_in_close, N_SLOW);
    check_aborted(res, N_SLOW);
}

/* A done callback closes the multi while others are still in flight. */
static void on_done_close(const struct http_response *r, void *arg)
{
    record(r, arg);
    close_now();
}

static void test_close_from_callback(void **state)
{
    (void)state;
    struct result slow[N_SLOW] = {0}, first = {0};
    /* first in line, so it gets one of the two connections */
    struct req_spec s = {.path = "/echo", .body = "bye", .done = on_done_close};
    submit_ok(&s, &first);
    for (int i = 0; i < N_SLOW; i++) {
        struct req_spec slow_spec = {.method = "GET", .path = "/slow/5000",
                                     .done = on_done_resubmit};
        submit_ok(&slow_spec, &slow[i]);
    }
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    assert_int_equal(first.calls, 1);
    assert_int_equal(first.status, 200);
    assert_string_equal(first.body, "bye");
    result_clear(&first);
    assert_int_equal(fx->completed, N_SLOW + 1);
    check_aborted(slow, N_SLOW);
}

static void never_called(const struct http_response *r, void *arg)
{
    (void)r;
    (void)arg;
    fail_msg("callback ran for a refused submit");
}

static void test_submit_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *method, *url, *body;
        size_t max_body;
        long timeout_ms;
        bool no_cb;
        size_t body_len; /* when not strlen(body) */
    } cases[] = {
        {"POST", "/echo", NULL, 100, 1000, false, 5},
        {"POST", "/echo", "x", SIZE_MAX, 1000, false, 0},
        {"PUT", "/echo", "x", 100, 1000, false, 0},
        {NULL, "/echo", NULL, 100, 1000, false, 0},
        {"post", "/echo", NULL, 100, 1000, false, 0},
        {"GET", "/echo", "body with GET", 100, 1000, false, 0},
        {"POST", NULL, "x", 100, 1000, false, 0},
        {"POST", "/echo", "x", 0, 1000, false, 0},
        {"POST", "/echo", "x", 100, 0, false, 0},
        {"POST", "/echo", "x", 100, 1000, true, 0},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        char *url = NULL;
        if (cases[i].url)
            url = cases[i].url[0] == '/' ? url_for(cases[i].url)
                                         : xstrdup(cases[i].url);
        struct http_request req = {
            .method = cases[i].method,
            .url = url,
            .headers = curl_slist_append(NULL, "X-Test: 1"),
            .body = cases[i].body ? xstrdup(cases[i].body) : NULL,
            .body_len = cases[i].body_len ? cases[i].body_len
                        : cases[i].body ? strlen(cases[i].body) : 0,
            .timeout_ms = cases[i].timeout_ms,
            .connect_timeout_ms = 1000,
            .max_body = cases[i].max_body,
            .done = cases[i].no_cb ? NULL : never_called,
        };
        /* headers and body are freed by submit: ASan reports a leak if not */
        assert_int_equal(http_multi_submit(fx->m, &req), SL_EINVAL);
        assert_null(req.headers);
        assert_null(req.body);
        free(url);
    }
    assert_int_equal(http_multi_in_flight(fx->m), 0);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_NOWAIT), 0);
    close_and_check_loop();
    http_multi_close(NULL);
}

int main(void)
{
    assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_capture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_counts_queue, setup_cap2, teardown),
        cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_in_flight, setup_cap2, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_callback, setup_cap2, teardown),
        cmocka_unit_test_setup_teardown(test_submit_invalid, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
