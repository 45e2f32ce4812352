/* requeue.c — giving a batch's rows back to the queue: for another attempt
 * (or failed, once out of retries) when a batch ends without answering them,
 * and closing a batch for good. Used by submission (reconciliation) and by
 * ingestion (failed, expired or cancelled batches). */
#include <stdio.h>

#include "sched.h"

static const char SQL_BATCH_ROWS[] =
    "SELECT " PENDING_COLUMNS " FROM pending p"
    " WHERE p.batch_id = $1 AND p.state = 'batched' ORDER BY p.id FOR UPDATE";

static const char SQL_ABANDON[] =
    "UPDATE batches SET state = $2, error = $3, ended_at = now() WHERE id = $1";

bool sched_requeue_batch(struct sched *s, int64_t batch_id, const char *reason)
{
    char id[24];
    const char *params[1] = {sched_i64(id, batch_id)};
    PGresult *res = sched_sql(s, "batch rows", SQL_BATCH_ROWS, 1, params);
    if (!res)
        return false;
    struct finisher *f = finisher_new(s);
    bool ok = true;
    for (int r = 0; r < PQntuples(res) && ok; r++) {
        struct pending_row row;
        pending_row_read(s->cfg, res, r, &row);
        struct deferred_outcome o = {
            .action = row.retries < s->cfg->scheduler.max_line_retries
                          ? DEFERRED_RETRY : DEFERRED_FAIL,
            .reason = "batch_not_answered",
        };
        snprintf(o.detail, sizeof(o.detail), "%s", reason);
        finisher_apply(f, &row, &o, NULL, "batch", 0, NULL);
        if ((r + 1) % SCHED_CHUNK == 0)
            ok = finisher_flush(f);
    }
    ok = ok && finisher_flush(f);
    finisher_free(f);
    PQclear(res);
    return ok;
}

/* Gives the batch's rows back (new attempt) and closes the batch. */
void sched_abandon(struct sched *s, int64_t batch_id, const char *state,
                    const char *reason)
{
    char id[24];
    const char *params[3] = {sched_i64(id, batch_id), state, reason};
    bool ok = sched_begin(s) && sched_requeue_batch(s, batch_id, reason);
    PGresult *res = ok ? sched_sql(s, "abandon batch", SQL_ABANDON, 3, params) : NULL;
    ok = res && sched_commit(s);
    PQclear(res);
    if (!ok)
        sched_rollback(s); /* the lease runs out; reconciliation retries */
}
