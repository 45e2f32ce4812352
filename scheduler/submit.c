/* submit.c — claiming due groups of pending rows into provider batches,
 * and reconciling batches a crashed scheduler left in 'submitting'.
 *
 * Crash safety: the batch row (state submitting, leased) and its rows'
 * batch_id commit BEFORE the provider call; the provider id is recorded
 * after. A scheduler that dies in between leaves a submitting batch whose
 * lease runs out; whoever reconciles it asks the provider (OpenAI: batch
 * metadata.sluice_batch_id; Anthropic: the custom ids of its results)
 * whether it arrived, and either adopts it or re-queues its rows under a new
 * attempt number, so answers to the lost submission can never be ingested. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "sched.h"

/* Room per request in the byte cap: the input JSON-escaped (x2 covers any
 * escaping short of control characters) plus prompt, labels and envelope. */
#define REQUEST_OVERHEAD_BYTES 16384
#define RECONCILE_RETRY_S 10
#define SLUICE_BATCH_ID_FMT "sluice-batch-%lld"

/* $1 now ms, $2 offpeak rows may go, $3 offpeak rows whose deadline is
 * before this (ms) go anyway, $4 rows whose deadline is before this (ms)
 * are left to the realtime pass. */
#define ELIGIBLE                                                               \
    " p.state = 'ready' AND p.not_before <= to_timestamp($1::float8 / 1000)"   \
    " AND (p.mode = 'async' OR $2::bool"                                       \
    "      OR p.deadline < to_timestamp($3::float8 / 1000))"                   \
    " AND (p.deadline IS NULL OR p.deadline >= to_timestamp($4::float8 / 1000))"

/* Per group: ready rows, age of the oldest (ms), whether offpeak rows
 * waited for the window that is open now ($5: when it opened, ms), whether
 * a deadline would be missed by waiting max_wait ($6: ms). */
static const char SQL_GROUPS[] =
    "SELECT p.provider, p.model, count(*),"
    " (extract(epoch FROM to_timestamp($1::float8 / 1000) - min(p.enqueued_at))"
    "  * 1000)::bigint,"
    " COALESCE(bool_or(p.mode = 'offpeak'"
    "  AND p.enqueued_at < to_timestamp($5::float8 / 1000)), false),"
    " COALESCE(bool_or(p.deadline < to_timestamp($6::float8 / 1000)), false)"
    " FROM pending p WHERE" ELIGIBLE " GROUP BY p.provider, p.model";

static const char SQL_CLAIM[] =
    "WITH b AS (INSERT INTO batches (provider, model, state, n_rows, owner,"
    "   lease_until) VALUES ($5, $6, 'submitting', 0, $7,"
    "   now() + $8::int * interval '1 s') RETURNING id),"
    " c AS (SELECT p.id FROM pending p WHERE" ELIGIBLE
    "   AND p.provider = $5 AND p.model = $6"
    "   ORDER BY p.deadline NULLS LAST, p.id LIMIT $9::int"
    "   FOR UPDATE SKIP LOCKED)"
    " UPDATE pending p SET state = 'batched', batch_id = b.id FROM c, b"
    " WHERE p.id = c.id RETURNING " PENDING_COLUMNS ", p.batch_id";

static const char SQL_SUBMITTED[] =
    "UPDATE batches SET state = 'submitted', provider_batch_id = $2,"
    " submitted_at = now(), lease_until = now(),"
    " next_poll_at = now() + $3::int * interval '1 ms'"
    " WHERE id = $1 AND state = 'submitting'";

static const char SQL_ORPHANS[] =
    "UPDATE batches SET owner = $1, lease_until = now() + $2::int * interval '1 s'"
    " WHERE id IN (SELECT id FROM batches WHERE state = 'submitting'"
    "  AND lease_until < now() ORDER BY id LIMIT 5 FOR UPDATE SKIP LOCKED)"
    " RETURNING id, provider, (extract(epoch FROM created_at) * 1000)::bigint";

static const char SQL_PROBE[] =
    "SELECT id, attempt FROM pending WHERE batch_id = $1 AND state = 'batched'"
    " ORDER BY id LIMIT 1";

