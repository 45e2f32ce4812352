/* worker_internal.h — the state of one worker process (struct worker),
 * shared by the modules of its loop. Not for use outside worker/.
 *
 *   worker.c        setup, handles, reload, teardown, worker_run()
 *   housekeeping.c  the tick: refreshes, metrics, flushes, drift check
 *   intake.c        Kafka messages -> micro-batches, backpressure
 *   claiming.c      the claim step: claim, wait, recheck, renew
 *   results.c       finished runs -> ledger batch -> offsets acknowledged
 *   shutdown.c      signals, drain, closing the loop's handles
 *   parked.c        claimed jobs waiting for a run slot
 *   reject.c        malformed messages: DLQ copy, then the rejected row
 *   intents.c       a call's intent line is durable before it is sent
 *   claiming_release.c  claims to delete once their job is settled
 *   worker_base.c   worker_of(), worker_push_ptr(): used by the others
 *
 * A module calls only modules listed below it. This header holds types
 * and constants alone: a function here would tie every module to one.
 *
 * Every function of these modules runs on the loop thread (the drift
 * check's work function excepted, housekeeping.c). struct worker owns
 * everything it points to; the modules borrow it.
 *
 * worker.c starts runs (job_run.h) and gets them back through the host's
 * callbacks (results.c, intents.c): job_run.c knows nothing of struct
 * worker. */
#ifndef SL_WORKER_INTERNAL_H
#define SL_WORKER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "config_reload.h"
#include "job.h"
#include "job_run.h"
#include "kafka.h"
#include "ledger.h"
#include "ledger_writer.h"
#include "metrics/metrics_serve.h"
#include "metrics/telemetry.h"
#include "sl.h"

#define INTAKE_CHUNK 256           /* messages per claim query */


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
    uv_signal_t sighup;       /* reload the config */
    struct config_holder config; /* the file and every config loaded */

    /* Finished work waiting for the next ledger transaction. The batch
     * borrows from runs[] and rejects[], which live until it is written. */
    struct tier0_live *tier0;
    int64_t tier0_refresh_at_ms;
    struct budget *budget;
    int64_t budget_refresh_at_ms;
    /* The cost drift check, run in the thread pool (housekeeping.c). */
    uv_work_t drift_req;
    struct db *drift_db; /* used only by the pool thread while running */
    bool drift_running;
    int64_t drift_check_at_ms;
    int64_t ledger_months_at_ms; /* next check of the month tables */

    struct ledger_batch *batch;
    struct job_run **done_runs;
    size_t n_done_runs, cap_done_runs;
    struct reject_item **rejects;
    size_t n_rejects, cap_rejects;
    int64_t last_flush_ms;
    int64_t write_retry_at_ms;
    /* PostgreSQL writes run off the loop (ledger_writer.h): the batch (and
     * the claims it settles) on one connection, intent lines on another,
     * each with at most one write out; a failed batch waits in batch_retry. */
    struct ledger_writer *batch_writer, *intent_writer;
    bool batch_writing, intents_writing;
    struct batch_task *batch_retry;
    uv_check_t flush_check; /* after every loop pass: intents_flush, batch */

    /* What the runs borrow (job_run.h); its draining flag is the worker's. */
    struct job_run_host runs;

    /* Valid, not yet answered jobs taken from Kafka, waiting for a slot.
     * Keeping this buffer (rather than pausing partitions as soon as all
     * slots are busy) matters: a paused partition drops its prefetched
     * messages and a resume refetches them, which cut throughput tenfold. */
    struct parked_job *parked;
    size_t parked_head, parked_len, parked_cap;
    bool starting;

    struct metrics_serve *metrics; /* /metrics and /healthz */
    int64_t metrics_at_ms;         /* next lag and health sample */

    /* Job id claims (claims.h): owner token, copies waiting for another
     * claim's outcome, and claims to delete once their outcome is durable
     * or their job is given up. */
    char claim_owner[128];
    char call_id_prefix[64];
    struct parked_job *waiting;
    size_t n_waiting, cap_waiting;
    int64_t waiting_check_at_ms;
    int64_t claims_renew_at_ms;
    char **release_ids;
    size_t n_release, cap_release;
    /* Calls ready to send, waiting for their intent lines (intents_flush). */
    struct job_run **to_send;
    size_t n_to_send, cap_to_send;
    int64_t send_retry_at_ms;

    size_t in_flight;   /* jobs climbing their ladder, not yet in the batch */
    size_t awaiting_dlq; /* rejects waiting for their DLQ delivery report */
    bool paused;
    int exit_code;

    uint64_t jobs_answered, jobs_failed, jobs_rejected, jobs_skipped;
    uint64_t jobs_handed_over; /* parked, then their partition was revoked */
    uint64_t jobs_waited;      /* copies acknowledged after another's result */
    uint64_t runs_released;    /* runs handed back unfinished at shutdown */
    uint64_t jobs_tier0, tier0_withdrawals, jobs_deferred;
};

struct parked_job {
    struct job *job;
    int32_t partition;
    int64_t offset;
    uint32_t generation;
    int attempt_base; /* claims_take: cost lines the job already has */
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
    char *key;                  /* the message's key (or the job id), owned */
    size_t key_len;
    rd_kafka_headers_t *headers; /* the message's headers, owned; NULL none */
    char sha256_hex[65];        /* of the whole payload */
    size_t copy_cap, copy_len;  /* payload bytes the DLQ copy may / did carry */
    uv_timer_t timer;           /* retry backoff; r is freed in its close_cb */
    bool timer_open;
};

#endif
