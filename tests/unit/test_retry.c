/* sources: lib/retry.c */
/* The retry policy: decision table, backoff bounds, server hints. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "retry.h"

/* The defaults of config.h: 2 retries, 500 ms doubling to 8 s, 2 min cap. */
static const struct retry_policy pol = {2, 500, 8000, 120000};

#define GIVE RETRY_GIVE_UP
#define WAIT RETRY_AFTER_DELAY

struct decide_case {
    int retries_done;
    int transport_error;
    long status;
    const char *x_should_retry;
    bool no_retry;
    enum retry_decision want;
};

static const struct decide_case decide_cases[] = {
    /* retryable statuses */
    {0, 0, 408, NULL, false, WAIT},
    {0, 0, 409, NULL, false, WAIT},
    {0, 0, 429, NULL, false, WAIT},
    {0, 0, 500, NULL, false, WAIT},
    {0, 0, 502, NULL, false, WAIT},
    {0, 0, 503, NULL, false, WAIT},
    {0, 0, 529, NULL, false, WAIT},
    {0, 0, 599, NULL, false, WAIT},
    /* never other 4xx, nor success, redirects or nonsense */
    {0, 0, 400, NULL, false, GIVE},
    {0, 0, 401, NULL, false, GIVE},
    {0, 0, 402, NULL, false, GIVE},
    {0, 0, 403, NULL, false, GIVE},
    {0, 0, 404, NULL, false, GIVE},
    {0, 0, 413, NULL, false, GIVE},
    {0, 0, 422, NULL, false, GIVE},
    {0, 0, 200, NULL, false, GIVE},
    {0, 0, 301, NULL, false, GIVE},
    {0, 0, 600, NULL, false, GIVE},
    {0, 0, 0, NULL, false, GIVE},
    /* transport errors (no status) */
    {0, 1, 0, NULL, false, WAIT},
    {1, 1, 0, NULL, false, WAIT},
    /* at most max_retries (2) */
    {1, 0, 429, NULL, false, WAIT},
    {2, 0, 429, NULL, false, GIVE},
    {2, 1, 0, NULL, false, GIVE},
    {3, 0, 503, NULL, false, GIVE},
    /* x-should-retry wins over the status and the body... */
    {0, 0, 400, "true", false, WAIT},
    {0, 0, 400, "TRUE", false, WAIT},
    {0, 0, 503, "false", false, GIVE},
    {0, 1, 0, "False", false, GIVE},
    {0, 0, 429, "true", true, WAIT},
    /* ...but not over max_retries */
    {2, 0, 400, "true", false, GIVE},
    /* other header values are ignored */
    {0, 0, 400, "maybe", false, GIVE},
    {0, 0, 503, "", false, WAIT},
    /* the body's no_retry (insufficient_quota, spend limit) */
    {0, 0, 429, NULL, true, GIVE},
    {0, 1, 0, NULL, true, GIVE},
};

static void test_decide_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]);
         i++) {
        const struct decide_case *c = &decide_cases[i];
        print_message("case %zu: status %ld\n", i, c->status);
        assert_int_equal(retry_decide(&pol, c->retries_done,
                                      c->transport_error, c->status,
                                      c->x_should_retry, c->no_retry),
                         c->want);
    }
}

static void test_decide_no_retries_allowed(void **state)
{
    (void)state;
    struct retry_policy none = pol;
    none.max_retries = 0;
    assert_int_equal(retry_decide(&none, 0, 1, 0, "true", false), GIVE);
}

static void test_policy_from_provider(void **state)
{
    (void)state;
    struct provider_conf p = {.max_retries = 3, .retry_base_ms = 250,
                              .retry_cap_ms = 4000,
                              .retry_after_cap_ms = 60000};
    struct retry_policy out;
    retry_policy_from_provider(&p, &out);
    assert_int_equal(out.max_retries, 3);
    assert_int_equal(out.base_ms, 250);
    assert_int_equal(out.cap_ms, 4000);
    assert_int_equal(out.retry_after_cap_ms, 60000);
    p.max_retries = -1;
    retry_policy_from_provider(&p, &out);
    assert_int_equal(out.max_retries, 0);
}

