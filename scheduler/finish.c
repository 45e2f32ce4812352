/* finish.c — outcomes of deferred jobs become ledger rows (results, cost
 * lines, traces: ledger.h with recorded jobs) and pending-row changes,
 * written together inside the caller's transaction. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "pricing.h"
#include "sched.h"
#include "metrics/telemetry.h"
#include "tier0/tier0_features.h"

/* Retries of errored lines wait a little so a provider hiccup can pass. */
#define RETRY_DELAY_MS 1000

struct finisher {
    struct sched *s;
    struct ledger_batch *batch;
    char **owned;            /* strings the batch borrows until flush */
    size_t n_owned, cap_owned;
    struct ledger_trace *traces; /* one per apply at most; stable storage */
    size_t n_traces;
    cJSON *deleted;          /* ids of rows done */
    cJSON *requeued;         /* {id, step, tier, provider, model, lines, retries, error, delay_ms} */
};

static const char SQL_REQUEUE[] =
    "UPDATE pending p SET step = r.step, tier = r.tier, provider = r.provider,"
    " model = r.model, lines = r.lines, retries = r.retries,"
    " attempt = p.attempt + 1, state = 'ready', batch_id = NULL,"
    " last_error = r.error, not_before = now() + r.delay_ms * interval '1 ms'"
    " FROM json_to_recordset($1::json) AS r(id bigint, step int, tier int,"
    "  provider text, model text, lines int, retries int, error text,"
    "  delay_ms bigint)"
    " WHERE p.id = r.id";

static const char SQL_DELETE[] =
    "DELETE FROM pending WHERE id IN"
    " (SELECT json_array_elements_text($1::json)::bigint)";

struct finisher *finisher_new(struct sched *s)
{
    struct finisher *f = xcalloc(1, sizeof(*f));
    f->s = s;
    f->batch = ledger_batch_new();
    f->traces = xcalloc(SCHED_CHUNK, sizeof(*f->traces));
    f->deleted = cJSON_CreateArray();
    f->requeued = cJSON_CreateArray();
    return f;
}

static void release(struct finisher *f)
{
    for (size_t i = 0; i < f->n_owned; i++)
        free(f->owned[i]);
    f->n_owned = 0;
    for (size_t i = 0; i < f->n_traces; i++)
        free((char *)f->traces[i].input_norm);
    f->n_traces = 0;
    ledger_batch_reset(f->batch);
    cJSON_Delete(f->deleted);
    cJSON_Delete(f->requeued);
    f->deleted = cJSON_CreateArray();
    f->requeued = cJSON_CreateArray();
}

void finisher_free(struct finisher *f)
{
    if (!f)
        return;
    release(f);
    cJSON_Delete(f->deleted);
    cJSON_Delete(f->requeued);
    ledger_batch_free(f->batch);
    free(f->owned);
    free(f->traces);
    free(f);
}

/* Keeps a copy of s alive until the flush; NULL stays NULL. */
static const char *keep(struct finisher *f, const char *s)
{
    if (!s)
        return NULL;
    if (f->n_owned == f->cap_owned) {
        f->cap_owned = f->cap_owned ? 2 * f->cap_owned : 256;
        f->owned = xrealloc(f->owned, f->cap_owned * sizeof(*f->owned));
    }
    return f->owned[f->n_owned++] = xstrdup(s);
}

static const struct ledger_trace *trace_of(struct finisher *f,
                                           const struct pending_row *row,
                                           const struct tier_conf *tier,
                                           const struct llm_answer *a)
{
    /* As in the worker: an answer under the threshold (kept because no
     * tier was left) is not training data. */
    if (!row->task->tier0_enabled || !a->label ||
        a->confidence < row->task->confidence_threshold)
        return NULL;
    /* Entries point into this array, so it never grows: callers flush
     * every SCHED_CHUNK outcomes. */
    if (f->n_traces == SCHED_CHUNK)
        return NULL;
    char *norm = xmalloc(TIER0_MAX_TEXT + 1);
    tier0_feat_normalize(row->input, norm, TIER0_MAX_TEXT + 1);
    struct ledger_trace *t = &f->traces[f->n_traces++];
    *t = (struct ledger_trace){.input_norm = norm, .label = keep(f, a->label),
                               .tier = tier->tier, .model = tier->model,
                               .confidence = a->confidence,
                               .has_confidence = a->has_confidence};
    return t;
}