/* $1: the config's task names as a JSON array. */
static const char SQL_LOST_TASK_ROWS[] =
    "SELECT " PENDING_COLUMNS " FROM pending p WHERE p.state = 'ready'"
    " AND p.task NOT IN (SELECT json_array_elements_text($1::json))"
    " ORDER BY p.id LIMIT 500 FOR UPDATE SKIP LOCKED";

static const char SQL_RELEASE_LATER[] =
    "UPDATE batches SET lease_until = now() + $2::int * interval '1 s'"
    " WHERE id = $1";

/* Parameters $1..$6 of the eligibility and due tests, as text. */
struct window_params {
    char now[24], offpeak_urgent[24], realtime_before[24], opened[24],
        async_urgent[24];
    const char *offpeak_ok;
};

static void window_params(const struct sched *s, struct window_params *w)
{
    const struct scheduler_conf *c = &s->cfg->scheduler;
    int64_t turnaround = (int64_t)c->turnaround_s * 1000;
    bool open = !s->window_known || s->window.open;
    w->offpeak_ok = open ? "true" : "false";
    sched_i64(w->now, s->now_ms);
    sched_i64(w->offpeak_urgent, open ? 0 : s->window.opens_ms + turnaround);
    sched_i64(w->realtime_before, s->now_ms + turnaround);
    sched_i64(w->opened, s->window_known && s->window.open ? s->window.opens_ms : 0);
    sched_i64(w->async_urgent, s->now_ms + (int64_t)c->max_wait_s * 1000 + turnaround);
}

static size_t batch_cap(const struct sched *s, const struct provider_conf *p)
{
    size_t cap = (size_t)s->cfg->scheduler.batch_max_requests;
    size_t per_request = 2 * s->cfg->worker.max_input_bytes + REQUEST_OVERHEAD_BYTES;
    size_t by_bytes = batch_max_bytes(p->kind) / per_request;
    if (cap > batch_max_requests(p->kind))
        cap = batch_max_requests(p->kind);
    return cap < by_bytes ? cap : by_bytes;
}

static void sluice_batch_id(char *buf, size_t size, int64_t id)
{
    snprintf(buf, size, SLUICE_BATCH_ID_FMT, (long long)id);
}

/* Lets the batch's lease run out after delay_s, so that sched_reconcile
 * (this scheduler's or another's) asks the provider about it. */
static void release_for_reconcile(struct sched *s, int64_t batch_id, int delay_s)
{
    char id[24], later[24];
    const char *params[2] = {sched_i64(id, batch_id), sched_i64(later, delay_s)};
    PQclear(sched_sql(s, "release for reconcile", SQL_RELEASE_LATER, 2, params));
}

static void record_submitted(struct sched *s, int64_t batch_id,
                             const char *provider_batch_id)
{
    char id[24], poll[24];
    const char *params[3] = {sched_i64(id, batch_id), provider_batch_id,
                             sched_i64(poll, s->cfg->scheduler.poll_min_ms)};
    PQclear(sched_sql(s, "record submitted batch", SQL_SUBMITTED, 3, params));
}

/* Sends the claimed rows; on failure they go back to the queue. */
static void submit_rows(struct sched *s, int64_t batch_id, PGresult *rows,
                        const struct provider_conf *p, const char *model)
{
    int n = PQntuples(rows);
    struct batch_item *items = xcalloc((size_t)n, sizeof(*items));
    char **ids = xcalloc((size_t)n, sizeof(*ids));
    char sluice_id[64], err[512];
    for (int r = 0; r < n; r++) {
        struct pending_row row;
        pending_row_read(s->cfg, rows, r, &row);
        ids[r] = batch_custom_id(row.id, row.attempt);
        items[r] = (struct batch_item){ids[r], row.task, model, row.input,
                                       strlen(row.input)};
    }
    sluice_batch_id(sluice_id, sizeof(sluice_id), batch_id);
    char *provider_batch_id = NULL;
    bool retryable = false;
    int rc = batch_client_submit(s->client, p, items, (size_t)n, sluice_id,
                                 &provider_batch_id, &retryable, err, sizeof(err));
    if (rc == SL_OK) {
        record_submitted(s, batch_id, provider_batch_id);
        s->batches_submitted++;
        log_info("scheduler: batch %lld submitted to %s as %s: %d requests for %s",
                 (long long)batch_id, p->name, provider_batch_id, n, model);
    } else if (retryable) {
        /* The provider may have created it all the same: reconciliation
         * asks it (adopt, or re-queue under a new attempt). */
        log_warn("scheduler: batch %lld (%d requests for %s) not confirmed: %s; "
                 "asking %s whether it arrived", (long long)batch_id, n, model,
                 err, p->name);
        release_for_reconcile(s, batch_id, 0);
    } else {
        log_warn("scheduler: batch %lld (%d requests for %s) not submitted: %s",
                 (long long)batch_id, n, model, err);
        sched_abandon(s, batch_id, "abandoned", err);
    }
    free(provider_batch_id);
    for (int r = 0; r < n; r++)
        free(ids[r]);
    free(ids);
    free(items);
}

