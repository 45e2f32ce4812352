/* sources: lib/tier0/tier0_train.c lib/tier0/tier0_store.c lib/tier0/tier0_certify.c lib/tier0/tier0_model.c lib/tier0/tier0_features.c lib/db.c lib/config.c lib/config_table.c lib/log.c lib/sl.c tests/unit/pg_fixture.c tests/unit/fixture.c */
/* The tier-0 training pipeline against a real PostgreSQL (pg_fixture):
 * retention deletes traces older than tasks.<t>.tier0.trace_retention_days
 * (in batches) and keeps newer ones, then the task is trained, certified
 * and stored as its next version; a retention of 0 keeps everything; a
 * missing or non-label task is refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "db.h"
#include "fixture.h"
#include "pg_fixture.h"
#include "tier0/tier0_store.h"
#include "tier0/tier0_train.h"

static struct pg_fixture pg;
static struct db *db;
static struct config *cfg;
static char errstr[1024];

static int group_setup(void **state)
{
    (void)state;
    db = pg_fixture_start_db(&pg, "test_tier0_train", true);
    if (!db)
        return -1;
    if (config_load(SLUICE_SOURCE_DIR "/config/sluice.example.json", &cfg,
                    errstr, sizeof errstr) != 0) {
        fprintf(stderr, "setup: %s\n", errstr);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    config_free(cfg);
    pg_fixture_stop_db(&pg, db);
    return 0;
}

static void add_trace(const char *task, const char *text, const char *label)
{
    struct tier0_trace t = {task, text, label, 1, "gpt-test", 0.9};
    if (tier0_store_add_trace(db, &t, errstr, sizeof errstr) != SL_OK)
        fail_msg("add trace: %s", errstr);
}

/* Three intents with distinct vocabularies: easy to certify. */
static void add_intents(const char *task, size_t n)
{
    static const char *words[3][4] = {
        {"card", "arrive", "delivery", "post"},
        {"refund", "money", "back", "return"},
        {"pin", "blocked", "locked", "code"},
    };
    static const char *names[3] = {"shipping", "refund", "account"};
    for (size_t i = 0; i < n; i++) {
        char buf[128];
        size_t k = i % 3;
        snprintf(buf, sizeof buf, "my %s %s please %zu", words[k][i % 4],
                 words[k][(i / 4) % 4], i % 7);
        add_trace(task, buf, names[k]);
    }
}

/* Backdates the newest trace of a task by `days`. */
static void age_newest(const char *task, int days)
{
    char q[256];
    snprintf(q, sizeof q, "UPDATE traces SET created_at = now() - interval '%d days' "
             "WHERE id = (SELECT max(id) FROM traces WHERE task = '%s')", days, task);
    pg_fixture_exec(db, q);
}

static void test_prune_then_train(void **state)
{
    (void)state;
    add_intents("intent", 1200);
    add_trace("intent", "old enough to go", "refund");
    age_newest("intent", 91);
    add_trace("intent", "old but within retention", "refund");
    age_newest("intent", 89);
    add_trace("priority", "another task's old trace", "low");
    age_newest("priority", 200);
    struct tier0_train_report r;
    int rc = tier0_train_task(cfg, db, "intent", &r, errstr, sizeof errstr);
    if (rc != SL_OK)
        fail_msg("train: %s", errstr);
    assert_int_equal(r.pruned, 1);
    assert_int_equal(r.traces, 1201);
    assert_int_equal(r.version, 1);
    /* certified on held-out rows, not on what trained it: 40 % of so few
     * traces (tier0_cert_share_for) */
    assert_true(r.cert.n_traces >= 475 && r.cert.n_traces <= 485);
    assert_true(r.cert.certified);
    assert_non_null(r.model);
    assert_int_equal(tier0_model_n_labels(r.model), 3);
    assert_int_equal(pg_fixture_query_int(
            db, "SELECT count(*) FROM traces WHERE input_norm = 'old enough to go'"), 0);
    assert_int_equal(pg_fixture_query_int(
            db, "SELECT count(*) FROM traces WHERE input_norm = 'old but within retention'"), 1);
    /* retention is per task */
    assert_int_equal(pg_fixture_query_int(
            db, "SELECT count(*) FROM traces WHERE task = 'priority'"), 1);
    assert_int_equal(pg_fixture_query_int(
            db, "SELECT count(*) FROM tier0_models WHERE task = 'intent' "
                "AND version = 1 AND cardinality(certified_labels) = 3"), 1);
    tier0_train_report_clear(&r);
    /* the next run stores the next version and prunes nothing new */
    struct tier0_train_opts o = {0.95, 0, 2};
    rc = tier0_train_task_opts(cfg, db, "intent", &o, &r, errstr, sizeof errstr);
    if (rc != SL_OK)
        fail_msg("train: %s", errstr);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.pruned, 0);
    assert_float_equal(r.cert.target, 0.95, 1e-12);
    tier0_train_report_clear(&r);
}

