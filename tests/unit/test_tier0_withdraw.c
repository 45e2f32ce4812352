/* sources: worker/tier0_live.c lib/tier0/tier0_certify.c lib/tier0/tier0_store.c lib/tier0/tier0_model.c lib/tier0/tier0_features.c lib/db.c lib/utf8.c lib/sl.c lib/log.c lib/metrics/telemetry.c lib/metrics/metrics.c lib/config.c lib/config_table.c tests/unit/pg_fixture.c */
/* Live withdrawals against a real PostgreSQL (pg_fixture): a certified
 * model serves; shadow checks that disagree on one label withdraw it (row
 * in tier0_withdrawals) and count sluice_tier0_withdrawals_total{task}
 * once per inserted row, however many refreshes and workers find the same
 * breach again; the withdrawn label is no longer answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "job.h"
#include "pg_fixture.h"
#include "metrics/telemetry.h"
#include "tier0_live.h"
#include "tier0/tier0_store.h"

static struct pg_fixture pg;
static struct db *db;
static struct config *cfg;
static char errstr[1024];

static int group_setup(void **state)
{
    (void)state;
    db = pg_fixture_start_db(&pg, "test_tier0_withdraw", true);
    if (!db)
        return -1;
    if (config_load(SLUICE_SOURCE_DIR "/config/sluice.example.json", &cfg,
                    errstr, sizeof errstr) != 0) {
        fprintf(stderr, "setup: %s\n", errstr);
        return -1;
    }
    telemetry_init();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    telemetry_free();
    config_free(cfg);
    pg_fixture_stop_db(&pg, db);
    return 0;
}

/* The counter's value for task intent; 0 when it has no series yet. */
static double withdrawals_metric(void)
{
    static const char key[] = "sluice_tier0_withdrawals_total{task=\"intent\"} ";
    char *text = metrics_render(telemetry()->registry);
    const char *hit = strstr(text, key);
    double v = hit ? strtod(hit + strlen(key), NULL) : 0;
    free(text);
    return v;
}

static const char *words[3][4] = {
    {"card", "arrive", "delivery", "post"},
    {"refund", "money", "back", "return"},
    {"password", "login", "locked", "account"},
};
static const char *names[3] = {"shipping", "refund", "account"};

/* Trains, certifies and stores version 1 of task intent. */
static void store_model(void)
{
    size_t n = 1200; /* 240 certify rows: enough to bound 2 % at 95 % */
    char **texts = calloc(n, sizeof *texts), **labels = calloc(n, sizeof *labels);
    for (size_t i = 0; i < n; i++) {
        char buf[128];
        size_t k = i % 3;
        snprintf(buf, sizeof buf, "my %s %s please %zu", words[k][i % 4],
                 words[k][(i / 4) % 4], i % 7);
        texts[i] = strdup(buf);
        labels[i] = strdup(names[k]);
    }
    struct tier0_train_params p;
    tier0_train_params_default(&p);
    p.feat.dim_bits = 16;
    struct tier0_data *d = NULL;
    struct tier0_model *m = NULL;
    struct tier0_cert c;
    int64_t version = 0;
    assert_int_equal(tier0_data_new(&p.feat, (const char *const *)texts,
                                    (const char *const *)labels, n, &d, errstr,
                                    sizeof errstr), SL_OK);
    struct tier0_cert_opts o;
    tier0_cert_opts_default(&o);
    assert_int_equal(tier0_cert_build(d, NULL, &p, &o, &m, &c, errstr, sizeof errstr), SL_OK);
    assert_true(c.certified);
    assert_int_equal(tier0_store_save(db, "intent", m, &c, &version, errstr, sizeof errstr), SL_OK);
    assert_int_equal(version, 1);
    tier0_cert_clear(&c);
    tier0_model_free(m);
    tier0_data_free(d);
    for (size_t i = 0; i < n; i++)
        free(texts[i]), free(labels[i]);
    free(texts);
    free(labels);
}

static bool answers(const struct tier0_live *t, const char *id, const char *input,
                    const char *want_label)
{
    struct job job = {0};
    job.id = (char *)id;
    job.input = (char *)input;
    job.input_len = strlen(input);
    job.task = config_task(cfg, "intent");
    struct tier0_answer a;
    bool yes = tier0_live_answer(t, &job, &a);
    if (yes)
        assert_string_equal(a.label, want_label);
    return yes;
}

static void test_withdrawal_counted_once(void **state)
{
    (void)state;
    store_model();
    struct tier0_live *a = tier0_live_new(cfg), *b = tier0_live_new(cfg);
    int made = -1;
    assert_int_equal(tier0_live_refresh(a, db, &made, errstr, sizeof errstr), SL_OK);
    assert_int_equal(made, 0);
    assert_true(answers(a, "j-1", "my refund money please 3", "refund"));
    assert_true(answers(a, "j-2", "my card delivery please 1", "shipping"));
    assert_true(withdrawals_metric() == 0);
    /* the LLM now disagrees with every refund answer */
    PGresult *res = PQexec(db_conn(db),
        "INSERT INTO tier0_shadow (job_id, task, version, tier0_label, llm_label, agreed) "
        "SELECT 's-' || g, 'intent', 1, 'refund', 'billing', false "
        "FROM generate_series(1, 40) g");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    assert_int_equal(tier0_live_refresh(a, db, &made, errstr, sizeof errstr), SL_OK);
    long long rows = pg_fixture_query_int(
            db, "SELECT count(*) FROM tier0_withdrawals WHERE task = 'intent'");
    assert_int_equal(pg_fixture_query_int(
            db, "SELECT count(*) FROM tier0_withdrawals WHERE label = 'refund'"), 1);
    assert_true(rows >= 1);
    assert_int_equal(made, rows);
    assert_true(withdrawals_metric() == (double)rows);
    assert_false(answers(a, "j-3", "my refund money please 3", NULL));
    /* found again by the next refresh and by another worker: not recounted */
    assert_int_equal(tier0_live_refresh(a, db, &made, errstr, sizeof errstr), SL_OK);
    assert_int_equal(made, 0);
    assert_int_equal(tier0_live_refresh(b, db, &made, errstr, sizeof errstr), SL_OK);
    assert_int_equal(made, 0);
    assert_true(withdrawals_metric() == (double)rows);
    assert_false(answers(b, "j-4", "my refund money please 3", NULL));
    tier0_live_free(a);
    tier0_live_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_withdrawal_counted_once),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
