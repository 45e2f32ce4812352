/* results.c — see results.h. */
#include "results.h"

#include <stdlib.h>
#include <string.h>

#include "claiming_release.h"
#include "claims.h"
#include "log.h"
#include "parked.h"
#include "reject.h"
#include "worker_base.h"
#include "worker_internal.h"

#define WRITE_RETRY_MS 1000

static struct ledger_job ledger_job_of(const struct job_run *run)
{
    const struct job *job = run->job;
    return (struct ledger_job){
        .trace = run->has_trace ? &run->trace : NULL,
        .shadow = run->has_shadow ? &run->shadow : NULL,
        .pending = run->deferred ? &run->pending : NULL,
        .job_id = job->id,
        .task = job->task->name,
        .mode = job_mode_name(job->mode),
        .feature = job->feature,
        .tenant = job->tenant,
        .cohort = job->cohort,
        .user_tier = job->user_tier,
        .input_chars = (int)job->input_len,
        .deadline_ms = job->deadline_ms,
        .metadata_json = job->metadata_json,
        .kafka_partition = run->partition,
        .kafka_offset = run->offset,
        .received_ms = run->received_ms,
    };
}

/* The run's cost lines as the ledger takes them; free() the array. */
static struct ledger_cost_line *lines_of(const struct job_run *run)
{
    struct ledger_cost_line *lines =
        xcalloc(run->n_lines ? run->n_lines : 1, sizeof(*lines));
    for (size_t i = 0; i < run->n_lines; i++)
        lines[i] = run->lines[i].line;
    return lines;
}

void results_run_finished(struct job_run_host *host, struct job_run *run)
{
    struct worker *w = worker_of(host);
    struct ledger_job lj = ledger_job_of(run);
    struct ledger_cost_line *lines = lines_of(run);
    ledger_batch_add_job(w->batch, &lj, run->deferred ? NULL : &run->result,
                         lines, run->n_lines);
    budget_add_job(w->budget, lj.feature, lj.tenant, lj.user_tier, lines,
                   run->n_lines, sl_now_ms());
    free(lines);
    worker_push_ptr((void ***)&w->done_runs, &w->n_done_runs,
                    &w->cap_done_runs, run);
    w->in_flight--;
    if (run->deferred)
        w->jobs_deferred++;
    else if (strcmp(run->result.status, "answered") == 0)
        w->jobs_answered++;
    else
        w->jobs_failed++;
    if (run->by_tier0)
        w->jobs_tier0++;
    parked_start(w);
}

/* A run handed back at shutdown: the job is redelivered, but the calls it
 * made were billed, so their lines go into the batch on their own (no jobs
 * row, no result, no offset) and its claim is released after they commit;
 * the next run of the job numbers its lines on from them (attempt_base). */
void results_run_released(struct job_run_host *host, struct job_run *run)
{
    struct worker *w = worker_of(host);
    log_job(SL_LOG_INFO, run->job->id, run->job->tenant,
            "released unfinished at shutdown after %zu billed call(s); it "
            "will be redelivered", run->n_lines);
    w->in_flight--;
    w->runs_released++;
    if (run->n_lines == 0) {
        claiming_queue_release(w, run->job->id);
        job_run_free(run);
        return;
    }
    struct ledger_job lj = ledger_job_of(run);
    lj.recorded = true; /* lines only: the job itself is not finished */
    lj.trace = NULL;
    lj.shadow = NULL;
    lj.pending = NULL;
    struct ledger_cost_line *lines = lines_of(run);
    ledger_batch_add_job(w->batch, &lj, NULL, lines, run->n_lines);
    free(lines);
    run->released = true;
    worker_push_ptr((void ***)&w->done_runs, &w->n_done_runs,
                    &w->cap_done_runs, run);
}

/* A ledger batch on its way to PostgreSQL: what it borrows from (the runs
 * and rejects) is handed over with it, and comes back acknowledged and
 * freed once it has committed. The claims of its jobs are released on the
 * writer's connection right after the commit. */
struct batch_task {
    struct ledger_task t;
    struct worker *w;
    struct ledger_batch *batch;
    struct job_run **runs;
    size_t n_runs;
    struct reject_item **rejects;
    size_t n_rejects;
    bool *fresh;
    const char **release_ids; /* the runs' job ids, borrowed */
    int release_rc;
    char release_err[256];
};

void results_task_free(struct batch_task *bt)
{
    for (size_t i = 0; i < bt->n_runs; i++)
        job_run_free(bt->runs[i]);
    for (size_t i = 0; i < bt->n_rejects; i++)
        reject_free(bt->rejects[i]);
    free(bt->runs);
    free(bt->rejects);
    free(bt->fresh);
    free(bt->release_ids);
    ledger_batch_free(bt->batch);
    free(bt);
}

static void acknowledge_batch(struct worker *w, const struct batch_task *bt)
{
    for (size_t i = 0; i < bt->n_runs; i++) {
        struct job_run *r = bt->runs[i];
        if (bt->release_rc != SL_OK)
            claiming_queue_release(w, r->job->id);
        if (!r->released) /* a released job is redelivered, not done */
            kconsumer_done(w->consumer, r->partition, r->offset, r->generation);
    }
    for (size_t i = 0; i < bt->n_rejects; i++) {
        struct reject_item *r = bt->rejects[i];
        kconsumer_done(w->consumer, r->partition, r->offset, r->generation);
    }
}

