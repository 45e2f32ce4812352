/* metrics_serve.h — a process's Prometheus endpoint, started from config.
 *
 * The start-up and shutdown every sluice process (worker, scheduler) shares:
 * telemetry_init(), then lib/metrics_http on cfg->metrics.listen with a
 * /healthz that is true while every health check the process reports is
 * true; at the end the server stops and telemetry_free() runs.
 *
 * Health: checks start healthy. The process reports each check from its
 * loop (metrics_serve_set_health); the server thread reads them atomically.
 *
 * Threads: start and stop on the main thread, before and after the loop;
 * metrics_serve_set_health from any thread. */
#ifndef SL_METRICS_SERVE_H
#define SL_METRICS_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "sl.h"

enum metrics_check { METRICS_CHECK_DB, METRICS_CHECK_KAFKA, METRICS_CHECK_COUNT };

struct metrics_serve;

/* Initialises telemetry and, unless cfg->metrics.listen is "", serves it
 * there, logging "metrics listening on HOST:PORT" with the bound port (so
 * port 0 can be found in the log). cfg is borrowed for the call. Returns 0
 * and *out (a new server; stop it with metrics_serve_stop(), also when
 * disabled), or SL_EIO with the reason in errstr and telemetry freed. */
int metrics_serve_start(const struct config *cfg, struct metrics_serve **out,
                        char *errstr, size_t errstr_size) SL_MUSTCHECK;
/* Records the state of one check; /healthz answers 503 while any is false.
 * NULL s is a no-op. */
void metrics_serve_set_health(struct metrics_serve *s, enum metrics_check check,
                              bool ok);
/* The bound TCP port, 0 when disabled or s is NULL. */
int metrics_serve_port(const struct metrics_serve *s);
/* Stops the server (in-flight scrapes finish), frees s, then frees the
 * telemetry registry. NULL is a no-op. */
void metrics_serve_stop(struct metrics_serve *s);

#endif