static void requeue(struct finisher *f, const struct pending_row *row,
                    size_t step, int lines, int retries, const char *error,
                    int64_t delay_ms)
{
    const struct tier_conf *tier = config_tier(f->s->cfg, row->ladder[step]);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)row->id);
    cJSON_AddNumberToObject(o, "step", (double)step);
    cJSON_AddNumberToObject(o, "tier", tier->tier);
    cJSON_AddStringToObject(o, "provider", tier->provider->name);
    cJSON_AddStringToObject(o, "model", tier->model);
    cJSON_AddNumberToObject(o, "lines", lines);
    cJSON_AddNumberToObject(o, "retries", retries);
    cJSON_AddStringToObject(o, "error", error ? error : "");
    cJSON_AddNumberToObject(o, "delay_ms", (double)delay_ms);
    cJSON_AddItemToArray(f->requeued, o);
}

/* Climbing to a tier the config no longer has fails the job instead. */
static bool next_tier_known(const struct sched *s, const struct pending_row *row)
{
    return row->step + 1 < row->n_ladder &&
           config_tier(s->cfg, row->ladder[row->step + 1]) != NULL;
}

static void add_entry(struct finisher *f, const struct pending_row *row,
                      const struct ledger_result *result,
                      const struct ledger_cost_line *line,
                      const struct ledger_trace *trace)
{
    struct ledger_job job = {
        .job_id = keep(f, row->job_id), .task = keep(f, row->task_name),
        .feature = keep(f, row->feature), .tenant = keep(f, row->tenant),
        .cohort = keep(f, row->cohort), .kafka_partition = -1,
        .trace = trace, .recorded = true,
    };
    ledger_batch_add_job(f->batch, &job, result, line, line ? 1 : 0);
    /* Counted before the caller commits: a rolled-back chunk (database
     * failure) is counted again when it is redone. */
    const struct telemetry *t = telemetry();
    if (result)
        metrics_count(t->jobs, 1, result->status, result->source,
                      telemetry_tier(result->tier));
    if (line)
        metrics_count(t->cost_nanodollars, (double)line->cost_nanousd,
                      telemetry_tier(line->tier), row->feature, NULL);
    if (result)
        cJSON_AddItemToArray(f->deleted, cJSON_CreateNumber((double)row->id));
}

static struct ledger_cost_line cost_line(struct finisher *f,
                                         const struct pending_row *row,
                                         const struct tier_conf *tier,
                                         const struct llm_response *resp,
                                         const char *mode, const char *outcome,
                                         const char *reason, int latency_ms,
                                         const char *call_id)
{
    struct llm_usage usage = llm_response_usage(resp);
    bool concludes = strcmp(outcome, "escalated") != 0;
    struct ledger_cost_line line = {
        .attempt = row->lines + 1,
        .baseline_nanousd = concludes ? pricing_baseline_nano(f->s->cfg, &usage) : 0,
        .latency_ms = latency_ms, .outcome = outcome, .reason = reason,
        .task = keep(f, row->task_name), .feature = keep(f, row->feature),
        .tenant = keep(f, row->tenant), .cohort = keep(f, row->cohort),
        .provider_request_id = keep(f, resp ? resp->response_id : NULL),
        .client_request_id = keep(f, call_id),
        .filed_ms = f->s->now_ms, /* as the intent line's (realtime.c) */
    };
    /* The tier the provider says it served bills the call. */
    pricing_bill_line(&line, tier, &usage,
                      resp && resp->flex ? "flex" : mode);
    return line;
}

/* A result's source says which path answered it, as in the worker's. */
static const char *source_of(const char *mode)
{
    return strcmp(mode, "batch") == 0 ? "batch" : "llm";
}

static void apply_accept(struct finisher *f, const struct pending_row *row,
                         const struct tier_conf *tier,
                         const struct deferred_outcome *o,
                         const struct ledger_cost_line *line, const char *mode)
{
    const struct llm_answer *a = &o->answer;
    char *data = a->data ? cJSON_PrintUnformatted(a->data) : NULL;
    struct ledger_result r = {
        .status = "answered", .source = source_of(mode),
        .tier = tier->tier, .provider = tier->provider->name, .model = tier->model,
        .label = keep(f, a->label), .data_json = keep(f, data),
        .text_output = keep(f, a->text), .confidence = a->confidence,
        .has_confidence = a->has_confidence, .attempts = row->lines + 1,
    };
    free(data);
    add_entry(f, row, &r, line, trace_of(f, row, tier, a));
    f->s->jobs_answered++;
}