/* Counted once durable and only when new (fresh[i]: not a redelivered job
 * already in the ledger), so the metrics agree with the ledger's rows. */
static void count_written(const struct batch_task *bt)
{
    const struct telemetry *t = telemetry();
    for (size_t i = 0; i < bt->n_runs; i++) {
        const struct job_run *run = bt->runs[i];
        if (!bt->fresh[i] || run->deferred || run->released) /* the scheduler */
            continue;                       /* counts deferred ones */
        const struct ledger_result *r = &run->result;
        metrics_count(t->jobs, 1, r->status, r->source, telemetry_tier(r->tier));
        for (size_t k = 0; k < run->n_lines; k++)
            metrics_count(t->cost_nanodollars,
                          (double)run->lines[k].line.cost_nanousd,
                          telemetry_tier(run->lines[k].line.tier),
                          run->job->feature, NULL);
    }
}

static int batch_work(struct db *db, struct ledger_task *t, char *err,
                      size_t err_size)
{
    struct batch_task *bt = (struct batch_task *)t;
    int rc = ledger_write(db, bt->batch, bt->fresh, err, err_size);
    /* Releasing is an optimisation (a claim of a done job is harmless:
     * the jobs row settles what a copy does); a failure leaves them to the
     * loop's retry. */
    if (rc == SL_OK && bt->n_runs > 0)
        bt->release_rc = claims_release(db, bt->w->claim_owner,
                                        bt->release_ids, bt->n_runs,
                                        bt->release_err,
                                        sizeof(bt->release_err));
    return rc;
}

static void batch_done(struct ledger_task *t)
{
    struct batch_task *bt = (struct batch_task *)t;
    struct worker *w = bt->w;
    w->batch_writing = false;
    if (t->rc != SL_OK) {
        /* Kept as it is; nothing is acknowledged, so nothing is lost. */
        log_error("ledger write of %zu entries failed, retrying in %d ms: %s",
                  bt->n_runs + bt->n_rejects, WRITE_RETRY_MS, t->err);
        w->write_retry_at_ms = sl_now_ms() + WRITE_RETRY_MS;
        w->batch_retry = bt;
        metrics_serve_set_health(w->metrics, METRICS_CHECK_DB, false);
        return;
    }
    w->write_retry_at_ms = 0;
    metrics_serve_set_health(w->metrics, METRICS_CHECK_DB, true);
    if (bt->release_rc != SL_OK)
        log_warn("releasing %zu job claims failed, retrying: %s", bt->n_runs,
                 bt->release_err);
    count_written(bt);
    acknowledge_batch(w, bt);
    results_task_free(bt);
}

/* The finished runs and rejects so far, moved into a task. */
static struct batch_task *take_batch(struct worker *w)
{
    struct batch_task *bt = xcalloc(1, sizeof(*bt));
    bt->t.work = batch_work;
    bt->t.done = batch_done;
    bt->w = w;
    bt->release_rc = SL_OK;
    bt->batch = w->batch;
    w->batch = ledger_batch_new();
    bt->runs = w->done_runs;
    bt->n_runs = w->n_done_runs;
    bt->rejects = w->rejects;
    bt->n_rejects = w->n_rejects;
    w->done_runs = NULL;
    w->rejects = NULL;
    w->n_done_runs = w->cap_done_runs = w->n_rejects = w->cap_rejects = 0;
    bt->fresh = xcalloc(bt->n_runs + 1, sizeof(bool));
    bt->release_ids = xcalloc(bt->n_runs + 1, sizeof(char *));
    for (size_t i = 0; i < bt->n_runs; i++)
        bt->release_ids[i] = bt->runs[i]->job->id;
    return bt;
}

/* Hands the batch to the batch writer, unless a write is out (the batch
 * grows meanwhile and goes next) or a failed one waits for its retry,
 * which goes first. */
void results_flush(struct worker *w)
{
    int64_t now = sl_now_ms();
    if (w->batch_writing)
        return;
    if (w->batch_retry) {
        if (now < w->write_retry_at_ms)
            return;
        struct batch_task *bt = w->batch_retry;
        w->batch_retry = NULL;
        w->batch_writing = true;
        ledger_writer_submit(w->batch_writer, &bt->t);
        return;
    }
    w->last_flush_ms = now;
    if (w->n_done_runs + w->n_rejects == 0)
        return;
    w->batch_writing = true;
    ledger_writer_submit(w->batch_writer, &take_batch(w)->t);
}

/* Makes everything finished durable before returning (a rebalance): waits
 * for the writes out, then writes what is left, a retry first. Gives up
 * after a failed attempt (the batch stays, nothing is acknowledged). */
void results_flush_now(struct worker *w)
{
    for (int round = 0; round < 3; round++) {
        ledger_writer_wait(w->batch_writer);
        if (!w->batch_retry && w->n_done_runs + w->n_rejects == 0)
            return;
        if (w->batch_retry && round > 0)
            return; /* it failed again */
        w->write_retry_at_ms = 0;
        results_flush(w);
    }
    ledger_writer_wait(w->batch_writer);
}

bool results_due(const struct worker *w)
{
    if (w->batch_writing)
        return false;
    if (w->batch_retry)
        return true;
    size_t n = w->n_done_runs + w->n_rejects;
    if (n == 0)
        return false;
    return n >= (size_t)w->cfg->worker.batch_max_jobs ||
           sl_now_ms() - w->last_flush_ms >= w->cfg->worker.batch_flush_ms ||
           w->runs.draining;
}
