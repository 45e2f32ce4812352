/* retention.c — the scheduler deletes finished jobs (with their results)
 * and rejected messages older than their retention (schema/016; cost
 * lines go by whole months, loop.c). Once an hour; a pass that leaves old
 * rows behind takes one more batch of each table on every tick until none
 * is left, so that a year of backlog (a retention newly set) drains in
 * short transactions between the tick's other steps. */
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

void sched_retention_due(struct sched *s)
{
    if (!s->retention_backlog && s->now_ms < s->retention_at_ms)
        return;
    if (!s->retention_backlog)
        s->retention_at_ms = s->now_ms + LEDGER_MONTHS_CHECK_MS;
    const struct scheduler_conf *c = &s->cfg->scheduler;
    bool more = retain_batch(s, "job retention",
                             "SELECT sluice_jobs_retain($1::int, $2::int)",
                             c->job_retention_days);
    more |= retain_batch(s, "rejected retention",
                         "SELECT sluice_rejected_retain($1::int, $2::int)",
                         c->rejected_retention_days);
    s->retention_backlog = more;
}
