/* job_run.h — one job's climb up its tier ladder (job_run.c): starting,
 * sending and freeing a run. The run's state and what it borrows from the
 * process that runs it are in job_run_state.h; its cost lines, intent line
 * and trace are filled in by run_lines.c.
 *
 * The host (the worker) starts a run with job_run_start(); the run calls
 * providers on the host's loop and, once it has its result and cost lines,
 * hands itself back through host->finished (the host owns it from then on
 * and frees it with job_run_free() after writing it). A run that would need
 * another call while the host drains goes back through host->released
 * instead: its offset stays uncommitted and the job is redelivered, and the
 * cost lines of the calls it already made (run->lines) must still be
 * written by the host, since the provider billed them.
 *
 * Every request sent leaves a cost line: an answer (accepted, escalated,
 * failed), or, when the request left and no usable answer came back (a
 * timeout or lost connection after sending, an unparseable or oversized
 * body), a line with outcome "unconfirmed": input tokens estimated from the
 * request body, output tokens = the request's max tokens, so its cost is an
 * upper bound of what the provider billed (provider_estimate_request). */
#ifndef SL_JOB_RUN_H
#define SL_JOB_RUN_H

#include <stdint.h>

#include "job.h"
#include "job_run_state.h"

/* Starts a run (takes ownership of job); it may finish before returning.
 * attempt_base: the job's highest cost-line attempt already in the ledger
 * (claims_take); this run's lines and result attempts number on from it. */
struct job_run *job_run_start(struct job_run_host *host, struct job *job,
                              int32_t partition, int64_t offset,
                              uint32_t generation, int attempt_base);
/* Sends the call queued through host->queue_call, once its intent line is
 * durable. */
void job_run_send(struct job_run *run);
/* Frees run and its job; NULL is a no-op. */
void job_run_free(struct job_run *run);

#endif
