/* sources: worker/cache.c worker/cache_entry.c worker/cache_lru.c worker/cache_lsh.c worker/cache_near.c worker/cache_pg.c worker/cache_verify.c lib/cache_key.c lib/cache_sim.c lib/tier0/tier0_certify.c lib/tier0/tier0_model.c lib/tier0/tier0_features.c lib/config.c lib/config_table.c lib/db.c lib/utf8.c lib/log.c lib/sl.c lib/metrics/telemetry.c lib/metrics/metrics.c */
/* The answer cache without PostgreSQL: version keys change with everything
 * answer-relevant in the task config and with nothing else; normalisation;
 * tenant isolation and sharing; LRU eviction; TTL; never caching a failed
 * or low-confidence answer; near-duplicate similarity on light edits; and
 * the verification loop, which serves near hits only once the bound holds,
 * tightens the threshold on disagreeing checks and finally stops. */
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
#include "cache_sim.h"
#include "cache_verify.h"
#include "config.h"
#include "job.h"
#include "tier0/tier0_certify.h"

/* %s: intent's prompt, %s: its labels, %s: its ladder, %s: tier 2's model,
 * %s: extra keys of intent's cache. */
static const char config_fmt[] =
    "{\"kafka\": {\"bootstrap_servers\": \"k:9092\"},"
    " \"postgres\": {\"conninfo\": \"dbname=t\"},"
    " \"providers\": {\"p\": {\"kind\": \"openai\", \"base_url\": \"http://x\"}},"
    " \"prices\": {\"m\": {\"input\": 1, \"output\": 1}, \"m2\": {\"input\": 1, \"output\": 1}},"
    " \"tiers\": {\"1\": {\"provider\": \"p\", \"model\": \"m\"},"
    "   \"2\": {\"provider\": \"p\", \"model\": \"%s\"}},"
    " \"tasks\": {"
    "   \"intent\": {\"output\": \"label\", \"labels\": %s,"
    "     \"prompt\": \"%s <labels>{{labels}}</labels> <input>{{input}}</input>\","
    "     \"ladder\": %s, \"cache\": {\"mode\": \"near\"%s}},"
    "   \"extract\": {\"output\": \"json\", \"schema\": {\"type\": \"object\"},"
    "     \"prompt\": \"<schema>{{schema}}</schema> <input>{{input}}</input>\","
    "     \"cache\": {\"mode\": \"exact\"}}}}";

static struct config *make_config(const char *model2, const char *labels,
                                  const char *prompt, const char *ladder,
                                  const char *cache_extra)
{
    char json[4096];
    char err[512];
    struct config *cfg = NULL;
    snprintf(json, sizeof(json), config_fmt, model2, labels, prompt, ladder,
             cache_extra);
    if (config_parse(json, "test", &cfg, err, sizeof(err)) != SL_OK)
        fail_msg("config: %s", err);
    return cfg;
}

#define LABELS "[\"refund\", \"billing\"]"
#define BASE_CONFIG() make_config("m2", LABELS, "Classify.", "[1, 2]", "")

static void version_of(const struct config *cfg, const char *task,
                       char out[CACHE_KEY_HEX])
{
    cache_key_version(cfg, config_task(cfg, task), out);
}

/* Each change of what the answer depends on gives a new version; the
 * same config parsed again gives the same one. */