/* Rows whose task left the config can never be sent: they fail, so that
 * they do not hold up their provider/model group. */
static void fail_lost_tasks(struct sched *s)
{
    cJSON *names = cJSON_CreateArray();
    for (size_t i = 0; i < s->cfg->n_tasks; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(s->cfg->tasks[i].name));
    char *json = cJSON_PrintUnformatted(names);
    cJSON_Delete(names);
    const char *params[1] = {json};
    if (sched_begin(s)) {
        PGresult *res = sched_sql(s, "rows of lost tasks", SQL_LOST_TASK_ROWS, 1, params);
        struct finisher *f = finisher_new(s);
        for (int r = 0; res && r < PQntuples(res); r++) {
            struct pending_row row;
            pending_row_read(s->cfg, res, r, &row);
            finisher_fail(f, &row, "batch", SCHED_CONFIG_GONE);
        }
        if (!(res && finisher_flush(f) && sched_commit(s)))
            sched_rollback(s);
        finisher_free(f);
        PQclear(res);
    }
    free(json);
}

/* A row whose task left the config cannot be sent anywhere. */
static bool rows_sendable(struct sched *s, PGresult *rows)
{
    for (int r = 0; r < PQntuples(rows); r++) {
        struct pending_row row;
        pending_row_read(s->cfg, rows, r, &row);
        if (!row.task)
            return false;
    }
    return true;
}

/* Claims up to cap rows of a group into a new batch (committed). Returns the
 * rows (caller clears) and the batch id, or NULL when nothing was claimed. */
static PGresult *claim(struct sched *s, const struct window_params *w,
                       const char *provider, const char *model, size_t cap,
                       int64_t *batch_id)
{
    char lease[24], limit[24];
    const char *params[9] = {w->now, w->offpeak_ok, w->offpeak_urgent,
                             w->realtime_before, provider, model, s->owner,
                             sched_i64(lease, s->cfg->scheduler.lease_s),
                             sched_i64(limit, (int64_t)cap)};
    if (!sched_begin(s))
        return NULL;
    PGresult *rows = sched_sql(s, "claim pending rows", SQL_CLAIM, 9, params);
    int n = rows ? PQntuples(rows) : 0;
    if (n == 0 || !rows_sendable(s, rows)) {
        if (n > 0) {
            s->lost_task_seen = true;
            log_warn("scheduler: pending rows of %s name a task not in the config; "
                     "they fail at the next tick", model);
        }
        PQclear(rows);
        sched_rollback(s);
        return NULL;
    }
    *batch_id = strtoll(PQgetvalue(rows, 0, PQnfields(rows) - 1), NULL, 10);
    char id[24], count[24];
    const char *set[2] = {sched_i64(id, *batch_id), sched_i64(count, n)};
    PGresult *upd = sched_sql(s, "batch size",
                              "UPDATE batches SET n_rows = $2 WHERE id = $1", 2, set);
    bool ok = upd && sched_commit(s);
    PQclear(upd);
    if (!ok) {
        sched_rollback(s);
        PQclear(rows);
        return NULL;
    }
    return rows;
}

