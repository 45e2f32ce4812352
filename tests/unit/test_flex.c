/* sources: lib/provider/flex.c */
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

static void test_flex_retry_delay(void **state)
{
    (void)state;
    int64_t now = 1000000;
    assert_int_equal(flex_retry_delay(&oai, 1, 500, 0, now), 500);
    assert_int_equal(flex_retry_delay(&oai, 2, 900, now + 10000, now), 900);
    /* the wait plus two timeouts would pass the deadline: standard now */
    assert_int_equal(flex_retry_delay(&oai, 1, 500, now + 2500, now), -1);
    assert_int_equal(flex_retry_delay(&oai, 3, 500, 0, now), -1); /* spent */
    assert_int_equal(flex_retry_delay(&oai, 1, -1, 0, now), -1);  /* no delay */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flex_use),
        cmocka_unit_test(test_flex_retry_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
