/* rows.c — the scheduler's lowest layer: its SQL helpers (lib/db.c's, with
 * the error logged). */
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

bool sched_begin(struct sched *s)
{
    char err[512];
    bool ok = db_begin(s->db, err, sizeof(err)) == SL_OK;
    if (!ok)
        log_error("scheduler: %s", err);
    return ok;
}

bool sched_commit(struct sched *s)
{
    char err[512];
    bool ok = db_commit(s->db, err, sizeof(err)) == SL_OK;
    if (!ok)
        log_error("scheduler: %s", err);
    return ok;
}

void sched_rollback(struct sched *s) { db_rollback(s->db); }

const char *sched_i64(char *buf, int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}
