/* rows.c — the scheduler's lowest layer: its SQL helpers (db_query with the
 * error logged) and the reader of pending rows (PENDING_COLUMNS). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sched.h"

PGresult *sched_sql(struct sched *s, const char *what, const char *sql,
                    int n_params, const char *const *params)
{
    char err[512];
    PGresult *res = db_query(s->db, what, sql, n_params, params, err, sizeof(err));
    if (!res)
        log_error("scheduler: %s", err);
    return res;
}

static bool exec_simple(struct sched *s, const char *sql)
{
    PGresult *res = sched_sql(s, sql, sql, 0, NULL);
    PQclear(res);
    return res != NULL;
}

bool sched_begin(struct sched *s) { return exec_simple(s, "BEGIN"); }
bool sched_commit(struct sched *s) { return exec_simple(s, "COMMIT"); }

void sched_rollback(struct sched *s)
{
    PGTransactionStatusType ts = PQtransactionStatus(db_conn(s->db));
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        PQclear(PQexec(db_conn(s->db), "ROLLBACK"));
}

const char *sched_i64(char *buf, int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

/* "{1,2,3}" → ints; extra tiers beyond CONFIG_MAX_TIERS are ignored. */
static size_t parse_ladder(const char *text, int *out)
{
    size_t n = 0;
    for (const char *p = text; *p && n < CONFIG_MAX_TIERS;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end != p)
            out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n;
}

void pending_row_read(const struct sched *s, const PGresult *res, int r,
                      struct pending_row *out)
{
    memset(out, 0, sizeof(*out));
    out->id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
    out->job_id = PQgetvalue(res, r, 1);
    out->task_name = PQgetvalue(res, r, 2);
    out->mode = PQgetvalue(res, r, 3);
    out->input = PQgetvalue(res, r, 4);
    out->feature = PQgetvalue(res, r, 5);
    out->tenant = PQgetvalue(res, r, 6);
    out->cohort = PQgetvalue(res, r, 7);
    out->n_ladder = parse_ladder(PQgetvalue(res, r, 8), out->ladder);
    out->step = (size_t)atoi(PQgetvalue(res, r, 9));
    out->attempt = atoi(PQgetvalue(res, r, 10));
    out->lines = atoi(PQgetvalue(res, r, 11));
    out->retries = atoi(PQgetvalue(res, r, 12));
    out->deadline_ms = strtoll(PQgetvalue(res, r, 13), NULL, 10);
    out->task = config_task(s->cfg, out->task_name);
}

const struct tier_conf *pending_row_tier(const struct sched *s,
                                         const struct pending_row *row)
{
    if (row->step >= row->n_ladder)
        return NULL;
    return config_tier(s->cfg, row->ladder[row->step]);
}
