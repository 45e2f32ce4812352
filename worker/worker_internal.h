/* worker_internal.h — state shared by worker.c (loop, intake, ledger) and
 * job_run.c (one job's climb up the ladder). Not for use outside worker/. */
#ifndef SL_WORKER_INTERNAL_H
#define SL_WORKER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "budget.h"
#include "config.h"
#include "http_multi.h"
#include "job.h"
#include "kafka.h"
#include "ledger.h"
#include "llm.h"
#include "metrics_serve.h"
#include "telemetry.h"
#include "route.h"
#include "tier0_live.h"

struct job_run;

/* A run waiting to retry a provider call; listed so that a drain can cut
 * the wait short. Freed in the timer's close callback. */
struct retry_wait {
    uv_timer_t timer;
    struct job_run *run;
    struct retry_wait *prev, *next;
};

struct worker {
    uv_loop_t loop;
    const struct config *cfg;
    struct db *db;
    struct kconsumer *consumer;
    struct kproducer *dlq;
    struct http_multi *http;
    uv_poll_t kafka_poll;
    uv_timer_t tick;
    uv_signal_t sigterm;
    uv_signal_t sigint;

    /* Finished work waiting for the next ledger transaction. The batch
     * borrows from runs[] and rejects[], which live until it is written. */
    struct tier0_live *tier0;
    int64_t tier0_refresh_at_ms;
    struct budget *budget;
    int64_t budget_refresh_at_ms;
    /* The cost drift check, run in the thread pool (worker.c). */
    uv_work_t drift_req;
    struct db *drift_db; /* used only by the pool thread while running */
    bool drift_running;
    int64_t drift_check_at_ms;

    struct ledger_batch *batch;
    struct job_run **done_runs;
    size_t n_done_runs, cap_done_runs;
    struct reject_item **rejects;
    size_t n_rejects, cap_rejects;
    int64_t last_flush_ms;
    int64_t write_retry_at_ms;

    struct retry_wait *waits;

    /* Valid, not yet answered jobs taken from Kafka, waiting for a slot.
     * Keeping this buffer (rather than pausing partitions as soon as all
     * slots are busy) matters: a paused partition drops its prefetched
     * messages and a resume refetches them, which cut throughput tenfold. */
    struct parked_job *parked;
    size_t parked_head, parked_len, parked_cap;
    bool starting;

    struct metrics_serve *metrics; /* /metrics and /healthz */
    int64_t metrics_at_ms;         /* next lag and health sample */

    size_t in_flight;   /* jobs climbing their ladder, not yet in the batch */
    size_t awaiting_dlq; /* rejects waiting for their DLQ delivery report */
    bool paused;
    bool draining;
    int exit_code;

    uint64_t jobs_answered, jobs_failed, jobs_rejected, jobs_skipped;
    uint64_t jobs_handed_over; /* parked, then their partition was revoked */
    uint64_t jobs_tier0, tier0_shadowed, tier0_withdrawals, jobs_deferred;
};

struct parked_job {
    struct job *job;
    int32_t partition;
    int64_t offset;
    uint32_t generation;
};

/* A job's cost line, with the strings it owns. */
struct run_line {
    struct ledger_cost_line line;
    char *request_id;
};

struct job_run {
    struct worker *w;
    struct job *job;
    int32_t partition;
    int64_t offset;
    uint32_t generation;
    int64_t received_ms;

    struct route_plan plan;
    size_t step;        /* index into plan.tiers */
    int retries;        /* retries spent on the current tier */
    int64_t tier_started_us;

    struct run_line lines[CONFIG_MAX_TIERS];
    size_t n_lines;
    struct llm_usage last_usage; /* for the baseline of a failed job */

    struct ledger_result result;
    struct llm_answer answer;
    char *data_json;
    char *error;

    /* Tier 0 answered; with shadow, the ladder runs only to re-check it. */
    bool by_tier0;
    struct tier0_answer t0;
    char *t0_label;      /* t0.label copied: a refresh may unload the model */
    char *t0_model;      /* "tier0-v<version>" */
    struct ledger_trace trace;
    bool has_trace;
    char *trace_input;
    struct ledger_shadow shadow;
    bool has_shadow;

    /* Async/offpeak: handed to the scheduler as a pending row, no result. */
    struct ledger_pending pending;
    bool deferred;
};

/* A malformed message: its DLQ copy, then its rejected row. */
struct reject_item {
    struct worker *w;
    int32_t partition;
    int64_t offset;
    uint32_t generation;
    char *payload;
    size_t payload_len;
    char *job_id;
    const char *reason_code;
    char reason[256];
    int dlq_attempts;
};

/* job_run.c */
struct job_run *job_run_start(struct worker *w, struct job *job,
                              int32_t partition, int64_t offset,
                              uint32_t generation);
void job_run_free(struct job_run *run);

/* worker.c: called by job_run.c once a run has its result and lines; the
 * worker owns the run from then on. */
void worker_job_finished(struct worker *w, struct job_run *run);
/* worker.c: a draining worker drops a run that would need another call; its
 * offset stays uncommitted, so the job is redelivered. Frees the run. */
void worker_job_released(struct worker *w, struct job_run *run);
void worker_wait_link(struct worker *w, struct retry_wait *wait);
void worker_wait_unlink(struct worker *w, struct retry_wait *wait);

#endif
