/* worker.c — the worker process: opens its services (PostgreSQL, Kafka,
 * the writers, curl multi, cache, tier 0, budgets), wires the loop's
 * handles to the modules that do the work (worker_internal.h lists them),
 * applies reloads, and closes everything once the loop has stopped.
 *
 * Order of durability for a job: its result and cost lines commit in one
 * PostgreSQL transaction, and only then is its offset marked done and the
 * partition's contiguous watermark stored for Kafka's auto-commit
 * (results.c). A crash anywhere before that redelivers the job; the jobs
 * primary key makes the second write a no-op, and the intake skips jobs
 * already in the ledger.
 *
 * One call per job id: intake claims each micro-batch's ids (claiming.c,
 * claims.h) before a run starts; a copy of a claimed id waits (waiting[])
 * until the ledger has its result. Every call's cost line is written (as
 * an intent, unconfirmed/in_flight) before its request leaves (intents.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cache.h"
#include "claims.h"
#include "db.h"
#include "housekeeping.h"
#include "intake.h"
#include "intents.h"
#include "log.h"
#include "results.h"
#include "shutdown.h"
#include "worker.h"
#include "worker_internal.h"

#define TICK_MS 10
/* Parked jobs per slot: enough to hide a partition refetch after resume. */
#define PARKED_PER_SLOT 4
#define PARKED_MIN 1024

static void on_revoke(void *arg)
{
    struct worker *w = arg;
    /* Whatever is finished becomes durable before the partitions go, so the
     * revoke commit covers it and the next owner does not redo it. */
    results_flush_now(w);
}

static void on_kafka_readable(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    intake_drain(p->data);
}

/* A reload swaps the config in force; what was built from the old one
 * (budget state, tier-0 models) is built again. Runs in flight keep the
 * tasks they borrowed: the holder keeps old configs alive. */
static void apply_config(struct worker *w)
{
    const struct config *cfg = w->config.current;
    w->cfg = cfg;
    config_apply_log_level(cfg);
    budget_free(w->budget);
    w->budget = budget_new(cfg);
    housekeeping_refresh_budget(w);
    tier0_live_free(w->tier0);
    w->tier0 = tier0_live_new(cfg);
    housekeeping_refresh_tier0(w);
    w->runs.cfg = cfg;
    w->runs.budget = w->budget;
    w->runs.tier0 = w->tier0;
}

static void on_reload(uv_signal_t *s, int signum)
{
    struct worker *w = s->data;
    char err[1024];
    (void)signum;
    if (config_holder_reload(&w->config, err, sizeof(err)) != SL_OK) {
        log_error("reload: %s; keeping the running config", err);
        return;
    }
    apply_config(w);
    log_info("reload: %s applied (%zu tasks, %zu tiers)", w->config.path,
             w->cfg->n_tasks, w->cfg->n_tiers);
}

/* "host:port" of a provider's base URL (curl's parser), into out. */
static void url_host(const char *url, char *out, size_t size)
{
    char *host = NULL, *port = NULL;
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_HOST, &host, 0);
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    }
    snprintf(out, size, "%s:%s", host ? host : url, port ? port : "");
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

/* Jobs in flight far beyond the connections only park inside the worker,
 * their calls' timeouts running (docs/config.md, "Sizing concurrency"). */
static void warn_if_parking(const struct config *cfg, long max_conn)
{
    char (*hosts)[256] = xcalloc(cfg->n_providers + 1, sizeof(*hosts));
    size_t n_hosts = 0;
    for (size_t i = 0; i < cfg->n_providers; i++) {
        url_host(cfg->providers[i].base_url, hosts[n_hosts], sizeof(hosts[0]));
        bool seen = false;
        for (size_t j = 0; j < n_hosts && !seen; j++)
            seen = strcmp(hosts[j], hosts[n_hosts]) == 0;
        n_hosts += !seen;
    }
    free(hosts);
    long conns = max_conn * (long)(n_hosts > 0 ? n_hosts : 1);
    if (cfg->worker.max_in_flight > 2 * conns)
        log_warn("worker.max_in_flight %d is more than twice the %ld provider "
                 "connections (providers.*.max_concurrency %ld x %zu hosts): "
                 "calls beyond them queue in the worker with their timeout "
                 "running", cfg->worker.max_in_flight, conns, max_conn, n_hosts);
}