static void test_version_key(void **state)
{
    (void)state;
    char base[CACHE_KEY_HEX], v[CACHE_KEY_HEX];
    struct config *cfg = BASE_CONFIG();
    version_of(cfg, "intent", base);
    assert_int_equal(strlen(base), 64);
    config_free(cfg);

    struct {
        struct config *cfg;
        int same;
    } cases[] = {
        {BASE_CONFIG(), 1},
        /* TTL and verification settings do not change answers */
        {make_config("m2", LABELS, "Classify.", "[1, 2]", ", \"ttl_s\": 5"), 1},
        {make_config("m2", LABELS, "Classify!", "[1, 2]", ""), 0},
        {make_config("m2", "[\"refund\", \"billing\", \"other\"]", "Classify.", "[1, 2]", ""), 0},
        {make_config("m2", "[\"billing\", \"refund\"]", "Classify.", "[1, 2]", ""), 0},
        {make_config("m2", LABELS, "Classify.", "[1]", ""), 0},
        {make_config("m", LABELS, "Classify.", "[1, 2]", ""), 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        version_of(cases[i].cfg, "intent", v);
        if (cases[i].same)
            assert_string_equal(v, base);
        else
            assert_string_not_equal(v, base);
        config_free(cases[i].cfg);
    }
    /* the schema is part of a json task's version */
    cfg = BASE_CONFIG();
    version_of(cfg, "extract", base);
    struct task_conf *t = (struct task_conf *)config_task(cfg, "extract");
    char *old = t->schema_text;
    t->schema_text = "{\"type\":\"object\",\"required\":[\"x\"]}";
    version_of(cfg, "extract", v);
    assert_string_not_equal(v, base);
    t->schema_text = old;
    config_free(cfg);
}

static void test_normalize(void **state)
{
    (void)state;
    char out[64];
    struct {
        const char *in, *want;
    } cases[] = {
        {"  Where is  my\tcard?\n", "Where is my card?"},
        {"Where is my card?", "Where is my card?"},
        {"", ""},
        {" \t\n ", ""},
        {"caf\xc3\xa9  ok", "caf\xc3\xa9 ok"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = cache_key_normalize(cases[i].in, strlen(cases[i].in), out,
                                       sizeof(out));
        assert_string_equal(out, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
    /* a cut never splits a UTF-8 sequence */
    assert_int_equal(cache_key_normalize("ab\xc3\xa9", 4, out, 4), 2);
    assert_string_equal(out, "ab");
    /* case is kept: it may change an answer */
    char k1[CACHE_KEY_HEX], k2[CACHE_KEY_HEX];
    cache_key_entry("v", "t", "Card", 4, k1);
    cache_key_entry("v", "t", "card", 4, k2);
    assert_string_not_equal(k1, k2);
}

static struct job make_job(const struct config *cfg, const char *task,
                           const char *tenant, const char *input)
{
    return (struct job){
        .id = (char *)"j", .task = config_task(cfg, task),
        .input = (char *)input, .input_len = strlen(input),
        .tenant = (char *)tenant,
    };
}

/* Stores an accepted answer for job (the ladder's path). */
static void store(struct cache *c, const struct config *cfg,
                  const struct job *job, const char *label, double confidence,
                  int64_t now)
{
    struct cache_probe probe;
    struct cache_hit hit;
    assert_int_equal(cache_lookup(c, cfg, job, now, 0.5, &hit, &probe, NULL, false), CACHE_MISS);
    cache_after_ladder(c, cfg, job, &probe, true, label, NULL, NULL,
                       confidence, true, 1, "p", "m", now);
    cache_probe_clear(&probe);
}

static enum cache_decision look(struct cache *c, const struct config *cfg,
                                const struct job *job, int64_t now,
                                struct cache_hit *hit)
{
    struct cache_probe probe;
    enum cache_decision d = cache_lookup(c, cfg, job, now, 0.5, hit, &probe, NULL, false);
    cache_probe_clear(&probe);
    return d;
}

static void test_exact_hit_and_tenants(void **state)
{
    (void)state;
    struct config *cfg = BASE_CONFIG();
    struct cache *c = cache_new(100);
    struct cache_hit hit = {0};
    struct job a = make_job(cfg, "intent", "acme", "Where is my refund?");
    store(c, cfg, &a, "refund", 0.95, 1000);
    /* white space does not matter */
    struct job a2 = make_job(cfg, "intent", "acme", "  Where is my   refund? ");
    assert_int_equal(look(c, cfg, &a2, 2000, &hit), CACHE_HIT);
    assert_string_equal(hit.label, "refund");
    assert_false(hit.near);
    assert_int_equal(hit.tier, 1);
    assert_string_equal(hit.model, "m");
    cache_hit_clear(&hit);
    /* another tenant is not served acme's answer (near or exact) */
    struct job b = make_job(cfg, "intent", "globex", "Where is my refund?");
    assert_int_equal(look(c, cfg, &b, 2000, &hit), CACHE_MISS);
    cache_free(c);
    config_free(cfg);

    /* shared: every tenant is */
    cfg = make_config("m2", LABELS, "Classify.", "[1, 2]", ", \"shared\": true");
    c = cache_new(100);
    a = make_job(cfg, "intent", "acme", "Where is my refund?");
    b = make_job(cfg, "intent", "globex", "Where is my refund?");
    store(c, cfg, &a, "refund", 0.95, 1000);
    assert_int_equal(look(c, cfg, &b, 2000, &hit), CACHE_HIT);
    cache_hit_clear(&hit);
    cache_free(c);
    config_free(cfg);
}

/* A new version (prompt change) never sees the old version's entries. */
static void test_config_change_invalidates(void **state)
{
    (void)state;
    struct config *cfg = BASE_CONFIG();
    struct config *cfg2 = make_config("m2", LABELS, "Classify carefully.", "[1, 2]", "");
    struct cache *c = cache_new(100);
    struct cache_hit hit = {0};
    struct job a = make_job(cfg, "intent", "acme", "Where is my refund?");
    struct job a2 = make_job(cfg2, "intent", "acme", "Where is my refund?");
    store(c, cfg, &a, "refund", 0.95, 1000);
    assert_int_equal(look(c, cfg2, &a2, 2000, &hit), CACHE_MISS);
    assert_int_equal(look(c, cfg, &a, 2000, &hit), CACHE_HIT);
    cache_hit_clear(&hit);
    cache_free(c);
    config_free(cfg);
    config_free(cfg2);
}

static void test_never_cache_bad_answers(void **state)
{
    (void)state;
    struct config *cfg = BASE_CONFIG();
    struct cache *c = cache_new(100);
    struct cache_hit hit = {0};
    struct cache_probe probe;
    struct job j = make_job(cfg, "intent", "acme", "low confidence");
    store(c, cfg, &j, "refund", 0.5, 1000); /* below 0.8 */
    assert_int_equal(look(c, cfg, &j, 2000, &hit), CACHE_MISS);
    struct job f = make_job(cfg, "intent", "acme", "failed job");
    cache_lookup(c, cfg, &f, 1000, 0.5, &hit, &probe, NULL, false);
    cache_after_ladder(c, cfg, &f, &probe, false, NULL, NULL, NULL, 0, false,
                       2, "p", "m2", 1000);
    cache_probe_clear(&probe);
    assert_int_equal(look(c, cfg, &f, 2000, &hit), CACHE_MISS);
    assert_int_equal(cache_entries(c), 0);
    cache_free(c);
    config_free(cfg);
}

static void test_ttl(void **state)
{
    (void)state;
    struct config *cfg = make_config("m2", LABELS, "Classify.", "[1, 2]", ", \"ttl_s\": 60");
    struct cache *c = cache_new(100);
    struct cache_hit hit = {0};
    struct job j = make_job(cfg, "intent", "acme", "Where is my refund?");
    store(c, cfg, &j, "refund", 0.95, 1000);
    assert_int_equal(look(c, cfg, &j, 1000 + 59999, &hit), CACHE_HIT);
    cache_hit_clear(&hit);
    assert_int_equal(look(c, cfg, &j, 1000 + 60000, &hit), CACHE_MISS);
    assert_int_equal(cache_entries(c), 0); /* dropped on sight */
    cache_free(c);
    config_free(cfg);
}

static void test_lru_eviction(void **state)
{
    (void)state;
    struct config *cfg = BASE_CONFIG();
    struct cache *c = cache_new(3);
    struct cache_hit hit = {0};
    struct job j[5];
    char text[5][32];
    for (int i = 0; i < 4; i++) {
        snprintf(text[i], sizeof(text[i]), "{\"n\": %d}", i * 1000);
        j[i] = make_job(cfg, "extract", "acme", text[i]);
    }
    store(c, cfg, &j[0], "x", 0.9, 1);
    store(c, cfg, &j[1], "x", 0.9, 2);
    store(c, cfg, &j[2], "x", 0.9, 3);
    assert_int_equal(look(c, cfg, &j[0], 4, &hit), CACHE_HIT); /* 0 is recent now */
    cache_hit_clear(&hit);
    store(c, cfg, &j[3], "x", 0.9, 5); /* evicts 1, the least recently used */
    assert_int_equal(cache_entries(c), 3);
    assert_int_equal(look(c, cfg, &j[1], 6, &hit), CACHE_MISS);
    assert_int_equal(look(c, cfg, &j[0], 6, &hit), CACHE_HIT);
    cache_hit_clear(&hit);
    assert_int_equal(look(c, cfg, &j[2], 6, &hit), CACHE_HIT);
    cache_hit_clear(&hit);
    assert_int_equal(look(c, cfg, &j[3], 6, &hit), CACHE_HIT);
    cache_hit_clear(&hit);
    cache_free(c);
    config_free(cfg);
}

static double sim(const char *a, const char *b)
{
    struct cache_sketch sa, sb;
    cache_sim_sketch(a, strlen(a), &sa);
    cache_sim_sketch(b, strlen(b), &sb);
    return cache_sim_similarity(&sa, &sb);
}

static void test_similarity(void **state)
{
    (void)state;
    const char *q = "I am still waiting on my card, when will it arrive?";
    assert_true(sim(q, q) == 1.0);
    /* casing and punctuation vanish in the normalisation */
    assert_true(sim(q, "i am STILL waiting on my card when will it arrive") == 1.0);
    /* light edits stay near */
    assert_true(sim(q, "I am still waiting on my new card, when will it arrive?") > 0.7);
    assert_true(sim(q, "I am stil waiting on my card, when will it arrive?") > 0.7);
    /* another question is far */
    assert_true(sim(q, "How do I change my PIN at an ATM?") < 0.3);
    assert_true(sim("", q) == 0.0);
}

/* The loop on synthetic checks: no hit served before the bound holds; with
 * all checks agreeing it holds after enough; disagreements then tighten the
 * threshold, and at some point near hits stop. */
static void test_verify_loop(void **state)
{
    (void)state;
    struct cache_verify v;
    const double max = 0.02;
    cache_verify_init(&v, 0.9);
    assert_false(cache_verify_serving(&v));
    int n = 0;
    while (!cache_verify_serving(&v) && n < 1000) {
        assert_int_equal(cache_verify_record(&v, 0.95, true, max), CV_NONE);
        n++;
    }
    /* 0 of n: the bound 1 - 0.05^(1/n) <= 0.02 first at n = 149 */
    assert_int_equal(n, 149);
    assert_true(tier0_cp_upper(0, (uint64_t)n, 0.05) <= max);
    assert_true(tier0_cp_upper(0, (uint64_t)n - 1, 0.05) > max);
    /* one disagreement breaks the bound: tightened, and the evidence at the
     * new threshold (checks >= 0.92) holds again */
    assert_int_equal(cache_verify_record(&v, 0.91, false, max), CV_TIGHTENED);
    assert_true(v.threshold > 0.919 && v.threshold < 0.921);
    assert_true(cache_verify_serving(&v));
    /* disagreements at high similarity tighten step by step to the end */
    enum cache_verify_event e = CV_NONE;
    int steps = 0;
    while (e != CV_STOPPED && steps < 1000) {
        e = cache_verify_record(&v, 1.0, false, max);
        steps++;
    }
    assert_int_equal(e, CV_STOPPED);
    assert_false(cache_verify_serving(&v));
    assert_true(v.tightenings >= 5);
    /* once stopped, checks change nothing */
    assert_int_equal(cache_verify_record(&v, 1.0, true, max), CV_NONE);

    /* pooled evidence read back: 149 agreeing checks serve at once; a
     * threshold past 1 (stopped elsewhere) stops here too */
    float sims[149];
    bool agreed[149];
    for (int i = 0; i < 149; i++) {
        sims[i] = 0.95f;
        agreed[i] = true;
    }
    cache_verify_init(&v, 0.9);
    cache_verify_load(&v, 0.9, sims, agreed, 149, max);
    assert_true(cache_verify_serving(&v));
    cache_verify_load(&v, 0.96, sims, agreed, 149, max); /* below it now */
    assert_false(cache_verify_serving(&v));
    cache_verify_load(&v, 1.02, sims, agreed, 149, max);
    assert_true(v.stopped);

    /* clearly worse than the target while not serving yet: tightens too */
    cache_verify_init(&v, 0.9);
    e = CV_NONE;
    for (int i = 0; i < 40 && e == CV_NONE; i++)
        e = cache_verify_record(&v, 0.9, i % 4 != 0, max); /* 25 % disagree */
    assert_int_equal(e, CV_TIGHTENED);
}

/* The cache's near path: candidates are checks until the bound holds, then
 * served (minus the verify share); disagreements tighten the threshold. */
static void test_near_hits(void **state)
{
    (void)state;
    struct config *cfg = make_config("m2", LABELS, "Classify.", "[1, 2]",
                                     ", \"near_threshold\": 0.6, \"verify_share\": 0.1");
    struct cache *c = cache_new(100);
    struct cache_hit hit = {0};
    struct cache_probe probe;
    struct job orig = make_job(cfg, "intent", "acme", "I want my money back for the order");
    struct job edit = make_job(cfg, "intent", "acme", "i want my money back for the order!!");
    store(c, cfg, &orig, "refund", 0.95, 1000);
    /* not served yet: a check, answered by the ladder */
    assert_int_equal(cache_lookup(c, cfg, &edit, 2000, 0.5, &hit, &probe, NULL, false), CACHE_MISS);
    assert_true(probe.has_candidate);
    assert_false(probe.served);
    assert_string_equal(probe.candidate_label, "refund");
    cache_probe_clear(&probe);
    char version[CACHE_KEY_HEX];
    cache_key_version(cfg, orig.task, version);
    for (int i = 0; i < 149; i++)
        cache_record_check(c, orig.task, version, 0.9, true);
    /* served now; u below verify_share samples it for a check instead */
    assert_int_equal(cache_lookup(c, cfg, &edit, 2000, 0.5, &hit, &probe, NULL, false), CACHE_HIT);
    assert_true(hit.near);
    assert_string_equal(hit.label, "refund");
    cache_hit_clear(&hit);
    cache_probe_clear(&probe);
    assert_int_equal(cache_lookup(c, cfg, &edit, 2000, 0.05, &hit, &probe, NULL, false), CACHE_MISS);
    assert_true(probe.has_candidate && probe.served);
    /* the ladder disagrees: the threshold tightens */
    cache_after_ladder(c, cfg, &edit, &probe, true, "billing", NULL, NULL, 0.9,
                       true, 1, "p", "m", 2000);
    cache_probe_clear(&probe);
    assert_true(cache_near_threshold(c, "intent") > 0.61);
    cache_free(c);
    config_free(cfg);
}

/* Evicted label entries leave the near-duplicate index with the LRU. */
static void test_near_index_eviction(void **state)
{
    (void)state;
    struct config *cfg = BASE_CONFIG();
    struct cache *c = cache_new(2);
    struct cache_hit hit = {0};
    struct cache_probe probe;
    const char *texts[] = {"my card has not arrived yet", "how do I reset my pin",
                           "the exchange rate looks wrong"};
    struct job j[3];
    for (int i = 0; i < 3; i++) {
        j[i] = make_job(cfg, "intent", "acme", texts[i]);
        store(c, cfg, &j[i], "refund", 0.95, 1000);
    }
    assert_int_equal(cache_entries(c), 2);
    /* the first was evicted: its edit finds no candidate; the others do */
    struct job e0 = make_job(cfg, "intent", "acme", "MY CARD HAS NOT ARRIVED YET!");
    struct job e2 = make_job(cfg, "intent", "acme", "The exchange rate looks wrong.");
    assert_int_equal(cache_lookup(c, cfg, &e0, 2000, 0.5, &hit, &probe, NULL, false), CACHE_MISS);
    assert_false(probe.has_candidate);
    cache_probe_clear(&probe);
    assert_int_equal(cache_lookup(c, cfg, &e2, 2000, 0.5, &hit, &probe, NULL, false), CACHE_MISS);
    assert_true(probe.has_candidate); /* not served: no evidence yet */
    cache_probe_clear(&probe);
    cache_free(c);
    config_free(cfg);
}

static int resumed;
static void on_resume(struct cache_waiter *w)
{
    (void)w;
    resumed++;
}

/* A copy of a job in flight waits for it instead of calling too, and is
 * resumed once the first copy's answer is in (or is known not to be). */
static void test_in_flight_copies_wait(void **state)
{
    (void)state;
    struct config *cfg = BASE_CONFIG();
    struct cache *c = cache_new(100);
    struct cache_hit hit = {0};
    struct cache_probe first, second, third;
    struct cache_waiter w = {.resume = on_resume};
    struct job j = make_job(cfg, "extract", "acme", "order A1 is broken");
    resumed = 0;
    assert_int_equal(cache_lookup(c, cfg, &j, 1000, 0.5, &hit, &first, NULL, false), CACHE_MISS);
    assert_true(first.owner);
    assert_int_equal(cache_lookup(c, cfg, &j, 1000, 0.5, &hit, &second, &w, false), CACHE_WAIT);
    cache_resume_waiters(c);
    assert_int_equal(resumed, 0); /* the owner has not ended */
    cache_after_ladder(c, cfg, &j, &first, true, NULL, "{\"id\":1}", NULL, 0.9,
                       true, 1, "p", "m", 1000);
    assert_false(first.owner);
    cache_resume_waiters(c);
    assert_int_equal(resumed, 1);
    assert_int_equal(cache_lookup(c, cfg, &j, 1000, 0.5, &hit, &second, NULL, true), CACHE_HIT);
    assert_string_equal(hit.data_json, "{\"id\":1}");
    cache_hit_clear(&hit);

    /* an owner that ends unanswered: the waiter looks again, misses, and
     * does not wait a second time */
    struct job k = make_job(cfg, "extract", "acme", "order A2 is late");
    assert_int_equal(cache_lookup(c, cfg, &k, 1000, 0.5, &hit, &first, NULL, false), CACHE_MISS);
    assert_int_equal(cache_lookup(c, cfg, &k, 1000, 0.5, &hit, &second, &w, false), CACHE_WAIT);
    cache_release(c, &first);
    cache_resume_waiters(c);
    assert_int_equal(resumed, 2);
    assert_int_equal(cache_lookup(c, cfg, &k, 1000, 0.5, &hit, &second, &w, true), CACHE_MISS);
    assert_true(second.owner); /* nobody owned it any more */
    assert_int_equal(cache_lookup(c, cfg, &k, 1000, 0.5, &hit, &third, &w, true), CACHE_MISS);
    assert_false(third.owner);
    cache_release(c, &second);
    cache_probe_clear(&first);
    cache_probe_clear(&second);
    cache_probe_clear(&third);
    cache_free(c);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_key),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_exact_hit_and_tenants),
        cmocka_unit_test(test_config_change_invalidates),
        cmocka_unit_test(test_never_cache_bad_answers),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_similarity),
        cmocka_unit_test(test_verify_loop),
        cmocka_unit_test(test_near_hits),
        cmocka_unit_test(test_near_index_eviction),
        cmocka_unit_test(test_in_flight_copies_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
