/* sources: lib/pricing.c lib/config.c lib/config_table.c lib/log.c lib/sl.c */
/* Exact nano-dollar costs. Every expected figure is worked by hand in the
 * comment beside it: sum of tokens x price (nano-$ per 1M tokens), divided
 * by 1e6 and rounded half up; batch then x (100 - pct) / 100, half up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pricing.h"

/* $0.10 / $0.01 / $0.125 / $0.50 per 1M, 50 % batch (gpt-6-luna, Haiku). */
static const struct price cheap = {"cheap", 100000000, 10000000, 125000000,
                                   500000000, 50, 200000000};
/* $2.00 / $0.10 / $2.50 / $10.00 per 1M (gpt-6.2-sol). */
static const struct price mid = {"mid", 2000000000, 100000000, 2500000000,
                                 10000000000, 50, 4000000000};
/* $10 / $1 / - / $50 per 1M (gpt-6-astra). */
static const struct price frontier = {"frontier", 10000000000, 1000000000,
                                      10000000000, 50000000000, 50, 20000000000};
/* Tiny prices to exercise rounding: 0.5, 0.499999 and 1.5 nano per token. */
static const struct price half = {"half", 500000, 499999, 1500000, 0, 30, 2500000};
static const struct price huge = {"huge", INT64_MAX, INT64_MAX, INT64_MAX,
                                  INT64_MAX, 0, INT64_MAX};

struct cost_case {
    const struct price *price;
    struct llm_usage usage; /* input, cached, cache_write, output, cache_write_1h */
    bool batch;
    int64_t want;
};

static const struct cost_case cost_cases[] = {
    /* nothing used costs nothing */
    {&cheap, {0, 0, 0, 0, 0}, false, 0},
    /* OpenAI cached subset: (2006-1920)=86 x 1e8 = 8.6e9; 1920 x 1e7 =
     * 1.92e10; 300 x 5e8 = 1.5e11; sum 1.778e11 / 1e6 = 177800 */
    {&cheap, {2006, 1920, 0, 300, 0}, false, 177800},
    /* the same in a batch: 177800 x 50 / 100 = 88900 */
    {&cheap, {2006, 1920, 0, 300, 0}, true, 88900},
    /* Anthropic normalised (50 + 1000 written + 3000 read = 4050 input):
     * 50 x 1e8 = 5e9; 3000 x 1e7 = 3e10; 1000 x 1.25e8 = 1.25e11;
     * 200 x 5e8 = 1e11; sum 2.6e11 / 1e6 = 260000 */
    {&cheap, {4050, 3000, 1000, 200, 0}, false, 260000},
    /* the same with 400 of the 1000 writes at the 1-hour TTL (2 x input =
     * 2e8): 50 x 1e8 = 5e9; 3000 x 1e7 = 3e10; 600 x 1.25e8 = 7.5e10;
     * 400 x 2e8 = 8e10; 200 x 5e8 = 1e11; sum 2.9e11 / 1e6 = 290000 */
    {&cheap, {4050, 3000, 1000, 200, 400}, false, 290000},
    /* 1-hour writes beyond the writes count as writes only: 1000 x 2e8 =
     * 2e11 + 50 x 1e8 + 3000 x 1e7 + 200 x 5e8 = 3.35e11 -> 335000 */
    {&cheap, {4050, 3000, 1000, 200, 5000}, false, 335000},
    /* mid, Anthropic-like, in a batch: 100 x 2e9 = 2e11; 2000 x 1e8 =
     * 2e11; 500 x 2.5e9 = 1.25e12; 500 x 4e9 = 2e12; 10 x 1e10 = 1e11;
     * sum 3.75e12 / 1e6 = 3750000; batch 50 % -> 1875000 */
    {&mid, {3100, 2000, 1000, 10, 500}, true, 1875000},
    /* 1M in + 1M out on mid: 2e9 + 1e10 = 1.2e10 nano = $12 */
    {&mid, {1000000, 0, 0, 1000000, 0}, false, 12000000000},
    /* cached on mid: 900000 x 2e9 + 100000 x 1e8 = 1.8e15 + 1e13 =
     * 1.81e15 / 1e6 = 1.81e9; output 0 */
    {&mid, {1000000, 100000, 0, 0, 0}, false, 1810000000},
    /* rounding: 1 token x 500000 = 0.5 nano -> 1 (half up) */
    {&half, {1, 0, 0, 0, 0}, false, 1},
    /* 1 cached token x 499999 = 0.499999 nano -> 0 */
    {&half, {1, 1, 0, 0, 0}, false, 0},
    /* 1 cache-write token x 1500000 = 1.5 nano -> 2 */
    {&half, {1, 0, 1, 0, 0}, false, 2},
    /* 3 x 500000 = 1.5 nano -> 2 */
    {&half, {3, 0, 0, 0, 0}, false, 2},
    /* rounding happens once, on the sum: 1 uncached x 0.5 + 1 written x
     * 1.5 = 2.0 -> 2 (rounding each term would give 1 + 2 = 3) */
    {&half, {2, 0, 1, 0, 0}, false, 2},
    /* batch 30 %: 7 x 1.5 = 10.5 -> 11 nano; 11 x 70 / 100 = 7.7 -> 8 */
    {&half, {7, 0, 7, 0, 0}, true, 8},
    /* batch 30 % of 1.5 -> 2 nano: 2 x 0.7 = 1.4 -> 1 */
    {&half, {1, 0, 1, 0, 0}, true, 1},
    /* big: 1e12 in x 1e10 = 1e22, 1e12 out x 5e10 = 5e22 (past int64
     * before the division); 6e22 / 1e6 = 6e16 nano = $60,000,000 */
    {&frontier, {1000000000000, 0, 0, 1000000000000, 0}, false,
     60000000000000000},
    /* big batch: 6e16 / 2 = 3e16 */
    {&frontier, {1000000000000, 0, 0, 1000000000000, 0}, true,
     30000000000000000},
    /* inconsistent usage (cached > input): uncached counts 0, not negative:
     * 20 x 1e7 = 2e8 / 1e6 = 200 */
    {&cheap, {10, 20, 0, 0, 0}, false, 200},
    /* saturates instead of wrapping: (2^63-1)^2 x 4 / 1e6 > INT64_MAX */
    {&huge, {INT64_MAX, 0, 0, INT64_MAX, 0}, false, INT64_MAX},
};

