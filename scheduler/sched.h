/* sched.h — state shared by the files of `sluice scheduler` (not for use
 * outside scheduler/).
 *
 * Layers, top down: loop.c drives; submit.c, ingest.c, realtime.c,
 * retrain.c, retention.c and status.c do one step each; requeue.c and
 * finish.c turn outcomes into ledger rows and pending changes; rows.c runs
 * SQL and reads pending rows. No file calls one above it.
 *
 * One scheduler is one thread running a loop (loop.c): each tick it
 * reconciles batches orphaned by a crashed scheduler (submit.c), submits the
 * provider/model groups that are due (submit.c), polls and ingests batches
 * that are due (ingest.c), answers realtime the rows a batch can no longer
 * serve in time (realtime.c), and refreshes its gauges. Every row and batch
 * it touches is claimed in PostgreSQL first (FOR UPDATE SKIP LOCKED, or a
 * lease on the batch row), so any number of schedulers can share a
 * database. All calls block; nothing here is thread-safe, except that tier-0
 * retraining runs on a thread of its own (retrain.c). */
#ifndef SL_SCHED_H
#define SL_SCHED_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "batch/batch_client.h"
#include "config.h"
#include "config_reload.h"
#include "db.h"
#include "deferred_outcome.h"
#include "ledger.h"
#include "metrics/metrics_serve.h"
#include "offpeak.h"
#include "pending.h"

#define SCHED_MAX_TASKS 64

struct sched {
    const struct config *cfg;    /* config.current: replaced by a reload */
    struct config_holder config; /* the file and every config loaded */
    struct db *db;
    struct batch_client *client;
    /* realtime.c: one per realtime_concurrency thread, created on first use */
    struct batch_client **realtime_clients;
    size_t n_realtime_clients;
    /* realtime.c: the intent line of each realtime call is committed on
     * this connection (opened on first use) before the call leaves, while
     * db holds the pass's row locks; the climbing threads share it. */
    struct db *intent_db;
    pthread_mutex_t intent_lock;
    atomic_uint_fast64_t calls_sent; /* numbers the calls' client ids */
    struct metrics_serve *metrics; /* /metrics and /healthz */
    char owner[128];             /* "host:pid", recorded on the batches it leases */
    volatile sig_atomic_t *stop; /* set by SIGTERM/SIGINT */

    int64_t now_ms;              /* start of the current tick */
    int64_t ledger_months_at_ms; /* loop.c: next month-table check */
    int64_t retention_at_ms;     /* retention.c: next hourly pass */
    bool retention_backlog;      /* retention.c: old rows were left */
    bool lost_task_seen;         /* submit.c: a claim met a task not in the config */
    bool window_known;           /* windows configured */
    struct offpeak_state window;

    /* retrain.c: no retraining attempt of task i before this */
    int64_t retrain_not_before_ms[SCHED_MAX_TASKS];
    struct sched_retrain {
        const struct config *cfg;
        const char *task;     /* the task being trained (config's string) */
        int64_t period_s;     /* its retrain_every_s */
        pthread_t thread;
        bool running;         /* thread started and not joined yet */
        atomic_bool done;     /* set by the thread as it ends */
    } retrain;

    uint64_t batches_submitted, lines_ingested, jobs_answered, jobs_failed,
        jobs_realtime;
};

/* rows.c: runs sql with text params (db_query); returns the result (caller clears)
 * or NULL after logging "<what>: <error>". */
PGresult *sched_sql(struct sched *s, const char *what, const char *sql,
                    int n_params, const char *const *params);
bool sched_begin(struct sched *s);
bool sched_commit(struct sched *s);
void sched_rollback(struct sched *s);
/* Formats an int64 into buf (>= 24 bytes) and returns buf. */
const char *sched_i64(char *buf, int64_t v);

/* Why a row whose task or current tier left the config fails. */
#define SCHED_CONFIG_GONE "tier or task no longer in config"

/* Outcomes written per transaction (batch lines, realtime jobs). */
#define SCHED_CHUNK 500

/* finish.c: turning outcomes into ledger rows and pending changes. */
struct finisher;
struct finisher *finisher_new(struct sched *s);
void finisher_free(struct finisher *f);
/* Applies one outcome to its row: cost line (when billed, at attempt
 * row->lines + 1, carrying call_id, the X-Client-Request-Id of a realtime
 * call, or NULL), result (accept or fail), and the row's next state
 * (deleted, re-queued one tier up or for a retry). mode is "batch" or
 * "realtime"; resp may be NULL. A row whose task or tier left the config
 * fails with SCHED_CONFIG_GONE. */
void finisher_apply(struct finisher *f, const struct pending_row *row,
                    const struct deferred_outcome *o,
                    const struct llm_response *resp, const char *mode,
                    int latency_ms, const char *call_id);
/* Records a realtime call that left and brought back no usable answer
 * (reason: timeout, connection_lost, oversized, unparseable): the provider
 * may have billed it, so it gets its own line at attempt row->lines + 1,
 * outcome "unconfirmed", priced at what the request can bill at most
 * (bound), as the worker does. */
void finisher_unconfirmed(struct finisher *f, const struct pending_row *row,
                          const struct tier_conf *tier,
                          const struct llm_usage *bound, const char *reason,
                          const char *call_id, int latency_ms);
/* Fails a row that has no answer to judge (its tier or task left the
 * config); mode as for finisher_apply. */
void finisher_fail(struct finisher *f, const struct pending_row *row,
                   const char *mode, const char *reason);
/* Writes everything applied so far inside the caller's transaction.
 * Returns false on a database error (the caller rolls back). */
bool finisher_flush(struct finisher *f);

/* submit.c */
void sched_reconcile(struct sched *s);
void sched_submit_due(struct sched *s);

/* requeue.c. Re-queues the still-batched rows of a batch for another attempt (or
 * fails those out of retries), inside the caller's transaction. */
bool sched_requeue_batch(struct sched *s, int64_t batch_id, const char *reason);
/* Closes a batch as state ("abandoned", "failed") and re-queues its rows,
 * in its own transaction. */
void sched_abandon(struct sched *s, int64_t batch_id, const char *state,
                   const char *reason);

/* ingest.c */
void sched_poll_due(struct sched *s);

/* realtime.c */
void sched_realtime_due(struct sched *s);

/* retrain.c: starts a due task's training on its own thread (one at a
 * time); _wait joins it (at exit). */
void sched_retrain_due(struct sched *s);
void sched_retrain_wait(struct sched *s);

/* retention.c: drops old cost_lines months and deletes old jobs, results
 * and rejected messages, each when its retention is set (hourly, and one
 * batch a tick while old rows remain). */
void sched_retention_due(struct sched *s);

/* status.c */
void sched_refresh_gauges(struct sched *s);
int sched_print_status(struct db *db, const struct config *cfg, FILE *out);

/* Runs until SIGTERM/SIGINT (or one tick with once); SIGHUP reloads
 * config_path between ticks. cfg (loaded from config_path) is borrowed. */
int scheduler_run(const struct config *cfg, const char *config_path, bool once);

#endif
