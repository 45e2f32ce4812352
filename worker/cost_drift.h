/* cost_drift.h — the cost drift alert (config: alerts.*, docs/budgets.md).
 *
 * For each tier, the average cost per call of the last hour is compared
 * with its average over the trailing 7 days before that hour. When both
 * windows hold at least alerts.cost_drift_min_calls calls and
 * hour average > factor × 7-day average, the tier drifts: a structured
 * warning is logged and telemetry()->cost_drift_alerts {tier} counts it;
 * telemetry()->cost_drift_ratio {tier} is set for every tier with calls in
 * both windows. Any process may run the check (worker tick, scheduler).
 *
 * cost_drift_judge is pure; cost_drift_load and cost_drift_check are
 * blocking and read cost_lines with one grouped query over the week's
 * range (BRIN on created_at): one pass over a week of lines, so a process
 * with an event loop runs them on another thread with its own db.
 * cost_drift_check may run on any thread (log and telemetry are). */
#ifndef SL_COST_DRIFT_H
#define SL_COST_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db.h"

#define COST_DRIFT_HOUR_MS ((int64_t)3600000)
#define COST_DRIFT_WEEK_MS ((int64_t)7 * 86400000)

/* Calls and cost of one tier in the two windows:
 * hour = [now - 1 h, now), week = [now - 7 d, now - 1 h). */
struct cost_drift_sample {
    int tier;
    int64_t hour_calls, hour_nanousd;
    int64_t week_calls, week_nanousd;
};

struct cost_drift_verdict {
    bool comparable;   /* both windows have calls and a non-zero week cost */
    bool alert;        /* comparable, enough calls, ratio > factor */
    double hour_avg_nanousd, week_avg_nanousd;
    double ratio;      /* hour avg / week avg; 0 when not comparable */
};

/* Judges one tier's sample against the alert settings. */
void cost_drift_judge(const struct alerts_conf *a,
                      const struct cost_drift_sample *s,
                      struct cost_drift_verdict *out);

/* Reads the samples of every tier with cost lines in [now - 7 d, now)
 * into out[0..cap), ordered by tier; *n is the count. Returns 0 or SL_EDB
 * with errstr. */
int cost_drift_load(struct db *db, int64_t now_ms,
                    struct cost_drift_sample *out, size_t cap, size_t *n,
                    char *errstr, size_t errstr_size) SL_MUSTCHECK;

/* Loads, judges, logs each drifting tier as
 *   "cost drift: tier=2 hour_avg_usd=... week_avg_usd=... ratio=2.00
 *    hour_calls=... week_calls=..."
 * and updates the telemetry. *alerts (may be NULL) is the number of
 * drifting tiers. Returns 0 or SL_EDB. */
int cost_drift_check(struct db *db, const struct alerts_conf *a,
                     int64_t now_ms, int *alerts, char *errstr,
                     size_t errstr_size) SL_MUSTCHECK;

#endif
