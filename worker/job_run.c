/* job_run.c — one job's climb up its tier ladder.
 *
 * A run calls the cheapest tier of its route plan; a transport error or a
 * retryable status is retried on the same tier (retry.h); an answer is judged
 * (escalate.h) and either accepted or the run climbs to the next tier. Every
 * tier attempt leaves one cost line (run_lines.h). When the run ends it hands
 * itself to the worker, which writes it in the next ledger batch and frees it
 * after. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "escalate.h"
#include "provider/flex.h"
#include "job_run.h"
#include "log.h"
#include "metrics/telemetry.h"
#include "pricing.h"
#include "provider/provider.h"
#include "retry.h"
#include "run_lines.h"

/* Responses larger than this are treated as failures: no real answer of a
 * routed task comes near it. */
#define MAX_RESPONSE_BYTES (4u << 20)


static void call_tier(struct job_run *run);
static void start_uncached(struct job_run *run);
static void cache_resumed(struct cache_waiter *w);

static bool on_last_tier(const struct job_run *run)
{
    return run->step + 1 >= run->plan.n;
}

/* What the top tier would have been billed for an answer given without a
 * call (tier 0, the cache): the rendered prompt in, the answer out (chars /
 * 4, the usual estimate; 32 for the answer's JSON wrapping). */
static int64_t local_baseline(const struct job_run *run, const char *answer)
{
    const struct task_conf *task = run->job->task;
    char *prompt = provider_render_prompt(task, run->job->input,
                                          run->job->input_len);
    struct llm_usage usage = {
        .input_tokens = (int64_t)(strlen(prompt) + strlen(task->system) + 3) / 4,
        .output_tokens = (int64_t)(strlen(answer ? answer : "") + 32 + 3) / 4,
    };
    free(prompt);
    return pricing_baseline_nano(run->host->cfg, &usage);
}

static int64_t tier0_baseline(const struct job_run *run)
{
    return local_baseline(run, run->t0_label);
}

/* The job's answer is tier 0's. A shadow ladder, if one ran, left its cost
 * lines and (when it answered) the label to compare with. */
static void finish_tier0(struct job_run *run, const char *llm_status)
{
    struct ledger_result *r = &run->result;
    for (size_t i = 0; i < run->n_lines; i++)
        run->lines[i].line.reason = "shadow_check";
    if (llm_status && strcmp(llm_status, "answered") == 0 &&
        run_lines_confident_label(run)) {
        run_lines_keep_trace(run);
        run->shadow = (struct ledger_shadow){run->t0.version, run->t0_label,
                                             run->answer.label};
        run->has_shadow = true;
    }
    run_lines_add_local(run, "local", run->t0_model, tier0_baseline(run));
    *r = (struct ledger_result){
        .job_id = run->job->id, .status = "answered", .source = "tier0",
        .provider = "local", .model = run->t0_model, .label = run->t0_label,
        .confidence = run->t0.score, .has_confidence = true,
        .attempts = run->attempt_base + (int)run->n_lines,
    };
    run->host->finished(run->host, run);
}

/* The job's answer is a cached one: one zero-cost line (provider 'cache')
 * carrying the baseline; the result names the tier and model that produced
 * the answer. */
static void finish_cache(struct job_run *run)
{
    const struct cache_hit *h = &run->cache_hit;
    const char *answer = h->label ? h->label
                         : h->data_json ? h->data_json : h->text_output;
    run_lines_add_local(run, "cache", h->near ? "cache-near" : "cache-exact",
                        local_baseline(run, answer));
    run->result = (struct ledger_result){
        .job_id = run->job->id, .status = "answered", .source = "cache",
        .tier = h->tier, .provider = h->provider, .model = h->model,
        .label = h->label, .data_json = h->data_json,
        .text_output = h->text_output, .confidence = h->confidence,
        .has_confidence = h->has_confidence,
        .attempts = run->attempt_base + (int)run->n_lines,
    };
    run->by_cache = true;
    run->host->finished(run->host, run);
}

/* The cache, before the budget, tier 0 and the ladder: true when it
 * answered, or when the run waits for a copy of its job in flight (it then
 * goes on in cache_resumed). */
