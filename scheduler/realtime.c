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
 * A crash before the commit leaves the rows ready for another scheduler.
 *
 * Money: before each call leaves, its intent line (outcome unconfirmed,
 * reason in_flight, priced at what the request can bill at most) is
 * committed on a connection of its own, so a scheduler killed mid-call
 * still leaves a line for what the provider bills. The call's own line
 * replaces it at the commit. A row taken over after a crash numbers its
 * calls after every line the job already has, so the dead scheduler's
 * intents stay. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics/telemetry.h"
#include "pricing.h"
#include "provider/flex.h"
#include "provider/provider.h"
#include "retry.h"
#include "sched.h"

/* Enough rows to keep every thread busy for a while, few enough that a
 * pass (and its locks) ends in seconds; never more than one finisher
 * chunk, whose trace storage does not grow. */
#define ROWS_PER_THREAD 8
/* Calls of one tier at most: standard, the first and
 * providers.*.max_retries (<= 10); flex, the first and
 * providers.*.flex_retries (<= 10). */
#define MAX_CALLS 22
#define CALL_ID_MAX 160

/* The job's highest cost line so far follows the pending columns: calls
 * are numbered after it (see the file comment). Its lines are filed under
 * the months its runs began, from its arrival on: the lookup reads those
 * month tables only (schema/014). */
static const char SQL_URGENT[] =
    "SELECT " PENDING_COLUMNS ","
    " COALESCE((SELECT max(c.attempt) FROM cost_lines c"
    "           WHERE c.job_id = p.job_id AND c.ledger_month >="
    "            sluice_ledger_month((SELECT j.received_at FROM jobs j"
    "             WHERE j.job_id = p.job_id) - interval '1 day')), 0)"
    " FROM pending p WHERE p.state = 'ready'"
    " AND p.deadline < to_timestamp($1::float8 / 1000)"
    " AND p.not_before <= now() ORDER BY p.deadline, p.id LIMIT $2::int"
    " FOR UPDATE SKIP LOCKED";
#define URGENT_MAX_ATTEMPT_COLUMN 14

/* A call that left and brought back no usable answer. */
struct lost_call {
    const char *reason; /* timeout, connection_lost, oversized, unparseable */
    int latency_ms;
    char call_id[CALL_ID_MAX];
};

/* The calls of one tier (retries included), kept until the loop's thread
 * writes them. */