static void test_prune_batches(void **state)
{
    (void)state;
    for (int i = 0; i < 7; i++) {
        add_trace("batchy", "old", "a");
        age_newest("batchy", 30);
    }
    add_trace("batchy", "new", "b");
    uint64_t deleted = 0;
    /* cut-off 10 days ago, 3 rows per statement */
    assert_int_equal(tier0_store_prune_traces(db, "batchy", sl_now_ms() - 10LL * 86400000,
                                              3, &deleted, errstr, sizeof errstr), SL_OK);
    assert_int_equal(deleted, 7);
    assert_int_equal(pg_fixture_query_int(
            db, "SELECT count(*) FROM traces WHERE task = 'batchy'"), 1);
    assert_int_equal(tier0_store_prune_traces(db, "batchy", sl_now_ms() - 10LL * 86400000,
                                              3, &deleted, errstr, sizeof errstr), SL_OK);
    assert_int_equal(deleted, 0);
}

static void test_retention_zero_keeps(void **state)
{
    (void)state;
    /* the example config plus task "keep": intent's copy, retention 0 */
    char *text = fixture_read_path(SLUICE_SOURCE_DIR "/config/sluice.example.json", NULL);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
    cJSON *keep = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(tasks, "intent"), 1);
    cJSON_DeleteItemFromObjectCaseSensitive(keep, "tier0");
    cJSON *t0 = cJSON_AddObjectToObject(keep, "tier0");
    cJSON_AddNumberToObject(t0, "trace_retention_days", 0);
    cJSON_AddNumberToObject(t0, "retrain_every_s", 3600);
    cJSON_AddNumberToObject(t0, "oos_floor_quantile", 0.1);
    cJSON_AddItemToObject(tasks, "keep", keep);
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    struct config *c = NULL;
    if (config_parse(json, "inline", &c, errstr, sizeof errstr) != SL_OK)
        fail_msg("config: %s", errstr);
    free(json);
    assert_int_equal(config_task(c, "keep")->tier0_trace_retention_days, 0);
    assert_int_equal(config_task(c, "keep")->tier0_retrain_every_s, 3600);
    assert_true(config_task(c, "keep")->tier0_oos_floor_quantile == 0.1);
    assert_true(config_task(c, "intent")->tier0_oos_floor_quantile == 0); /* default: off */
    add_intents("keep", 30);
    age_newest("keep", 5000);
    struct tier0_train_report r;
    int rc = tier0_train_task(c, db, "keep", &r, errstr, sizeof errstr);
    if (rc != SL_OK)
        fail_msg("train: %s", errstr);
    assert_int_equal(r.pruned, 0);
    assert_int_equal(r.traces, 30);
    assert_true(isfinite(r.cert.min_top)); /* the task's floor reached training */
    tier0_train_report_clear(&r);
    config_free(c);
}

static void test_refused(void **state)
{
    (void)state;
    struct tier0_train_report r;
    assert_int_equal(tier0_train_task(cfg, db, "no-such-task", &r, errstr, sizeof errstr),
                     SL_EINVAL);
    assert_non_null(strstr(errstr, "no such task"));
    tier0_train_report_clear(&r);
    assert_int_equal(tier0_train_task(cfg, db, "summary", &r, errstr, sizeof errstr),
                     SL_EINVAL);
    assert_non_null(strstr(errstr, "not a label task"));
    tier0_train_report_clear(&r);
    /* a label task without traces */
    assert_int_equal(tier0_train_task(cfg, db, "priority", &r, errstr, sizeof errstr),
                     SL_EINVAL);
    tier0_train_report_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prune_then_train),
        cmocka_unit_test(test_prune_batches),
        cmocka_unit_test(test_retention_zero_keeps),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
