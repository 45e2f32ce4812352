/* sources: worker/budget.c lib/config.c lib/config_table.c lib/db.c lib/log.c lib/sl.c lib/metrics/telemetry.c lib/metrics/metrics.c lib/utf8.c */
/* Budgets, pure logic: a table of spends x jobs -> the decision (reached or
 * not, per feature vs tenant, the action, combined caps); plan narrowing;
 * local spend on top of refreshed totals; UTC day rollover; the free-user
 * top-tier cap; the dispatch hook (job mode, reject reason, one warning per
 * budget per day, telemetry); and the config's key-path errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "budget.h"
#include "config.h"
#include "metrics/telemetry.h"

#define USD ((int64_t)1000000000)
/* 2026-11-23T12:00:00Z */
#define NOW ((int64_t)1795435200000)
#define TODAY (NOW / BUDGET_DAY_MS)

static const char config_fmt[] =
    "{\"kafka\": {\"bootstrap_servers\": \"k:9092\"},"
    " \"postgres\": {\"conninfo\": \"dbname=t\"},"
    " \"providers\": {\"p\": {\"kind\": \"openai\", \"base_url\": \"http://x\"}},"
    " \"prices\": {\"m\": {\"input\": 1, \"output\": 1}},"
    " \"tiers\": {\"1\": {\"provider\": \"p\", \"model\": \"m\"},"
    "   \"2\": {\"provider\": \"p\", \"model\": \"m\"},"
    "   \"3\": {\"provider\": \"p\", \"model\": \"m\"}},"
    " \"tasks\": {\"a\": {\"output\": \"text\", \"prompt\": \"{{input}}\"}}"
    " %s}";

/* features: tagging (0), digest (1), chat (2); tenants: acme (0), globex (1) */
#define BUDGETS                                                                \
    ", \"budgets\": {\"features\": {"                                          \
    "   \"tagging\": {\"daily_usd\": 1, \"action\": \"cap_tier\", \"max_tier\": 1}," \
    "   \"digest\": {\"daily_usd\": 2, \"action\": \"defer\"},"                \
    "   \"chat\": {\"daily_usd\": 0.005, \"action\": \"reject\"}},"            \
    " \"tenants\": {"                                                          \
    "   \"acme\": {\"daily_usd\": 20, \"action\": \"reject\"},"                \
    "   \"globex\": {\"daily_usd\": 3, \"action\": \"cap_tier\", \"max_tier\": 2}}," \
    " \"free_top_tier_escalations_per_day\": 2}"

static struct config *load(const char *extra)
{
    char json[4096], err[512];
    struct config *cfg = NULL;
    snprintf(json, sizeof(json), config_fmt, extra);
    if (config_parse(json, "t.json", &cfg, err, sizeof(err)) != SL_OK)
        fail_msg("config: %s", err);
    return cfg;
}

static void set_totals(struct budget *b, int64_t day, const int64_t f[3],
                       const int64_t t[2], int64_t free_top, int64_t now)
{
    budget_set_totals(b, &(struct budget_totals){day, f, t, free_top}, now);
}

/* ---- decisions ---- */

struct decide_case {
    int64_t f[3], t[2], free_top;
    const char *feature, *tenant, *user_tier;
    bool reject, defer, free_cap;
    int max_tier;
    size_t n_hits;
    const char *reason;
};

