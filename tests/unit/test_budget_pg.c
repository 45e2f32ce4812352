/* sources: worker/budget.c worker/cost_drift.c lib/config.c lib/config_table.c lib/db.c lib/log.c lib/sl.c lib/metrics/telemetry.c lib/metrics/metrics.c lib/utf8.c tests/unit/pg_fixture.c */
/* Budgets and cost drift against a real PostgreSQL (pg_fixture, all
 * migrations): budget_refresh sums today's UTC spend per budgeted feature
 * and tenant and counts free users' top-tier escalations, ignoring other
 * days and other names; cost_drift_check stays quiet on a flat history and
 * fires, logs and counts when the last hour costs twice as much per call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "budget.h"
#include "config.h"
#include "cost_drift.h"
#include "db.h"
#include "pg_fixture.h"
#include "metrics/telemetry.h"

#define USD ((int64_t)1000000000)

static struct pg_fixture pg;
static struct db *db;
static char errstr[512];

static int group_setup(void **state)
{
    (void)state;
    db = pg_fixture_start_db(&pg, "test_budget_pg", true);
    return db ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    pg_fixture_stop_db(&pg, db);
    return 0;
}

/* n cost lines of cost each at `at` (an SQL timestamptz expression). */
static void add_lines(int n, const char *prefix, int attempt, int tier,
                      const char *feature, const char *tenant, int64_t cost,
                      const char *at)
{
    char q[2048];
    snprintf(q, sizeof q,
             "INSERT INTO cost_lines (job_id, attempt, tier, provider, model, mode,"
             " tokens_in, tokens_cached_in, tokens_out, cost_nanousd,"
             " baseline_nanousd, latency_ms, outcome, task, feature, tenant,"
             " cohort, created_at)"
             " SELECT '%s-' || i, %d, %d, 'p', 'm', 'realtime', 1, 0, 1, %lld,"
             " 0, 1, 'accepted', 't', '%s', '%s', '', %s"
             " FROM generate_series(1, %d) i",
             prefix, attempt, tier, (long long)cost, feature, tenant, at, n);
    pg_fixture_exec(db, q);
}

static const char config_fmt[] =
    "{\"kafka\": {\"bootstrap_servers\": \"k:9092\"},"
    " \"postgres\": {\"conninfo\": \"dbname=t\"},"
    " \"providers\": {\"p\": {\"kind\": \"openai\", \"base_url\": \"http://x\"}},"
    " \"prices\": {\"m\": {\"input\": 1, \"output\": 1}},"
    " \"tiers\": {\"1\": {\"provider\": \"p\", \"model\": \"m\"},"
    "   \"2\": {\"provider\": \"p\", \"model\": \"m\"},"
    "   \"3\": {\"provider\": \"p\", \"model\": \"m\"}},"
    " \"tasks\": {\"a\": {\"output\": \"text\", \"prompt\": \"{{input}}\"}},"
    " \"budgets\": {\"features\": {"
    "   \"tag'ging\": {\"daily_usd\": 1, \"action\": \"cap_tier\", \"max_tier\": 1},"
    "   \"digest\": {\"daily_usd\": 1, \"action\": \"defer\"}},"
    " \"tenants\": {\"acme\": {\"daily_usd\": 2, \"action\": \"reject\"},"
    "   \"q\\\"u\\\\o,{}\": {\"daily_usd\": 1, \"action\": \"reject\"}},"
    " \"free_top_tier_escalations_per_day\": 3}}";

static bool hit(struct budget *b, const char *feature, const char *tenant,
                int64_t now)
{
    struct budget_decision d;
    budget_decide(b, feature, tenant, "", now, &d);
    return d.n_hits > 0;
}

static void add_job(const char *id, const char *user_tier)
{
    char q[512];
    snprintf(q, sizeof q,
             "INSERT INTO jobs (job_id, task, mode, user_tier, input_chars,"
             " received_at) VALUES ('%s', 't', 'interactive', '%s', 1, now())",
             id, user_tier);
    pg_fixture_exec(db, q);
}

