/* sources: worker/cache.c worker/cache_entry.c worker/cache_lru.c worker/cache_lsh.c worker/cache_near.c worker/cache_pg.c worker/cache_verify.c lib/cache_key.c lib/cache_sim.c lib/tier0/tier0_certify.c lib/tier0/tier0_model.c lib/tier0/tier0_features.c lib/config.c lib/config_table.c lib/db.c lib/utf8.c lib/log.c lib/sl.c lib/metrics/telemetry.c lib/metrics/metrics.c tests/unit/pg_fixture.c */
/* The answer cache against a real PostgreSQL (pg_fixture, all migrations):
 * a label task switched from exact to near mode by a config reload finds
 * the answers it stored in exact mode as near-duplicate candidates, both in
 * the worker that stored them (whose memory kept no sketch for them) and in
 * a new one; the switch changes no entry key, so exact hits go on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache.h"
#include "cache_key.h"
#include "config.h"
#include "db.h"
#include "job.h"
#include "pg_fixture.h"

static struct pg_fixture pg;
static struct db *db;

static int group_setup(void **state)
{
    (void)state;
    db = pg_fixture_start_db(&pg, "test_cache_pg", true);
    return db ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    pg_fixture_stop_db(&pg, db);
    return 0;
}

/* %s: intent's cache mode. */
static const char config_fmt[] =
    "{\"kafka\": {\"bootstrap_servers\": \"k:9092\"},"
    " \"postgres\": {\"conninfo\": \"dbname=t\"},"
    " \"worker\": {\"batch_flush_ms\": 1},"
    " \"providers\": {\"p\": {\"kind\": \"openai\", \"base_url\": \"http://x\"}},"
    " \"prices\": {\"m\": {\"input\": 1, \"output\": 1}},"
    " \"tiers\": {\"1\": {\"provider\": \"p\", \"model\": \"m\"}},"
    " \"tasks\": {\"intent\": {\"output\": \"label\","
    "   \"labels\": [\"refund\", \"billing\"],"
    "   \"prompt\": \"Classify. <labels>{{labels}}</labels> <input>{{input}}</input>\","
    "   \"cache\": {\"mode\": \"%s\", \"near_threshold\": 0.6}}}}";

static struct config *config_with_mode(const char *mode)
{
    char json[2048];
    char err[512];
    struct config *cfg = NULL;
    snprintf(json, sizeof(json), config_fmt, mode);
    if (config_parse(json, "test", &cfg, err, sizeof(err)) != SL_OK)
        fail_msg("config: %s", err);
    return cfg;
}

static struct job make_job(const struct config *cfg, const char *input)
{
    return (struct job){
        .id = (char *)"j", .task = config_task(cfg, "intent"),
        .input = (char *)input, .input_len = strlen(input),
        .tenant = (char *)"acme",
    };
}

/* Looks job up after reading its entries and near candidates from the
 * table, as the worker does for a micro-batch. */
static enum cache_decision lookup_after_read(struct cache *c,
                                             const struct config *cfg,
                                             const struct job *job,
                                             struct cache_probe *probe)
{
    struct cache_hit hit = {0};
    const struct job *batch[1] = {job};
    cache_prefetch(c, db, cfg, batch, 1);
    enum cache_decision d =
        cache_lookup(c, cfg, job, 2000, 0.5, &hit, probe, NULL, false);
    cache_hit_clear(&hit);
    return d;
}

static void test_exact_to_near_switch(void **state)
{
    (void)state;
    struct config *exact = config_with_mode("exact");
    struct config *near = config_with_mode("near");
    char v_exact[CACHE_KEY_HEX], v_near[CACHE_KEY_HEX];
    cache_key_version(exact, config_task(exact, "intent"), v_exact);
    cache_key_version(near, config_task(near, "intent"), v_near);
    assert_string_equal(v_exact, v_near);

    /* stored in exact mode, and written to the table */
    struct cache *c = cache_new(100);
    struct job orig = make_job(exact, "I want my money back for the order");
    struct cache_probe probe;
    struct cache_hit hit = {0};
    assert_int_equal(lookup_after_read(c, exact, &orig, &probe), CACHE_MISS);
    cache_after_ladder(c, exact, &orig, &probe, true, "refund", NULL, NULL,
                       0.95, true, 1, "p", "m", 1000);
    cache_probe_clear(&probe);
    cache_tick(c, db, exact, 1000);
    assert_int_equal(pg_fixture_query_int(db,
        "SELECT count(*) FROM cache_entries WHERE label = 'refund'"
        " AND input_norm IS NOT NULL AND cardinality(bands) > 0"), 1);

    /* reloaded in near mode: the same worker finds it as a candidate */
    struct job edit = make_job(near, "i want my money back for the order!!");
    assert_int_equal(lookup_after_read(c, near, &edit, &probe), CACHE_MISS);
    assert_true(probe.has_candidate);
    assert_string_equal(probe.candidate_label, "refund");
    cache_probe_clear(&probe);
    /* and the exact repeat is still a hit */
    struct job again = make_job(near, "I want my money back for the order");
    assert_int_equal(cache_lookup(c, near, &again, 2000, 0.5, &hit, &probe,
                                  NULL, false), CACHE_HIT);
    assert_string_equal(hit.label, "refund");
    cache_hit_clear(&hit);
    cache_probe_clear(&probe);
    cache_free(c);

    /* so does a worker started in near mode */
    struct cache *fresh = cache_new(100);
    assert_int_equal(lookup_after_read(fresh, near, &edit, &probe), CACHE_MISS);
    assert_true(probe.has_candidate);
    assert_string_equal(probe.candidate_label, "refund");
    cache_probe_clear(&probe);
    cache_free(fresh);
    config_free(exact);
    config_free(near);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_to_near_switch),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