static bool answer_from_cache(struct job_run *run)
{
    struct job_run_host *h = run->host;
    if (!h->cache)
        return false;
    bool again = run->cache_waited;
    cache_probe_clear(&run->cache_probe);
    switch (cache_lookup(h->cache, h->cfg, run->job, sl_now_ms(), sl_rand01(),
                         &run->cache_hit, &run->cache_probe, &run->cache_wait,
                         again)) {
    case CACHE_HIT:
        /* A job routed past the cheap tiers (start_tier) asked for better
         * than a cheaper tier's answer: it goes up its own ladder. */
        if (run->cache_hit.tier < run->plan.tiers[0]) {
            cache_hit_clear(&run->cache_hit);
            break;
        }
        finish_cache(run);
        return true;
    case CACHE_WAIT:
        run->cache_waited = true;
        return true;
    case CACHE_MISS:
        break;
    }
    return false;
}

/* The ladder's outcome goes to the cache: stored when accepted (and
 * confident enough), compared with a near-duplicate candidate. */
static void offer_to_cache(struct job_run *run, const char *status)
{
    const struct tier_conf *tier = job_run_tier(run);
    const struct llm_answer *a = &run->answer;
    bool answered = strcmp(status, "answered") == 0;
    cache_after_ladder(run->host->cache, run->host->cfg, run->job,
                       &run->cache_probe, answered, answered ? a->label : NULL,
                       answered ? run->data_json : NULL,
                       answered ? a->text : NULL, a->confidence,
                       a->has_confidence, tier->tier, tier->provider->name,
                       tier->model, sl_now_ms());
}

/* The baseline is carried by the line that concludes the job, so that
 * SUM(baseline_nanousd) over a job is the job's baseline, not a multiple. */
static void finish(struct job_run *run, const char *status, const char *error)
{
    struct ledger_result *r = &run->result;
    const struct tier_conf *tier = job_run_tier(run);

    if (run->by_tier0) {
        finish_tier0(run, status);
        return;
    }
    if (strcmp(status, "answered") == 0)
        run_lines_keep_trace(run);

    if (run->n_lines > 0) {
        struct ledger_cost_line *last = &run->lines[run->n_lines - 1].line;
        last->baseline_nanousd = pricing_baseline_nano(run->host->cfg, &run->last_usage);
    }
    r->job_id = run->job->id;
    r->status = status;
    r->source = "llm";
    r->tier = tier->tier;
    r->provider = tier->provider->name;
    r->model = tier->model;
    r->attempts = run->attempt_base + (int)run->n_lines;
    if (error) {
        run->error = xstrdup(error);
        r->error = run->error;
    }
    offer_to_cache(run, status); /* also wakes copies waiting for it */
    run->host->finished(run->host, run);
}

/* A reached budget rejected the job: no provider call, no cost line. */
static void finish_rejected_by_budget(struct job_run *run, const char *reason)
{
    log_job(SL_LOG_INFO, run->job->id, run->job->tenant, "%s", reason);
    run->error = xstrdup(reason);
    run->result = (struct ledger_result){
        .job_id = run->job->id, .status = "failed", .source = "llm",
        .error = run->error,
    };
    run->host->finished(run->host, run);
}

static void accept_answer(struct job_run *run)
{
    struct ledger_result *r = &run->result;
    struct llm_answer *a = &run->answer;

    r->label = a->label;
    r->text_output = a->text;
    if (a->data) {
        run->data_json = cJSON_PrintUnformatted(a->data);
        r->data_json = run->data_json;
    }
    r->confidence = a->confidence;
    r->has_confidence = a->has_confidence;
    finish(run, "answered", NULL);
}

/* Moves to the next tier, or ends the job as failed with the last reason. */
static void climb_or_fail(struct job_run *run, const char *reason)
{
    if (on_last_tier(run)) {
        finish(run, "failed", reason);
        return;
    }
    log_job(SL_LOG_DEBUG, run->job->id, run->job->tenant,
            "escalating from tier %d: %s", job_run_tier(run)->tier, reason);
    metrics_count(telemetry()->escalations, 1, run->job->task->name,
                  telemetry_tier(job_run_tier(run)->tier), NULL);
    run->step++;
    run->retries = 0;
    run->flex_429s = 0;
    if (run->host->draining) {
        run->host->released(run->host, run);
        return;
    }
    call_tier(run);
}