static void test_budget_refresh(void **state)
{
    (void)state;
    struct config *cfg = NULL;
    if (config_parse(config_fmt, "t.json", &cfg, errstr, sizeof errstr) != SL_OK)
        fail_msg("%s", errstr);
    struct budget *b = budget_new(cfg);
    long long day_s = (long long)(sl_now_ms() / BUDGET_DAY_MS) * 86400;
    int64_t now = (day_s + 43200) * 1000; /* today 12:00 UTC */
    char first[64], last[64], before[64], after[64];
    snprintf(first, sizeof first, "to_timestamp(%lld)", day_s);
    snprintf(last, sizeof last, "to_timestamp(%lld.999)", day_s + 86399);
    snprintf(before, sizeof before, "to_timestamp(%lld.999)", day_s - 1);
    snprintf(after, sizeof after, "to_timestamp(%lld)", day_s + 86400);
    pg_fixture_exec(db, "TRUNCATE cost_lines, jobs CASCADE");
    /* tag'ging: 0.6 at 00:00:00.000 + 0.4 at 23:59:59.999 = 1: reached */
    add_lines(6, "t1", 1, 1, "tag''ging", "acme", USD / 10, first);
    add_lines(4, "t2", 1, 1, "tag''ging", "", USD / 10, last);
    /* digest: 0.9 today; the 5 of yesterday and of tomorrow do not count */
    add_lines(9, "d1", 1, 2, "digest", "globex", USD / 10, first);
    add_lines(5, "d2", 1, 2, "digest", "globex", USD, before);
    add_lines(5, "d3", 1, 2, "digest", "globex", USD, after);
    /* acme: 0.6 from tag'ging + 1.3 elsewhere = 1.9: not reached */
    add_lines(1, "a1", 1, 3, "other", "acme", USD * 13 / 10, first);

    assert_int_equal(budget_refresh(b, db, now, errstr, sizeof errstr), SL_OK);
    assert_true(hit(b, "tag'ging", "", now));
    assert_false(hit(b, "digest", "", now));
    assert_false(hit(b, "", "acme", now));
    assert_false(hit(b, "other", "globex", now));
    /* names with the characters a text[] literal must escape */
    assert_false(hit(b, "", "q\"u\\o,{}", now));
    add_lines(1, "q1", 1, 1, "", "q\"u\\o,{}", USD, first);
    assert_int_equal(budget_refresh(b, db, now, errstr, sizeof errstr), SL_OK);
    assert_true(hit(b, "", "q\"u\\o,{}", now));
    /* another worker's line arrives; the next refresh sees it */
    add_lines(1, "a2", 1, 1, "x", "acme", USD / 10, first);
    assert_int_equal(budget_refresh(b, db, now, errstr, sizeof errstr), SL_OK);
    assert_true(hit(b, "", "acme", now));
    /* at tomorrow's noon the same rows are the previous day's or ignored */
    assert_int_equal(budget_refresh(b, db, now + BUDGET_DAY_MS, errstr, sizeof errstr), SL_OK);
    assert_false(hit(b, "tag'ging", "", now + BUDGET_DAY_MS));
    assert_true(hit(b, "digest", "", now + BUDGET_DAY_MS)); /* the 5 of d3 */

    /* free users: escalations into the top tier (3) today, by free users */
    add_job("f1", "free"); add_job("f2", "free"); add_job("f3", "free");
    add_job("p1", "paid"); add_job("f4", "free"); add_job("f5", "free");
    add_lines(1, "f1", 2, 3, "", "", 1, first);   /* counted */
    add_lines(1, "f2", 3, 3, "", "", 1, last);    /* counted */
    add_lines(1, "f3", 1, 3, "", "", 1, first);   /* started on top: no */
    add_lines(1, "p1", 2, 3, "", "", 1, first);   /* paid: no */
    add_lines(1, "f4", 2, 2, "", "", 1, first);   /* not the top tier: no */
    add_lines(1, "f5", 2, 3, "", "", 1, before);  /* yesterday: no */
    pg_fixture_exec(db, "UPDATE cost_lines SET job_id = substr(job_id, 1, 2) WHERE job_id LIKE 'f_-1' OR job_id = 'p1-1'");
    struct budget_decision d;
    assert_int_equal(budget_refresh(b, db, now, errstr, sizeof errstr), SL_OK);
    budget_decide(b, "", "", "free", now, &d);
    assert_false(d.free_cap); /* 2 of 3 */
    add_job("f6", "free");
    add_lines(1, "f6", 2, 3, "", "", 1, first);
    pg_fixture_exec(db, "UPDATE cost_lines SET job_id = 'f6' WHERE job_id = 'f6-1'");
    assert_int_equal(budget_refresh(b, db, now, errstr, sizeof errstr), SL_OK);
    budget_decide(b, "", "", "free", now, &d);
    assert_true(d.free_cap);
    budget_free(b);
    config_free(cfg);
}

