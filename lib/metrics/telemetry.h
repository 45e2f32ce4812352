/* telemetry.h — the process's metric families, one registry per process.
 *
 * Every sluice metric is registered here, once, so names, help texts and
 * label sets live in one place (docs/metrics.md lists them). Any module
 * updates a family through telemetry(), e.g.
 *   metrics_count(telemetry()->tier0_withdrawals, 1, task, NULL, NULL);
 * Before telemetry_init() (unit tests, CLI commands) every family pointer
 * is NULL and every update is a no-op (metrics.h accepts NULL).
 *
 * Threads: telemetry_init/telemetry_free on the main thread, before and
 * after everything else; updates from any thread (metrics.h). */
#ifndef SL_TELEMETRY_H
#define SL_TELEMETRY_H

#include <stdint.h>

#include "metrics.h"

struct telemetry {
    struct metrics *registry; /* NULL before telemetry_init */
    /* worker */
    struct metric_family *jobs;                  /* {outcome,source,tier} */
    struct metric_family *escalations;           /* {task,from_tier} */
    struct metric_family *cost_nanodollars;      /* {tier,feature} */
    struct metric_family *provider_calls;        /* {provider,model,status} */
    struct metric_family *provider_retries;      /* {provider} */
    struct metric_family *provider_call_seconds; /* histogram {provider} */
    struct metric_family *inflight_calls;        /* gauge */
    struct metric_family *consumer_lag;          /* gauge, messages */
    struct metric_family *rejected;              /* {reason} */
    struct metric_family *jobs_skipped;          /* {reason} */
    struct metric_family *unconfirmed_calls;     /* {provider,reason} */
    struct metric_family *dlq_truncated;         /* {reason} */
    struct metric_family *dlq_failed;            /* {reason} */
    struct metric_family *input_tokens;          /* {tier,model,kind} */
    struct metric_family *cache_write_cost;      /* {tier,model} */
    struct metric_family *flex_calls;            /* {provider,outcome} */
    /* reconcile */
    struct metric_family *reconcile_diff_tokens;   /* gauge {provider} */
    struct metric_family *reconcile_diff_nanousd;  /* gauge {provider} */
    /* tier 0 */
    struct metric_family *tier0_withdrawals;     /* {task} */
    /* answer cache (worker/cache.h) */
    struct metric_family *cache_events;          /* {task,event} */
    /* budgets and drift */
    struct metric_family *budget_actions;        /* {scope,action} */
    struct metric_family *cost_drift_alerts;     /* {tier} */
    struct metric_family *cost_drift_ratio;      /* gauge {tier} */
    /* scheduler */
    struct metric_family *pending_rows;          /* gauge {provider,model,mode} */
    struct metric_family *batches;               /* gauge {state} */
    struct metric_family *batch_lines;           /* {provider,outcome} */
};

/* Creates the registry and registers every family. Idempotent. */
void telemetry_init(void);
/* Frees the registry (stop any metrics_http first); families read NULL
 * again after. */
void telemetry_free(void);
/* The families; never NULL. */
const struct telemetry *telemetry(void);
/* A tier number as a label value: "0" (local) .. "8", else "_other".
 * Returns a static string. */
const char *telemetry_tier(int tier);
/* A flex 429 (lib/provider/flex.h), as the worker and the scheduler's
 * realtime pass both count it: a provider retry, flex unavailable, and a
 * fallback to standard realtime when flex_after_429 gave up (delay < 0). */
void telemetry_count_flex_429(const char *provider, int64_t delay);

#endif
