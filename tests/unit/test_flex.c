/* sources: lib/provider/flex.c lib/retry.c */
/* Flex or standard for a worker's realtime call, and the fall-back after
 * flex 429s (lib/provider/flex.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "provider/flex.h"

static const struct provider_conf oai = {
    .name = "oai", .kind = PROVIDER_OPENAI, .timeout_ms = 1000,
    .flex = true, .flex_retries = 2,
};

static void test_flex_use(void **state)
{
    (void)state;
    int64_t now = 1000000;
    assert_true(flex_use(&oai, true, 0, 0, now));            /* no deadline */
    assert_true(flex_use(&oai, true, 0, now + 2001, now));   /* fits 2 timeouts */
    assert_false(flex_use(&oai, true, 0, now + 2000, now));  /* too near */
    assert_false(flex_use(&oai, false, 0, 0, now));          /* interactive */
    assert_true(flex_use(&oai, true, 2, 0, now));            /* retries left */
    assert_false(flex_use(&oai, true, 3, 0, now));           /* spent: standard */
    struct provider_conf p = oai;
    p.flex = false;
    assert_false(flex_use(&p, true, 0, 0, now));
    p = oai;
    p.kind = PROVIDER_ANTHROPIC; /* flex is an OpenAI service tier */
    assert_false(flex_use(&p, true, 0, 0, now));
}

/* Flex 429s are counted, waited for with the provider's backoff or the
 * server's hint, and past flex_retries or the deadline end flex on the
 * tier for good. */
static void test_flex_after_429(void **state)
{
    (void)state;
    int64_t now = 1000000;
    struct provider_conf p = oai;
    p.max_retries = 5, p.retry_base_ms = 500, p.retry_cap_ms = 8000;
    p.retry_after_cap_ms = 60000;
    int n = 0;
    int64_t d = flex_after_429(&p, &n, -1, 0.5, 0, now);
    assert_int_equal(n, 1);
    assert_true(d >= 0 && d <= 500);
    /* the server's hint wins over the backoff */
    assert_int_equal(flex_after_429(&p, &n, 900, 0.5, now + 10000, now), 900);
    assert_int_equal(n, 2);
    /* the third 429 is past flex_retries (2): standard from now on */
    assert_int_equal(flex_after_429(&p, &n, 900, 0.5, 0, now), -1);
    assert_int_equal(n, p.flex_retries + 1);
    assert_false(flex_use(&p, true, n, 0, now));
    /* the wait plus two timeouts would pass the deadline: standard at once,
     * with the retries left unused */
    n = 0;
    assert_int_equal(flex_after_429(&p, &n, 900, 0.5, now + 2500, now), -1);
    assert_int_equal(n, p.flex_retries + 1);
    assert_false(flex_use(&p, true, n, 0, now));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flex_use),
        cmocka_unit_test(test_flex_after_429),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
