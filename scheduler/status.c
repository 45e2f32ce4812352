/* status.c — `sluice status` and the scheduler's gauges: pending rows per
 * provider/model/mode/state, batches in flight, the next off-peak window. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sched.h"
#include "metrics/telemetry.h"

#define GAUGE_EVERY_MS 5000

static const char SQL_PENDING_COUNTS[] =
    "SELECT provider, model, mode, state, count(*),"
    " COALESCE(extract(epoch FROM now() - min(enqueued_at))::bigint, 0),"
    " COALESCE(to_char(min(deadline) AT TIME ZONE 'UTC',"
    "  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-')"
    " FROM pending GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";

static const char SQL_BATCHES_IN_FLIGHT[] =
    "SELECT id, provider, model, state, COALESCE(provider_batch_id, '-'),"
    " n_rows, extract(epoch FROM now() - created_at)::bigint, polls,"
    " COALESCE(provider_state, '-'), owner"
    " FROM batches WHERE state IN ('submitting', 'submitted', 'ingesting')"
    " ORDER BY id";

static const char SQL_BATCH_STATES[] =
    "SELECT s.state, count(b.id) FROM unnest(ARRAY['submitting', 'submitted',"
    " 'ingesting', 'done', 'failed', 'abandoned']) AS s(state)"
    " LEFT JOIN batches b ON b.state = s.state GROUP BY s.state";

/* Rows of (provider, model, mode) in the counts, all states together. */
static double rows_of(const PGresult *res, const char *provider,
                      const char *model, const char *mode)
{
    double n = 0;
    for (int r = 0; r < PQntuples(res); r++)
        if (strcmp(PQgetvalue(res, r, 0), provider) == 0 &&
            strcmp(PQgetvalue(res, r, 1), model) == 0 &&
            strcmp(PQgetvalue(res, r, 2), mode) == 0)
            n += atof(PQgetvalue(res, r, 4));
    return n;
}

/* Every tier's provider/model is set, to 0 when empty, so a drained queue
 * does not keep showing its last count. */
static void set_pending_gauges(const struct config *cfg, const PGresult *res)
{
    static const char *const modes[] = {"async", "offpeak"};
    for (size_t t = 0; t < cfg->n_tiers; t++)
        for (size_t m = 0; m < 2; m++) {
            const struct tier_conf *tier = &cfg->tiers[t];
            metrics_set(telemetry()->pending_rows,
                        rows_of(res, tier->provider->name, tier->model, modes[m]),
                        tier->provider->name, tier->model, modes[m]);
        }
}

void sched_refresh_gauges(struct sched *s)
{
    static int64_t next_ms;
    if (!telemetry()->registry || s->now_ms < next_ms)
        return;
    next_ms = s->now_ms + GAUGE_EVERY_MS;
    PGresult *res = sched_sql(s, "pending counts", SQL_PENDING_COUNTS, 0, NULL);
    if (res)
        set_pending_gauges(s->cfg, res);
    PQclear(res);
    res = sched_sql(s, "batch states", SQL_BATCH_STATES, 0, NULL);
    for (int r = 0; res && r < PQntuples(res); r++)
        metrics_set(telemetry()->batches, atof(PQgetvalue(res, r, 1)),
                    PQgetvalue(res, r, 0), NULL, NULL);
    PQclear(res);
}

static PGresult *query(struct db *db, const char *sql, FILE *out)
{
    char err[512];
    PGresult *res = db_query(db, "status", sql, 0, NULL, err, sizeof(err));
    if (!res)
        fprintf(out, "sluice status: %s\n", err);
    return res;
}

static void print_pending(PGresult *res, FILE *out)
{
    fprintf(out, "Pending rows\n%-16s %-22s %-8s %-8s %8s %9s  %s\n", "provider",
            "model", "mode", "state", "rows", "oldest_s", "first deadline");
    if (PQntuples(res) == 0)
        fprintf(out, "  (none)\n");
    for (int r = 0; r < PQntuples(res); r++)
        fprintf(out, "%-16s %-22s %-8s %-8s %8s %9s  %s\n", PQgetvalue(res, r, 0),
                PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
                PQgetvalue(res, r, 4), PQgetvalue(res, r, 5), PQgetvalue(res, r, 6));
}

static void print_batches(PGresult *res, FILE *out)
{
    fprintf(out, "\nBatches in flight\n%6s %-16s %-22s %-10s %-28s %6s %7s %5s %-12s %s\n",
            "id", "provider", "model", "state", "provider_batch_id", "rows",
            "age_s", "polls", "provider", "owner");
    if (PQntuples(res) == 0)
        fprintf(out, "  (none)\n");
    for (int r = 0; r < PQntuples(res); r++)
        fprintf(out, "%6s %-16s %-22s %-10s %-28s %6s %7s %5s %-12s %s\n",
                PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
                PQgetvalue(res, r, 3), PQgetvalue(res, r, 4), PQgetvalue(res, r, 5),
                PQgetvalue(res, r, 6), PQgetvalue(res, r, 7), PQgetvalue(res, r, 8),
                PQgetvalue(res, r, 9));
}

static void print_utc(FILE *out, const char *label, int64_t ms)
{
    char buf[32];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(out, "%s %s", label, buf);
}

static void print_window(const struct config *cfg, FILE *out)
{
    struct offpeak_state w;
    char err[256];
    int rc = offpeak_at(&cfg->scheduler, sl_now_ms(), &w, err, sizeof(err));
    fprintf(out, "\nOff-peak window (%s): ",
            cfg->scheduler.timezone ? cfg->scheduler.timezone : "UTC");
    if (rc == SL_ENOTFOUND) {
        fprintf(out, "none configured; offpeak jobs are batched like async ones\n");
        return;
    }
    if (rc != SL_OK) {
        fprintf(out, "%s\n", err);
        return;
    }
    print_utc(out, w.open ? "open since" : "next opens", w.opens_ms);
    print_utc(out, ", closes", w.closes_ms);
    fprintf(out, "\n");
}

int sched_print_status(struct db *db, const struct config *cfg, FILE *out)
{
    PGresult *pending = query(db, SQL_PENDING_COUNTS, out);
    PGresult *batches = pending ? query(db, SQL_BATCHES_IN_FLIGHT, out) : NULL;
    if (!batches) {
        PQclear(pending);
        return 1;
    }
    print_pending(pending, out);
    print_batches(batches, out);
    print_window(cfg, out);
    PQclear(pending);
    PQclear(batches);
    return 0;
}
