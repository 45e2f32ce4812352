/* ingest.c — polling submitted batches and ingesting their answers.
 *
 * Result files are streamed (batch_client_results) and judged SCHED_CHUNK
 * lines per transaction. A line counts only if its row is still in this
 * batch under the same attempt (custom_id r<row>-a<attempt>), checked under
 * a row lock in the transaction that writes its result: re-reading a file
 * after a crash, or two schedulers reading one, writes nothing twice. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sched.h"
#include "metrics/telemetry.h"

#define POLL_BATCHES_PER_TICK 10

static const char SQL_DUE[] =
    "UPDATE batches SET owner = $1, lease_until = now() + $2::int * interval '1 s'"
    " WHERE id IN (SELECT id FROM batches WHERE state IN ('submitted', 'ingesting')"
    "  AND next_poll_at <= now() AND lease_until <= now()"
    "  ORDER BY next_poll_at LIMIT 10 FOR UPDATE SKIP LOCKED)"
    " RETURNING id, provider, provider_batch_id, polls";

static const char SQL_NOT_YET[] =
    "UPDATE batches SET polls = polls + 1, provider_state = $2,"
    " next_poll_at = now() + $3::int * interval '1 ms', lease_until = now()"
    " WHERE id = $1";

static const char SQL_STATE[] =
    "UPDATE batches SET state = $2, provider_state = $3,"
    " lease_until = now() + $4::int * interval '1 s' WHERE id = $1";

static const char SQL_DONE[] =
    "UPDATE batches SET state = 'done', ended_at = now(), lease_until = now()"
    " WHERE id = $1";

static const char SQL_CHUNK_ROWS[] =
    "SELECT " PENDING_COLUMNS " FROM pending p"
    " WHERE p.batch_id = $1 AND p.state = 'batched'"
    " AND p.id IN (SELECT json_array_elements_text($2::json)::bigint)"
    " ORDER BY p.id FOR UPDATE";

/* One batch being ingested. */
struct ingest {
    struct sched *s;
    int64_t batch_id;
    const struct provider_conf *p;
    struct batch_line lines[SCHED_CHUNK];
    size_t n;
    size_t stale, judged;
    bool failed;
};

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void line_copy(struct batch_line *dst, const struct batch_line *src)
{
    *dst = *src;
    dst->custom_id = dup_or_null(src->custom_id);
    dst->error = dup_or_null(src->error);
    dst->resp.content = dup_or_null(src->resp.content);
    dst->resp.response_id = dup_or_null(src->resp.response_id);
    dst->resp.error_type = dup_or_null(src->resp.error_type);
    dst->resp.error_message = dup_or_null(src->resp.error_message);
}

static int64_t poll_delay_ms(const struct sched *s, int polls)
{
    int64_t d = s->cfg->scheduler.poll_min_ms;
    for (int i = 0; i < polls && d < s->cfg->scheduler.poll_max_ms; i++)
        d *= 2;
    return d < s->cfg->scheduler.poll_max_ms ? d : s->cfg->scheduler.poll_max_ms;
}

static int cmp_row_id(const void *key, const void *elem)
{
    int64_t k = *(const int64_t *)key, e = ((const struct pending_row *)elem)->id;
    return (k > e) - (k < e);
}

static void judge_lines(struct ingest *in, struct pending_row *rows, size_t n_rows,
                        bool *used, struct finisher *f)
{
    for (size_t i = 0; i < in->n; i++) {
        const struct batch_line *l = &in->lines[i];
        int64_t row_id;
        int attempt;
        struct pending_row *row = NULL;
        if (batch_custom_id_parse(l->custom_id, &row_id, &attempt) == SL_OK)
            row = bsearch(&row_id, rows, n_rows, sizeof(*rows), cmp_row_id);
        if (!row || row->attempt != attempt || used[row - rows]) {
            in->stale++;
            continue;
        }
        if (!row->task)
            continue; /* failed with the unanswered rows (finisher_apply) */
        used[row - rows] = true;
        struct deferred_job job = {row->task, row->step, row->n_ladder,
                                   row->retries, in->s->cfg->scheduler.max_line_retries};
        struct deferred_outcome o;
        deferred_judge_line(&job, l, &o);
        finisher_apply(f, row, &o, &l->resp, "batch", 0, NULL);
        metrics_count(telemetry()->batch_lines, 1, in->p->name,
                      deferred_action_name(o.action), NULL);
        deferred_outcome_clear(&o);
        in->judged++;
    }
}

static bool ingest_chunk_tx(struct ingest *in)
{
    struct sched *s = in->s;
    char id[24], lease[24];
    cJSON *ids = cJSON_CreateArray();
    for (size_t i = 0; i < in->n; i++) {
        int64_t row_id;
        int attempt;
        if (batch_custom_id_parse(in->lines[i].custom_id, &row_id, &attempt) == SL_OK)
            cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)row_id));
    }
    char *ids_json = cJSON_PrintUnformatted(ids);
    cJSON_Delete(ids);
    const char *params[2] = {sched_i64(id, in->batch_id), ids_json};
    PGresult *res = sched_sql(s, "chunk rows", SQL_CHUNK_ROWS, 2, params);
    cJSON_free(ids_json);
    if (!res)
        return false;
    size_t n_rows = (size_t)PQntuples(res);
    struct pending_row *rows = xcalloc(n_rows + 1, sizeof(*rows));
    bool *used = xcalloc(n_rows + 1, sizeof(*used));
    for (size_t r = 0; r < n_rows; r++)
        pending_row_read(s->cfg, res, (int)r, &rows[r]);
    struct finisher *f = finisher_new(s);
    judge_lines(in, rows, n_rows, used, f);
    bool ok = finisher_flush(f);
    finisher_free(f);
    free(used);
    free(rows);
    PQclear(res);
    const char *renew[4] = {id, "ingesting", "ended",
                            sched_i64(lease, s->cfg->scheduler.lease_s)};
    PGresult *upd = ok ? sched_sql(s, "renew lease", SQL_STATE, 4, renew) : NULL;
    PQclear(upd);
    return upd != NULL;
}