/* Runs a drift check with stderr captured; returns the alerts and copies
 * the log into buf. */
static int drift_check(const struct alerts_conf *a, int64_t now, char *buf,
                       size_t size)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    int alerts = -1;
    int rc = cost_drift_check(db, a, now, &alerts, errstr, sizeof errstr);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, size - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    if (rc != SL_OK)
        fail_msg("drift check: %s", errstr);
    return alerts;
}

static double metric(struct metric_family *f, const char *tier)
{
    const char *v[] = {tier};
    return metric_value(metric_series(f, v));
}

static void test_cost_drift(void **state)
{
    (void)state;
    telemetry_init();
    struct alerts_conf a = {1.5, 50, 300, 0};
    int64_t now = sl_now_ms();
    char log[4096], at[160];
    long long now_s = (long long)(now / 1000);
    pg_fixture_exec(db, "TRUNCATE cost_lines, jobs CASCADE");
    /* 7 days before the last hour, flat: tiers 1 and 2 at 1000 and 2000 per
     * call, 600 calls each spread over the window */
    snprintf(at, sizeof at, "to_timestamp(%lld) - interval '1 hour' - i * interval '1000 s'", now_s);
    add_lines(600, "w1", 1, 1, "f", "t", 1000, at);
    add_lines(600, "w2", 1, 2, "f", "t", 2000, at);
    /* the last hour: the same per-call cost, 60 calls each */
    snprintf(at, sizeof at, "to_timestamp(%lld) - i * interval '50 s'", now_s);
    add_lines(60, "h1", 1, 1, "f", "t", 1000, at);
    add_lines(60, "h2", 1, 2, "f", "t", 2000, at);
    assert_int_equal(drift_check(&a, now, log, sizeof log), 0);
    assert_null(strstr(log, "cost drift"));
    assert_true(fabs(metric(telemetry()->cost_drift_ratio, "2") - 1.0) < 1e-9);

    /* tier 2's last hour now costs twice as much per call */
    pg_fixture_exec(db, "UPDATE cost_lines SET cost_nanousd = 4000 WHERE job_id LIKE 'h2-%'");
    assert_int_equal(drift_check(&a, now, log, sizeof log), 1);
    assert_non_null(strstr(log, "cost drift: tier=2 hour_avg_usd=0.000004000 "
                                "week_avg_usd=0.000002000 ratio=2.00 factor=1.50 "
                                "hour_calls=60 week_calls=600"));
    assert_null(strstr(log, "tier=1 "));
    assert_true(metric(telemetry()->cost_drift_alerts, "2") == 1.0);
    assert_true(metric(telemetry()->cost_drift_alerts, "1") == 0.0);
    assert_true(fabs(metric(telemetry()->cost_drift_ratio, "2") - 2.0) < 1e-9);
    assert_true(fabs(metric(telemetry()->cost_drift_ratio, "1") - 1.0) < 1e-9);

    /* too few calls in the last hour: the ratio is kept, no alert */
    a.cost_drift_min_calls = 61;
    assert_int_equal(drift_check(&a, now, log, sizeof log), 0);
    /* lines older than 7 days and in the future are outside both windows */
    a.cost_drift_min_calls = 50;
    snprintf(at, sizeof at, "to_timestamp(%lld) - interval '8 days'", now_s);
    add_lines(1000, "old", 1, 2, "f", "t", 100000, at);
    snprintf(at, sizeof at, "to_timestamp(%lld) + interval '1 s'", now_s);
    add_lines(1000, "new", 1, 2, "f", "t", 1, at);
    assert_int_equal(drift_check(&a, now, log, sizeof log), 1);
    assert_non_null(strstr(log, "ratio=2.00"));
    telemetry_free();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_refresh),
        cmocka_unit_test(test_cost_drift),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
