/* retention.c — the scheduler's retention, on the first tick and then
 * hourly: cost lines by whole months (ledger_retain_months), finished jobs
 * with their results and rejected messages by batched deletes (schema/016).
 * A pass that leaves old jobs or rejected messages behind takes one more
 * batch of each on every tick until none is left, so that a year of
 * backlog (a retention newly set) drains in short transactions between the
 * tick's other steps. */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "sched.h"

/* Rows per batch: one short transaction each. */
#define RETENTION_BATCH 5000

/* One batch of sql (a call of sluice_jobs_retain or sluice_rejected_retain)
 * when days > 0; true when the batch was full, so more may be left. */
static bool retain_batch(struct sched *s, const char *what, const char *sql,
                         int days)
{
    if (days <= 0)
        return false;
    char d[16], max[16];
    snprintf(d, sizeof(d), "%d", days);
    snprintf(max, sizeof(max), "%d", RETENTION_BATCH);
    const char *params[] = {d, max};
    PGresult *res = sched_sql(s, what, sql, 2, params);
    if (!res)
        return false; /* logged; the next hourly pass tries again */
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (n > 0)
        log_info("%s: deleted %d rows older than %d days", what, n, days);
    return n == RETENTION_BATCH;
}

/* Drops the cost_lines months older than the retention, when one is set. */
static void retain_ledger_months(struct sched *s, int keep)
{
    char err[512];
    if (keep > 0 && ledger_retain_months(s->db, keep, NULL, err, sizeof(err)) != SL_OK)
        log_warn("scheduler: ledger retention not applied: %s", err);
}

void sched_retention_due(struct sched *s)
{
    const struct scheduler_conf *c = &s->cfg->scheduler;
    bool hourly = s->now_ms >= s->retention_at_ms;
    if (!hourly && !s->retention_backlog)
        return;
    if (hourly) {
        s->retention_at_ms = s->now_ms + LEDGER_MONTHS_CHECK_MS;
        retain_ledger_months(s, c->ledger_retention_months);
    }
    bool more = retain_batch(s, "job retention",
                             "SELECT sluice_jobs_retain($1::int, $2::int)",
                             c->job_retention_days);
    more |= retain_batch(s, "rejected retention",
                         "SELECT sluice_rejected_retain($1::int, $2::int)",
                         c->rejected_retention_days);
    s->retention_backlog = more;
}
