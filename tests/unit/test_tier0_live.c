/* sources: worker/tier0_live.c lib/tier0/tier0_certify.c lib/tier0/tier0_store.c lib/tier0/tier0_model.c lib/tier0/tier0_features.c lib/db.c lib/utf8.c lib/sl.c lib/log.c lib/metrics/telemetry.c lib/metrics/metrics.c */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tier0_live.h"

/* The withdrawal rule, table-driven: target 0.98, so the limit is 2 %. */
static void test_breach_table(void **state)
{
    (void)state;
    static const struct {
        struct tier0_evidence e;
        bool breach;
        const char *why;
    } cases[] = {
        {{1000, 5, 0, 0}, false, "no shadow checks: nothing to judge"},
        {{1000, 5, 50, 0}, false, "strong certification, agreeing checks"},
        {{1000, 5, 50, 1}, false, "one disagreement in 50 stays under"},
        {{1000, 5, 60, 30}, true, "drift: half the checks disagree"},
        {{1000, 5, 20, 20}, true, "drift: every check disagrees"},
        {{30, 0, 10, 0}, false, "thin evidence, all agreeing: kept"},
        {{30, 0, 10, 1}, false, "thin evidence, one miss: not clearly worse"},
        {{30, 0, 20, 15}, true, "thin evidence, clearly worse"},
        {{0, 0, 5, 0}, false, "no certification rows, agreeing checks"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double bound = -1;
        bool got = tier0_live_breach(&cases[i].e, 0.98, &bound);
        if (got != cases[i].breach)
            fail_msg("case %zu (%s): got %d", i, cases[i].why, got);
        if (cases[i].e.live_n > 0)
            assert_true(bound > 0 && bound <= 1);
    }
}

/* A label is withdrawn on its own only when clearly worse than target. */
static void test_label_breach_table(void **state)
{
    (void)state;
    static const struct {
        struct tier0_evidence e;
        bool breach;
        const char *why;
    } cases[] = {
        {{39, 0, 18, 2}, false, "thin certification, 2 of 18 checks: noise at 10 %"},
        {{1000, 5, 0, 0}, false, "no shadow checks: nothing to judge"},
        {{40, 0, 20, 20}, true, "drift: every check disagrees"},
        {{40, 0, 60, 25}, true, "drift: 25 of 60 checks disagree"},
        {{1000, 5, 50, 1}, false, "one disagreement in 50 stays under"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double bound = -1;
        bool got = tier0_live_label_breach(&cases[i].e, 0.9, &bound);
        if (got != cases[i].breach)
            fail_msg("case %zu (%s): got %d", i, cases[i].why, got);
    }
    /* the whole-set rule would have withdrawn the first one */
    double bound;
    assert_true(tier0_live_breach(&cases[0].e, 0.9, &bound));
}

/* The crossing is monotone: adding disagreements never un-breaches. */
static void test_breach_monotone(void **state)
{
    (void)state;
    bool seen = false;
    for (uint64_t x = 0; x <= 100; x++) {
        struct tier0_evidence e = {2000, 10, 100, x};
        double bound;
        bool b = tier0_live_breach(&e, 0.98, &bound);
        assert_true(!seen || b);
        seen = seen || b;
    }
    assert_true(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breach_table),
        cmocka_unit_test(test_label_breach_table),
        cmocka_unit_test(test_breach_monotone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