static const struct decide_case decide_cases[] = {
    /* nothing spent: nothing applies */
    {{0, 0, 0}, {0, 0}, 0, "tagging", "acme", "paid", false, false, false, 0, 0, ""},
    /* one nano-dollar short is not reached; exactly the budget is */
    {{USD - 1, 0, 0}, {0, 0}, 0, "tagging", "", "", false, false, false, 0, 0, ""},
    {{USD, 0, 0}, {0, 0}, 0, "tagging", "", "", false, false, false, 1, 1, ""},
    /* a feature's budget touches only that feature's jobs */
    {{5 * USD, 5 * USD, 5 * USD}, {0, 0}, 0, "other", "acme", "", false, false, false, 0, 0, ""},
    {{5 * USD, 0, 0}, {0, 0}, 0, "digest", "", "", false, false, false, 0, 0, ""},
    {{0, 2 * USD, 0}, {0, 0}, 0, "digest", "", "", false, true, false, 0, 1, ""},
    {{0, 0, USD / 200}, {0, 0}, 0, "chat", "", "", true, false, false, 0, 1,
     "budget: feature chat reached its daily budget of $0.005"},
    /* a tenant's budget touches only that tenant's jobs, whatever feature */
    {{0, 0, 0}, {20 * USD, 0}, 0, "tagging", "acme", "", true, false, false, 0, 1,
     "budget: tenant acme reached its daily budget of $20.00"},
    {{0, 0, 0}, {20 * USD, 0}, 0, "tagging", "globex", "", false, false, false, 0, 0, ""},
    {{0, 0, 0}, {0, 3 * USD}, 0, "", "globex", "", false, false, false, 2, 1, ""},
    /* feature and tenant both reached: caps combine to the lower one */
    {{USD, 0, 0}, {0, 3 * USD}, 0, "tagging", "globex", "", false, false, false, 1, 2, ""},
    /* defer and a cap combine; reject wins, with its own reason */
    {{0, 2 * USD, 0}, {0, 3 * USD}, 0, "digest", "globex", "", false, true, false, 2, 2, ""},
    {{USD, 0, 0}, {20 * USD, 0}, 0, "tagging", "acme", "", true, false, false, 1, 2,
     "budget: tenant acme reached its daily budget of $20.00"},
    /* jobs without feature or tenant match no budget */
    {{9 * USD, 9 * USD, 9 * USD}, {99 * USD, 99 * USD}, 0, "", "", "", false, false, false, 0, 0, ""},
    /* free users: the cap applies at the count, to free users only */
    {{0, 0, 0}, {0, 0}, 1, "", "", "free", false, false, false, 0, 0, ""},
    {{0, 0, 0}, {0, 0}, 2, "", "", "free", false, false, true, 0, 0, ""},
    {{0, 0, 0}, {0, 0}, 2, "", "", "paid", false, false, false, 0, 0, ""},
};

static void test_decide(void **state)
{
    (void)state;
    struct config *cfg = load(BUDGETS);
    for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
        const struct decide_case *c = &decide_cases[i];
        struct budget *b = budget_new(cfg);
        struct budget_decision d;
        set_totals(b, TODAY, c->f, c->t, c->free_top, NOW);
        budget_decide(b, c->feature, c->tenant, c->user_tier, NOW, &d);
        if (d.reject != c->reject || d.defer != c->defer ||
            d.free_cap != c->free_cap || d.max_tier != c->max_tier ||
            d.n_hits != c->n_hits || strcmp(d.reason, c->reason) != 0)
            fail_msg("case %zu: reject=%d defer=%d free_cap=%d max_tier=%d "
                     "hits=%zu reason='%s'", i, d.reject, d.defer, d.free_cap,
                     d.max_tier, d.n_hits, d.reason);
        budget_free(b);
    }
    config_free(cfg);
}

static void test_hits_name_scope(void **state)
{
    (void)state;
    struct config *cfg = load(BUDGETS);
    struct budget *b = budget_new(cfg);
    struct budget_decision d;
    set_totals(b, TODAY, (int64_t[]){USD + 7, 0, 0}, (int64_t[]){0, 4 * USD},
               0, NOW);
    budget_decide(b, "tagging", "globex", "", NOW, &d);
    assert_int_equal(d.n_hits, 2);
    assert_string_equal(d.hits[0].scope, "feature");
    assert_string_equal(d.hits[0].conf->name, "tagging");
    assert_int_equal(d.hits[0].spent_nanousd, USD + 7);
    assert_string_equal(d.hits[1].scope, "tenant");
    assert_string_equal(d.hits[1].conf->name, "globex");
    assert_int_equal(d.hits[1].conf->action, BUDGET_CAP_TIER);
    budget_free(b);
    config_free(cfg);
}

