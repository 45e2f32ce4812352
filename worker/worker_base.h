/* worker_base.h — the bottom of the worker loop's modules: the two
 * helpers they share on struct worker (worker_internal.h). Every loop
 * module may use these; this module uses none of them.
 *
 * Loop thread only. Nothing here owns anything: worker_of() returns the
 * worker that embeds a run host; worker_push_ptr() stores p in the
 * caller's array (xrealloc'd), which owns it as the caller decides. */
#ifndef SL_WORKER_BASE_H
#define SL_WORKER_BASE_H

#include <stddef.h>

struct worker;
struct job_run_host;

/* The worker that embeds host (a run's callbacks get the host). */
struct worker *worker_of(struct job_run_host *host);

/* Appends p to a growable array of pointers (doubling, from 64). */
void worker_push_ptr(void ***arr, size_t *n, size_t *cap, void *p);

#endif
