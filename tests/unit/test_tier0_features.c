/* sources: lib/tier0/tier0_features.c lib/sl.c */
/* Tier-0 features: normalisation table, deterministic hashing with known
 * buckets (FNV-1a 64 worked out independently in Python), sublinear tf and
 * the L2 norm, capacity and parameter checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "tier0/tier0_features.h"

struct norm_case {
    const char *in, *want;
};

static const struct norm_case norm_cases[] = {
    {"I am still waiting on my card?", "i am still waiting on my card"},
    {"  Hasn't   ARRIVED!!  ", "hasnt arrived"},
    {"top-up\tfailed\n(again)", "top up failed again"},
    {"", ""},
    {"?!.", ""},
    {"Café 50€", "caf\xc3\xa9 50\xe2\x82\xac"},
};

static void test_normalize_table(void **state)
{
    (void)state;
    char out[TIER0_MAX_TEXT + 1];
    for (size_t i = 0; i < SL_ARRAY_LEN(norm_cases); i++) {
        size_t n = tier0_feat_normalize(norm_cases[i].in, out, sizeof out);
        assert_string_equal(out, norm_cases[i].want);
        assert_int_equal(n, strlen(norm_cases[i].want));
        /* idempotent: stored traces are normalised again at training */
        char again[TIER0_MAX_TEXT + 1];
        tier0_feat_normalize(out, again, sizeof again);
        assert_string_equal(again, out);
    }
}

static void test_normalize_caps_on_utf8_boundary(void **state)
{
    (void)state;
    char out[5];
    /* "ab" + "é" (2 bytes) + "é": 4 bytes fit, the second é does not. */
    assert_int_equal(tier0_feat_normalize("ab\xc3\xa9\xc3\xa9", out, sizeof out), 4);
    assert_string_equal(out, "ab\xc3\xa9");
    char big[4000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char norm[5000];
    assert_int_equal(tier0_feat_normalize(big, norm, sizeof norm), TIER0_MAX_TEXT);
}

static int has_bucket(const struct tier0_feat *f, size_t n, uint32_t b, float *v)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].index == b) {
            *v = f[i].value;
            return 1;
        }
    return 0;
}

static void test_known_buckets(void **state)
{
    (void)state;
    struct tier0_feat_params p;
    tier0_feat_params_default(&p);
    p.dim_bits = 20;
    static struct tier0_feat f[TIER0_MAX_FEATS];
    const char *text = "my card";
    size_t n = tier0_feat_extract(&p, text, strlen(text), f, TIER0_MAX_FEATS);
    /* words my, card; bigram "my card"; padded " my card " (9 bytes) gives
     * 7 + 6 + 5 character 3..5-grams, all distinct. */
    assert_int_equal(n, 2 + 1 + 18);
    float v;
    /* Buckets from Python: fnv1a64(kind byte + text), (h ^ h>>32) & (2^20-1). */
    assert_true(has_bucket(f, n, 266449, &v)); /* word "card" */
    assert_true(has_bucket(f, n, 763314, &v)); /* bigram "my card" */
    assert_true(has_bucket(f, n, 930690, &v)); /* char " ca" */
    /* 21 features of count 1, equal weights: each 1/sqrt(21). */
    assert_float_equal(v, 1 / sqrt(21.0), 1e-6);
    double norm2 = 0;
    for (size_t i = 0; i < n; i++)
        norm2 += (double)f[i].value * f[i].value;
    assert_float_equal(norm2, 1.0, 1e-6);
}

static void test_deterministic_and_sublinear(void **state)
{
    (void)state;
    struct tier0_feat_params p;
    tier0_feat_params_default(&p);
    p.char_min = p.char_max = 0;
    p.word_ngrams = 1;
    static struct tier0_feat a[TIER0_MAX_FEATS], b[TIER0_MAX_FEATS];
    const char *text = "card card card lost";
    size_t na = tier0_feat_extract(&p, text, strlen(text), a, TIER0_MAX_FEATS);
    size_t nb = tier0_feat_extract(&p, text, strlen(text), b, TIER0_MAX_FEATS);
    assert_int_equal(na, 2);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    /* card x3 -> 1 + ln 3, lost -> 1, then L2-normalised. */
    double c = 1 + log(3.0), norm = sqrt(c * c + 1);
    float v;
    assert_true(has_bucket(a, na, 266449 & ((1u << p.dim_bits) - 1), &v));
    assert_float_equal(v, c / norm, 1e-6);
}

static void test_capacity_and_params(void **state)
{
    (void)state;
    struct tier0_feat_params p;
    tier0_feat_params_default(&p);
    struct tier0_feat f[5];
    const char *text = "a fairly long sentence about cards";
    assert_int_equal(tier0_feat_extract(&p, text, strlen(text), f, 5), 5);
    char err[128];
    assert_int_equal(tier0_feat_params_check(&p, err, sizeof err), SL_OK);
    struct tier0_feat_params bad[] = {p, p, p, p};
    bad[0].dim_bits = 30;
    bad[1].char_min = 2, bad[1].char_max = 7;
    bad[2].word_ngrams = 3;
    bad[3].word_ngrams = 0, bad[3].char_min = bad[3].char_max = 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        assert_int_equal(tier0_feat_params_check(&bad[i], err, sizeof err), SL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_table),
        cmocka_unit_test(test_normalize_caps_on_utf8_boundary),
        cmocka_unit_test(test_known_buckets),
        cmocka_unit_test(test_deterministic_and_sublinear),
        cmocka_unit_test(test_capacity_and_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