static void judge_answer(struct job_run *run, const struct llm_response *resp,
                         int64_t latency_us)
{
    char detail[256];
    llm_answer_clear(&run->answer);
    enum verdict v = escalate_judge(run->job->task, resp, &run->answer, detail,
                                    sizeof(detail));
    bool climb = escalate_should_climb(v, on_last_tier(run));

    if (!climb) { /* escalate.h: ACCEPT, or LOW_CONFIDENCE on the last tier */
        run_lines_add(run, resp, "accepted", NULL, latency_us);
        accept_answer(run);
        return;
    }
    run_lines_add(run, resp, on_last_tier(run) ? "failed" : "escalated",
                  verdict_name(v), latency_us);
    llm_answer_clear(&run->answer);
    climb_or_fail(run, verdict_name(v));
}

static void on_retry_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The worker's list of runs waiting to retry, which a drain cuts short. */
static void wait_link(struct job_run_host *w, struct retry_wait *wait)
{
    wait->next = w->waits;
    if (w->waits)
        w->waits->prev = wait;
    w->waits = wait;
}

static void wait_unlink(struct job_run_host *w, struct retry_wait *wait)
{
    if (wait->prev)
        wait->prev->next = wait->next;
    else
        w->waits = wait->next;
    if (wait->next)
        wait->next->prev = wait->prev;
    wait->prev = wait->next = NULL;
}

static void on_retry_timer(uv_timer_t *t)
{
    struct retry_wait *wait = t->data;
    struct job_run *run = wait->run;
    wait_unlink(run->host, wait);
    uv_close((uv_handle_t *)t, on_retry_timer_closed);
    call_tier(run);
}

static void start_retry_timer(struct job_run *run, int64_t delay);

/* Returns true when a retry was scheduled. */
static bool schedule_retry(struct job_run *run,
                           const struct http_response *http,
                           const struct llm_response *resp)
{
    struct retry_policy pol;
    retry_policy_from_provider(job_run_tier(run)->provider, &pol);
    bool no_retry = resp && resp->no_retry;
    if (retry_decide(&pol, run->retries, http->transport_error, http->status,
                     http->x_should_retry, no_retry) == RETRY_GIVE_UP)
        return false;
    int64_t hint = retry_parse_hint(http->retry_after_ms, http->retry_after,
                                    sl_now_ms() / 1000);
    int64_t delay = retry_delay_ms(&pol, run->retries, hint, sl_rand01());
    if (delay < 0)
        return false;
    run->retries++;
    metrics_count(telemetry()->provider_retries, 1,
                  job_run_tier(run)->provider->name, NULL, NULL);
    start_retry_timer(run, delay);
    return true;
}

/* A flex 429 (capacity short, not billed): flex again after the backoff,
 * or standard realtime at once (lib/provider/flex.h). */
static void flex_429(struct job_run *run, const struct http_response *http)
{
    const struct provider_conf *p = job_run_tier(run)->provider;
    int64_t hint = retry_parse_hint(http->retry_after_ms, http->retry_after,
                                    sl_now_ms() / 1000);
    int64_t delay = flex_after_429(p, &run->flex_429s, hint, sl_rand01(),
                                   run->job->deadline_ms, sl_now_ms());
    telemetry_count_flex_429(p->name, delay);
    if (delay < 0) {
        call_tier(run);
        return;
    }
    start_retry_timer(run, delay);
}

static void start_retry_timer(struct job_run *run, int64_t delay)
{
    struct retry_wait *wait = xcalloc(1, sizeof(*wait));
    wait->run = run;
    uv_timer_init(run->host->loop, &wait->timer);
    wait->timer.data = wait;
    uv_timer_start(&wait->timer, on_retry_timer, (uint64_t)delay, 0);
    wait_link(run->host, wait);
}

/* One provider call ended: by HTTP status, or "transport" when no complete
 * response arrived. */
static void count_call(const struct job_run *run,
                       const struct http_response *http)
{
    const struct telemetry *t = telemetry();
    const struct tier_conf *tier = job_run_tier(run);
    char status[24];
    if (http->transport_error)
        sl_strlcpy(status, "transport", sizeof(status));
    else
        snprintf(status, sizeof(status), "%ld", http->status);
    metrics_count(t->provider_calls, 1, tier->provider->name, tier->model, status);
    metrics_observe(t->provider_call_seconds, (double)http->elapsed_us / 1e6,
                    tier->provider->name, NULL, NULL);
    metrics_count(t->inflight_calls, -1, NULL, NULL, NULL);
}

