/* job_run_state.h — the state of one job's run and what it borrows from
 * its host (the worker): the structs job_run.c climbs the ladder with and
 * run_lines.c fills the bill from. No functions but job_run_tier; see
 * job_run.h for the run's life cycle. */
#ifndef SL_JOB_RUN_STATE_H
#define SL_JOB_RUN_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "budget.h"
#include "cache.h"
#include "config.h"
#include "http_multi.h"
#include "job.h"
#include "ledger.h"
#include "provider/llm.h"
#include "route.h"
#include "tier0_live.h"

struct job_run;

/* A run waiting to retry a provider call; listed so that a drain can cut
 * the wait short. Freed in the timer's close callback. */
struct retry_wait {
    uv_timer_t timer;
    struct job_run *run;
    struct retry_wait *prev, *next;
};

/* Borrowed by every run for its whole life; set up by the host. */
struct job_run_host {
    const struct config *cfg;
    uv_loop_t *loop;
    struct http_multi *http;
    struct budget *budget;
    struct tier0_live *tier0;
    struct cache *cache;        /* the answer cache; NULL: none */
    bool draining;              /* set by the host: runs take no new call */
    uint64_t tier0_shadowed;    /* tier-0 answers re-checked by the ladder */
    struct retry_wait *waits;   /* runs waiting to retry (job_run.c links) */
    const char *call_id_prefix; /* unique to the process: X-Client-Request-Id
                                   is "<prefix>-<n>" */
    uint64_t calls_sent;        /* n of the last call id */
    /* Queues a run whose call is ready (run->intent, run->pending_req): the
     * host writes the intents of all queued calls in one statement, then
     * calls job_run_send() for each. NULL: sent at once, no intent. */
    void (*queue_call)(struct job_run_host *host, struct job_run *run);
    void (*finished)(struct job_run_host *host, struct job_run *run);
    void (*released)(struct job_run_host *host, struct job_run *run);
};

/* A job's cost line, with the strings it owns. */
struct run_line {
    struct ledger_cost_line line;
    char *request_id;
    char *client_request_id;
};

struct job_run {
    struct job_run_host *host;
    struct job *job;
    int32_t partition;
    int64_t offset;
    uint32_t generation;
    int64_t received_ms;

    struct route_plan plan;
    size_t step;        /* index into plan.tiers */
    int retries;        /* retries spent on the current tier */
    bool flex_ok;       /* non-interactive, answered realtime: flex allowed */
    bool flex_call;     /* the call in flight asked for service_tier flex */
    int flex_429s;      /* flex 429s on the current tier (lib/provider/flex.h) */
    int64_t tier_started_us;

    struct run_line *lines; /* one per provider call that may be billed */
    size_t n_lines, cap_lines;
    int attempt_base;       /* lines a released earlier run of the job left */
    bool released;          /* handed back unfinished: lines only, no ack */
    char call_id[96];       /* the call in flight: X-Client-Request-Id */
    struct llm_usage call_bound; /* its estimate (unconfirmed lines) */
    struct ledger_cost_line intent; /* the call's line until it has its own */
    struct http_request pending_req; /* built, not yet sent (queue_call) */
    char *pending_url;
    struct llm_usage last_usage; /* for the baseline of a failed job */

    struct ledger_result result;
    struct llm_answer answer;
    char *data_json;
    char *error;

    /* Tier 0 answered; with shadow, the ladder runs only to re-check it. */
    bool by_tier0;
    struct tier0_answer t0;
    char *t0_label;      /* t0.label copied: a refresh may unload the model */
    char *t0_model;      /* "tier0-v<version>" */
    struct ledger_trace trace;
    bool has_trace;
    char *trace_input;
    struct ledger_shadow shadow;
    bool has_shadow;

    /* Answered from the cache (hit), or what the ladder's answer is stored
     * under and compared with (probe). */
    bool by_cache;
    struct cache_hit cache_hit;
    struct cache_probe cache_probe;
    struct cache_waiter cache_wait; /* waiting for a copy in flight */
    bool cache_waited;              /* waits once */

    /* Async/offpeak: handed to the scheduler as a pending row, no result. */
    struct pending_handover pending;
    bool deferred;
};

/* The tier the run is on (its route plan's current step). */
static inline const struct tier_conf *job_run_tier(const struct job_run *run)
{
    return config_tier(run->host->cfg, run->plan.tiers[run->step]);
}

#endif
