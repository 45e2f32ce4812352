/* sources: worker/cost_drift.c lib/db.c lib/log.c lib/sl.c lib/metrics/telemetry.c lib/metrics/metrics.c lib/utf8.c */
/* Cost drift, the pure judgement: a table of per-tier samples (calls and
 * cost in the last hour and the 7 days before it) -> alert or not, with
 * the averages and the ratio. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "cost_drift.h"

struct drift_case {
    struct cost_drift_sample s;
    bool comparable, alert;
    double ratio;
};

/* factor 1.5, at least 50 calls in each window */
static const struct drift_case cases[] = {
    /* flat: no alert */
    {{1, 100, 100000, 5000, 5000000}, true, false, 1.0},
    /* last hour 2x per call: alert */
    {{2, 100, 200000, 5000, 5000000}, true, true, 2.0},
    /* exactly the factor is not above it; just above is */
    {{2, 100, 150000, 5000, 5000000}, true, false, 1.5},
    {{2, 100, 150100, 5000, 5000000}, true, true, 1.501},
    /* cheaper than usual: no alert */
    {{3, 100, 10000, 5000, 5000000}, true, false, 0.1},
    /* too few calls in either window: ratio shown, no alert */
    {{2, 49, 490000, 5000, 5000000}, true, false, 10.0},
    {{2, 100, 1000000, 49, 49000}, true, false, 10.0},
    {{2, 50, 500000, 50, 50000}, true, true, 10.0},
    /* no calls in a window, or a tier that costs nothing: not comparable */
    {{2, 0, 0, 5000, 5000000}, false, false, 0},
    {{2, 100, 100000, 0, 0}, false, false, 0},
    {{0, 100, 0, 5000, 0}, false, false, 0},
};

static void test_judge(void **state)
{
    (void)state;
    struct alerts_conf a = {1.5, 50, 300, 0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cost_drift_verdict v;
        cost_drift_judge(&a, &cases[i].s, &v);
        if (v.comparable != cases[i].comparable || v.alert != cases[i].alert ||
            fabs(v.ratio - cases[i].ratio) > 1e-9)
            fail_msg("case %zu: comparable=%d alert=%d ratio=%g", i,
                     v.comparable, v.alert, v.ratio);
    }
    /* the averages are per call */
    struct cost_drift_verdict v;
    cost_drift_judge(&a, &cases[1].s, &v);
    assert_true(v.hour_avg_nanousd == 2000.0);
    assert_true(v.week_avg_nanousd == 1000.0);
    /* a higher factor silences the same drift */
    a.cost_drift_factor = 2.5;
    cost_drift_judge(&a, &cases[1].s, &v);
    assert_false(v.alert);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
