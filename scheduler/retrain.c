/* retrain.c — scheduled tier-0 retraining (tasks.<t>.tier0.retrain_every_s).
 *
 * A task is due when its newest model is older than its period (or it has
 * none). The newest model's age lives in PostgreSQL, so several schedulers
 * agree on what is due; a session advisory lock per task keeps two of them
 * from training the same task at once. Training blocks the loop for its
 * duration (seconds for tens of thousands of traces): batches wait, which
 * costs nothing but latency, and nobody waits on a scheduler. */
#include <stdlib.h>

#include "log.h"
#include "sched.h"
#include "tier0_train.h"

/* A failed or uncertified attempt is not repeated before this. */
#define RETRY_AFTER_FAILURE_S 600

static const char SQL_DUE[] =
    "SELECT NOT EXISTS (SELECT 1 FROM tier0_models WHERE task = $1"
    " AND created_at > now() - $2::bigint * interval '1 s')";

static const char SQL_LOCK[] =
    "SELECT pg_try_advisory_lock(hashtext('sluice-tier0-retrain:' || $1))";

static const char SQL_UNLOCK[] =
    "SELECT pg_advisory_unlock(hashtext('sluice-tier0-retrain:' || $1))";

static bool query_true(struct sched *s, const char *what, const char *sql,
                       int n, const char *const *params)
{
    PGresult *res = sched_sql(s, what, sql, n, params);
    bool yes = res && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return yes;
}

static void train(struct sched *s, const struct task_conf *task)
{
    struct tier0_train_report rep;
    char err[512];
    int rc = tier0_train_task(s->cfg, s->db, task->name, &rep, err, sizeof(err));
    if (rc == SL_OK)
        log_info("scheduler: retrained tier 0 of %s: version %lld from %zu traces "
                 "(%llu pruned)", task->name, (long long)rep.version, rep.traces,
                 (unsigned long long)rep.pruned);
    else
        log_warn("scheduler: retraining tier 0 of %s failed: %s", task->name, err);
    tier0_train_report_clear(&rep);
}

void sched_retrain_due(struct sched *s)
{
    for (size_t i = 0; i < s->cfg->n_tasks && i < SCHED_MAX_TASKS; i++) {
        const struct task_conf *task = &s->cfg->tasks[i];
        char period[24];
        if (!task->tier0_enabled || task->tier0_retrain_every_s <= 0 ||
            s->now_ms < s->retrain_not_before_ms[i])
            continue;
        const char *params[2] = {task->name,
                                 sched_i64(period, task->tier0_retrain_every_s)};
        if (!query_true(s, "retrain due", SQL_DUE, 2, params) ||
            !query_true(s, "retrain lock", SQL_LOCK, 1, params))
            continue;
        s->retrain_not_before_ms[i] = s->now_ms + RETRY_AFTER_FAILURE_S * 1000LL;
        train(s, task);
        PQclear(sched_sql(s, "retrain unlock", SQL_UNLOCK, 1, params));
    }
}