static void test_delay_bounds(void **state)
{
    (void)state;
    /* min(8000, 500 * 2^n) */
    static const int64_t ceilings[] = {500, 1000, 2000, 4000, 8000, 8000,
                                       8000};
    for (int n = 0; n < (int)(sizeof(ceilings) / sizeof(ceilings[0])); n++) {
        int64_t lo = INT64_MAX, hi = -1;
        for (int k = 0; k < 10000; k++) {
            int64_t d = retry_delay_ms(&pol, n, -1, k / 10000.0);
            assert_true(d >= 0 && d <= ceilings[n]);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* the whole range is reachable: full jitter, not a fixed wait */
        assert_int_equal(lo, 0);
        assert_int_equal(hi, ceilings[n]);
        assert_int_equal(retry_delay_ms(&pol, n, -1, 0.5),
                         (int64_t)floor(0.5 * (double)(ceilings[n] + 1)));
    }
    /* huge retry counts neither overflow nor exceed the cap */
    assert_int_equal(retry_delay_ms(&pol, 1000000, -1, 0.999999), 8000);
    /* rand01 outside [0,1) is clamped */
    assert_int_equal(retry_delay_ms(&pol, 0, -1, 1.0), 500);
    assert_int_equal(retry_delay_ms(&pol, 0, -1, 7.0), 500);
    assert_int_equal(retry_delay_ms(&pol, 0, -1, -0.5), 0);
    assert_int_equal(retry_delay_ms(&pol, 0, -1, NAN), 0);
}

static void test_delay_hint(void **state)
{
    (void)state;
    /* honoured exactly, whatever the backoff would say */
    assert_int_equal(retry_delay_ms(&pol, 0, 1500, 0.1), 1500);
    assert_int_equal(retry_delay_ms(&pol, 1, 30000, 0.9), 30000);
    assert_int_equal(retry_delay_ms(&pol, 0, 1, 0.9), 1);
    assert_int_equal(retry_delay_ms(&pol, 0, 120000, 0.5), 120000);
    /* above the cap: give up */
    assert_int_equal(retry_delay_ms(&pol, 0, 120001, 0.5), -1);
    assert_int_equal(retry_delay_ms(&pol, 0, INT64_MAX, 0.5), -1);
    /* 0 is no hint: backoff */
    assert_int_equal(retry_delay_ms(&pol, 0, 0, 0.5), 250);
}

struct hint_case {
    const char *ms;
    const char *after;
    int64_t want;
};

#define NOW INT64_C(1445412480) /* Wed, 21 Oct 2015 07:28:00 GMT */

static const struct hint_case hint_cases[] = {
    {NULL, NULL, -1},
    {"250", NULL, 250},
    {"12.5", NULL, 13},          /* fractions round up */
    {"0", NULL, 0},
    {" 40 ", NULL, 40},
    {"250", "9", 250},           /* retry-after-ms comes first */
    {"abc", "3", 3000},          /* unparseable ms: fall back */
    {"1e3", NULL, -1},
    {"inf", NULL, -1},
    {"-5", NULL, -1},
    {"", NULL, -1},
    {NULL, "2", 2000},
    {NULL, "1.5", 1500},
    {NULL, "0.0004", 1},
    {NULL, "soon", -1},
    {NULL, "", -1},
    /* HTTP dates (IMF-fixdate, RFC 850, asctime) relative to NOW */
    {NULL, "Wed, 21 Oct 2015 07:28:30 GMT", 30000},
    {NULL, "Wednesday, 21-Oct-15 07:29:00 GMT", 60000},
    {NULL, "Wed Oct 21 07:28:05 2015", 5000},
    {NULL, "Wed, 21 Oct 2015 07:27:00 GMT", 0}, /* in the past */
    {NULL, "Thu, 22 Oct 2015 07:28:00 GMT", 86400000},
};

static void test_parse_hint(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hint_cases) / sizeof(hint_cases[0]); i++) {
        const struct hint_case *c = &hint_cases[i];
        print_message("case %zu: %s / %s\n", i, c->ms ? c->ms : "-",
                      c->after ? c->after : "-");
        assert_int_equal(retry_parse_hint(c->ms, c->after, NOW), c->want);
    }
}

static void test_hint_to_delay(void **state)
{
    (void)state;
    /* 200 s > the 120 s cap: the worker must not wait that long */
    int64_t hint = retry_parse_hint(NULL, "200", NOW);
    assert_int_equal(retry_delay_ms(&pol, 0, hint, 0.3), -1);
    hint = retry_parse_hint(NULL, "Wed, 21 Oct 2015 07:28:45 GMT", NOW);
    assert_int_equal(retry_delay_ms(&pol, 0, hint, 0.3), 45000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide_table),
        cmocka_unit_test(test_decide_no_retries_allowed),
        cmocka_unit_test(test_policy_from_provider),
        cmocka_unit_test(test_delay_bounds),
        cmocka_unit_test(test_delay_hint),
        cmocka_unit_test(test_parse_hint),
        cmocka_unit_test(test_hint_to_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
