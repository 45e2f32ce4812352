/* sources: lib/tier0/tier0_certify.c lib/tier0/tier0_model.c lib/tier0/tier0_features.c lib/sl.c */
/* Tier-0 certification: Clopper-Pearson upper bounds against reference
 * values (exact binomial tail solved by bisection in Python), answer sets
 * whose bound misses the target are never certified, weak labels are
 * excluded, a label bad only at low scores keeps a raised threshold, the
 * per-label refinement never certifies a pooled bound above 1 - target on
 * random calibration sets, and a small synthetic task trains,
 * cross-validates, round-trips through the serialised form bit for bit,
 * and certifies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tier0/tier0_certify.h"
#include "tier0/tier0_model.h"

struct cp_case {
    uint64_t x, n;
    double want;
};

/* p with P(X <= x; n, p) = 0.05. */
static const struct cp_case cp_cases[] = {
    {0, 100, 0.0295130496},  /* = 1 - 0.05^(1/100) */
    {2, 100, 0.0616192004},
    {5, 200, 0.0518433391},
    {0, 10, 0.2588655509},
    {3, 10, 0.6066242161},
    {10, 1000, 0.0169031751},
    {50, 2000, 0.0315380277},
    {1, 1, 1.0},
    {0, 0, 1.0},
};

static void test_cp_reference(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(cp_cases); i++) {
        double got = tier0_cp_upper(cp_cases[i].x, cp_cases[i].n, 0.05);
        if (got < cp_cases[i].want - 1e-9 || got > cp_cases[i].want + 1e-9)
            fail_msg("x=%llu n=%llu: got %.10f want %.10f",
                     (unsigned long long)cp_cases[i].x,
                     (unsigned long long)cp_cases[i].n, got, cp_cases[i].want);
    }
}

/* n points of one label each, scores falling with i; `wrong` marks which
 * are disagreements. */
static struct tier0_oof *make_oof(size_t n, size_t n_labels,
                                  int (*wrong)(size_t i, size_t n))
{
    struct tier0_oof *o = calloc(n, sizeof *o);
    for (size_t i = 0; i < n; i++) {
        o[i].pred = (int)(i % n_labels);
        o[i].y = wrong(i, n) ? (int)((i + 1) % n_labels) : o[i].pred;
        o[i].score = 1.0 - (double)i / (double)n;
    }
    return o;
}

static int every_20th(size_t i, size_t n) { (void)n; return i % 20 == 7; }
static int top_clean(size_t i, size_t n) { return i >= n / 2 && i % 3 == 0; }
static int none_wrong(size_t i, size_t n) { (void)i, (void)n; return 0; }

static void test_missing_bound_never_certified(void **state)
{
    (void)state;
    /* 5 % disagreement everywhere, spread over the 3 labels: no prefix gets
     * its bound under 2 %. */
    struct tier0_oof *o = make_oof(2000, 3, every_20th);
    struct tier0_cert c;
    assert_int_equal(tier0_cert_select(o, 2000, 3, 0.98, &c), SL_OK);
    assert_false(c.certified);
    assert_true(c.threshold > 1);
    for (size_t k = 0; k < 3; k++) {
        assert_false(c.labels[k].certified);
        assert_false(tier0_cert_answers(&c, (int)k, 1.0));
    }
    tier0_cert_clear(&c);
    /* 60 clean points: the best bound is 1 - 0.05^(1/60) = 0.049 > 0.02. */
    o = (free(o), make_oof(60, 2, none_wrong));
    assert_int_equal(tier0_cert_select(o, 60, 2, 0.98, &c), SL_OK);
    assert_float_equal(tier0_cp_upper(0, 60, 0.05), 0.0487, 1e-4);
    assert_false(c.certified);
    assert_false(tier0_cert_answers(&c, 0, 1.0));
    tier0_cert_clear(&c);
    free(o);
}

static void test_certified_set_meets_bound(void **state)
{
    (void)state;
    /* The top half is clean, the bottom has a third wrong. */
    struct tier0_oof *o = make_oof(4000, 3, top_clean);
    struct tier0_cert c;
    assert_int_equal(tier0_cert_select(o, 4000, 3, 0.98, &c), SL_OK);
    assert_true(c.certified);
    assert_true(c.bound <= 0.02);
    assert_float_equal(c.bound, tier0_cp_upper(c.n_disagree, c.n_answered, 0.05), 1e-12);
    /* the whole clean half plus some of the rest, but not everything */
    assert_true(c.n_answered >= 2000 && c.n_answered < 4000);
    /* label 0 holds every disagreement below the clean half: rather than
     * being dropped it keeps its confident answers under a raised threshold,
     * where its own agreement is no longer clearly below target */
    const struct tier0_label_cert *l0 = &c.labels[0];
    assert_true(l0->certified);
    assert_true(l0->threshold > c.threshold);
    assert_true(l0->threshold > 0.45);
    assert_true(tier0_cp_upper(l0->agreed, l0->answered, 0.05) >= 0.98);
    assert_true(tier0_cert_answers(&c, 0, 0.99));
    assert_false(tier0_cert_answers(&c, 0, l0->threshold - 1e-9));
    assert_true(tier0_cert_answers(&c, 1, 0.99));
    assert_true(tier0_cert_answers(&c, 1, c.threshold));
    assert_false(tier0_cert_answers(&c, 1, c.threshold - 1e-9));
    /* a stricter target answers less */
    struct tier0_cert s;
    assert_int_equal(tier0_cert_select(o, 4000, 3, 0.995, &s), SL_OK);
    assert_true(s.n_answered < c.n_answered);
    tier0_cert_clear(&s);
    tier0_cert_clear(&c);
    free(o);
}

