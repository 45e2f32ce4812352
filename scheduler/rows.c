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

/* rc of a db_* call, logged when it failed; true on success. */
static bool logged(int rc, const char *err)
{
    if (rc != SL_OK)
        log_error("scheduler: %s", err);
    return rc == SL_OK;
}

bool sched_begin(struct sched *s)
{
    char err[512];
    return logged(db_begin(s->db, err, sizeof(err)), err);
}

bool sched_commit(struct sched *s)
{
    char err[512];
    return logged(db_commit(s->db, err, sizeof(err)), err);
}

void sched_rollback(struct sched *s) { db_rollback(s->db); }

const char *sched_i64(char *buf, int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}