/* ---- plans ---- */

struct plan_case {
    int max_tier;
    bool free_cap;
    int in[4];
    size_t in_n;
    int want[4];
    size_t want_n;
};

static const struct plan_case plan_cases[] = {
    {0, false, {1, 2, 3}, 3, {1, 2, 3}, 3},
    {1, false, {1, 2, 3}, 3, {1}, 1},
    {2, false, {1, 3}, 2, {1}, 1},
    {0, true, {1, 2, 3}, 3, {1, 2}, 2},
    {2, true, {2, 3}, 2, {2}, 1},
    /* never stranded: the cheapest tier of the plan stays */
    {1, false, {2, 3}, 2, {2}, 1},
    {0, true, {3}, 1, {3}, 1},
};

static void test_apply_plan(void **state)
{
    (void)state;
    struct config *cfg = load(BUDGETS);
    for (size_t i = 0; i < sizeof(plan_cases) / sizeof(plan_cases[0]); i++) {
        const struct plan_case *c = &plan_cases[i];
        struct route_plan p = {.n = c->in_n};
        memcpy(p.tiers, c->in, c->in_n * sizeof(int));
        struct budget_decision d = {.max_tier = c->max_tier, .free_cap = c->free_cap};
        budget_apply_plan(cfg, &d, &p);
        assert_int_equal(p.n, c->want_n);
        for (size_t k = 0; k < p.n; k++)
            assert_int_equal(p.tiers[k], c->want[k]);
    }
    config_free(cfg);
}

/* ---- accounting ---- */

static struct ledger_cost_line line(int tier, int64_t cost)
{
    return (struct ledger_cost_line){.tier = tier, .cost_nanousd = cost};
}

static bool reached(struct budget *b, const char *feature, const char *tenant,
                    int64_t now)
{
    struct budget_decision d;
    budget_decide(b, feature, tenant, "", now, &d);
    return d.n_hits > 0;
}

static void test_local_spend(void **state)
{
    (void)state;
    struct config *cfg = load(BUDGETS);
    struct budget *b = budget_new(cfg);
    set_totals(b, TODAY, (int64_t[]){USD / 2, 0, 0}, (int64_t[]){0, 0}, 0, NOW);
    struct ledger_cost_line lines[] = {line(1, USD / 4), line(2, USD / 4 - 1)};
    budget_add_job(b, "tagging", "globex", "paid", lines, 2, NOW);
    assert_false(reached(b, "tagging", "", NOW));
    budget_add_job(b, "tagging", "", "paid", lines, 1, NOW);
    assert_true(reached(b, "tagging", "", NOW));
    /* the same spend went to the tenant, and to no other feature */
    assert_false(reached(b, "digest", "", NOW));
    budget_add_job(b, "x", "globex", "", (struct ledger_cost_line[]){line(1, 3 * USD)}, 1, NOW);
    assert_true(reached(b, "", "globex", NOW));
    /* a refresh replaces the view: local spend is assumed to be in it */
    set_totals(b, TODAY, (int64_t[]){USD / 2, 0, 0}, (int64_t[]){0, 0}, 0, NOW);
    assert_false(reached(b, "tagging", "", NOW));
    assert_false(reached(b, "", "globex", NOW));
    budget_free(b);
    config_free(cfg);
}