struct call_step {
    struct pending_row row;  /* the row as it stood before the tier's calls */
    struct lost_call lost[MAX_CALLS]; /* calls with no usable answer */
    size_t n_lost;
    struct llm_usage bound;  /* what one call of the tier can bill at most */
    char call_id[CALL_ID_MAX]; /* the last call's id; "" when it is lost */
    struct llm_response resp;  /* the last call's answer */
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
    struct sched *s;
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

/* What the tier's request can bill at most (provider_estimate_request). */
static struct llm_usage request_bound(const struct tier_conf *tier,
                                      const struct pending_row *row)
{
    struct llm_usage bound;
    free(provider_request_body_ex(tier->provider, row->task, tier->model,
                                  row->input, strlen(row->input), false, &bound));
    return bound;
}

/* Commits the intent line of the call about to leave; false (logged) when
 * it could not be written: then the call is not made. */
static bool write_intent(struct sched *s, const struct tier_conf *tier,
                         const struct call_step *st, const char *call_id)
{
    const struct pending_row *row = &st->row;
    struct ledger_cost_line l = {
        .job_id = row->job_id, .attempt = row->lines + (int)st->n_lost + 1,
        .outcome = "unconfirmed", .reason = "in_flight",
        .task = row->task_name, .feature = row->feature,
        .tenant = row->tenant, .cohort = row->cohort,
        .client_request_id = call_id,
        .filed_ms = s->now_ms, /* the tick's: its outcome line's too (finish.c) */
    };
    pricing_bill_line(&l, tier, &st->bound, "realtime");
    char err[512] = "";
    pthread_mutex_lock(&s->intent_lock);
    if (!s->intent_db)
        s->intent_db = db_open(s->cfg->pg_conninfo, "sluice-scheduler-intents",
                               err, sizeof(err));
    int rc = s->intent_db ? ledger_write_intents(s->intent_db, &l, 1, err,
                                                 sizeof(err))
                          : SL_EDB;
    pthread_mutex_unlock(&s->intent_lock);
    if (rc != SL_OK)
        log_warn("scheduler: intent line of %s not written, call not made: %s",
                 row->job_id, err);
    return rc == SL_OK;
}

/* Why a call that left has no usable answer, or NULL when it has one or
 * never left (refused before connecting, an error status: nothing billed). */
static const char *lost_reason(int rc, const struct batch_realtime_call *call,
                               const struct llm_response *resp)
{
    if (!call->sent || rc == SL_OK)
        return NULL;
    if (call->truncated)
        return "oversized";
    if (resp->http_status == 0)
        return call->timed_out ? "timeout" : "connection_lost";
    return rc == SL_EINVAL ? "unparseable" : NULL;
}

enum tier_calls {
    CALLS_NONE, /* no intent line could be written: no call made */
    CALLS_DONE, /* st->resp is the tier's answer to judge */
    CALLS_CUT   /* calls made, then an intent line failed: retry later */
};

/* One call: its intent line first, then the request. Returns false when
 * the intent line could not be written (no call made). */
static bool call_once(struct sched *s, struct batch_client *client,
                      const struct tier_conf *tier, struct call_step *st,
                      bool flex, int *rc, struct batch_realtime_call *call)
{
    char call_id[CALL_ID_MAX], err[512];
    snprintf(call_id, sizeof(call_id), "%s-r%" PRIuFAST64, s->owner,
             atomic_fetch_add(&s->calls_sent, 1) + 1);
    if (!write_intent(s, tier, st, call_id))
        return false;
    llm_response_clear(&st->resp);
    *call = (struct batch_realtime_call){.client_request_id = call_id,
                                         .flex = flex};
    *rc = batch_client_realtime(client, tier->provider, st->row.task,
                                tier->model, st->row.input,
                                strlen(st->row.input), &st->resp, call, err,
                                sizeof(err));
    st->latency_ms = call->latency_ms;
    const char *lost = lost_reason(*rc, call, &st->resp);
    sl_strlcpy(st->call_id, lost ? "" : call_id, sizeof(st->call_id));
    if (lost) {
        struct lost_call *l = &st->lost[st->n_lost++];
        *l = (struct lost_call){.reason = lost, .latency_ms = call->latency_ms};
        sl_strlcpy(l->call_id, call_id, sizeof(l->call_id));
    }
    if (*rc != SL_OK)
        log_debug("scheduler: realtime call for %s: %s", st->row.job_id, err);
    call->client_request_id = NULL; /* call_id dies here */
    return true;
}

/* The tier's calls with the provider's retry budget and the worker's
 * backoff (retry.h: full jitter, so threads that all met a 429 do not come
 * back together); flex first where the provider offers it and the
 * deadline allows, as in the worker. */
static enum tier_calls call_tier(struct sched *s, struct batch_client *client,
                                 const struct tier_conf *tier,
                                 struct call_step *st)
{
    const struct provider_conf *p = tier->provider;
    struct retry_policy pol;
    retry_policy_from_provider(p, &pol);
    st->bound = request_bound(tier, &st->row);
    int retries = 0, flex_429s = 0;
    for (int calls = 0; calls < MAX_CALLS; calls++) {
        bool flex = flex_use(p, true, flex_429s, st->row.deadline_ms, sl_now_ms());
        int rc;
        struct batch_realtime_call call;
        if (!call_once(s, client, tier, st, flex, &rc, &call))
            return calls > 0 ? CALLS_CUT : CALLS_NONE;
        if (flex && st->resp.http_status == 429 && !st->resp.no_retry) {
            /* The wait before flex is tried again (the server's hint when
             * given), or -1 for standard realtime from now on. */
            int64_t delay = flex_after_429(p, &flex_429s, call.retry_after_ms,
                                           sl_rand01(), st->row.deadline_ms,
                                           sl_now_ms());
            telemetry_count_flex_429(p->name, delay);
            if (delay > 0)
                sleep_ms(delay);
            continue;
        }
        if (rc == SL_OK || !call.retryable || retries >= pol.max_retries)
            break;
        /* The server's hint is waited for; one above
         * providers.*.retry_after_cap_ms means give up (retry.h). */
        int64_t delay = retry_delay_ms(&pol, retries++, call.retry_after_ms,
                                       sl_rand01());
        if (delay < 0)
            break;
        metrics_count(telemetry()->provider_retries, 1, p->name, NULL, NULL);
        sleep_ms(delay);
    }
    return CALLS_DONE;
}

/* Climbs from the row's current step until an answer is kept, the job
 * fails, or an intent line cannot be written (the row stays where it got
 * to), recording every call (each becomes a cost line). */
static void climb(struct sched *s, struct batch_client *client,
                  struct urgent_row *u)
{
    for (;;) {
        const struct tier_conf *tier = pending_row_tier(s->cfg, &u->row);
        if (!tier || !u->row.task) {
            u->fail_reason = SCHED_CONFIG_GONE;
            return;
        }
        struct call_step *st = &u->steps[u->n_steps];
        memset(st, 0, sizeof(*st));
        st->row = u->row;
        enum tier_calls made = call_tier(s, client, tier, st);
        if (made == CALLS_NONE)
            return;
        u->n_steps++;
        u->row.lines += (int)st->n_lost;
        if (made == CALLS_CUT) {
            /* Not the tier's verdict: the same tier again, later. */
            st->outcome = (struct deferred_outcome){
                .action = DEFERRED_RETRY, .reason = "intent_unwritten"};
            snprintf(st->outcome.detail, sizeof(st->outcome.detail),
                     "an intent line could not be written");
            return;
        }
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

/* One tier's lines in call order: its lost calls, then its outcome. */
static void write_step(const struct sched *s, struct finisher *f,
                       struct call_step *st)
{
    struct pending_row row = st->row;
    const struct tier_conf *tier = pending_row_tier(s->cfg, &row);
    for (size_t i = 0; i < st->n_lost && tier; i++, row.lines++)
        finisher_unconfirmed(f, &row, tier, &st->bound, st->lost[i].reason,
                             st->lost[i].call_id, st->lost[i].latency_ms);
    if (st->resp.flex && tier)
        metrics_count(telemetry()->flex_calls, 1, tier->provider->name,
                      "served", NULL);
    finisher_apply(f, &row, &st->outcome, &st->resp, "realtime",
                   st->latency_ms, st->call_id[0] ? st->call_id : NULL);
    deferred_outcome_clear(&st->outcome);
    llm_response_clear(&st->resp);
}

static void write_row(const struct sched *s, struct finisher *f,
                      struct urgent_row *u)
{
    for (size_t i = 0; i < u->n_steps; i++)
        write_step(s, f, &u->steps[i]);
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
    for (size_t r = 0; r < p.n_rows; r++) {
        struct pending_row *row = &p.rows[r].row;
        pending_row_read(s->cfg, res, (int)r, row);
        int max_attempt = atoi(PQgetvalue(res, (int)r, URGENT_MAX_ATTEMPT_COLUMN));
        if (max_attempt > row->lines)
            row->lines = max_attempt;
    }
    climb_all(s, &p);
    struct finisher *f = finisher_new(s);
    for (size_t r = 0; r < p.n_rows; r++)
        write_row(s, f, &p.rows[r]);
    s->jobs_realtime += p.n_rows;
    bool ok = res && finisher_flush(f) && sched_commit(s);
    if (!ok)
        sched_rollback(s);
    finisher_free(f);
    free(p.rows);
    PQclear(res);
}
