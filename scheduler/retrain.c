/* retrain.c — scheduled tier-0 retraining (tasks.<t>.tier0.retrain_every_s).
 *
 * A task is due when its newest model is older than its period (or it has
 * none). The newest model's age lives in PostgreSQL, so several schedulers
 * agree on what is due; a session advisory lock per task keeps two of them
 * from training the same task at once. Training takes seconds to minutes, so
 * it runs on a thread of its own with its own connection (the lock is that
 * connection's, and goes with it if the thread dies): the loop keeps
 * submitting and polling meanwhile. One training at a time per scheduler. */
#include <stdlib.h>

#include "log.h"
#include "sched.h"
#include "tier0/tier0_train.h"

/* A failed or uncertified attempt is not repeated before this. */
#define RETRY_AFTER_FAILURE_S 600

/* Milliseconds until the task is due (<= 0: due now). */
static const char SQL_DUE_IN[] =
    "SELECT COALESCE((extract(epoch FROM max(created_at)"
    " + $2::bigint * interval '1 s' - now()) * 1000)::bigint, 0)"
    " FROM tier0_models WHERE task = $1";

/* Still due, asked again once the lock is held: two schedulers may both
 * find a task due, and the second must not train again what the first has
 * just trained. */
static const char SQL_STILL_DUE[] =
    "SELECT COALESCE(max(created_at) + $2::bigint * interval '1 s' <= now(),"
    " true) FROM tier0_models WHERE task = $1";

static const char SQL_LOCK[] =
    "SELECT pg_try_advisory_lock(hashtext('sluice-tier0-retrain:' || $1))";

static const char SQL_UNLOCK[] =
    "SELECT pg_advisory_unlock(hashtext('sluice-tier0-retrain:' || $1))";

static bool query_true(struct db *db, const char *what, const char *sql,
                       int n, const char *const *params)
{
    char err[512];
    PGresult *res = db_query(db, what, sql, n, params, err, sizeof(err));
    if (!res)
        log_error("scheduler: %s", err);
    bool yes = res && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return yes;
}

static void train(const struct config *cfg, struct db *db, const char *task)
{
    struct tier0_train_report rep;
    char err[512];
    int rc = tier0_train_task(cfg, db, task, &rep, err, sizeof(err));
    if (rc == SL_OK)
        log_info("scheduler: retrained tier 0 of %s: version %lld from %zu traces "
                 "(%llu pruned)", task, (long long)rep.version, rep.traces,
                 (unsigned long long)rep.pruned);
    else
        log_warn("scheduler: retraining tier 0 of %s failed: %s", task, err);
    tier0_train_report_clear(&rep);
}

static void *retrain_thread(void *arg)
{
    struct sched_retrain *r = arg;
    char err[512];
    struct db *db = db_open(r->cfg->pg_conninfo, "sluice-scheduler-retrain",
                            err, sizeof(err));
    if (!db) {
        log_error("scheduler: retraining tier 0 of %s: %s", r->task, err);
    } else if (query_true(db, "retrain lock", SQL_LOCK, 1, &r->task)) {
        char period[24];
        const char *params[2] = {r->task, sched_i64(period, r->period_s)};
        if (query_true(db, "retrain still due", SQL_STILL_DUE, 2, params))
            train(r->cfg, db, r->task);
        PQclear(db_query(db, "retrain unlock", SQL_UNLOCK, 1, &r->task, err,
                         sizeof(err)));
    }
    db_close(db);
    atomic_store(&r->done, true);
    return NULL;
}

/* Joins a finished training; true while one still runs. */
static bool training_busy(struct sched *s)
{
    struct sched_retrain *r = &s->retrain;
    if (!r->running)
        return false;
    if (!atomic_load(&r->done))
        return true;
    pthread_join(r->thread, NULL);
    r->running = false;
    return false;
}

static void start_training(struct sched *s, const struct task_conf *task)
{
    struct sched_retrain *r = &s->retrain;
    r->cfg = s->cfg;
    r->task = task->name;
    r->period_s = task->tier0_retrain_every_s;
    atomic_store(&r->done, false);
    int rc = pthread_create(&r->thread, NULL, retrain_thread, r);
    if (rc != 0)
        log_error("scheduler: cannot start retraining of %s: error %d",
                  task->name, rc);
    r->running = rc == 0;
}

void sched_retrain_due(struct sched *s)
{
    if (training_busy(s))
        return;
    for (size_t i = 0; i < s->cfg->n_tasks && i < SCHED_MAX_TASKS; i++) {
        const struct task_conf *task = &s->cfg->tasks[i];
        char period[24];
        if (!task->tier0_enabled || task->tier0_retrain_every_s <= 0 ||
            s->now_ms < s->retrain_not_before_ms[i])
            continue;
        const char *params[2] = {task->name,
                                 sched_i64(period, task->tier0_retrain_every_s)};
        PGresult *res = sched_sql(s, "retrain due", SQL_DUE_IN, 2, params);
        int64_t due_in = res ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 1000;
        PQclear(res);
        if (due_in > 0) { /* asked again then, not every tick */
            s->retrain_not_before_ms[i] = s->now_ms + due_in;
            continue;
        }
        s->retrain_not_before_ms[i] = s->now_ms + RETRY_AFTER_FAILURE_S * 1000LL;
        start_training(s, task);
        return;
    }
}

void sched_retrain_wait(struct sched *s)
{
    struct sched_retrain *r = &s->retrain;
    if (!r->running)
        return;
    if (!atomic_load(&r->done))
        log_info("scheduler: waiting for the retraining of tier 0 of %s", r->task);
    pthread_join(r->thread, NULL);
    r->running = false;
}