static void test_day_rollover(void **state)
{
    (void)state;
    struct config *cfg = load(BUDGETS);
    struct budget *b = budget_new(cfg);
    int64_t tomorrow = (TODAY + 1) * BUDGET_DAY_MS; /* 00:00:00.000 UTC */
    set_totals(b, TODAY, (int64_t[]){USD, 0, 0}, (int64_t[]){0, 0}, 0, NOW);
    budget_add_job(b, "", "acme", "", (struct ledger_cost_line[]){line(1, 20 * USD)}, 1, NOW);
    assert_true(reached(b, "tagging", "", tomorrow - 1));
    assert_true(reached(b, "", "acme", tomorrow - 1));
    /* a new UTC day: yesterday's spend counts for nothing */
    assert_false(reached(b, "tagging", "", tomorrow));
    assert_false(reached(b, "", "acme", tomorrow));
    /* the first spend of the new day starts from zero */
    budget_add_job(b, "tagging", "", "", (struct ledger_cost_line[]){line(1, USD / 2)}, 1, tomorrow);
    assert_false(reached(b, "tagging", "", tomorrow));
    /* totals read for yesterday (a refresh across midnight) are ignored */
    set_totals(b, TODAY, (int64_t[]){5 * USD, 0, 0}, (int64_t[]){0, 0}, 0, tomorrow);
    assert_false(reached(b, "tagging", "", tomorrow));
    budget_add_job(b, "tagging", "", "", (struct ledger_cost_line[]){line(1, USD / 2)}, 1, tomorrow);
    assert_true(reached(b, "tagging", "", tomorrow));
    budget_free(b);
    config_free(cfg);
}

static bool free_capped(struct budget *b)
{
    struct budget_decision d;
    budget_decide(b, "", "", "free", NOW, &d);
    return d.free_cap;
}

static void test_free_cap(void **state)
{
    (void)state;
    struct config *cfg = load(BUDGETS);
    struct budget *b = budget_new(cfg);
    struct ledger_cost_line climb[] = {line(1, 1), line(2, 1), line(3, 1)};
    struct ledger_cost_line below[] = {line(1, 1), line(2, 1)};
    struct ledger_cost_line started_top[] = {line(3, 1)};
    set_totals(b, TODAY, (int64_t[]){0, 0, 0}, (int64_t[]){0, 0}, 1, NOW);
    /* not escalations to the top tier, or not a free user: not counted */
    budget_add_job(b, "", "", "free", below, 2, NOW);
    budget_add_job(b, "", "", "free", started_top, 1, NOW);
    budget_add_job(b, "", "", "paid", climb, 3, NOW);
    assert_false(free_capped(b));
    budget_add_job(b, "", "", "free", climb, 3, NOW);
    assert_true(free_capped(b));
    /* the hook drops the top tier for free users only */
    struct job job = {.feature = "", .tenant = "", .user_tier = "free"};
    struct route_plan p = {{1, 2, 3}, 3};
    struct budget_decision d;
    assert_false(budget_check(b, &job, &p, NOW, &d));
    assert_int_equal(p.n, 2);
    assert_int_equal(p.tiers[1], 2);
    job.user_tier = "paid";
    p = (struct route_plan){{1, 2, 3}, 3};
    assert_false(budget_check(b, &job, &p, NOW, &d));
    assert_int_equal(p.n, 3);
    /* the next day the cap is fresh */
    assert_false(reached(b, "", "", NOW + BUDGET_DAY_MS));
    struct budget_decision d2;
    budget_decide(b, "", "", "free", NOW + BUDGET_DAY_MS, &d2);
    assert_false(d2.free_cap);
    budget_free(b);
    config_free(cfg);
}

/* ---- the dispatch hook: effects, log, telemetry ---- */

static double actions(const char *scope, const char *action)
{
    const char *v[] = {scope, action};
    return metric_value(metric_series(telemetry()->budget_actions, v));
}

/* Runs fn with stderr going to a temp file; returns the number of lines
 * containing needle. */
static int count_log_lines(void (*fn)(void *), void *arg, const char *needle)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn(arg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    char buf[1024];
    int n = 0;
    while (fgets(buf, sizeof(buf), tmp))
        if (strstr(buf, needle))
            n++;
    fclose(tmp);
    return n;
}

struct hook_ctx {
    struct budget *b;
    int64_t now;
    int jobs;
    bool rejected[8];
    enum job_mode modes[8];
    size_t plan_n[8];
    char reason[256];
};

