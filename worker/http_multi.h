/* http_multi.h — asynchronous HTTP: libcurl multi_socket driven by libuv.
 *
 * Hundreds of requests share one http_multi and a handful of HTTP/1.1
 * keep-alive connections per host; requests above the per-host cap wait
 * inside libcurl. Everything runs on the loop thread: submit, callbacks and
 * close. Response bodies are capped by the caller's max_body.
 * curl_global_init() must have been called (once, in main) before
 * http_multi_new(). Internals: docs/internals/http_multi.md. */
#ifndef SL_HTTP_MULTI_H
#define SL_HTTP_MULTI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <uv.h>

#include "sl.h"

struct http_multi;

/* What one request produced. Every pointer is borrowed for the duration of
 * the callback only; copy what you keep.
 * Exactly one of three shapes:
 *  - transport_error != 0: no complete response (timeout, refused, reset,
 *    aborted by http_multi_close); status is 0 and body is "", but header
 *    values received before the failure are still reported.
 *  - body_truncated: the response exceeded max_body; status is the one
 *    received and body holds the first body_len (<= max_body) bytes. Treat
 *    it as a failure: the rest was dropped and the connection closed.
 *  - otherwise: a complete response with any status. */
struct http_response {
    int transport_error;      /* 0, or the CURLcode when no complete HTTP response arrived */
    const char *error;        /* curl's error buffer text, "" when none */
    long status;              /* HTTP status, 0 when none */
    const char *body;         /* NUL-terminated, borrowed for the callback only */
    size_t body_len;
    bool body_truncated;      /* body exceeded max_body: treat as failure */
    const char *retry_after;  /* header values or NULL, borrowed for the callback only */
    const char *retry_after_ms;
    const char *x_should_retry;
    const char *request_id;   /* "x-request-id" or "request-id" */
    int64_t elapsed_us;       /* from submit to completion */
    bool request_sent;        /* the request left (curl sent its headers):
                                 with a transport error, the server may
                                 still have processed and billed it */
};

typedef void (*http_done_cb)(const struct http_response *resp, void *arg);

/* Header values are matched case-insensitively and trimmed; only the final
 * response's headers count (a "100 Continue" resets them). request_id is
 * x-request-id when present, else request-id. */
struct http_request {
    const char *method;       /* "GET" | "POST" | "DELETE" */
    const char *url;          /* borrowed: copied by submit */
    struct curl_slist *headers; /* ownership passes to http_multi_submit */
    char *body;               /* ownership passes; may be NULL; for multipart uploads see below */
    size_t body_len;
    long timeout_ms, connect_timeout_ms;
    size_t max_body;          /* response cap in bytes */
    http_done_cb done; void *arg;
};
/* Field rules, checked by http_multi_submit:
 * - method: exactly "GET", "POST" or "DELETE". GET takes no body; POST and
 *   DELETE send body_len bytes of body (which may contain NUL bytes), or an
 *   empty body when body is NULL.
 * - multipart uploads (e.g. a batch input file): encode the body yourself
 *   and pass "Content-Type: multipart/form-data; boundary=..." in headers;
 *   there is no curl_mime support, because a curl_mime is bound to the easy
 *   handle that only http_multi creates.
 * - timeout_ms (whole request, including time queued behind the per-host
 *   cap) and connect_timeout_ms: > 0. max_body: > 0.
 * - done: not NULL. arg is passed through untouched. */

/* Returns a new multi bound to loop; max_host_connections caps connections
 * per host (CURLMOPT_MAX_HOST_CONNECTIONS; extra requests queue inside
 * curl; <= 0 means no cap). Free with http_multi_close. Aborts on OOM. */
struct http_multi *http_multi_new(uv_loop_t *loop, long max_host_connections);

/* Submits; the callback runs exactly once, later, on the loop thread (never
 * inside submit). Takes ownership of req->headers and req->body whatever the
 * outcome, and sets both to NULL in *req. Returns 0 or SL_EINVAL (bad
 * field, libcurl refused an option, or the multi is closing; then headers
 * and body were freed and the callback will not run). */
int http_multi_submit(struct http_multi *m, struct http_request *req) SL_MUSTCHECK;

/* Requests submitted whose callback has not run yet. */
size_t http_multi_in_flight(const struct http_multi *m);

/* Aborts every request still in flight (their callbacks run with
 * transport_error = CURLE_ABORTED_BY_CALLBACK, inside this call; a submit
 * from such a callback gets SL_EINVAL), cleans up, closes its libuv
 * handles; the caller then runs the loop until it is empty, which frees m.
 * May be called from a done callback. Safe with NULL; m must not be used
 * afterwards. */
void http_multi_close(struct http_multi *m);

#endif
