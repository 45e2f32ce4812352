/* realtime.c — rows that a batch can no longer serve before their deadline
 * (a re-queued escalation, a deadline nearer than the batch turnaround)
 * are answered here with ordinary realtime calls, climbing the ladder like
 * the worker does.
 *
 * A pass locks up to ROWS_PER_THREAD rows per allowed call (FOR UPDATE SKIP
 * LOCKED) in one transaction, climbs their ladders on
 * scheduler.realtime_concurrency threads (each with its own HTTP client,
 * kept across passes; the threads only call and judge), then writes every call's outcome in order
 * from the loop's thread and commits.
 * A crash before the commit leaves the rows ready for another scheduler. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "retry.h"
#include "sched.h"

/* Enough rows to keep every thread busy for a while, few enough that a
 * pass (and its locks) ends in seconds; never more than one finisher
 * chunk, whose trace storage does not grow. */
#define ROWS_PER_THREAD 8

static const char SQL_URGENT[] =
    "SELECT " PENDING_COLUMNS " FROM pending p WHERE p.state = 'ready'"
    " AND p.deadline < to_timestamp($1::float8 / 1000)"
    " AND p.not_before <= now() ORDER BY p.deadline, p.id LIMIT $2::int"
    " FOR UPDATE SKIP LOCKED";

/* One call of a row's climb, kept until the loop's thread writes it. */
struct call_step {
    struct pending_row row; /* the row as it stood before the call */
    struct llm_response resp;
    struct deferred_outcome outcome;
    int latency_ms;
};

struct urgent_row {
    struct pending_row row;  /* where the climb ended */
    struct call_step steps[CONFIG_MAX_TIERS];
    size_t n_steps;
    const char *fail_reason; /* set: fail the row (no call to judge) */
};

struct pass {
    const struct sched *s;
    struct urgent_row *rows;
    size_t n_rows;
    atomic_size_t next; /* the next row a thread takes */
};

/* One thread's share: the pass and the HTTP client it keeps across passes
 * (keep-alive: connections outlive the pass). */
struct climber {
    struct pass *pass;
    struct batch_client *client;
};

static void sleep_ms(int64_t ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

/* One tier call with the provider's retry budget and the worker's backoff
 * (retry.h: full jitter, so threads that all met a 429 do not come back
 * together); resp always filled. */
static int call_tier(struct batch_client *client, const struct tier_conf *tier,
                     const struct pending_row *row, struct llm_response *resp)
{
    const struct provider_conf *p = tier->provider;
    struct retry_policy pol;
    retry_policy_from_provider(p, &pol);
    int latency_ms = 0;
    for (int retries = 0;; retries++) {
        char err[512];
        bool retryable = false;
        llm_response_clear(resp);
        memset(resp, 0, sizeof(*resp));
        int rc = batch_client_realtime(client, p, row->task, tier->model,
                                       row->input, strlen(row->input), resp,
                                       &latency_ms, &retryable, err, sizeof(err));
        if (rc == SL_OK || !retryable || retries >= pol.max_retries)
            break;
        log_debug("scheduler: realtime call for %s retried: %s", row->job_id, err);
        sleep_ms(retry_delay_ms(&pol, retries, -1,
                                (double)random() / ((double)RAND_MAX + 1.0)));
    }
    return latency_ms;
}

/* Climbs from the row's current step until an answer is kept or the job
 * fails, recording every call (each becomes a cost line). */
static void climb(const struct sched *s, struct batch_client *client,
                  struct urgent_row *u)
{
    for (;;) {
        const struct tier_conf *tier = pending_row_tier(s->cfg, &u->row);
        if (!tier || !u->row.task) {
            u->fail_reason = SCHED_CONFIG_GONE;
            return;
        }
        struct call_step *st = &u->steps[u->n_steps++];
        st->row = u->row;
        st->latency_ms = call_tier(client, tier, &u->row, &st->resp);
        struct deferred_job job = {u->row.task, u->row.step, u->row.n_ladder,
                                   u->row.retries, 0};
        deferred_judge_response(&job, &st->resp, &st->outcome);
        /* finisher_apply fails the job when the next tier is gone. */
        if (st->outcome.action != DEFERRED_CLIMB ||
            u->row.step + 1 >= u->row.n_ladder ||
            !config_tier(s->cfg, u->row.ladder[u->row.step + 1]))
            return;
        u->row.step++;
        u->row.lines++;
    }
}

static void *climb_thread(void *arg)
{
    struct climber *c = arg;
    struct pass *p = c->pass;
    for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < p->n_rows;)
        climb(p->s, c->client, &p->rows[i]);
    return NULL;
}

/* Runs the climbs (p->n_rows > 0) on up to s->n_realtime_clients threads,
 * one client each (the caller's thread alone if none can be started). */
static void climb_all(struct sched *s, struct pass *p)
{
    size_t want = p->n_rows < s->n_realtime_clients ? p->n_rows
                                                    : s->n_realtime_clients;
    pthread_t *tid = xcalloc(want, sizeof(*tid));
    struct climber *climbers = xcalloc(want, sizeof(*climbers));
    size_t started = 0;
    for (; started < want; started++) {
        if (!s->realtime_clients[started])
            s->realtime_clients[started] = batch_client_new();
        climbers[started] = (struct climber){p, s->realtime_clients[started]};
        if (pthread_create(&tid[started], NULL, climb_thread, &climbers[started]))
            break;
    }
    if (started == 0)
        climb_thread(&climbers[0]);
    for (size_t t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    free(climbers);
    free(tid);
}

static void write_row(struct finisher *f, struct urgent_row *u)
{
    for (size_t i = 0; i < u->n_steps; i++) {
        struct call_step *st = &u->steps[i];
        finisher_apply(f, &st->row, &st->outcome, &st->resp, "realtime",
                       st->latency_ms);
        deferred_outcome_clear(&st->outcome);
        llm_response_clear(&st->resp);
    }
    if (u->fail_reason)
        finisher_fail(f, &u->row, "realtime", u->fail_reason);
}

void sched_realtime_due(struct sched *s)
{
    char before[24], limit[24];
    size_t max_rows = s->n_realtime_clients * ROWS_PER_THREAD;
    const char *params[2] = {
        sched_i64(before, s->now_ms + (int64_t)s->cfg->scheduler.turnaround_s * 1000),
        sched_i64(limit, (int64_t)(max_rows < SCHED_CHUNK ? max_rows : SCHED_CHUNK))};
    if (!sched_begin(s))
        return;
    PGresult *res = sched_sql(s, "urgent rows", SQL_URGENT, 2, params);
    struct pass p = {.s = s, .n_rows = res ? (size_t)PQntuples(res) : 0};
    if (p.n_rows == 0) {
        sched_rollback(s);
        PQclear(res);
        return;
    }
    p.rows = xcalloc(p.n_rows, sizeof(*p.rows));
    for (size_t r = 0; r < p.n_rows; r++)
        pending_row_read(s->cfg, res, (int)r, &p.rows[r].row);
    climb_all(s, &p);
    struct finisher *f = finisher_new(s);
    for (size_t r = 0; r < p.n_rows; r++)
        write_row(f, &p.rows[r]);
    s->jobs_realtime += p.n_rows;
    bool ok = res && finisher_flush(f) && sched_commit(s);
    if (!ok)
        sched_rollback(s);
    finisher_free(f);
    free(p.rows);
    PQclear(res);
}
