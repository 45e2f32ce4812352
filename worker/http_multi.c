/* http_multi.c — libcurl multi_socket on a libuv loop; contract in
 * http_multi.h, handle lifetimes in docs/internals/http_multi.md.
 * Shape of curl's docs/examples/multi-uv.c, plus error checks, socket
 * errors passed to curl, capped bodies and a safe shutdown order. */
#include "http_multi.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* First allocation of a response body; it then doubles up to max_body. */
#define BODY_MIN_ALLOC 1024
/* curl allocates its receive buffer one byte larger than asked: 2,047
 * fills the allocator's 2 KiB class exactly, where 4,096 took a 5 KiB one. */
#define RECV_BUFFER_SIZE 2047L

enum http_hdr {
    HDR_RETRY_AFTER,
    HDR_RETRY_AFTER_MS,
    HDR_X_SHOULD_RETRY,
    HDR_X_REQUEST_ID,
    HDR_REQUEST_ID,
    HDR_COUNT
};

static const char *const hdr_names[HDR_COUNT] = {
    [HDR_RETRY_AFTER] = "retry-after",
    [HDR_RETRY_AFTER_MS] = "retry-after-ms",
    [HDR_X_SHOULD_RETRY] = "x-should-retry",
    [HDR_X_REQUEST_ID] = "x-request-id",
    [HDR_REQUEST_ID] = "request-id",
};

/* One request in flight; found again through CURLOPT_PRIVATE. */
struct http_call {
    struct http_multi *m;
    struct http_call *prev, *next; /* m->calls */
    CURL *easy;
    struct curl_slist *headers; /* owned; curl reads it until cleanup */
    char *req_body;             /* owned; CURLOPT_POSTFIELDS does not copy */
    char *body;                 /* response, NUL-terminated when non-NULL */
    size_t body_len, body_cap, max_body;
    bool truncated;
    bool sent; /* curl wrote the request: the server may have acted on it */
    char *hdr[HDR_COUNT];
    char errbuf[CURL_ERROR_SIZE];
    int64_t started_us;
    http_done_cb done;
    void *arg;
};

/* One watched socket; libuv allows a single active uv_poll_t per fd. */
struct http_sock {
    uv_poll_t poll; /* poll.data points back here */
    curl_socket_t fd;
    struct http_multi *m;
    struct http_sock *prev, *next; /* m->socks */
};

struct http_multi {
    uv_loop_t *loop;
    CURLM *multi;      /* NULL once closing has cleaned it up */
    /* Easy handles of finished calls, reset for the next: creating and
     * destroying one per call was the largest share of the loop's CPU and
     * allocations with thousands of calls in flight. At most idle_cap. */
    CURL **idle;
    size_t n_idle, idle_cap;
    uv_timer_t timer;  /* curl's single timeout; its close_cb frees us */
    struct http_call *calls;
    struct http_sock *socks;
    size_t in_flight;
    bool closing;
};

/* ---- per-request buffers ------------------------------------------------ */

static void body_reserve(struct http_call *call, size_t need)
{
    if (need <= call->body_cap)
        return;
    size_t cap = call->body_cap ? call->body_cap * 2 : BODY_MIN_ALLOC;
    if (cap < need)
        cap = need;
    if (cap > call->max_body + 1)
        cap = call->max_body + 1;
    call->body = xrealloc(call->body, cap);
    call->body_cap = cap;
}

/* Returning less than asked makes curl fail the transfer with
 * CURLE_WRITE_ERROR, which finish() turns into body_truncated. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct http_call *call = userp;
    size_t len = size * nmemb;

    if (len > call->max_body - call->body_len) {
        call->truncated = true;
        return 0;
    }
    body_reserve(call, call->body_len + len + 1);
    memcpy(call->body + call->body_len, data, len);
    call->body_len += len;
    call->body[call->body_len] = '\0';
    return len;
}

static void headers_clear(struct http_call *call)
{
    for (size_t i = 0; i < HDR_COUNT; i++) {
        free(call->hdr[i]);
        call->hdr[i] = NULL;
    }
}

static void capture_header(struct http_call *call, const char *name,
                           size_t name_len, const char *value, size_t len)
{
    while (len > 0 && isspace((unsigned char)value[0])) {
        value++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)value[len - 1]))
        len--;
    for (size_t i = 0; i < HDR_COUNT; i++) {
        if (strlen(hdr_names[i]) == name_len &&
            strncasecmp(name, hdr_names[i], name_len) == 0) {
            free(call->hdr[i]);
            call->hdr[i] = xstrndup(value, len);
            return;
        }
    }
}

/* curl hands over one complete header line at a time, not NUL-terminated,
 * and the lines of every response: interim ones (100 Continue) included.
 * A status line therefore starts the set afresh. */