static void run_jobs(void *arg)
{
    struct hook_ctx *h = arg;
    static const char *const features[] = {"chat", "digest", "tagging", "other"};
    for (int i = 0; i < h->jobs; i++) {
        struct job job = {.feature = (char *)features[i % 4], .tenant = "",
                          .user_tier = "", .mode = MODE_INTERACTIVE};
        struct route_plan p = {{1, 2, 3}, 3};
        struct budget_decision d;
        h->rejected[i] = budget_check(h->b, &job, &p, h->now, &d);
        h->modes[i] = job.mode;
        h->plan_n[i] = p.n;
        if (h->rejected[i])
            sl_strlcpy(h->reason, d.reason, sizeof(h->reason));
    }
}

static void test_check_hook(void **state)
{
    (void)state;
    telemetry_init();
    struct config *cfg = load(BUDGETS);
    struct budget *b = budget_new(cfg);
    set_totals(b, TODAY, (int64_t[]){USD, 2 * USD, USD}, (int64_t[]){0, 0}, 0, NOW);
    struct hook_ctx h = {.b = b, .now = NOW, .jobs = 8};
    /* 8 jobs, two per feature: one warning per reached budget */
    assert_int_equal(count_log_lines(run_jobs, &h, "budget reached: scope=feature"), 3);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(h.rejected[i], i % 4 == 0);
        assert_int_equal(h.modes[i], i % 4 == 1 ? MODE_OFFPEAK : MODE_INTERACTIVE);
        if (i % 4 == 2)
            assert_int_equal(h.plan_n[i], 1);
        if (i % 4 == 1 || i % 4 == 3)
            assert_int_equal(h.plan_n[i], 3);
    }
    assert_string_equal(h.reason, "budget: feature chat reached its daily budget of $0.005");
    assert_int_equal((int)actions("feature", "reject"), 2);
    assert_int_equal((int)actions("feature", "defer"), 2);
    assert_int_equal((int)actions("feature", "cap_tier"), 2);
    /* the same day again: no new warning, every job still counted */
    assert_int_equal(count_log_lines(run_jobs, &h, "budget reached"), 0);
    assert_int_equal((int)actions("feature", "reject"), 4);
    /* the next day, once reached again, warns again */
    h.now = NOW + BUDGET_DAY_MS;
    budget_add_job(b, "chat", "", "", (struct ledger_cost_line[]){line(1, USD)}, 1, h.now);
    assert_int_equal(count_log_lines(run_jobs, &h, "scope=feature name=chat spent_usd=1.000000 "
                                                   "budget_usd=0.005000 action=reject"), 1);
    budget_free(b);
    config_free(cfg);
    telemetry_free();
}

/* ---- config ---- */

struct config_case {
    const char *budgets;
    const char *error; /* NULL: valid */
};

static const struct config_case config_cases[] = {
    {"", NULL},
    {", \"budgets\": {}", NULL},
    {", \"budgets\": {\"features\": {\"f\": {\"daily_usd\": 0, \"action\": \"reject\"}}}", NULL},
    {", \"budgets\": {\"feature\": {}}", "t.json: budgets.feature: unknown key"},
    {", \"budgets\": {\"features\": {\"f\": {\"action\": \"reject\"}}}",
     "t.json: budgets.features.f.daily_usd: missing (required)"},
    {", \"budgets\": {\"features\": {\"f\": {\"daily_usd\": -1, \"action\": \"reject\"}}}",
     "t.json: budgets.features.f.daily_usd: must be in [0, 1e+06]"},
    {", \"budgets\": {\"tenants\": {\"t\": {\"daily_usd\": 1, \"action\": \"stop\"}}}",
     "t.json: budgets.tenants.t.action: must be \"cap_tier\", \"defer\" or \"reject\""},
    {", \"budgets\": {\"tenants\": {\"t\": {\"daily_usd\": 1, \"action\": \"cap_tier\"}}}",
     "t.json: budgets.tenants.t.max_tier: missing (required for action cap_tier)"},
    {", \"budgets\": {\"tenants\": {\"t\": {\"daily_usd\": 1, \"action\": \"cap_tier\", \"max_tier\": 9}}}",
     "t.json: budgets.tenants.t.max_tier: must be in [1, 8]"},
    {", \"budgets\": {\"tenants\": {\"t\": {\"daily_usd\": 1, \"action\": \"cap_tier\", \"max_tier\": 4}}}",
     "t.json: budgets.tenants.t.max_tier: tier 4 is not defined in tiers"},
    {", \"budgets\": {\"tenants\": {\"t\": {\"daily_usd\": 1, \"action\": \"reject\", \"max_tier\": 1}}}",
     "t.json: budgets.tenants.t.max_tier: only action cap_tier takes max_tier"},
    {", \"budgets\": {\"tenants\": {\"t\": {\"daily_usd\": 1, \"action\": \"reject\", \"x\": 1}}}",
     "t.json: budgets.tenants.t.x: unknown key"},
    {", \"budgets\": {\"tenants\": {\"t\": 1}}", "t.json: budgets.tenants.t: must be an object"},
    {", \"budgets\": {\"free_top_tier_escalations_per_day\": 1.5}",
     "t.json: budgets.free_top_tier_escalations_per_day: must be an integer"},
    {", \"budgets\": {\"refresh_ms\": 10}", "t.json: budgets.refresh_ms: must be in [100, 3600000]"},
    {", \"alerts\": {\"cost_drift_factor\": 0.5}",
     "t.json: alerts.cost_drift_factor: must be in [1, 1000]"},
    {", \"alerts\": {\"cost_drift_min_calls\": 0}",
     "t.json: alerts.cost_drift_min_calls: must be in [1, 1000000000]"},
    {", \"alerts\": {\"check_every\": 5}", "t.json: alerts.check_every: unknown key"},
};

