/* parked.h — claimed jobs waiting for a run slot (the worker's parked
 * ring): oldest first, a job whose partition moved on since it was parked
 * is handed back rather than run.
 *
 * Loop thread only. A parked job (struct parked_job, worker_internal.h)
 * owns its struct job until it is handed to a run (job_run_start takes
 * it) or freed. */
#ifndef SL_WORKER_PARKED_H
#define SL_WORKER_PARKED_H

struct worker;
struct parked_job;

/* Appends *job (copied; the ring takes its job). Grows the ring when full:
 * a job is never dropped. */
void parked_push(struct worker *w, const struct parked_job *job);

/* Gives free slots (worker.max_in_flight) to parked jobs, oldest first.
 * Re-entrant calls (a run that ends inside job_run_start) return at once. */
void parked_start(struct worker *w);

/* Drops every parked and waiting job (a draining worker answers none):
 * they stay uncommitted and are redelivered; parked claims are released. */
void parked_release(struct worker *w);

#endif
