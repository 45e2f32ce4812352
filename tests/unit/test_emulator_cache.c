/* sources: ops/emulator/prefix_cache.c ops/emulator/util.c */
/* The emulator's prompt cache (ops/emulator/prefix_cache.h): Anthropic
 * breakpoints, minimum, write then read, TTL refresh and expiry, the
 * 20-block look-back; OpenAI's 1,024-token rule and 128-token steps, with
 * multi-byte characters counted as one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../ops/emulator/prefix_cache.h"
#include "../../ops/emulator/util.h"

/* A block of n characters of c (ASCII) or of "é" (2 bytes, 1 character). */
static struct emu_block block(char role, size_t n, char c, int ttl_s)
{
    bool wide = c == 'e';
    char *t = emu_xcalloc(n * (wide ? 2 : 1) + 1, 1);
    for (size_t i = 0; i < n; i++) {
        if (wide)
            memcpy(t + 2 * i, "\xc3\xa9", 2);
        else
            t[i] = c;
    }
    return (struct emu_block){.text = t, .chars = n, .role = role, .ttl_s = ttl_s};
}

static void free_blocks(struct emu_block *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(b[i].text);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_anthropic_rules(void **state)
{
    (void)state;
    struct emu_prefix_cache *c = emu_prefix_cache_new();
    struct emu_cache_use u;
    /* 6000 system chars (1500 tokens) with a breakpoint, then the input. */
    struct emu_block a[] = {block('s', 6000, 'x', 300), block('u', 40, 'a', 0)};
    struct emu_block b[] = {block('s', 6000, 'x', 300), block('u', 80, 'b', 0)};
    struct emu_block none[] = {block('s', 6000, 'x', 0), block('u', 40, 'a', 0)};

    emu_prefix_cache_anthropic(c, "m", none, 2, 1024, 1, &u);
    emu_prefix_cache_anthropic(c, "m", none, 2, 1024, 1, &u);
    assert_int_equal(u.read + u.write, 0); /* no breakpoint, no cache */

    emu_prefix_cache_anthropic(c, "m", a, 2, 2048, 1, &u);
    assert_int_equal(u.write, 0); /* 1500 tokens < the minimum 2048 */

    emu_prefix_cache_anthropic(c, "m", a, 2, 1024, 1, &u);
    assert_int_equal(u.read, 0);
    assert_int_equal(u.write, 1500);
    assert_int_equal(u.write_1h, 0);
    emu_prefix_cache_anthropic(c, "m", b, 2, 1024, 1, &u); /* another input */
    assert_int_equal(u.read, 1500);
    assert_int_equal(u.write, 0);
    emu_prefix_cache_anthropic(c, "other", b, 2, 1024, 1, &u); /* per model */
    assert_int_equal(u.read, 0);
    assert_int_equal(u.write, 1500);
    free_blocks(a, 2);
    free_blocks(b, 2);
    free_blocks(none, 2);
    emu_prefix_cache_free(c);
}

/* Two breakpoints: the second one's segment is written with its TTL; a
 * later request that changes only the second part reads the first. */
static void test_anthropic_two_breakpoints_and_ttl(void **state)
{
    (void)state;
    struct emu_prefix_cache *c = emu_prefix_cache_new();
    struct emu_cache_use u;
    struct emu_block a[] = {block('s', 4400, 'x', 3600), block('u', 4000, 'y', 300),
                            block('u', 10, 'z', 0)};
    struct emu_block b[] = {block('s', 4400, 'x', 3600), block('u', 4000, 'w', 300),
                            block('u', 10, 'z', 0)};
    emu_prefix_cache_anthropic(c, "m", a, 3, 1024, 0.001, &u);
    assert_int_equal(u.write, 2100);   /* 1100 (1h) + 1000 (5m) */
    assert_int_equal(u.write_1h, 1100);
    emu_prefix_cache_anthropic(c, "m", b, 3, 1024, 0.001, &u);
    assert_int_equal(u.read, 1100);    /* the system part */
    assert_int_equal(u.write, 1000);
    assert_int_equal(u.write_1h, 0);
    /* ttl_scale 0.001: 5m = 0.3 s, 1h = 3.6 s */
    sleep_ms(500);
    emu_prefix_cache_anthropic(c, "m", a, 3, 1024, 0.001, &u);
    assert_int_equal(u.read, 1100);    /* the 5-minute part expired */
    assert_int_equal(u.write, 1000);
    free_blocks(a, 3);
    free_blocks(b, 3);
    emu_prefix_cache_free(c);
}

/* A breakpoint more than 20 blocks after the cached one does not find it. */
static void test_anthropic_lookback(void **state)
{
    (void)state;
    struct emu_prefix_cache *c = emu_prefix_cache_new();
    struct emu_cache_use u;
    struct emu_block a[23], b[23];
    a[0] = block('s', 5000, 'x', 300);
    b[0] = block('s', 5000, 'x', 0);
    for (size_t i = 1; i < 23; i++) {
        a[i] = block('u', 10, 'q', 0);
        b[i] = block('u', 10, 'q', i == 22 ? 300 : 0);
    }
    emu_prefix_cache_anthropic(c, "m", a, 1, 1024, 1, &u); /* writes block 0 */
    assert_int_equal(u.write, 1250);
    emu_prefix_cache_anthropic(c, "m", b, 23, 1024, 1, &u);
    assert_int_equal(u.read, 0); /* 22 blocks back: out of reach */
    b[22].ttl_s = 0;
    b[20].ttl_s = 300;
    struct emu_cache_use v;
    emu_prefix_cache_anthropic(c, "m", b, 23, 1024, 1, &v);
    assert_int_equal(v.read, 1250); /* 20 blocks back: found */
    free_blocks(a, 23);
    free_blocks(b, 23);
    emu_prefix_cache_free(c);
}

static void test_openai_rules(void **state)
{
    (void)state;
    struct emu_prefix_cache *c = emu_prefix_cache_new();
    struct emu_cache_use u;
    /* 4000 chars = 1000 tokens: under 1024, never cached. */
    struct emu_block small[] = {block('s', 3990, 'x', 0), block('u', 10, 'a', 0)};
    emu_prefix_cache_openai(c, "m", small, 2, 1024, 300, &u);
    emu_prefix_cache_openai(c, "m", small, 2, 1024, 300, &u);
    assert_int_equal(u.read, 0);
    /* 5000 shared characters, multi-byte: 9 whole steps of 512 = 4608. */
    struct emu_block a[] = {block('s', 5000, 'e', 0), block('u', 300, 'a', 0)};
    struct emu_block b[] = {block('s', 5000, 'e', 0), block('u', 300, 'b', 0)};
    emu_prefix_cache_openai(c, "m", a, 2, 1024, 300, &u);
    assert_int_equal(u.read, 0);
    assert_int_equal(u.write, 0); /* OpenAI reports no writes */
    emu_prefix_cache_openai(c, "m", b, 2, 1024, 300, &u);
    assert_int_equal(u.read, 9 * 128);
    emu_prefix_cache_openai(c, "m", a, 2, 1024, 300, &u); /* the same prompt */
    assert_int_equal(u.read, (5300 / 512) * 128);
    /* A different role at the same text is another prefix. */
    struct emu_block d[] = {block('u', 5000, 'e', 0), block('u', 300, 'a', 0)};
    emu_prefix_cache_openai(c, "m", d, 2, 1024, 300, &u);
    assert_int_equal(u.read, 0);
    /* Expiry. */
    struct emu_block e[] = {block('s', 5000, 'x', 0)};
    emu_prefix_cache_openai(c, "m", e, 1, 1024, 0.2, &u);
    sleep_ms(300);
    emu_prefix_cache_openai(c, "m", e, 1, 1024, 0.2, &u);
    assert_int_equal(u.read, 0);
    free_blocks(small, 2);
    free_blocks(a, 2);
    free_blocks(b, 2);
    free_blocks(d, 2);
    free_blocks(e, 1);
    emu_prefix_cache_free(c);
}

/* Many distinct prefixes: the table grows and keeps every live entry. */
static void test_growth(void **state)
{
    (void)state;
    struct emu_prefix_cache *c = emu_prefix_cache_new();
    struct emu_cache_use u;
    char model[32];
    struct emu_block a[] = {block('s', 4200, 'x', 300)};
    for (int i = 0; i < 3000; i++) {
        snprintf(model, sizeof(model), "m%d", i);
        emu_prefix_cache_anthropic(c, model, a, 1, 1024, 1, &u);
        assert_int_equal(u.write, 1050);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(model, sizeof(model), "m%d", i);
        emu_prefix_cache_anthropic(c, model, a, 1, 1024, 1, &u);
        assert_int_equal(u.read, 1050);
    }
    free_blocks(a, 1);
    emu_prefix_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anthropic_rules),
        cmocka_unit_test(test_anthropic_two_breakpoints_and_ttl),
        cmocka_unit_test(test_anthropic_lookback),
        cmocka_unit_test(test_openai_rules),
        cmocka_unit_test(test_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