static void test_weak_label_excluded(void **state)
{
    (void)state;
    /* Label 0 is right 99.9 %, label 1 only 80 % at every score: label 1
     * must be excluded, label 0 certified. */
    size_t n = 6000;
    struct tier0_oof *o = calloc(n, sizeof *o);
    for (size_t i = 0; i < n; i++) {
        o[i].pred = i % 2 ? 1 : 0;
        o[i].score = 1.0 - (double)i / (double)n;
        int wrong = o[i].pred == 1 ? i % 10 == 1 || i % 10 == 3 : i % 2000 == 0;
        o[i].y = wrong ? 1 - o[i].pred : o[i].pred;
    }
    struct tier0_cert c;
    assert_int_equal(tier0_cert_select(o, n, 2, 0.98, &c), SL_OK);
    assert_true(c.certified);
    assert_true(c.labels[0].certified);
    assert_false(c.labels[1].certified);
    assert_false(tier0_cert_answers(&c, 1, 1.0));
    assert_int_equal(c.labels[1].answered, 0);
    tier0_cert_clear(&c);
    free(o);
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Random calibration sets: per label a quality (how often it is wrong, and
 * whether its errors sit at low or at any score). */
struct rand_case {
    uint64_t seed;
    size_t n, n_labels;
    double target;
};

static const struct rand_case rand_cases[] = {
    {1, 5000, 5, 0.98}, {2, 5000, 20, 0.98}, {3, 20000, 77, 0.98},
    {4, 3000, 3, 0.95}, {5, 8000, 10, 0.99}, {6, 1500, 8, 0.9},
    {7, 12000, 40, 0.98}, {8, 600, 2, 0.98},
};

static struct tier0_oof *random_oof(const struct rand_case *rc)
{
    uint64_t s = rc->seed;
    double *err = calloc(rc->n_labels, sizeof *err);
    bool *low_only = calloc(rc->n_labels, sizeof *low_only);
    for (size_t k = 0; k < rc->n_labels; k++) {
        err[k] = (double)(lcg(&s) % 300) / 1000.0; /* 0 .. 30 % */
        low_only[k] = lcg(&s) % 2;
    }
    struct tier0_oof *o = calloc(rc->n, sizeof *o);
    for (size_t i = 0; i < rc->n; i++) {
        int k = (int)(lcg(&s) % rc->n_labels);
        double score = (double)(lcg(&s) % 100000) / 100000.0;
        /* errors twice as likely low; low_only labels err only below 0.6 */
        double p = err[k] * 2 * (1 - score);
        if (low_only[k])
            p = score < 0.6 ? 2.5 * err[k] : 0;
        bool wrong = (double)(lcg(&s) % 100000) / 100000.0 < p;
        o[i] = (struct tier0_oof){wrong ? (k + 1) % (int)rc->n_labels : k, k, score};
    }
    free(err);
    free(low_only);
    return o;
}

/* Whatever the labels look like, per-label refinement never certifies an
 * answer set whose pooled bound (recounted here from the serving decision)
 * is above 1 - target, and every certified label's threshold is at least
 * the pooled one. */
static void test_refinement_keeps_pooled_bound(void **state)
{
    (void)state;
    size_t refined = 0;
    for (size_t t = 0; t < SL_ARRAY_LEN(rand_cases); t++) {
        const struct rand_case *rc = &rand_cases[t];
        struct tier0_oof *o = random_oof(rc);
        struct tier0_cert c;
        assert_int_equal(tier0_cert_select(o, rc->n, rc->n_labels, rc->target, &c), SL_OK);
        uint64_t n = 0, x = 0;
        for (size_t i = 0; i < rc->n; i++)
            if (tier0_cert_answers(&c, o[i].pred, o[i].score)) {
                n++;
                x += o[i].pred != o[i].y;
            }
        if (c.certified) {
            if (tier0_cp_upper(x, n, 0.05) > 1 - rc->target + 1e-12)
                fail_msg("case %zu: pooled bound %.5f > %.5f", t,
                         tier0_cp_upper(x, n, 0.05), 1 - rc->target);
            assert_int_equal(n, c.n_answered);
            assert_int_equal(x, c.n_disagree);
        } else {
            assert_int_equal(n, 0);
        }
        for (size_t k = 0; k < rc->n_labels; k++) {
            if (!c.labels[k].certified)
                continue;
            assert_true(c.labels[k].threshold >= c.threshold);
            refined += c.labels[k].threshold > c.threshold;
        }
        tier0_cert_clear(&c);
        free(o);
    }
    assert_true(refined > 0); /* the table exercises the refinement */
}

/* A synthetic three-intent task with distinct vocabularies. */
static void make_task(size_t n, char ***texts, char ***labels)
{
    static const char *words[3][4] = {
        {"card", "arrive", "delivery", "post"},
        {"refund", "money", "back", "return"},
        {"pin", "blocked", "locked", "code"},
    };
    static const char *names[3] = {"card_arrival", "refund", "pin_blocked"};
    *texts = calloc(n, sizeof **texts);
    *labels = calloc(n, sizeof **labels);
    for (size_t i = 0; i < n; i++) {
        size_t k = i % 3;
        char buf[128];
        snprintf(buf, sizeof buf, "my %s %s please %zu", words[k][i % 4],
                 words[k][(i / 4) % 4], i % 7);
        (*texts)[i] = strdup(buf);
        (*labels)[i] = strdup(names[k]);
    }
}

static void test_train_kfold_roundtrip(void **state)
{
    (void)state;
    size_t n = 600;
    char **texts, **labels;
    make_task(n, &texts, &labels);
    struct tier0_train_params p;
    tier0_train_params_default(&p);
    p.feat.dim_bits = 16;
    struct tier0_data *d = NULL;
    char err[256];
    assert_int_equal(tier0_data_new(&p.feat, (const char *const *)texts,
                                    (const char *const *)labels, n, &d, err,
                                    sizeof err), SL_OK);
    assert_int_equal(tier0_data_n_labels(d), 3);
    assert_string_equal(tier0_data_label(d, 0), "card_arrival");
    struct tier0_oof *oof = calloc(n, sizeof *oof);
    assert_int_equal(tier0_cert_kfold(d, &p, 5, 7, 2, oof, err, sizeof err), SL_OK);
    struct tier0_cert c;
    assert_int_equal(tier0_cert_select(oof, n, 3, 0.98, &c), SL_OK);
    assert_true(c.certified);
    assert_true(c.coverage > 0.9);
    struct tier0_model *m = NULL;
    assert_int_equal(tier0_model_train(d, &p, NULL, &m, err, sizeof err), SL_OK);
    int label;
    double score;
    tier0_model_predict(m, "Where is my CARD? Delivery late", &label, &score);
    assert_string_equal(tier0_model_label(m, (size_t)label), "card_arrival");
    assert_true(score > 0.5 && score <= 1);
    size_t size, size2;
    uint8_t *blob = tier0_model_serialize(m, &size);
    struct tier0_model *m2 = NULL;
    assert_int_equal(tier0_model_deserialize(blob, size, &m2, err, sizeof err), SL_OK);
    uint8_t *blob2 = tier0_model_serialize(m2, &size2);
    assert_int_equal(size, size2);
    assert_memory_equal(blob, blob2, size);
    int label2;
    double score2;
    tier0_model_predict(m2, "Where is my CARD? Delivery late", &label2, &score2);
    assert_int_equal(label, label2);
    assert_true(score == score2);
    /* truncated or corrupted blobs are refused */
    struct tier0_model *bad = NULL;
    assert_int_equal(tier0_model_deserialize(blob, size - 1, &bad, err, sizeof err), SL_EINVAL);
    /* a NUL inside a label (byte 1 of the first, which starts at offset
     * 28) would read back cut short (found by fuzzing) */
    assert_int_equal(blob[28 + 1], 'a');
    blob[28 + 1] = '\0';
    assert_int_equal(tier0_model_deserialize(blob, size, &bad, err, sizeof err), SL_EINVAL);
    blob[28 + 1] = 'a';
    blob[0] ^= 1;
    assert_int_equal(tier0_model_deserialize(blob, size, &bad, err, sizeof err), SL_EINVAL);
    assert_null(bad);
    /* thresholds JSON gives the same serving decisions */
    char *json = tier0_cert_thresholds_json(&c, m);
    struct tier0_cert back;
    assert_int_equal(tier0_cert_from_json(json, m2, &back, err, sizeof err), SL_OK);
    for (int k = 0; k < 3; k++)
        for (double s = 0.3; s <= 1.0; s += 0.05)
            assert_int_equal(tier0_cert_answers(&c, k, s), tier0_cert_answers(&back, k, s));
    free(json);
    tier0_cert_clear(&back);
    free(blob);
    free(blob2);
    tier0_model_free(m);
    tier0_model_free(m2);
    tier0_cert_clear(&c);
    free(oof);
    tier0_data_free(d);
    for (size_t i = 0; i < n; i++)
        free(texts[i]), free(labels[i]);
    free(texts);
    free(labels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cp_reference),
        cmocka_unit_test(test_missing_bound_never_certified),
        cmocka_unit_test(test_certified_set_meets_bound),
        cmocka_unit_test(test_weak_label_excluded),
        cmocka_unit_test(test_refinement_keeps_pooled_bound),
        cmocka_unit_test(test_train_kfold_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
