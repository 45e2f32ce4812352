/* results.h — the result and commit step. A finished run's result and
 * cost lines (and a reject's row) go into the ledger batch; the batch is
 * written by the batch writer (ledger_writer.h, off the loop) at most
 * every worker.batch_flush_ms or worker.batch_max_jobs, and only once it
 * has committed are its offsets marked done (kconsumer_done), its claims
 * released and its metrics counted. A failed write is kept and retried;
 * nothing is acknowledged meanwhile, so nothing is lost.
 *
 * Loop thread only. The worker owns the runs and rejects in done_runs[]
 * and rejects[] until a batch task takes them with the batch; the task
 * frees them once acknowledged (or results_task_free at shutdown). */
#ifndef SL_WORKER_RESULTS_H
#define SL_WORKER_RESULTS_H

#include <stdbool.h>

#include "job_run.h"

struct worker;
struct batch_task;

/* job_run_host.finished: the run's result and lines join the batch (the
 * worker takes run); a slot is free, so parked jobs start. */
void results_run_finished(struct job_run_host *host, struct job_run *run);

/* job_run_host.released: a run handed back at shutdown. Its billed lines
 * join the batch on their own (no jobs row, no offset); a run without
 * lines is freed and its claim released at once. */
void results_run_released(struct job_run_host *host, struct job_run *run);

/* True when a batch should be handed over now (size, age, drain, retry). */
bool results_due(const struct worker *w);

/* Hands the batch (or the failed one, once its retry is due) to the batch
 * writer, unless a write is out. */
void results_flush(struct worker *w);

/* Waits for the writes out and writes what is left (a rebalance): gives up
 * after a failed attempt, acknowledging nothing. */
void results_flush_now(struct worker *w);

/* Frees a batch task that was never written (shutdown). NULL not allowed. */
void results_task_free(struct batch_task *bt);

#endif