static void apply_fail(struct finisher *f, const struct pending_row *row,
                       const struct tier_conf *tier,
                       const struct ledger_cost_line *line, const char *mode,
                       const char *error)
{
    struct ledger_result r = {
        .status = "failed", .source = source_of(mode),
        .tier = tier ? tier->tier : 0,
        .provider = tier ? tier->provider->name : NULL,
        .model = tier ? tier->model : NULL,
        .attempts = row->lines + (line ? 1 : 0), .error = keep(f, error),
    };
    add_entry(f, row, &r, line, NULL);
    f->s->jobs_failed++;
    log_job(SL_LOG_INFO, row->job_id, row->tenant, "deferred job failed: %s", error);
}

void finisher_apply(struct finisher *f, const struct pending_row *row,
                    const struct deferred_outcome *o,
                    const struct llm_response *resp, const char *mode,
                    int latency_ms, const char *call_id)
{
    const struct tier_conf *tier = pending_row_tier(f->s->cfg, row);
    if (!tier || !row->task) {
        /* Nothing can price, judge or re-send it now; a billed answer
         * goes unrecorded, there being no price for it. */
        apply_fail(f, row, tier, NULL, mode, SCHED_CONFIG_GONE);
        return;
    }
    enum deferred_action action = o->action;
    if (action == DEFERRED_CLIMB && !next_tier_known(f->s, row))
        action = DEFERRED_FAIL;
    static const char *const outcome_of[] = {"accepted", "escalated", "failed", ""};
    struct ledger_cost_line line;
    if (o->billed)
        line = cost_line(f, row, tier, resp, mode, outcome_of[action],
                         action == DEFERRED_ACCEPT ? NULL : o->reason, latency_ms,
                         call_id);
    const struct ledger_cost_line *lp = o->billed ? &line : NULL;
    int lines = row->lines + (o->billed ? 1 : 0);
    char error[320];
    snprintf(error, sizeof(error), "%s: %s", o->reason ? o->reason : "", o->detail);

    switch (action) {
    case DEFERRED_ACCEPT: apply_accept(f, row, tier, o, lp, mode); break;
    case DEFERRED_FAIL: apply_fail(f, row, tier, lp, mode, error); break;
    case DEFERRED_CLIMB:
        if (lp)
            add_entry(f, row, NULL, lp, NULL);
        requeue(f, row, row->step + 1, lines, 0, error, 0);
        break;
    case DEFERRED_RETRY:
        requeue(f, row, row->step, lines, row->retries + 1, error, RETRY_DELAY_MS);
        break;
    }
}

void finisher_unconfirmed(struct finisher *f, const struct pending_row *row,
                          const struct tier_conf *tier,
                          const struct llm_usage *bound, const char *reason,
                          const char *call_id, int latency_ms)
{
    struct ledger_cost_line line = {
        .attempt = row->lines + 1, .latency_ms = latency_ms,
        .outcome = "unconfirmed", .reason = reason,
        .task = keep(f, row->task_name), .feature = keep(f, row->feature),
        .tenant = keep(f, row->tenant), .cohort = keep(f, row->cohort),
        .client_request_id = keep(f, call_id),
        .filed_ms = f->s->now_ms,
    };
    pricing_bill_line(&line, tier, bound, "realtime");
    add_entry(f, row, NULL, &line, NULL);
    metrics_count(telemetry()->unconfirmed_calls, 1, tier->provider->name,
                  reason, NULL);
}

void finisher_fail(struct finisher *f, const struct pending_row *row,
                   const char *mode, const char *reason)
{
    apply_fail(f, row, pending_row_tier(f->s->cfg, row), NULL, mode, reason);
}

static bool run_rows(struct finisher *f, const char *what, const char *sql,
                     cJSON *rows)
{
    if (cJSON_GetArraySize(rows) == 0)
        return true;
    char *json = cJSON_PrintUnformatted(rows);
    const char *params[1] = {json};
    PGresult *res = sched_sql(f->s, what, sql, 1, params);
    cJSON_free(json);
    PQclear(res);
    return res != NULL;
}

bool finisher_flush(struct finisher *f)
{
    char err[512];
    bool ok = true;
    if (ledger_batch_jobs(f->batch) > 0 &&
        ledger_write_in_tx(f->s->db, f->batch, NULL, err, sizeof(err)) != SL_OK) {
        log_error("scheduler: ledger write: %s", err);
        ok = false;
    }
    ok = ok && run_rows(f, "requeue pending", SQL_REQUEUE, f->requeued);
    ok = ok && run_rows(f, "delete pending", SQL_DELETE, f->deleted);
    release(f);
    return ok;
}
