/* telemetry.c — see telemetry.h. */
#include "telemetry.h"

#include "sl.h"

static struct telemetry families;

static const char *const l_jobs[] = {"outcome", "source", "tier"};
static const char *const l_escalations[] = {"task", "from_tier"};
static const char *const l_cost[] = {"tier", "feature"};
static const char *const l_calls[] = {"provider", "model", "status"};
static const char *const l_provider[] = {"provider"};
static const char *const l_reason[] = {"reason"};
static const char *const l_task[] = {"task"};
static const char *const l_cache[] = {"task", "event"};
static const char *const l_budget[] = {"scope", "action"};
static const char *const l_tier[] = {"tier"};
static const char *const l_pending[] = {"provider", "model", "mode"};
static const char *const l_state[] = {"state"};
static const char *const l_lines[] = {"provider", "outcome"};
static const char *const l_unconfirmed[] = {"provider", "reason"};
static const char *const l_input[] = {"tier", "model", "kind"};
static const char *const l_flex[] = {"provider", "outcome"};
static const char *const l_tier_model[] = {"tier", "model"};

#define COUNTER(name, help, labels) \
    metrics_counter(m, name, help, SL_ARRAY_LEN(labels), labels)
#define GAUGE(name, help, labels) \
    metrics_gauge(m, name, help, SL_ARRAY_LEN(labels), labels)

void telemetry_init(void)
{
    if (families.registry)
        return;
    struct metrics *m = metrics_new(0);
    struct telemetry *t = &families;
    t->registry = m;
    t->jobs = COUNTER("sluice_jobs_total",
                      "Jobs finished, by outcome, answer source and tier.", l_jobs);
    t->escalations = COUNTER("sluice_escalations_total",
                             "Climbs to the next tier.", l_escalations);
    t->cost_nanodollars = COUNTER("sluice_cost_nanodollars_total",
                                  "Provider cost in nano-dollars (1e-9 USD).", l_cost);
    t->input_tokens = COUNTER("sluice_input_tokens_total",
                              "Input tokens of answered LLM calls: kind full (full input price), "
                              "cached (read from the prompt cache), cache_write (written to it).",
                              l_input);
    t->cache_write_cost = COUNTER("sluice_cache_write_nanodollars_total",
                                  "What prompt-cache writes cost, in nano-dollars (1e-9 USD).",
                                  l_tier_model);
    t->flex_calls = COUNTER("sluice_flex_calls_total",
                            "Flex calls: served at flex, unavailable (429, not billed) or "
                            "fallback (sent standard after flex 429s).", l_flex);
    t->provider_calls = COUNTER("sluice_provider_calls_total",
                                "Provider calls by final status.", l_calls);
    t->provider_retries = COUNTER("sluice_provider_retries_total",
                                  "Provider calls retried.", l_provider);
    t->provider_call_seconds = metrics_histogram(
        m, "sluice_provider_call_duration_seconds",
        "Provider call latency.", 1, l_provider, NULL, 0);
    t->inflight_calls = metrics_gauge(m, "sluice_inflight_calls",
                                      "Provider calls in flight.", 0, NULL);
    t->consumer_lag = metrics_gauge(m, "sluice_consumer_lag_messages",
                                    "Kafka messages not yet consumed.", 0, NULL);
    t->rejected = COUNTER("sluice_rejected_total",
                          "Messages rejected to the dead-letter topic.", l_reason);
    t->jobs_skipped = COUNTER("sluice_jobs_skipped_total",
                              "Messages taken from Kafka and not run here.", l_reason);
    t->unconfirmed_calls = COUNTER("sluice_unconfirmed_calls_total",
                                   "Provider requests sent without a usable answer"
                                   " (each has an unconfirmed cost line).",
                                   l_unconfirmed);
    t->dlq_truncated = COUNTER("sluice_dlq_truncated_total",
                               "Rejected messages too large for the dead-letter"
                               " topic, sent as a truncated copy.", l_reason);
    t->dlq_failed = COUNTER("sluice_dlq_failed_total",
                            "Rejected messages the dead-letter topic never took"
                            " (kept only as a rejected row).", l_reason);
    t->reconcile_diff_tokens = GAUGE("sluice_reconcile_diff_tokens",
                                     "Last reconcile: provider-reported minus ledger"
                                     " tokens (input + output) over its range.",
                                     l_provider);
    t->reconcile_diff_nanousd = GAUGE("sluice_reconcile_diff_nanodollars",
                                      "Last reconcile: provider-reported minus ledger"
                                      " cost over its range, nano-dollars.",
                                      l_provider);
    t->tier0_withdrawals = COUNTER("sluice_tier0_withdrawals_total",
                                   "Tier-0 labels or models withdrawn by live checks.",
                                   l_task);
    t->cache_events = COUNTER("sluice_cache_events_total",
                              "Answer cache events by task: lookup, exact_hit,"
                              " near_hit, check, disagreement, tightened, stopped.",
                              l_cache);
    t->budget_actions = COUNTER("sluice_budget_actions_total",
                                "Jobs affected by a reached budget.", l_budget);
    t->cost_drift_alerts = COUNTER("sluice_cost_drift_alerts_total",
                                   "Cost-per-call drift alerts raised.", l_tier);
    t->cost_drift_ratio = GAUGE("sluice_cost_drift_ratio",
                                "Last hour's cost per call over the trailing 7-day average.",
                                l_tier);
    t->pending_rows = GAUGE("sluice_pending_rows",
                            "Jobs waiting for a provider batch.", l_pending);
    t->batches = GAUGE("sluice_batches", "Provider batches by state.", l_state);
    t->batch_lines = COUNTER("sluice_batch_lines_total",
                             "Provider batch result lines ingested.", l_lines);
}

void telemetry_free(void)
{
    metrics_free(families.registry);
    families = (struct telemetry){0};
}

const struct telemetry *telemetry(void)
{
    return &families;
}

const char *telemetry_tier(int tier)
{
    static const char *const names[] = {"0", "1", "2", "3", "4",
                                        "5", "6", "7", "8"};
    return tier >= 0 && (size_t)tier < SL_ARRAY_LEN(names) ? names[tier]
                                                           : METRICS_OTHER;
}

void telemetry_count_flex_429(const char *provider, int64_t delay)
{
    metrics_count(families.provider_retries, 1, provider, NULL, NULL);
    metrics_count(families.flex_calls, 1, provider, "unavailable", NULL);
    if (delay < 0)
        metrics_count(families.flex_calls, 1, provider, "fallback", NULL);
}