static void test_cost_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cost_cases) / sizeof(cost_cases[0]); i++) {
        const struct cost_case *c = &cost_cases[i];
        print_message("case %zu\n", i);
        assert_int_equal(pricing_cost_nano(c->price, &c->usage, c->batch),
                         c->want);
    }
}

static void test_batch_discount_bounds(void **state)
{
    (void)state;
    struct price p = cheap;
    struct llm_usage u = {1000000, 0, 0, 0, 0}; /* 1e8 nano */
    p.batch_discount_pct = 0;
    assert_int_equal(pricing_cost_nano(&p, &u, true), 100000000);
    p.batch_discount_pct = 100;
    assert_int_equal(pricing_cost_nano(&p, &u, true), 0);
    p.batch_discount_pct = 150; /* clamped to 100 */
    assert_int_equal(pricing_cost_nano(&p, &u, true), 0);
    p.batch_discount_pct = -10; /* clamped to 0 */
    assert_int_equal(pricing_cost_nano(&p, &u, true), 100000000);
}

struct fmt_case {
    int64_t nano;
    const char *want;
};

static const struct fmt_case fmt_cases[] = {
    {0, "$0.000000"},
    {1000, "$0.000001"},
    {499, "$0.000000"},            /* 0.499 micro -> 0 */
    {500, "$0.000001"},            /* 0.5 micro -> 1 */
    {1234567890, "$1.234568"},     /* 1234567.890 micro -> 1234568 */
    {12000000000, "$12.000000"},
    {-1500, "-$0.000002"},         /* half away from zero */
    {-499, "$0.000000"},           /* no "-" on a zero figure */
    {INT64_MAX, "$9223372036.854776"},
    {INT64_MIN, "-$9223372036.854776"},
};

/* The baseline is the top tier's realtime price, wherever that tier sits in
 * the array; a billed line carries its tier and the batch discount. */
