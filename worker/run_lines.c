/* run_lines.c — see run_lines.h. */
#include "run_lines.h"

#include <stdlib.h>
#include <string.h>

#include "metrics/telemetry.h"
#include "pricing.h"
#include "tier0/tier0_features.h"

/* A new zeroed line numbered after the job's earlier lines (attempt_base:
 * a run released at shutdown wrote some already). */
static struct run_line *new_line(struct job_run *run)
{
    if (run->n_lines == run->cap_lines) {
        run->cap_lines = run->cap_lines ? run->cap_lines * 2 : 4;
        run->lines = xrealloc(run->lines, run->cap_lines * sizeof(*run->lines));
    }
    struct run_line *rl = &run->lines[run->n_lines++];
    memset(rl, 0, sizeof(*rl));
    rl->line.job_id = run->job->id;
    rl->line.attempt = run->attempt_base + (int)run->n_lines;
    rl->line.filed_ms = run->received_ms;
    return rl;
}

/* The job dimensions every line copies. */
static void line_dimensions(struct ledger_cost_line *l, const struct job *job)
{
    l->task = job->task->name;
    l->feature = job->feature;
    l->tenant = job->tenant;
    l->cohort = job->cohort;
}

void run_lines_add_local(struct job_run *run, const char *provider,
                         const char *model, int64_t baseline_nanousd)
{
    struct ledger_cost_line *l = &new_line(run)->line;
    l->tier = 0;
    l->provider = provider;
    l->model = model;
    l->mode = "realtime";
    l->baseline_nanousd = baseline_nanousd;
    l->outcome = "accepted";
    line_dimensions(l, run->job);
}

/* Prometheus: what the prompt cache and flex do (docs/metrics.md). */
static void count_usage(const struct tier_conf *tier,
                        const struct llm_usage *u, bool flex)
{
    const struct telemetry *t = telemetry();
    const char *tn = telemetry_tier(tier->tier);
    int64_t full = u->input_tokens - u->cached_tokens - u->cache_write_tokens;
    metrics_count(t->input_tokens, (double)(full > 0 ? full : 0), tn, tier->model, "full");
    metrics_count(t->input_tokens, (double)u->cached_tokens, tn, tier->model, "cached");
    metrics_count(t->input_tokens, (double)u->cache_write_tokens, tn, tier->model,
                  "cache_write");
    if (flex)
        metrics_count(t->flex_calls, 1, tier->provider->name, "served", NULL);
    if (u->cache_write_tokens > 0) {
        /* The writes alone, at their TTL's price (rounded per call). */
        struct llm_usage w = {.input_tokens = u->cache_write_tokens,
                              .cache_write_tokens = u->cache_write_tokens,
                              .cache_write_1h_tokens = u->cache_write_1h_tokens};
        metrics_count(t->cache_write_cost,
                      (double)pricing_cost_nano(tier->price, &w, flex), tn,
                      tier->model, NULL);
    }
}

void run_lines_add(struct job_run *run, const struct llm_response *resp,
                   const char *outcome, const char *reason, int64_t latency_us)
{
    const struct tier_conf *tier = job_run_tier(run);
    struct run_line *rl = new_line(run);
    struct ledger_cost_line *l = &rl->line;
    const struct job *job = run->job;
    struct llm_usage usage = llm_response_usage(resp);

    if (resp && resp->has_usage) {
        run->last_usage = usage;
        /* An answered call: the id it was sent with matches the provider's
         * usage record too. A line for a refused status carries none. */
        rl->client_request_id = xstrdup(run->call_id);
    }
    rl->request_id = resp && resp->response_id ? xstrdup(resp->response_id) : NULL;
    /* The tier the provider says it served bills the call. */
    pricing_bill_line(l, tier, &usage, resp && resp->flex ? "flex" : "realtime");
    count_usage(tier, &usage, resp && resp->flex);
    l->latency_ms = (int)(latency_us / 1000);
    l->outcome = outcome;
    l->reason = reason;
    line_dimensions(l, job);
    l->provider_request_id = rl->request_id;
    l->client_request_id = rl->client_request_id;
}

/* The call left and no usable answer came back: the provider may have
 * billed it. Priced at the request's bound (input estimated, max tokens
 * out), so unconfirmed spend is an upper bound; reason says why. */
void run_lines_add_unconfirmed(struct job_run *run, const char *reason,
                               int64_t latency_us)
{
    struct run_line *rl = new_line(run);
    struct ledger_cost_line *l = &rl->line;
    pricing_bill_line(l, job_run_tier(run), &run->call_bound, "realtime");
    /* No body, so no provider id (the answer's id): ours names the call. */
    rl->client_request_id = xstrdup(run->call_id);
    l->latency_ms = (int)(latency_us / 1000);
    l->outcome = "unconfirmed";
    l->reason = reason;
    line_dimensions(l, run->job);
    l->provider_request_id = rl->request_id;
    l->client_request_id = rl->client_request_id;
    metrics_count(telemetry()->unconfirmed_calls, 1,
                  job_run_tier(run)->provider->name, reason, NULL);
}

/* An answer under the threshold was kept only because no tier was left:
 * the ladder's least reliable labels. Tier 0 neither learns from them nor is
 * judged against them, so traces and shadow checks measure the same thing. */
bool run_lines_confident_label(const struct job_run *run)
{
    return run->answer.label &&
           run->answer.confidence >= run->job->task->confidence_threshold;
}

/* An accepted LLM label becomes tier-0 training data. */
void run_lines_keep_trace(struct job_run *run)
{
    const struct task_conf *task = run->job->task;
    const struct llm_answer *a = &run->answer;
    if (!task->tier0_enabled || !run_lines_confident_label(run))
        return;
    run->trace_input = xmalloc(TIER0_MAX_TEXT + 1);
    tier0_feat_normalize(run->job->input, run->trace_input, TIER0_MAX_TEXT + 1);
    run->trace = (struct ledger_trace){
        .input_norm = run->trace_input,
        .label = a->label,
        .tier = job_run_tier(run)->tier,
        .model = job_run_tier(run)->model,
        .confidence = a->confidence,
        .has_confidence = a->has_confidence,
    };
    run->has_trace = true;
}

/* The line the call will have if nothing else is ever recorded for it:
 * written (by the host) before the request leaves, so that a worker killed
 * while the call is in flight still leaves a line for what the provider
 * bills. The call's own line (answer, unconfirmed, provider_failed) takes
 * its place: same job and attempt. */
void run_lines_write_intent(struct job_run *run)
{
    struct ledger_cost_line *l = &run->intent;
    memset(l, 0, sizeof(*l));
    l->job_id = run->job->id;
    l->attempt = run->attempt_base + (int)run->n_lines + 1;
    l->filed_ms = run->received_ms; /* its replacement's month (new_line) */
    pricing_bill_line(l, job_run_tier(run), &run->call_bound, "realtime");
    l->outcome = "unconfirmed";
    l->reason = "in_flight";
    line_dimensions(l, run->job);
    l->client_request_id = run->call_id;
}
