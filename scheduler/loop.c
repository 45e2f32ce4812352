/* loop.c — the scheduler's loop: one tick reconciles, submits, polls,
 * answers what must go realtime, retrains and refreshes its gauges. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "log.h"
#include "sched.h"

static volatile sig_atomic_t stop_requested, reload_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_reload_signal(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_reload_signal;
    sigaction(SIGHUP, &sa, NULL);
}

/* Between ticks, so that no step sees two configs; the retraining thread
 * keeps the config it started with (the holder keeps it alive). */
static void reload_config(struct sched *s)
{
    char err[1024];
    reload_requested = 0;
    if (config_holder_reload(&s->config, err, sizeof(err)) != SL_OK) {
        log_error("reload: %s; keeping the running config", err);
        return;
    }
    s->cfg = s->config.current;
    config_apply_log_level(s->cfg);
    log_info("reload: %s applied (%zu tasks, %zu tiers)", s->config.path,
             s->cfg->n_tasks, s->cfg->n_tiers);
}

/* Sleeps up to ms, waking early on a stop signal. */
static void nap(int ms)
{
    for (int slept = 0; slept < ms && !stop_requested; slept += 10)
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
}

static void update_window(struct sched *s)
{
    char err[256];
    int rc = offpeak_at(&s->cfg->scheduler, s->now_ms, &s->window, err, sizeof(err));
    s->window_known = rc == SL_OK;
    if (rc != SL_OK && rc != SL_ENOTFOUND)
        log_error("scheduler: %s", err);
}

/* The coming months' cost_lines tables, on the first tick and then hourly
 * (ledger.h); dropping old months is retention.c's. */
static void keep_ledger_months(struct sched *s)
{
    char err[512];
    if (s->now_ms < s->ledger_months_at_ms)
        return;
    s->ledger_months_at_ms = s->now_ms + LEDGER_MONTHS_CHECK_MS;
    if (ledger_partitions_ahead(s->db, NULL, err, sizeof(err)) != SL_OK)
        log_warn("scheduler: ledger month tables not checked: %s", err);
}

static void tick(struct sched *s)
{
    char err[512];
    bool db_ok = db_ensure_connected(s->db, err, sizeof(err)) == SL_OK;
    metrics_serve_set_health(s->metrics, METRICS_CHECK_DB, db_ok);
    if (!db_ok) {
        log_warn("scheduler: database unavailable: %s", err);
        return;
    }
    s->now_ms = sl_now_ms();
    update_window(s);
    sched_reconcile(s);
    sched_submit_due(s);
    sched_poll_due(s);
    sched_realtime_due(s);
    sched_retrain_due(s);
    sched_refresh_gauges(s);
    keep_ledger_months(s);
    sched_retention_due(s);
}

static int open_sched(struct sched *s, const struct config *cfg,
                      const char *config_path)
{
    char err[512], host[64] = "host";
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->intent_lock, NULL);
    s->cfg = cfg;
    config_holder_init(&s->config, config_path, cfg);
    s->stop = &stop_requested;
    gethostname(host, sizeof(host) - 1);
    snprintf(s->owner, sizeof(s->owner), "%s:%d", host, (int)getpid());
    /* First, while no other thread runs: it sets TZ (offpeak.h). */
    s->now_ms = sl_now_ms();
    update_window(s);
    if (!s->window_known && cfg->scheduler.n_windows > 0)
        return SL_ECONFIG; /* unknown time zone, logged */
    if (metrics_serve_start(cfg, &s->metrics, err, sizeof(err)) != SL_OK) {
        log_error("scheduler: metrics: %s", err);
        return SL_EIO;
    }
    s->db = db_open(cfg->pg_conninfo, "sluice-scheduler", err, sizeof(err));
    if (!s->db) {
        log_error("scheduler: %s", err);
        return SL_EDB;
    }
    s->client = batch_client_new();
    s->n_realtime_clients = (size_t)cfg->scheduler.realtime_concurrency;
    s->realtime_clients = xcalloc(s->n_realtime_clients, sizeof(*s->realtime_clients));
    return SL_OK;
}

int scheduler_run(const struct config *cfg, const char *config_path, bool once)
{
    struct sched s;
    int rc = open_sched(&s, cfg, config_path);
    if (rc == SL_OK) {
        install_signals();
        log_info("scheduler %s started (batch cap %d, max wait %d s, %zu off-peak "
                 "windows in %s)", s.owner, cfg->scheduler.batch_max_requests,
                 cfg->scheduler.max_wait_s, cfg->scheduler.n_windows,
                 cfg->scheduler.timezone ? cfg->scheduler.timezone : "UTC");
        do {
            if (reload_requested)
                reload_config(&s);
            tick(&s);
            if (!once)
                nap(cfg->scheduler.tick_ms);
        } while (!once && !stop_requested);
        sched_retrain_wait(&s);
        log_info("scheduler stopped: %" PRIu64 " batches submitted, %" PRIu64
                 " lines ingested, %" PRIu64 " jobs answered, %" PRIu64
                 " failed, %" PRIu64 " answered realtime", s.batches_submitted,
                 s.lines_ingested, s.jobs_answered, s.jobs_failed, s.jobs_realtime);
    }
    batch_client_free(s.client);
    for (size_t i = 0; i < s.n_realtime_clients; i++)
        batch_client_free(s.realtime_clients[i]);
    free(s.realtime_clients);
    db_close(s.intent_db);
    pthread_mutex_destroy(&s.intent_lock);
    db_close(s.db);
    metrics_serve_stop(s.metrics);
    config_holder_free(&s.config);
    return rc == SL_OK ? 0 : 1;
}
