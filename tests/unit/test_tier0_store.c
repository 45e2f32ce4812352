/* sources: lib/tier0/tier0_store.c lib/tier0/tier0_certify.c lib/tier0/tier0_model.c lib/tier0/tier0_features.c lib/db.c lib/sl.c tests/unit/pg_fixture.c */
/* Tier-0 store against a real PostgreSQL (pg_fixture): traces are stored
 * normalised and read newest first; a model round-trips through bytea bit
 * for bit with its thresholds; versions count up per task; the served form
 * makes the same decisions as the trained model; a retraining that
 * certifies nothing does not displace the certified version served. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "pg_fixture.h"
#include "tier0/tier0_store.h"

static struct pg_fixture pg;
static struct db *db;
static char errstr[512];

static int group_setup(void **state)
{
    (void)state;
    db = pg_fixture_start_db(&pg, "test_tier0_store", true);
    return db ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    pg_fixture_stop_db(&pg, db);
    return 0;
}

static const char *intents[3][4] = {
    {"Where is my card", "card still not delivered", "card arrival time", "has my card shipped"},
    {"I want a refund", "refund my money please", "give my money back", "return and refund"},
    {"my pin is blocked", "pin locked out", "unblock my pin code", "forgot pin blocked"},
};
static const char *names[3] = {"card_arrival", "refund", "pin_blocked"};

static void add_traces(const char *task, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char text[128];
        snprintf(text, sizeof text, "%s! (%zu)", intents[i % 3][(i / 3) % 4], i % 5);
        struct tier0_trace t = {task, text, names[i % 3], 1, "gpt-test", 0.9};
        if (tier0_store_add_trace(db, &t, errstr, sizeof errstr) != SL_OK)
            fail_msg("add trace: %s", errstr);
    }
}

static void test_traces(void **state)
{
    (void)state;
    add_traces("other", 3);
    struct tier0_trace_set s;
    assert_int_equal(tier0_store_load_traces(db, "other", 10, &s, errstr, sizeof errstr), SL_OK);
    assert_int_equal(s.n, 3);
    /* newest first, normalised */
    assert_string_equal(s.texts[0], "my pin is blocked 2");
    assert_string_equal(s.labels[0], "pin_blocked");
    tier0_trace_set_clear(&s);
    assert_int_equal(tier0_store_load_traces(db, "nothing", 10, &s, errstr, sizeof errstr), SL_OK);
    assert_int_equal(s.n, 0);
    tier0_trace_set_clear(&s);
}

static void train_from_store(const char *task, struct tier0_model **m,
                             struct tier0_cert *c)
{
    struct tier0_trace_set s;
    assert_int_equal(tier0_store_load_traces(db, task, 100000, &s, errstr, sizeof errstr), SL_OK);
    struct tier0_train_params p;
    tier0_train_params_default(&p);
    p.feat.dim_bits = 16;
    struct tier0_data *d = NULL;
    assert_int_equal(tier0_data_new(&p.feat, (const char *const *)s.texts,
                                    (const char *const *)s.labels, s.n, &d,
                                    errstr, sizeof errstr), SL_OK);
    struct tier0_cert_opts o;
    tier0_cert_opts_default(&o);
    o.floor_quantile = 0.05; /* so that the store carries the floor too */
    assert_int_equal(tier0_cert_build(d, NULL, &p, &o, m, c, errstr, sizeof errstr), SL_OK);
    tier0_data_free(d);
    tier0_trace_set_clear(&s);
}

