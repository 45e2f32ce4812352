/* realtime.c — rows that a batch can no longer serve before their deadline
 * (a re-queued escalation, a deadline nearer than the batch turnaround)
 * are answered here with ordinary realtime calls, climbing the ladder like
 * the worker does. The rows stay locked (FOR UPDATE SKIP LOCKED) in one
 * transaction during the calls: few rows per tick, and a crash leaves them
 * ready for another scheduler. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sched.h"

#define REALTIME_ROWS_PER_TICK 20

static const char SQL_URGENT[] =
    "SELECT " PENDING_COLUMNS " FROM pending p WHERE p.state = 'ready'"
    " AND p.deadline < to_timestamp($1::float8 / 1000)"
    " AND p.not_before <= now() ORDER BY p.deadline, p.id LIMIT $2::int"
    " FOR UPDATE SKIP LOCKED";

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

/* One tier call with the provider's retry budget; resp always filled. */
static int call_tier(struct sched *s, const struct tier_conf *tier,
                     const struct pending_row *row, struct llm_response *resp)
{
    const struct provider_conf *p = tier->provider;
    int latency_ms = 0, backoff = p->retry_base_ms;
    for (int attempt = 0;; attempt++) {
        char err[512];
        bool retryable = false;
        llm_response_clear(resp);
        memset(resp, 0, sizeof(*resp));
        int rc = batch_client_realtime(s->client, p, row->task, tier->model,
                                       row->input, strlen(row->input), resp,
                                       &latency_ms, &retryable, err, sizeof(err));
        if (rc == SL_OK || !retryable || attempt >= p->max_retries)
            break;
        log_debug("scheduler: realtime call for %s retried: %s", row->job_id, err);
        sleep_ms(backoff);
        backoff = backoff * 2 < p->retry_cap_ms ? backoff * 2 : p->retry_cap_ms;
    }
    return latency_ms;
}

/* Climbs from the row's current step until an answer is kept or the job
 * fails; every call leaves a cost line. */
static void answer_row(struct sched *s, struct pending_row row, struct finisher *f)
{
    for (;;) {
        const struct tier_conf *tier = pending_row_tier(s, &row);
        struct llm_response resp = {0};
        struct deferred_outcome o;
        if (!tier || !row.task) {
            finisher_fail(f, &row, "tier or task no longer in config");
            return;
        }
        int latency_ms = call_tier(s, tier, &row, &resp);
        struct deferred_job job = {row.task, row.step, row.n_ladder, row.retries, 0};
        deferred_judge_response(&job, &resp, &o);
        finisher_apply(f, &row, &o, &resp, "realtime", latency_ms);
        enum deferred_action action = o.action;
        deferred_outcome_clear(&o);
        llm_response_clear(&resp);
        /* finisher_apply failed the job when the next tier is gone. */
        if (action != DEFERRED_CLIMB || row.step + 1 >= row.n_ladder ||
            !config_tier(s->cfg, row.ladder[row.step + 1]))
            return;
        row.step++;
        row.lines++;
    }
}

void sched_realtime_due(struct sched *s)
{
    char before[24], limit[24];
    const char *params[2] = {
        sched_i64(before, s->now_ms + (int64_t)s->cfg->scheduler.turnaround_s * 1000),
        sched_i64(limit, REALTIME_ROWS_PER_TICK)};
    if (!sched_begin(s))
        return;
    PGresult *res = sched_sql(s, "urgent rows", SQL_URGENT, 2, params);
    struct finisher *f = finisher_new(s);
    for (int r = 0; res && r < PQntuples(res); r++) {
        struct pending_row row;
        pending_row_read(s, res, r, &row);
        answer_row(s, row, f);
        s->jobs_realtime++;
    }
    bool ok = res && finisher_flush(f) && sched_commit(s);
    if (!ok)
        sched_rollback(s);
    finisher_free(f);
    PQclear(res);
}