/* Why a call that was sent has no usable answer, or NULL when it has one
 * or was never sent (refused before connecting, an error status: nothing
 * billed). A 200 the client could not read was billed all the same. */
static const char *unconfirmed_reason(const struct http_response *http,
                                      int parsed)
{
    if (http->transport_error)
        return !http->request_sent ? NULL
               : http->transport_error == CURLE_OPERATION_TIMEDOUT ? "timeout"
               : http->transport_error == CURLE_ABORTED_BY_CALLBACK ? "abandoned"
                                                                  : "connection_lost";
    if (http->body_truncated)
        return "oversized";
    if (http->status == 200 && parsed != SL_OK)
        return "unparseable";
    return NULL;
}

static void on_http_done(const struct http_response *http, void *arg)
{
    struct job_run *run = arg;
    struct llm_response resp = {0};
    char err[256] = "";
    int64_t latency_us = sl_monotonic_us() - run->tier_started_us;
    int parsed = SL_EINVAL;

    count_call(run, http);
    if (!http->transport_error && !http->body_truncated)
        parsed = provider_parse_response(job_run_tier(run)->provider->kind,
                                         http->status, http->body,
                                         http->body_len, &resp, err,
                                         sizeof(err));
    const char *unconfirmed = unconfirmed_reason(http, parsed);
    if (unconfirmed)
        run_lines_add_unconfirmed(run, unconfirmed, http->elapsed_us);
    if (parsed == SL_OK && http->status == 200) {
        judge_answer(run, &resp, latency_us);
    } else if (run->host->draining) {
        run->host->released(run->host, run);
    } else if (run->flex_call && http->status == 429 &&
               !(parsed == SL_OK && resp.no_retry)) {
        flex_429(run, http);
    } else if (!schedule_retry(run, http, parsed == SL_OK ? &resp : NULL)) {
        log_job(SL_LOG_WARN, run->job->id, run->job->tenant,
                "tier %d provider failed: status=%ld %s%s",
                job_run_tier(run)->tier, http->status,
                http->transport_error ? http->error : "",
                resp.error_type ? resp.error_type : err);
        run_lines_add(run, &resp, on_last_tier(run) ? "failed" : "escalated",
                      "provider_failed", latency_us);
        climb_or_fail(run, "provider_failed");
    }
    llm_response_clear(&resp);
}

static void call_tier(struct job_run *run)
{
    if (run->host->draining && run->retries > 0) {
        run->host->released(run->host, run);
        return;
    }
    const struct tier_conf *tier = job_run_tier(run);
    const struct provider_conf *p = tier->provider;
    const struct job *job = run->job;
    /* Our own id for the call, sent as X-Client-Request-Id (OpenAI records
     * it; others ignore it): it names the call in the ledger even when no
     * answer, and so no provider request id, ever comes back. */
    snprintf(run->call_id, sizeof(run->call_id), "%s-%llu",
             run->host->call_id_prefix ? run->host->call_id_prefix : "sluice",
             (unsigned long long)++run->host->calls_sent);
    char id_header[160];
    snprintf(id_header, sizeof(id_header), "X-Client-Request-Id: %s",
             run->call_id);
    run->flex_call = flex_use(p, run->flex_ok, run->flex_429s,
                              job->deadline_ms, sl_now_ms());
    struct http_request req = {
        .method = "POST",
        .url = NULL,
        .headers = curl_slist_append(provider_headers(p), id_header),
        .body = provider_request_body_ex(p, job->task, tier->model,
                                         job->input, job->input_len,
                                         run->flex_call, &run->call_bound),
        .timeout_ms = p->timeout_ms,
        .connect_timeout_ms = p->connect_timeout_ms,
        .max_body = MAX_RESPONSE_BYTES,
        .done = on_http_done,
        .arg = run,
    };
    char *url = provider_url(p);
    req.url = url;
    req.body_len = strlen(req.body);
    if (run->retries == 0)
        run->tier_started_us = sl_monotonic_us();
    run->pending_req = req;
    run->pending_url = url;
    run_lines_write_intent(run);
    if (run->host->queue_call)
        run->host->queue_call(run->host, run);
    else
        job_run_send(run);
}

