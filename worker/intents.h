/* intents.h — a provider call is recorded before it leaves: the worker
 * queues each run whose call is ready, writes the intent lines of all
 * queued calls in one statement on the intent writer (ledger_writer.h, its
 * own connection, off the loop), and sends the calls when the write is
 * back. Without PostgreSQL nothing is sent.
 *
 * Loop thread only. The queue (struct worker's to_send[]) borrows the runs:
 * a run stays owned by the worker's run bookkeeping (job_run.h). */
#ifndef SL_WORKER_INTENTS_H
#define SL_WORKER_INTENTS_H

#include "job_run.h"

struct worker;

/* job_run_host.queue_call: queues run (its call is built, run->intent
 * holds its line); sent by the next intents_flush() whose write succeeds. */
void intents_queue_call(struct job_run_host *host, struct job_run *run);

/* Hands the intent lines of every queued call to the intent writer, unless
 * a write is already out or a failed one waits for its retry. */
void intents_flush(struct worker *w);

#endif
