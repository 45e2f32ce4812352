/* shutdown.h — stopping a worker. The first SIGTERM/SIGINT drains: no new
 * message or call, parked jobs handed back, retry waits cut short, and the
 * loop's handles are closed once everything taken is written (the tick
 * checks shutdown_drained). A second signal exits at once.
 *
 * Loop thread only. */
#ifndef SL_WORKER_SHUTDOWN_H
#define SL_WORKER_SHUTDOWN_H

#include <stdbool.h>

#include <uv.h>

struct worker;

/* The SIGTERM/SIGINT handler (s->data is the worker). */
void shutdown_on_signal(uv_signal_t *s, int signum);

/* True when nothing is in flight, parked, waiting or unwritten. */
bool shutdown_drained(const struct worker *w);

/* Releases queued claims, stops and closes the loop's handles, the
 * writers and the curl multi handle: uv_run returns afterwards. */
void shutdown_stop_loop(struct worker *w);

#endif