static void test_model_roundtrip(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(tier0_store_serving_version(db, "intent", &v, errstr, sizeof errstr), SL_OK);
    assert_int_equal(v, 0);
    struct tier0_served *served = NULL;
    assert_int_equal(tier0_store_load_serving(db, "intent", &served, errstr, sizeof errstr),
                     SL_ENOTFOUND);
    add_traces("intent", 1200);
    struct tier0_model *m = NULL;
    struct tier0_cert c;
    train_from_store("intent", &m, &c);
    assert_true(c.certified);
    for (int64_t want = 1; want <= 2; want++) {
        assert_int_equal(tier0_store_save(db, "intent", m, &c, &v, errstr, sizeof errstr), SL_OK);
        assert_int_equal(v, want);
    }
    assert_int_equal(tier0_store_serving_version(db, "intent", &v, errstr, sizeof errstr), SL_OK);
    assert_int_equal(v, 2);
    assert_int_equal(tier0_store_load_serving(db, "intent", &served, errstr, sizeof errstr), SL_OK);
    assert_int_equal(served->version, 2);
    size_t a_size, b_size;
    uint8_t *a = tier0_model_serialize(m, &a_size);
    uint8_t *b = tier0_model_serialize(served->model, &b_size);
    assert_int_equal(a_size, b_size);
    assert_memory_equal(a, b, a_size);
    /* the bytes in the table are exactly the serialised model */
    PGresult *res = PQexecParams(db_conn(db), "SELECT model, certified_labels::text "
                                 "FROM tier0_models WHERE task = 'intent' AND version = 1",
                                 0, NULL, NULL, NULL, NULL, 1);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQgetlength(res, 0, 0), (int)a_size);
    assert_memory_equal(PQgetvalue(res, 0, 0), a, a_size);
    assert_string_equal(PQgetvalue(res, 0, 1), "{card_arrival,pin_blocked,refund}");
    PQclear(res);
    const char *label;
    double score;
    assert_true(tier0_served_decide(served, "Where is my CARD??", &label, &score));
    assert_string_equal(label, "card_arrival");
    assert_true(isfinite(c.min_top) && served->cert.min_top == c.min_top);
    for (int k = 0; k < 3; k++)
        for (double s = 0.3; s <= 1.0; s += 0.05)
            for (double u = 0; u <= 1.0; u += 0.25)
                for (double top = -3; top <= 3; top += 0.5) {
                    struct tier0_pred q = {k, s, 0, u, s, top};
                    assert_int_equal(tier0_cert_answers(&c, &q),
                                     tier0_cert_answers(&served->cert, &q));
                }
    free(a);
    free(b);
    tier0_served_free(served);
    tier0_model_free(m);
    tier0_cert_clear(&c);
}

/* A retraining that certified nothing is stored but not served: the
 * workers keep the newest version that certified something. */
static void test_uncertified_does_not_displace(void **state)
{
    (void)state;
    add_traces("topics", 1200);
    struct tier0_model *m = NULL;
    struct tier0_cert c;
    train_from_store("topics", &m, &c);
    assert_true(c.certified);
    int64_t v = 0;
    struct tier0_served *served = NULL;
    assert_int_equal(tier0_store_load_serving(db, "topics", &served, errstr, sizeof errstr),
                     SL_ENOTFOUND);
    assert_int_equal(tier0_store_save(db, "topics", m, &c, &v, errstr, sizeof errstr), SL_OK);
    assert_int_equal(v, 1);
    bool was[8] = {0};
    assert_true(c.n_labels <= 8);
    for (size_t k = 0; k < c.n_labels; k++) {
        was[k] = c.labels[k].certified;
        c.labels[k].certified = false;
    }
    c.certified = false;
    assert_int_equal(tier0_store_save(db, "topics", m, &c, &v, errstr, sizeof errstr), SL_OK);
    assert_int_equal(v, 2);
    assert_int_equal(tier0_store_serving_version(db, "topics", &v, errstr, sizeof errstr), SL_OK);
    assert_int_equal(v, 1);
    assert_int_equal(tier0_store_load_serving(db, "topics", &served, errstr, sizeof errstr), SL_OK);
    assert_int_equal(served->version, 1);
    tier0_served_free(served);
    /* a certified retraining is served again */
    for (size_t k = 0; k < c.n_labels; k++)
        c.labels[k].certified = was[k];
    c.certified = true;
    assert_int_equal(tier0_store_save(db, "topics", m, &c, &v, errstr, sizeof errstr), SL_OK);
    assert_int_equal(tier0_store_serving_version(db, "topics", &v, errstr, sizeof errstr), SL_OK);
    assert_int_equal(v, 3);
    tier0_model_free(m);
    tier0_cert_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traces),
        cmocka_unit_test(test_model_roundtrip),
        cmocka_unit_test(test_uncertified_does_not_displace),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