void job_run_send(struct job_run *run)
{
    struct http_request req = run->pending_req;
    char *url = run->pending_url;
    memset(&run->pending_req, 0, sizeof(run->pending_req));
    run->pending_url = NULL;
    if (http_multi_submit(run->host->http, &req) != SL_OK) {
        run_lines_add(run, NULL, on_last_tier(run) ? "failed" : "escalated",
                      "provider_failed", 0);
        climb_or_fail(run, "request could not be submitted");
    } else {
        metrics_count(telemetry()->inflight_calls, 1, NULL, NULL, NULL);
    }
    free(url);
}

/* Work nobody waits for goes to the scheduler's provider batches (half
 * price), unless the job's deadline is nearer than a batch's turnaround. */
static bool defer_to_scheduler(struct job_run *run)
{
    const struct job *job = run->job;
    const struct config *cfg = run->host->cfg;
    if (job->mode == MODE_INTERACTIVE)
        return false;
    if (job->deadline_ms &&
        job->deadline_ms - sl_now_ms() < (int64_t)cfg->scheduler.turnaround_s * 1000) {
        log_job(SL_LOG_DEBUG, job->id, job->tenant, "%s",
                "deadline nearer than a batch turnaround: answered realtime");
        run->flex_ok = true; /* nobody waits: flex where offered */
        return false;
    }
    const struct tier_conf *first = job_run_tier(run);
    run->pending = (struct pending_handover){
        .ladder = run->plan.tiers, .n_ladder = run->plan.n,
        .tier = first->tier, .provider = first->provider->name,
        .model = first->model, .input = job->input,
        .input_len = job->input_len,
    };
    run->deferred = true;
    run->host->finished(run->host, run);
    return true;
}

struct job_run *job_run_start(struct job_run_host *w, struct job *job,
                              int32_t partition, int64_t offset,
                              uint32_t generation, int attempt_base)
{
    struct job_run *run = xcalloc(1, sizeof(*run));
    run->host = w;
    run->job = job;
    run->partition = partition;
    run->offset = offset;
    run->generation = generation;
    run->received_ms = sl_now_ms();
    run->attempt_base = attempt_base;
    run->cache_wait.resume = cache_resumed;
    route_plan(w->cfg, job, &run->plan);
    /* A cached answer costs nothing: no budget stands in its way. */
    if (answer_from_cache(run))
        return run;
    start_uncached(run);
    return run;
}

/* The copy this run waited for ended: its answer may be cached now. */
static void cache_resumed(struct cache_waiter *w)
{
    struct job_run *run =
        (struct job_run *)((char *)w - offsetof(struct job_run, cache_wait));
    if (!answer_from_cache(run))
        start_uncached(run);
}

/* Budget, tier 0, the scheduler hand-off or the ladder. */
static void start_uncached(struct job_run *run)
{
    struct job_run_host *w = run->host;
    struct job *job = run->job;
    /* Budgets may cap the plan, defer the job to off-peak or reject it. */
    struct budget_decision bd;
    if (budget_check(w->budget, job, &run->plan, run->received_ms, &bd)) {
        finish_rejected_by_budget(run, bd.reason);
        return;
    }
    if (w->tier0 && tier0_live_answer(w->tier0, job, &run->t0)) {
        run->by_tier0 = true;
        run->t0_label = xstrdup(run->t0.label);
        run->t0_model = xasprintf("tier0-v%lld", (long long)run->t0.version);
        if (!run->t0.shadow) {
            finish_tier0(run, NULL);
            return;
        }
        w->tier0_shadowed++;
    } else if (defer_to_scheduler(run)) {
        return;
    }
    call_tier(run);
}

void job_run_free(struct job_run *run)
{
    if (!run)
        return;
    for (size_t i = 0; i < run->n_lines; i++) {
        free(run->lines[i].request_id);
        free(run->lines[i].client_request_id);
    }
    free(run->lines);
    if (run->pending_url) { /* queued, never sent */
        curl_slist_free_all(run->pending_req.headers);
        free(run->pending_req.body);
        free(run->pending_url);
    }
    llm_answer_clear(&run->answer);
    free(run->data_json);
    free(run->error);
    free(run->t0_label);
    free(run->t0_model);
    free(run->trace_input);
    cache_hit_clear(&run->cache_hit);
    /* A run that ended another way (tier 0, deferred, rejected, released)
     * wakes the copies waiting for it now. */
    cache_release(run->host->cache, &run->cache_probe);
    cache_probe_clear(&run->cache_probe);
    job_free(run->job);
    free(run);
}