static void test_baseline_and_bill_line(void **state)
{
    (void)state;
    struct provider_conf prov = {.name = "p"};
    struct tier_conf tiers[] = {
        {1, &prov, "cheap", &cheap}, {3, &prov, "frontier", &frontier},
        {2, &prov, "mid", &mid},
    };
    struct config cfg = {.tiers = tiers, .n_tiers = 3, .top_tier = 3};
    struct llm_usage u = {.input_tokens = 1000, .cached_tokens = 200, .output_tokens = 50};
    /* top tier, realtime, no cache: 1000 x 1e10 + 50 x 5e10 = 1.25e13 / 1e6 */
    assert_int_equal(pricing_baseline_nano(&cfg, &u), 12500000);
    cfg.n_tiers = 0;
    assert_int_equal(pricing_baseline_nano(&cfg, &u), 0);

    struct ledger_cost_line line = {.attempt = 7, .outcome = "accepted"};
    pricing_bill_line(&line, &tiers[2], &u, "batch");
    assert_int_equal(line.tier, 2);
    assert_string_equal(line.provider, "p");
    assert_string_equal(line.model, "mid");
    assert_string_equal(line.mode, "batch");
    assert_int_equal(line.tokens_in, 1000);
    assert_int_equal(line.tokens_cached_in, 200);
    assert_int_equal(line.tokens_out, 50);
    assert_int_equal(line.cost_nanousd, pricing_cost_nano(&mid, &u, true));
    assert_true(line.cost_nanousd < pricing_cost_nano(&mid, &u, false));
    assert_int_equal(line.attempt, 7); /* untouched */
    pricing_bill_line(&line, &tiers[0], &u, "realtime");
    assert_int_equal(line.cost_nanousd, pricing_cost_nano(&cheap, &u, false));
}

/* Flex is billed at the batch discount, realtime is not; the 1-hour
 * writes reach the line. Hand-computed on cheap: 2006 in, 1920 cached,
 * 300 out = 177800 nano realtime (see the table), 88900 at 50 %. */
static void test_flex_and_cache_lines(void **state)
{
    (void)state;
    struct provider_conf prov = {.name = "p"};
    struct tier_conf tier = {1, &prov, "cheap", &cheap};
    struct ledger_cost_line line = {.attempt = 1};
    struct llm_usage u = {.input_tokens = 2006, .cached_tokens = 1920,
                          .output_tokens = 300};
    assert_true(pricing_mode_discounted("batch"));
    assert_true(pricing_mode_discounted("flex"));
    assert_false(pricing_mode_discounted("realtime"));
    assert_false(pricing_mode_discounted(NULL));
    pricing_bill_line(&line, &tier, &u, "flex");
    assert_string_equal(line.mode, "flex");
    assert_int_equal(line.cost_nanousd, 88900);
    pricing_bill_line(&line, &tier, &u, "realtime");
    assert_int_equal(line.cost_nanousd, 177800);
    struct llm_usage w = {.input_tokens = 4050, .cached_tokens = 3000,
                          .cache_write_tokens = 1000, .output_tokens = 200,
                          .cache_write_1h_tokens = 400};
    pricing_bill_line(&line, &tier, &w, "realtime");
    assert_int_equal(line.tokens_cache_write, 1000);
    assert_int_equal(line.tokens_cache_write_1h, 400);
    assert_int_equal(line.cost_nanousd, 290000);
}

static void test_format(void **state)
{
    (void)state;
    char buf[64];
    for (size_t i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
        pricing_format_usd(fmt_cases[i].nano, buf, sizeof(buf));
        assert_string_equal(buf, fmt_cases[i].want);
    }
    char small[6];
    memset(small, 'x', sizeof(small));
    pricing_format_usd(1234567890, small, sizeof(small));
    assert_string_equal(small, "$1.23");
    pricing_format_usd(1, small, 0); /* writes nothing */
    assert_string_equal(small, "$1.23");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_table),
        cmocka_unit_test(test_batch_discount_bounds),
        cmocka_unit_test(test_baseline_and_bill_line),
        cmocka_unit_test(test_flex_and_cache_lines),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