static void test_config(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(config_cases) / sizeof(config_cases[0]); i++) {
        char json[4096], err[512] = "";
        struct config *cfg = NULL;
        snprintf(json, sizeof(json), config_fmt, config_cases[i].budgets);
        int rc = config_parse(json, "t.json", &cfg, err, sizeof(err));
        if (!config_cases[i].error) {
            if (rc != SL_OK)
                fail_msg("case %zu: %s", i, err);
        } else if (rc != SL_ECONFIG || strcmp(err, config_cases[i].error) != 0) {
            fail_msg("case %zu: got '%s'", i, err);
        }
        config_free(cfg);
    }
}

static void test_config_values(void **state)
{
    (void)state;
    struct config *cfg = load(BUDGETS ", \"alerts\": {\"cost_drift_factor\": 2,"
                                      " \"cost_drift_min_calls\": 10, \"check_every_s\": 0}");
    const struct budgets_conf *b = &cfg->budgets;
    assert_int_equal(b->n_features, 3);
    assert_int_equal(b->n_tenants, 2);
    assert_string_equal(b->features[2].name, "chat");
    assert_int_equal(b->features[2].daily_nanousd, 5000000);
    assert_int_equal(b->features[2].action, BUDGET_REJECT);
    assert_int_equal(b->tenants[1].max_tier, 2);
    assert_int_equal(b->free_top_tier_escalations_per_day, 2);
    assert_int_equal(b->refresh_ms, 5000);
    assert_true(cfg->alerts.cost_drift_factor == 2.0);
    assert_int_equal(cfg->alerts.cost_drift_min_calls, 10);
    assert_int_equal(cfg->alerts.check_every_s, 0);
    config_free(cfg);
    /* defaults: no budgets, no cap, drift checked every 5 minutes */
    cfg = load("");
    struct budget *bud = budget_new(cfg);
    assert_false(budget_enabled(bud));
    assert_int_equal(cfg->budgets.free_top_tier_escalations_per_day, -1);
    assert_true(cfg->alerts.cost_drift_factor == 1.5);
    assert_int_equal(cfg->alerts.cost_drift_min_calls, 50);
    assert_int_equal(cfg->alerts.check_every_s, 300);
    budget_free(bud);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_hits_name_scope),
        cmocka_unit_test(test_apply_plan),
        cmocka_unit_test(test_local_spend),
        cmocka_unit_test(test_day_rollover),
        cmocka_unit_test(test_free_cap),
        cmocka_unit_test(test_check_hook),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