static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    struct http_call *call = userp;
    size_t len = size * nmemb;

    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        headers_clear(call);
        return len;
    }
    const char *colon = memchr(line, ':', len);
    if (colon)
        capture_header(call, line, (size_t)(colon - line), colon + 1,
                       len - (size_t)(colon - line) - 1);
    return len;
}

static void call_free(struct http_call *call)
{
    if (!call)
        return;
    if (call->easy)
        curl_easy_cleanup(call->easy);
    curl_slist_free_all(call->headers);
    free(call->req_body);
    free(call->body);
    headers_clear(call);
    free(call);
}

static void call_link(struct http_multi *m, struct http_call *call)
{
    call->next = m->calls;
    if (m->calls)
        m->calls->prev = call;
    m->calls = call;
    m->in_flight++;
}

static void call_unlink(struct http_multi *m, struct http_call *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        m->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    m->in_flight--;
}

/* ---- easy handles, reused ------------------------------------------------ */

static CURL *easy_get(struct http_multi *m)
{
    return m->n_idle ? m->idle[--m->n_idle] : curl_easy_init();
}

/* Keeps e for the next call (its options reset; curl_easy_reset leaves the
 * multi's connection cache alone), or destroys it past idle_cap. */
static void easy_put(struct http_multi *m, CURL *e)
{
    if (m->n_idle < m->idle_cap && !m->closing) {
        curl_easy_reset(e);
        m->idle[m->n_idle++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

/* ---- completion --------------------------------------------------------- */

/* Runs the callback once and frees the call; the easy handle is gone. */
static void finish(struct http_call *call, CURLcode result, long status)
{
    struct http_response r = {0};
    bool truncated = call->truncated && result == CURLE_WRITE_ERROR;

    r.transport_error = (result == CURLE_OK || truncated) ? 0 : (int)result;
    if (truncated)
        r.error = "response body exceeds max_body";
    else if (call->errbuf[0])
        r.error = call->errbuf;
    else
        r.error = result == CURLE_OK ? "" : curl_easy_strerror(result);
    r.status = r.transport_error ? 0 : status;
    r.body = (!r.transport_error && call->body) ? call->body : "";
    r.body_len = r.transport_error ? 0 : call->body_len;
    r.body_truncated = truncated;
    r.retry_after = call->hdr[HDR_RETRY_AFTER];
    r.retry_after_ms = call->hdr[HDR_RETRY_AFTER_MS];
    r.x_should_retry = call->hdr[HDR_X_SHOULD_RETRY];
    r.request_id = call->hdr[HDR_X_REQUEST_ID] ? call->hdr[HDR_X_REQUEST_ID]
                                               : call->hdr[HDR_REQUEST_ID];
    r.elapsed_us = sl_monotonic_us() - call->started_us;
    r.request_sent = call->sent;
    call->done(&r, call->arg);
    call_free(call);
}

/* Detaches the call from curl and from m, then finishes it. The status is
 * read first because it lives in the easy handle. */
static void complete(struct http_call *call, CURLcode result)
{
    struct http_multi *m = call->m;
    long status = 0;
    long request_size = 0;

    if (result != CURLE_ABORTED_BY_CALLBACK)
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
    /* Bytes of request headers curl sent: 0 when it never connected. */
    if (curl_easy_getinfo(call->easy, CURLINFO_REQUEST_SIZE, &request_size) ==
        CURLE_OK)
        call->sent = request_size > 0;
    call_unlink(m, call);
    CURLMcode mc = curl_multi_remove_handle(m->multi, call->easy);
    if (mc != CURLM_OK) {
        log_warn("http: curl_multi_remove_handle: %s", curl_multi_strerror(mc));
        curl_easy_cleanup(call->easy);
    } else {
        easy_put(m, call->easy);
    }
    call->easy = NULL;
    finish(call, result, status);
}

/* Completes every finished transfer. Stops when a callback closed m: the
 * multi handle is gone then, and m lives only until its timer closes. */
static void drain(struct http_multi *m)
{
    for (;;) {
        int left;
        if (m->closing)
            return;
        CURLMsg *msg = curl_multi_info_read(m->multi, &left);
        if (!msg)
            return;
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURLcode result = msg->data.result;
        struct http_call *call = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &call);
        complete(call, result);
    }
}

static void socket_action(struct http_multi *m, curl_socket_t fd, int flags)
{
    int running;
    CURLMcode mc = curl_multi_socket_action(m->multi, fd, flags, &running);
    if (mc != CURLM_OK)
        log_warn("http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
    drain(m);
}

/* ---- libuv side ----------------------------------------------------------- */

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct http_sock *s = handle->data;
    int flags = 0;

    /* On a socket error libuv reports status < 0 and maybe no events; curl
     * must still hear about it or the transfer waits for its timeout. */
    if (status < 0)
        flags |= CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    socket_action(s->m, s->fd, flags);
}

static void on_timer(uv_timer_t *timer)
{
    socket_action(timer->data, CURL_SOCKET_TIMEOUT, 0);
}

static void on_sock_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void sock_close(struct http_sock *s)
{
    struct http_multi *m = s->m;
    if (s->prev)
        s->prev->next = s->next;
    else
        m->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static struct http_sock *sock_open(struct http_multi *m, curl_socket_t fd)
{
    struct http_sock *s = xcalloc(1, sizeof(*s));
    int rc = uv_poll_init_socket(m->loop, &s->poll, fd);
    if (rc != 0) {
        log_warn("http: uv_poll_init_socket(%d): %s", (int)fd, uv_strerror(rc));
        free(s);
        return NULL;
    }
    s->poll.data = s;
    s->fd = fd;
    s->m = m;
    s->next = m->socks;
    if (m->socks)
        m->socks->prev = s;
    m->socks = s;
    CURLMcode mc = curl_multi_assign(m->multi, fd, s);
    if (mc != CURLM_OK) {
        log_warn("http: curl_multi_assign: %s", curl_multi_strerror(mc));
        sock_close(s);
        return NULL;
    }
    return s;
}

/* CURLMOPT_SOCKETFUNCTION. It also runs inside curl_multi_remove_handle
 * and curl_multi_cleanup, so it must not depend on m->closing being false.
 * After REMOVE curl drops its entry for fd, and our pointer with it. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    struct http_multi *m = userp;
    struct http_sock *s = socketp;
    (void)easy;

    if (what == CURL_POLL_REMOVE) {
        if (s)
            sock_close(s);
        return 0;
    }
    if (!s)
        s = sock_open(m, fd);
    if (!s)
        return -1; /* curl then fails the transfers on this multi */
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    int rc = uv_poll_start(&s->poll, events, on_poll);
    if (rc != 0) {
        log_warn("http: uv_poll_start(%d): %s", (int)fd, uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION. libcurl must not be called from here, so even a
 * 0 ms timeout goes through the loop; libuv runs it on the next pass. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct http_multi *m = userp;
    (void)multi;

    if (timeout_ms < 0)
        return uv_timer_stop(&m->timer) == 0 ? 0 : -1;
    return uv_timer_start(&m->timer, on_timer, (uint64_t)timeout_ms, 0) == 0
               ? 0
               : -1;
}

/* ---- public API ----------------------------------------------------------- */

static CURLMcode multi_setup(struct http_multi *m, long max_host)
{
    CURLM *cm = m->multi;
    CURLMcode mc = curl_multi_setopt(cm, CURLMOPT_SOCKETFUNCTION, on_socket);
    if (mc == CURLM_OK)
        mc = curl_multi_setopt(cm, CURLMOPT_SOCKETDATA, m);
    if (mc == CURLM_OK)
        mc = curl_multi_setopt(cm, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    if (mc == CURLM_OK)
        mc = curl_multi_setopt(cm, CURLMOPT_TIMERDATA, m);
    if (mc == CURLM_OK && max_host > 0)
        mc = curl_multi_setopt(cm, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);
    /* The idle-connection cache must hold every connection of a busy host,
     * or keep-alive connections get closed as soon as they go idle. */
    if (mc == CURLM_OK && max_host > 0)
        mc = curl_multi_setopt(cm, CURLMOPT_MAXCONNECTS, 2 * max_host);
    return mc;
}

struct http_multi *http_multi_new(uv_loop_t *loop, long max_host_connections)
{
    struct http_multi *m = xcalloc(1, sizeof(*m));
    m->loop = loop;
    m->multi = curl_multi_init();
    if (!m->multi) {
        log_error("http: curl_multi_init failed (curl_global_init missing?)");
        abort();
    }
    CURLMcode mc = multi_setup(m, max_host_connections);
    if (mc != CURLM_OK) {
        log_error("http: curl_multi_setopt: %s", curl_multi_strerror(mc));
        abort();
    }
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    m->idle_cap = max_host_connections > 0 ? (size_t)max_host_connections : 64;
    m->idle = xcalloc(m->idle_cap, sizeof(*m->idle));
    return m;
}

size_t http_multi_in_flight(const struct http_multi *m)
{
    return m ? m->in_flight : 0;
}

enum http_method { METHOD_BAD, METHOD_GET, METHOD_POST, METHOD_DELETE };

static enum http_method method_parse(const char *s)
{
    if (!s)
        return METHOD_BAD;
    if (strcmp(s, "GET") == 0)
        return METHOD_GET;
    if (strcmp(s, "POST") == 0)
        return METHOD_POST;
    if (strcmp(s, "DELETE") == 0)
        return METHOD_DELETE;
    return METHOD_BAD;
}

/* max_body + 1 must not overflow: the buffer keeps a terminating NUL. */
static bool request_valid(const struct http_request *req, const char *body)
{
    enum http_method method = method_parse(req->method);
    return method != METHOD_BAD && !(method == METHOD_GET && body) &&
           (body || req->body_len == 0) && req->url && req->done &&
           req->max_body > 0 && req->max_body < SIZE_MAX &&
           req->timeout_ms > 0 && req->connect_timeout_ms > 0;
}

#define SETOPT(opt, val)                                                       \
    do {                                                                       \
        rc = curl_easy_setopt(e, (opt), (val));                                \
        if (rc != CURLE_OK)                                                    \
            goto out;                                                          \
    } while (0)

static CURLcode setup_method(struct http_call *call, const char *method,
                             size_t body_len)
{
    CURL *e = call->easy;
    CURLcode rc = CURLE_OK;
    enum http_method mt = method_parse(method);

    if (mt == METHOD_GET || (mt == METHOD_DELETE && !call->req_body)) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else {
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        SETOPT(CURLOPT_POSTFIELDS, call->req_body ? call->req_body : "");
    }
    if (mt == METHOD_DELETE)
        SETOPT(CURLOPT_CUSTOMREQUEST, "DELETE");
out:
    return rc;
}

static CURLcode setup_easy(struct http_call *call,
                           const struct http_request *req)
{
    CURL *e = call->easy;
    CURLcode rc = CURLE_OK;

    SETOPT(CURLOPT_PRIVATE, call);
    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    /* One request per connection at a time makes max_host_connections the
     * real concurrency towards a provider; see the internals page. */
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(CURLOPT_HTTPHEADER, call->headers);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, call);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, call);
    SETOPT(CURLOPT_ERRORBUFFER, call->errbuf);
    /* curl keeps a receive buffer per handle (16 KiB by default): with
     * thousands of calls in flight that was a third of the worker's RSS,
     * for answers of a few hundred bytes. A longer answer costs one more
     * read. */
    SETOPT(CURLOPT_BUFFERSIZE, RECV_BUFFER_SIZE);
    /* Signals belong to the loop (uv_signal_t), never to libcurl. */
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_TIMEOUT_MS, req->timeout_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    /* Idle pooled connections would otherwise die silently in NAT tables. */
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    rc = setup_method(call, req->method, req->body_len);
out:
    return rc;
}

#undef SETOPT

int http_multi_submit(struct http_multi *m, struct http_request *req)
{
    struct curl_slist *headers = req->headers;
    char *body = req->body;
    req->headers = NULL;
    req->body = NULL;

    if (!m || m->closing || !request_valid(req, body)) {
        curl_slist_free_all(headers);
        free(body);
        return SL_EINVAL;
    }
    struct http_call *call = xcalloc(1, sizeof(*call));
    call->m = m;
    call->headers = headers;
    call->req_body = body;
    call->max_body = req->max_body;
    call->done = req->done;
    call->arg = req->arg;
    call->started_us = sl_monotonic_us();
    call->easy = easy_get(m);
    if (!call->easy) {
        log_warn("http: curl_easy_init failed");
        goto fail;
    }
    CURLcode rc = setup_easy(call, req);
    if (rc != CURLE_OK) {
        log_warn("http: curl_easy_setopt: %s", curl_easy_strerror(rc));
        goto fail;
    }
    CURLMcode mc = curl_multi_add_handle(m->multi, call->easy);
    if (mc != CURLM_OK) {
        log_warn("http: curl_multi_add_handle: %s", curl_multi_strerror(mc));
        goto fail;
    }
    call_link(m, call);
    return SL_OK;
fail:
    call_free(call);
    return SL_EINVAL;
}

static void on_timer_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void http_multi_close(struct http_multi *m)
{
    if (!m || m->closing)
        return;
    m->closing = true;
    /* Callbacks first, while the easy handles and m are intact; curl may
     * call on_socket from inside remove_handle. */
    while (m->calls) {
        struct http_call *call = m->calls;
        sl_strlcpy(call->errbuf, "aborted by http_multi_close",
                   sizeof(call->errbuf));
        complete(call, CURLE_ABORTED_BY_CALLBACK);
    }
    while (m->n_idle)
        curl_easy_cleanup(m->idle[--m->n_idle]);
    free(m->idle);
    m->idle = NULL;
    /* Closes the cached connections: on_socket and on_curl_timer may still
     * run in here, so the timer and m must outlive this call. */
    curl_multi_cleanup(m->multi);
    m->multi = NULL;
    /* Any socket curl did not report as removed is closed here. */
    while (m->socks)
        sock_close(m->socks);
    uv_timer_stop(&m->timer);
    uv_close((uv_handle_t *)&m->timer, on_timer_closed);
}
