/* metrics_http.h — serves a metrics registry over HTTP for Prometheus.
 *
 * A libmicrohttpd daemon with its own polling thread:
 *   GET /metrics  200, text exposition format 0.0.4 (metrics_render())
 *   GET /healthz  200 "ok" when healthy(arg) returns true (or healthy is
 *                 NULL), else 503 "unhealthy"
 *   other paths   404; other methods on these paths 405.
 * healthy() runs on the server thread: it must be thread-safe and quick
 * (read an atomic flag, not the loop's state). */
#ifndef SL_METRICS_HTTP_H
#define SL_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

struct metrics_http;

/* Starts serving m (borrowed until metrics_http_stop()) on listen_addr,
 * "HOST:PORT" with a numeric IPv4 host or "[IPv6]:PORT", e.g.
 * "127.0.0.1:9464"; only that address is bound. Port 0 picks a free port
 * (see metrics_http_port()). Returns a new server; stop and free it with
 * metrics_http_stop(). On error returns NULL with the reason in errstr. */
struct metrics_http *metrics_http_start(struct metrics *m,
                                        const char *listen_addr,
                                        bool (*healthy)(void *arg), void *arg,
                                        char *errstr, size_t errstr_size);
/* The bound TCP port. */
int metrics_http_port(const struct metrics_http *h);
/* Stops the server thread (in-flight requests finish) and frees h. NULL
 * is a no-op. */
void metrics_http_stop(struct metrics_http *h);

#endif
