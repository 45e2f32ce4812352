/* cost_drift.c — see cost_drift.h. */
#include "cost_drift.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "metrics/telemetry.h"

/* Tier numbers are 0 (tier 0) to CONFIG_MAX_TIERS. */
#define MAX_SAMPLES (CONFIG_MAX_TIERS + 1)

void cost_drift_judge(const struct alerts_conf *a,
                      const struct cost_drift_sample *s,
                      struct cost_drift_verdict *out)
{
    *out = (struct cost_drift_verdict){0};
    if (s->hour_calls <= 0 || s->week_calls <= 0)
        return;
    out->hour_avg_nanousd = (double)s->hour_nanousd / (double)s->hour_calls;
    out->week_avg_nanousd = (double)s->week_nanousd / (double)s->week_calls;
    /* A tier that cost nothing (tier 0) has no ratio to speak of. */
    if (out->week_avg_nanousd <= 0)
        return;
    out->comparable = true;
    out->ratio = out->hour_avg_nanousd / out->week_avg_nanousd;
    out->alert = s->hour_calls >= a->cost_drift_min_calls &&
                 s->week_calls >= a->cost_drift_min_calls &&
                 out->ratio > a->cost_drift_factor;
}

/* $1 = now - 1 h, $2 = now - 7 d, $3 = now. Plain timestamptz parameters
 * rather than expressions: each FILTER then compares with a constant
 * instead of computing a conversion per row. The range is read through the
 * BRIN index on created_at (schema 001), so the cost is one pass over the
 * week's lines: about 0.5 s per 600,000 lines on a small machine, which is
 * why the worker runs the check off its event loop. */
static const char LOAD_SQL[] =
    "SELECT tier,"
    "  count(*) FILTER (WHERE created_at >= $1::timestamptz),"
    "  coalesce(sum(cost_nanousd) FILTER (WHERE created_at >= $1::timestamptz),"
    "           0)::bigint,"
    "  count(*) FILTER (WHERE created_at < $1::timestamptz),"
    "  coalesce(sum(cost_nanousd) FILTER (WHERE created_at < $1::timestamptz),"
    "           0)::bigint "
    "FROM cost_lines"
    " WHERE created_at >= $2::timestamptz AND created_at < $3::timestamptz"
    /* placeholders of calls still in flight (an estimate, replaced) */
    "   AND reason IS DISTINCT FROM 'in_flight'"
    " GROUP BY tier ORDER BY tier";

/* RFC 3339 UTC with milliseconds, which PostgreSQL reads as timestamptz. */
static void format_ts(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
}

static int64_t col(const PGresult *res, int row, int c)
{
    return strtoll(PQgetvalue(res, row, c), NULL, 10);
}

int cost_drift_load(struct db *db, int64_t now_ms,
                    struct cost_drift_sample *out, size_t cap, size_t *n,
                    char *errstr, size_t errstr_size)
{
    char hour_s[40], week_s[40], now_s[40];
    format_ts(now_ms - COST_DRIFT_HOUR_MS, hour_s, sizeof(hour_s));
    format_ts(now_ms - COST_DRIFT_WEEK_MS, week_s, sizeof(week_s));
    format_ts(now_ms, now_s, sizeof(now_s));
    const char *params[] = {hour_s, week_s, now_s};
    *n = 0;
    PGresult *res = db_query(db, "cost drift", LOAD_SQL, 3, params, errstr,
                             errstr_size);
    if (!res)
        return SL_EDB;
    for (int r = 0; r < PQntuples(res) && *n < cap; r++)
        out[(*n)++] = (struct cost_drift_sample){
            (int)col(res, r, 0), col(res, r, 1), col(res, r, 2),
            col(res, r, 3), col(res, r, 4)};
    PQclear(res);
    return SL_OK;
}

int cost_drift_check(struct db *db, const struct alerts_conf *a,
                     int64_t now_ms, int *alerts, char *errstr,
                     size_t errstr_size)
{
    struct cost_drift_sample samples[MAX_SAMPLES];
    size_t n;
    int fired = 0;
    if (alerts)
        *alerts = 0;
    int rc = cost_drift_load(db, now_ms, samples, MAX_SAMPLES, &n, errstr,
                             errstr_size);
    if (rc != SL_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct cost_drift_verdict v;
        cost_drift_judge(a, &samples[i], &v);
        if (!v.comparable)
            continue;
        const char *tier = telemetry_tier(samples[i].tier);
        metrics_set(telemetry()->cost_drift_ratio, v.ratio, tier, NULL, NULL);
        if (!v.alert)
            continue;
        fired++;
        metrics_count(telemetry()->cost_drift_alerts, 1, tier, NULL, NULL);
        log_warn("cost drift: tier=%d hour_avg_usd=%.9f week_avg_usd=%.9f "
                 "ratio=%.2f factor=%.2f hour_calls=%" PRId64
                 " week_calls=%" PRId64,
                 samples[i].tier, v.hour_avg_nanousd / 1e9,
                 v.week_avg_nanousd / 1e9, v.ratio, a->cost_drift_factor,
                 samples[i].hour_calls, samples[i].week_calls);
    }
    if (alerts)
        *alerts = fired;
    return SL_OK;
}
