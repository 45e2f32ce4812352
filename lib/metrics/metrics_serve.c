/* metrics_serve.c — see metrics_serve.h. */
#include "metrics_serve.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics_http.h"
#include "telemetry.h"

struct metrics_serve {
    struct metrics_http *http; /* NULL when disabled */
    atomic_bool ok[METRICS_CHECK_COUNT];
};

/* Runs on the server thread: only atomic reads. */
static bool healthy(void *arg)
{
    struct metrics_serve *s = arg;
    for (int i = 0; i < METRICS_CHECK_COUNT; i++)
        if (!atomic_load_explicit(&s->ok[i], memory_order_relaxed))
            return false;
    return true;
}

/* "HOST:PORT" with the bound port, for the log line tests look for. */
static void log_bound(const char *listen, int port)
{
    const char *colon = strrchr(listen, ':');
    int host_len = colon ? (int)(colon - listen) : (int)strlen(listen);
    log_info("metrics listening on %.*s:%d", host_len, listen, port);
}

int metrics_serve_start(const struct config *cfg, struct metrics_serve **out,
                        char *errstr, size_t errstr_size)
{
    const char *listen = cfg->metrics.listen ? cfg->metrics.listen : "";
    struct metrics_serve *s = xcalloc(1, sizeof(*s));
    for (int i = 0; i < METRICS_CHECK_COUNT; i++)
        atomic_init(&s->ok[i], true);
    *out = NULL;
    telemetry_init();
    if (listen[0] == '\0') {
        log_info("metrics server disabled (metrics.listen is \"\")");
        *out = s;
        return SL_OK;
    }
    char err[256];
    s->http = metrics_http_start(telemetry()->registry, listen, healthy, s,
                                 err, sizeof(err));
    if (!s->http) {
        snprintf(errstr, errstr_size, "metrics.listen %s: %s", listen, err);
        free(s);
        telemetry_free();
        return SL_EIO;
    }
    log_bound(listen, metrics_http_port(s->http));
    *out = s;
    return SL_OK;
}

void metrics_serve_set_health(struct metrics_serve *s, enum metrics_check check,
                              bool ok)
{
    if (!s || (int)check < 0 || check >= METRICS_CHECK_COUNT)
        return;
    atomic_store_explicit(&s->ok[check], ok, memory_order_relaxed);
}

int metrics_serve_port(const struct metrics_serve *s)
{
    return s && s->http ? metrics_http_port(s->http) : 0;
}

void metrics_serve_stop(struct metrics_serve *s)
{
    if (!s)
        return;
    metrics_http_stop(s->http);
    free(s);
    telemetry_free();
}