static void flush_group(struct sched *s, const struct window_params *w,
                        const char *provider_name, const char *model,
                        int64_t ready, bool due_anyway)
{
    const struct provider_conf *p = config_provider(s->cfg, provider_name);
    if (!p)
        return;
    size_t cap = batch_cap(s, p);
    while (!*s->stop && (due_anyway || ready >= (int64_t)cap) && ready > 0) {
        int64_t batch_id;
        PGresult *rows = claim(s, w, provider_name, model, cap, &batch_id);
        if (!rows)
            return;
        ready -= PQntuples(rows);
        submit_rows(s, batch_id, rows, p, model);
        PQclear(rows);
    }
}

void sched_submit_due(struct sched *s)
{
    struct window_params w;
    if (s->lost_task_seen) {
        s->lost_task_seen = false;
        fail_lost_tasks(s);
    }
    window_params(s, &w);
    const char *params[6] = {w.now, w.offpeak_ok, w.offpeak_urgent,
                             w.realtime_before, w.opened, w.async_urgent};
    PGresult *groups = sched_sql(s, "pending groups", SQL_GROUPS, 6, params);
    if (!groups)
        return;
    int64_t max_wait_ms = (int64_t)s->cfg->scheduler.max_wait_s * 1000;
    for (int g = 0; g < PQntuples(groups); g++) {
        int64_t ready = strtoll(PQgetvalue(groups, g, 2), NULL, 10);
        int64_t oldest_ms = strtoll(PQgetvalue(groups, g, 3), NULL, 10);
        bool window_opened = PQgetvalue(groups, g, 4)[0] == 't';
        bool urgent = PQgetvalue(groups, g, 5)[0] == 't';
        flush_group(s, &w, PQgetvalue(groups, g, 0), PQgetvalue(groups, g, 1),
                    ready, oldest_ms >= max_wait_ms || window_opened || urgent);
    }
    PQclear(groups);
}

/* The custom id of one of the batch's rows, for finding it at Anthropic. */
static char *probe_id(struct sched *s, const char *batch_id)
{
    const char *params[1] = {batch_id};
    PGresult *res = sched_sql(s, "probe row", SQL_PROBE, 1, params);
    char *probe = NULL;
    if (res && PQntuples(res) == 1)
        probe = batch_custom_id(strtoll(PQgetvalue(res, 0, 0), NULL, 10),
                                atoi(PQgetvalue(res, 0, 1)));
    PQclear(res);
    return probe;
}

static void reconcile_one(struct sched *s, int64_t batch_id,
                          const struct provider_conf *p, int64_t created_ms)
{
    char id[24], sluice_id[64], err[512];
    char *found = NULL;
    sched_i64(id, batch_id);
    sluice_batch_id(sluice_id, sizeof(sluice_id), batch_id);
    char *probe = probe_id(s, id);
    int rc = probe ? batch_client_find(s->client, p, sluice_id, probe,
                                       created_ms - 60000, &found, err, sizeof(err))
                   : SL_ENOTFOUND;
    if (rc == SL_OK) {
        log_warn("scheduler: batch %s was left submitting by a stopped scheduler; "
                 "it reached %s as %s: adopted", id, p->name, found);
        record_submitted(s, batch_id, found);
    } else if (rc == SL_ENOTFOUND) {
        log_warn("scheduler: batch %s was left submitting by a stopped scheduler "
                 "and %s does not have it: its rows are re-queued", id, p->name);
        sched_abandon(s, batch_id, "abandoned", "never reached the provider");
    } else {
        log_info("scheduler: batch %s: cannot tell yet whether %s has it (%s)",
                 id, p->name, err);
        release_for_reconcile(s, batch_id, RECONCILE_RETRY_S);
    }
    free(found);
    free(probe);
}

void sched_reconcile(struct sched *s)
{
    char lease[24];
    const char *params[2] = {s->owner, sched_i64(lease, s->cfg->scheduler.lease_s)};
    PGresult *res = sched_sql(s, "orphaned batches", SQL_ORPHANS, 2, params);
    for (int r = 0; res && r < PQntuples(res); r++) {
        const struct provider_conf *p = config_provider(s->cfg, PQgetvalue(res, r, 1));
        int64_t batch_id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        if (p)
            reconcile_one(s, batch_id, p, strtoll(PQgetvalue(res, r, 2), NULL, 10));
        else
            sched_abandon(s, batch_id, "abandoned", "provider no longer in config");
    }
    PQclear(res);
}