static void clear_lines(struct ingest *in)
{
    for (size_t i = 0; i < in->n; i++)
        batch_line_clear(&in->lines[i]);
    in->n = 0;
}

static int ingest_chunk(struct ingest *in)
{
    bool ok = sched_begin(in->s) && ingest_chunk_tx(in) && sched_commit(in->s);
    if (!ok)
        sched_rollback(in->s);
    in->s->lines_ingested += in->n;
    clear_lines(in);
    return ok ? 0 : SL_EDB;
}

static int on_line(const struct batch_line *line, void *arg)
{
    struct ingest *in = arg;
    line_copy(&in->lines[in->n++], line);
    return in->n == SCHED_CHUNK ? ingest_chunk(in) : 0;
}

/* Streams the results; rows left without an answer are re-queued. */
static void ingest_batch(struct sched *s, int64_t batch_id,
                         const struct provider_conf *p,
                         const struct batch_status *st)
{
    struct ingest *in = xcalloc(1, sizeof(*in));
    char err[512], id[24];
    size_t bad = 0;
    in->s = s;
    in->batch_id = batch_id;
    in->p = p;
    int rc = batch_client_results(s->client, p, st, on_line, in, &bad, err, sizeof(err));
    if (rc == SL_OK && in->n > 0)
        rc = ingest_chunk(in);
    clear_lines(in);
    if (rc != SL_OK) {
        log_warn("scheduler: reading the results of batch %lld failed (%s); "
                 "retrying later", (long long)batch_id, rc == SL_EDB ? "database" : err);
    } else {
        const char *params[1] = {sched_i64(id, batch_id)};
        bool ok = sched_begin(s) &&
                  sched_requeue_batch(s, batch_id, "no answer in the batch results");
        PGresult *res = ok ? sched_sql(s, "batch done", SQL_DONE, 1, params) : NULL;
        if (!res || !sched_commit(s))
            sched_rollback(s);
        PQclear(res);
        log_info("scheduler: batch %lld ingested: %zu answers judged, %zu stale, "
                 "%zu unreadable lines", (long long)batch_id, in->judged, in->stale, bad);
    }
    free(in);
}

static const char *state_name(enum batch_state st)
{
    static const char *const names[] = {"in_progress", "ended", "failed",
                                        "expired", "cancelled"};
    return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

static void poll_one(struct sched *s, int64_t batch_id,
                     const struct provider_conf *p, const char *provider_batch_id,
                     int polls)
{
    struct batch_status st;
    char err[512], id[24], delay[24], lease[24];
    bool retryable;
    sched_i64(id, batch_id);
    memset(&st, 0, sizeof(st));
    int rc = batch_client_get(s->client, p, provider_batch_id, &st, &retryable,
                              err, sizeof(err));
    if (rc == SL_ENOTFOUND) {
        /* Deleted at the provider, or another account's key: never coming. */
        log_warn("scheduler: %s no longer knows batch %s (%s): its rows are re-queued",
                 p->name, id, provider_batch_id);
        sched_abandon(s, batch_id, "failed", "the provider no longer knows the batch");
    } else if (rc != SL_OK || st.state == BATCH_IN_PROGRESS) {
        if (rc != SL_OK)
            log_warn("scheduler: polling batch %s (%s) failed: %s", id,
                     provider_batch_id, err);
        const char *params[3] = {id, rc == SL_OK ? "in_progress" : "poll_failed",
                                 sched_i64(delay, poll_delay_ms(s, polls))};
        PQclear(sched_sql(s, "poll later", SQL_NOT_YET, 3, params));
    } else if (st.state == BATCH_FAILED) {
        log_warn("scheduler: batch %s (%s) failed at %s: %s", id,
                 provider_batch_id, p->name, st.error ? st.error : "no reason given");
        sched_abandon(s, batch_id, "failed", st.error ? st.error : "batch failed");
    } else {
        const char *params[4] = {id, "ingesting", state_name(st.state),
                                 sched_i64(lease, s->cfg->scheduler.lease_s)};
        PQclear(sched_sql(s, "ingesting", SQL_STATE, 4, params));
        ingest_batch(s, batch_id, p, &st);
    }
    batch_status_clear(&st);
}

void sched_poll_due(struct sched *s)
{
    char lease[24];
    const char *params[2] = {s->owner, sched_i64(lease, s->cfg->scheduler.lease_s)};
    PGresult *res = sched_sql(s, "batches due", SQL_DUE, 2, params);
    for (int r = 0; res && r < PQntuples(res) && !*s->stop; r++) {
        const struct provider_conf *p = config_provider(s->cfg, PQgetvalue(res, r, 1));
        int64_t batch_id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        if (!p) {
            sched_abandon(s, batch_id, "failed", "provider no longer in config");
            continue;
        }
        poll_one(s, batch_id, p, PQgetvalue(res, r, 2), atoi(PQgetvalue(res, r, 3)));
    }
    PQclear(res);
}