static int open_services(struct worker *w, char *err, size_t err_size)
{
    const struct config *cfg = w->cfg;
    long max_conn = 1;
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (cfg->providers[i].max_concurrency > max_conn)
            max_conn = cfg->providers[i].max_concurrency;
    warn_if_parking(cfg, max_conn);

    w->db = db_open(cfg->pg_conninfo, "sluice-worker", err, err_size);
    if (!w->db)
        return SL_EDB;
    w->batch_writer = ledger_writer_new(&w->loop, cfg->pg_conninfo,
                                        "sluice-worker-ledger");
    w->intent_writer = ledger_writer_new(&w->loop, cfg->pg_conninfo,
                                         "sluice-worker-intents");
    w->dlq = kproducer_new_for_copies(&cfg->kafka,
                                      cfg->kafka.dlq_max_message_bytes, err,
                                      err_size);
    if (!w->dlq)
        return SL_EKAFKA;
    w->consumer = kconsumer_new(&cfg->kafka, err, err_size);
    if (!w->consumer)
        return SL_EKAFKA;
    kconsumer_set_revoke_hook(w->consumer, on_revoke, w);
    w->http = http_multi_new(&w->loop, max_conn);
    w->batch = ledger_batch_new();
    w->parked_cap = PARKED_PER_SLOT * (size_t)cfg->worker.max_in_flight;
    if (w->parked_cap < PARKED_MIN)
        w->parked_cap = PARKED_MIN;
    w->parked = xcalloc(w->parked_cap, sizeof(*w->parked));
    w->tier0 = tier0_live_new(cfg);
    housekeeping_refresh_tier0(w);
    w->budget = budget_new(cfg);
    housekeeping_refresh_budget(w);
    claims_owner_token(w->claim_owner, sizeof(w->claim_owner));
    /* Call ids "sl<pid>x<start>-<n>": unique per process and run, ASCII. */
    snprintf(w->call_id_prefix, sizeof(w->call_id_prefix), "sl%ldx%llx",
             (long)getpid(), (unsigned long long)sl_now_ms());
    w->runs = (struct job_run_host){
        .cfg = cfg, .loop = &w->loop, .http = w->http, .budget = w->budget,
        .tier0 = w->tier0, .finished = results_run_finished,
        .released = results_run_released,
        .call_id_prefix = w->call_id_prefix, .queue_call = intents_queue_call,
        .cache = cache_new((size_t)cfg->worker.cache_lru_entries),
    };
    return SL_OK;
}

static void init_handles(struct worker *w)
{
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, housekeeping_on_tick, TICK_MS, TICK_MS);
    uv_check_init(&w->loop, &w->flush_check);
    w->flush_check.data = w;
    uv_check_start(&w->flush_check, housekeeping_on_check);
    uv_poll_init(&w->loop, &w->kafka_poll, kconsumer_fd(w->consumer));
    w->kafka_poll.data = w;
    uv_poll_start(&w->kafka_poll, UV_READABLE, on_kafka_readable);
    uv_signal_init(&w->loop, &w->sigterm);
    uv_signal_init(&w->loop, &w->sigint);
    uv_signal_init(&w->loop, &w->sighup);
    w->sigterm.data = w->sigint.data = w->sighup.data = w;
    uv_signal_start(&w->sigterm, shutdown_on_signal, SIGTERM);
    uv_signal_start(&w->sigint, shutdown_on_signal, SIGINT);
    uv_signal_start(&w->sighup, on_reload, SIGHUP);
}

static void close_services(struct worker *w)
{
    kconsumer_close(w->consumer);
    kproducer_free(w->dlq);
    cache_close(w->runs.cache, w->db);
    w->runs.cache = NULL; /* runs freed below must not reach it */
    db_close(w->db);
    ledger_batch_free(w->batch);
    if (w->batch_retry)
        results_task_free(w->batch_retry);
    for (size_t i = 0; i < w->n_done_runs; i++)
        job_run_free(w->done_runs[i]);
    free(w->done_runs);
    free(w->rejects);
    free(w->parked);
    for (size_t i = 0; i < w->n_waiting; i++)
        job_free(w->waiting[i].job);
    free(w->waiting);
    for (size_t i = 0; i < w->n_release; i++)
        free(w->release_ids[i]);
    free(w->release_ids);
    for (size_t i = 0; i < w->n_to_send; i++)
        job_run_free(w->to_send[i]);
    free(w->to_send);
    tier0_live_free(w->tier0);
    budget_free(w->budget);
    db_close(w->drift_db);
    config_holder_free(&w->config);
}

int worker_run(const struct config *cfg, const char *config_path)
{
    struct worker w;
    char err[512] = "";
    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    config_holder_init(&w.config, config_path, cfg);
    if (metrics_serve_start(cfg, &w.metrics, err, sizeof(err)) != SL_OK) {
        log_error("worker start failed: %s", err);
        return 1;
    }
    uv_loop_init(&w.loop);
    if (open_services(&w, err, sizeof(err)) != SL_OK) {
        log_error("worker start failed: %s", err);
        ledger_writer_close(w.intent_writer);
        ledger_writer_close(w.batch_writer);
        http_multi_close(w.http);
        uv_run(&w.loop, UV_RUN_DEFAULT);
        close_services(&w);
        uv_loop_close(&w.loop);
        metrics_serve_stop(w.metrics);
        return 1;
    }
    init_handles(&w);
    log_info("worker consuming %s as group %s", cfg->kafka.topic,
             cfg->kafka.group_id);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    log_info("worker stopped: %llu answered (%llu at tier 0, %llu of them "
             "shadow-checked), %llu failed, %llu rejected, %llu tier-0 "
             "withdrawals, %llu deferred to the scheduler, %llu handed over "
             "unstarted, %llu already done, %llu duplicates acknowledged "
             "after waiting, %llu released at shutdown",
             (unsigned long long)w.jobs_answered,
             (unsigned long long)w.jobs_tier0,
             (unsigned long long)w.runs.tier0_shadowed,
             (unsigned long long)w.jobs_failed,
             (unsigned long long)w.jobs_rejected,
             (unsigned long long)w.tier0_withdrawals,
             (unsigned long long)w.jobs_deferred,
             (unsigned long long)w.jobs_handed_over,
             (unsigned long long)w.jobs_skipped,
             (unsigned long long)w.jobs_waited,
             (unsigned long long)w.runs_released);
    close_services(&w);
    metrics_serve_stop(w.metrics);
    int rc = uv_loop_close(&w.loop);
    if (rc != 0)
        log_warn("event loop closed with handles open: %s", uv_strerror(rc));
    return w.exit_code;
}
