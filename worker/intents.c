/* intents.c — see intents.h. */
#include "intents.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker_base.h"
#include "worker_internal.h"

#define INTENT_RETRY_MS 500

void intents_queue_call(struct job_run_host *host, struct job_run *run)
{
    struct worker *w = worker_of(host);
    worker_push_ptr((void ***)&w->to_send, &w->n_to_send, &w->cap_to_send, run);
}

/* The intent lines of the calls queued since the last write, written by
 * the intent writer (its own connection, off the loop) in one statement;
 * the calls are sent when it is back. */
struct intent_task {
    struct ledger_task t;
    struct worker *w;
    struct job_run **runs;
    size_t n;
    struct ledger_cost_line *lines;
};

static int intent_work(struct db *db, struct ledger_task *t, char *err,
                       size_t err_size)
{
    struct intent_task *it = (struct intent_task *)t;
    return ledger_write_intents(db, it->lines, it->n, err, err_size);
}

static void intent_done(struct ledger_task *t)
{
    struct intent_task *it = (struct intent_task *)t;
    struct worker *w = it->w;
    w->intents_writing = false;
    free(it->lines);
    if (t->rc != SL_OK) {
        /* Without PostgreSQL nothing is sent: a call that could not be
         * recorded must not be made. They go first in the queue again. */
        log_warn("writing %zu intent lines failed, calls wait %d ms: %s",
                 it->n, INTENT_RETRY_MS, t->err);
        w->send_retry_at_ms = sl_now_ms() + INTENT_RETRY_MS;
        size_t n = it->n + w->n_to_send;
        struct job_run **runs = xcalloc(n, sizeof(*runs));
        memcpy(runs, it->runs, it->n * sizeof(*runs));
        if (w->n_to_send)
            memcpy(runs + it->n, w->to_send, w->n_to_send * sizeof(*runs));
        free(w->to_send);
        free(it->runs);
        w->to_send = runs;
        w->n_to_send = w->cap_to_send = n;
        free(it);
        return;
    }
    for (size_t i = 0; i < it->n; i++)
        job_run_send(it->runs[i]);
    free(it->runs);
    free(it);
}

/* Hands the intent lines of every queued call to the intent writer, unless
 * a write is already out (what queues meanwhile goes in the next one). Runs
 * after every loop pass, so a call waits for one insert, not a tick. */
void intents_flush(struct worker *w)
{
    if (w->n_to_send == 0 || w->intents_writing ||
        sl_now_ms() < w->send_retry_at_ms)
        return;
    struct intent_task *it = xcalloc(1, sizeof(*it));
    it->t.work = intent_work;
    it->t.done = intent_done;
    it->w = w;
    it->n = w->n_to_send;
    it->runs = w->to_send;
    it->lines = xcalloc(it->n, sizeof(*it->lines));
    for (size_t i = 0; i < it->n; i++)
        it->lines[i] = it->runs[i]->intent;
    w->to_send = NULL;
    w->n_to_send = w->cap_to_send = 0;
    w->intents_writing = true;
    ledger_writer_submit(w->intent_writer, &it->t);
}
