/* housekeeping.c — see housekeeping.h. */
#include "housekeeping.h"

#include "cache.h"
#include "claiming.h"
#include "cost_drift.h"
#include "db.h"
#include "intake.h"
#include "intents.h"
#include "ledger.h"
#include "log.h"
#include "results.h"
#include "shutdown.h"
#include "worker_internal.h"

/* New tier-0 models, and withdrawals by the live guarantee, reach every
 * worker within this period. */
#define TIER0_REFRESH_MS 2000

void housekeeping_refresh_tier0(struct worker *w)
{
    char err[512];
    int withdrawn = 0;
    w->tier0_refresh_at_ms = sl_now_ms() + TIER0_REFRESH_MS;
    bool ok = tier0_live_refresh(w->tier0, w->db, &withdrawn, err,
                                 sizeof(err)) == SL_OK;
    if (!ok)
        log_warn("tier0 refresh failed, serving what was loaded: %s", err);
    metrics_serve_set_health(w->metrics, METRICS_CHECK_DB, ok);
    w->tier0_withdrawals += (uint64_t)withdrawn;
}

/* Lag and Kafka health for /metrics and /healthz, from cached state. */
#define METRICS_SAMPLE_MS 1000

static void sample_metrics(struct worker *w)
{
    w->metrics_at_ms = sl_now_ms() + METRICS_SAMPLE_MS;
    int64_t lag = kconsumer_lag(w->consumer);
    if (lag >= 0)
        metrics_set(telemetry()->consumer_lag, (double)lag, NULL, NULL, NULL);
    metrics_serve_set_health(w->metrics, METRICS_CHECK_KAFKA,
                             kconsumer_healthy(w->consumer));
}

/* Every finished job must be written before the spend is re-read, or its
 * cost would drop out of this worker's view (budget_refresh). */
void housekeeping_refresh_budget(struct worker *w)
{
    char err[512];
    int64_t now = sl_now_ms();
    if (!budget_enabled(w->budget) || now < w->budget_refresh_at_ms ||
        w->n_done_runs > 0 || w->batch_writing || w->batch_retry)
        return;
    w->budget_refresh_at_ms = now + w->cfg->budgets.refresh_ms;
    if (budget_refresh(w->budget, w->db, now, err, sizeof(err)) != SL_OK)
        log_warn("budget refresh failed, keeping the last view: %s", err);
}

/* The drift check reads a week of cost lines: it runs in libuv's thread
 * pool on a connection of its own, never on the loop. */
static void drift_work(uv_work_t *req)
{
    struct worker *w = req->data;
    char err[512];
    int rc = SL_OK;
    if (!w->drift_db)
        w->drift_db = db_open(w->cfg->pg_conninfo, "sluice-worker-drift", err,
                              sizeof(err));
    else
        rc = db_ensure_connected(w->drift_db, err, sizeof(err));
    if (w->drift_db && rc == SL_OK)
        rc = cost_drift_check(w->drift_db, &w->cfg->alerts, sl_now_ms(), NULL,
                              err, sizeof(err));
    if (!w->drift_db || rc != SL_OK)
        log_warn("cost drift check failed: %s", err);
}

static void drift_done(uv_work_t *req, int status)
{
    struct worker *w = req->data;
    (void)status;
    w->drift_running = false;
}

static void check_cost_drift(struct worker *w)
{
    int64_t now = sl_now_ms();
    if (w->cfg->alerts.check_every_s == 0 || w->drift_running ||
        w->runs.draining || now < w->drift_check_at_ms)
        return;
    w->drift_check_at_ms = now + w->cfg->alerts.check_every_s * 1000LL;
    w->drift_req.data = w;
    if (uv_queue_work(&w->loop, &w->drift_req, drift_work, drift_done) == 0)
        w->drift_running = true;
}

/* The coming months' cost_lines tables, on the first tick and then hourly
 * (ledger.h): quick when they exist, as they nearly always do. */
static void ensure_ledger_months(struct worker *w)
{
    char err[512];
    int64_t now = sl_now_ms();
    if (now < w->ledger_months_at_ms)
        return;
    w->ledger_months_at_ms = now + LEDGER_MONTHS_CHECK_MS;
    if (ledger_partitions_ahead(w->db, NULL, err, sizeof(err)) != SL_OK)
        log_warn("ledger month tables not checked: %s", err);
}

void housekeeping_on_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    kproducer_poll(w->dlq);
    if (sl_now_ms() >= w->metrics_at_ms)
        sample_metrics(w);
    if (sl_now_ms() >= w->tier0_refresh_at_ms && !w->runs.draining)
        housekeeping_refresh_tier0(w);
    if (!w->runs.draining)
        intake_drain(w);
    claiming_recheck_waiting(w);
    intents_flush(w);
    if (results_due(w))
        results_flush(w);
    cache_tick(w->runs.cache, w->db, w->cfg, sl_now_ms());
    claiming_renew(w);
    housekeeping_refresh_budget(w);
    check_cost_drift(w);
    ensure_ledger_months(w);
    if (w->runs.draining && shutdown_drained(w))
        shutdown_stop_loop(w);
}

/* After every pass of the loop: calls queued in it get their intents
 * written at once rather than at the next tick. */
void housekeeping_on_check(uv_check_t *c)
{
    struct worker *w = c->data;
    intents_flush(w);
    if (results_due(w))
        results_flush(w);
}
