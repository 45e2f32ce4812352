/* sources: lib/offsets.c lib/sl.c */
/* The in-flight offset tracker: watermarks over out-of-order completion,
 * generations across rebalances, and cost per message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "offsets.h"

enum op_kind { END, ASSIGN, REVOKE, TRACK, DONE, DONE_GEN };

/* One step: the operation, then what must hold right after it. For DONE the
 * generation is the one the last TRACK of that partition returned; DONE_GEN
 * passes arg2 as the generation explicitly. */
struct step {
    enum op_kind op;
    int32_t partition;
    int64_t offset;
    uint32_t arg2;
    int want_ret;      /* DONE: advanced?; ASSIGN: generation; TRACK: 0 = rejected */
    int64_t want_wm;   /* watermark of the partition after the step */
    size_t want_pending;
};

struct seq_case {
    const char *name;
    struct step steps[24];
};

static const struct seq_case cases[] = {
    {"in order",
     {{ASSIGN, 0, 0, 0, 1, -1, 0},
      {TRACK, 0, 10, 0, 1, -1, 1},
      {TRACK, 0, 11, 0, 1, -1, 2},
      {DONE, 0, 10, 0, 1, 11, 1},
      {DONE, 0, 11, 0, 1, 12, 0},
      {END}}},
    {"out of order: watermark waits for the lowest pending",
     {{ASSIGN, 0, 0, 0, 1, -1, 0},
      {TRACK, 0, 5, 0, 1, -1, 1},
      {TRACK, 0, 6, 0, 1, -1, 2},
      {TRACK, 0, 7, 0, 1, -1, 3},
      {DONE, 0, 7, 0, 1, 5, 2},  /* first done: lowest pending is 5 */
      {DONE, 0, 6, 0, 0, 5, 1},  /* still blocked on 5 */
      {DONE, 0, 5, 0, 1, 8, 0},  /* all three pop */
      {TRACK, 0, 8, 0, 1, 8, 1},
      {DONE, 0, 8, 0, 1, 9, 0},
      {END}}},
    {"gaps (compaction, transaction markers)",
     {{ASSIGN, 3, 0, 0, 1, -1, 0},
      {TRACK, 3, 100, 0, 1, -1, 1},
      {TRACK, 3, 105, 0, 1, -1, 2},
      {TRACK, 3, 230, 0, 1, -1, 3},
      {DONE, 3, 230, 0, 1, 100, 2},
      {DONE, 3, 100, 0, 1, 105, 1},
      {DONE, 3, 104, 0, 0, 105, 1}, /* never tracked */
      {DONE, 3, 105, 0, 1, 231, 0},
      {END}}},
    {"duplicate and unknown dones are ignored",
     {{ASSIGN, 1, 0, 0, 1, -1, 0},
      {TRACK, 1, 0, 0, 1, -1, 1},
      {TRACK, 1, 1, 0, 1, -1, 2},
      {DONE, 1, 1, 0, 1, 0, 1},
      {DONE, 1, 1, 0, 0, 0, 1},
      {DONE, 1, 0, 0, 1, 2, 0},
      {DONE, 1, 0, 0, 0, 2, 0},
      {DONE, 1, 99, 0, 0, 2, 0},
      {END}}},
    {"tracking requires assignment and rising offsets",
     {{TRACK, 2, 0, 0, 0, -1, 0},
      {ASSIGN, 2, 0, 0, 1, -1, 0},
      {TRACK, 2, 7, 0, 1, -1, 1},
      {TRACK, 2, 7, 0, 0, -1, 1},
      {TRACK, 2, 3, 0, 0, -1, 1},
      {TRACK, 2, -1, 0, 0, -1, 1},
      {TRACK, -1, 0, 0, 0, -1, 1},
      {DONE, 2, 7, 0, 1, 8, 0},
      {END}}},
    {"revoke forgets and stales the tokens",
     {{ASSIGN, 0, 0, 0, 1, -1, 0},
      {TRACK, 0, 40, 0, 1, -1, 1},
      {TRACK, 0, 41, 0, 1, -1, 2},
      {REVOKE, 0, 0, 0, 0, -1, 0},
      {DONE_GEN, 0, 40, 1, 0, -1, 0},  /* late finish after revoke */
      {TRACK, 0, 42, 0, 0, -1, 0},     /* not ours any more */
      {ASSIGN, 0, 0, 0, 3, -1, 0},     /* assign and revoke both bump */
      {TRACK, 0, 40, 0, 1, -1, 1},     /* redelivered from the commit */
      {DONE_GEN, 0, 40, 1, 0, -1, 1},  /* the old token is still stale */
      {DONE_GEN, 0, 40, 3, 1, 41, 0},
      {END}}},
    {"reassign without revoke resets",
     {{ASSIGN, 0, 0, 0, 1, -1, 0},
      {TRACK, 0, 1, 0, 1, -1, 1},
      {DONE, 0, 1, 0, 1, 2, 0},
      {TRACK, 0, 2, 0, 1, 2, 1},
      {ASSIGN, 0, 0, 0, 2, -1, 0},
      {DONE_GEN, 0, 2, 1, 0, -1, 0},
      {END}}},
    {"partitions are independent",
     {{ASSIGN, 0, 0, 0, 1, -1, 0},
      {ASSIGN, 7, 0, 0, 1, -1, 0},
      {TRACK, 0, 10, 0, 1, -1, 1},
      {TRACK, 7, 10, 0, 1, -1, 2},
      {DONE, 7, 10, 0, 1, 11, 1},
      {REVOKE, 7, 0, 0, 0, -1, 1},
      {DONE, 0, 10, 0, 1, 11, 0},
      {END}}},
};

static void run_case(const struct seq_case *c)
{
    struct offsets *o = offsets_new();
    uint32_t gen[8] = {0};
    for (size_t i = 0; c->steps[i].op != END; i++) {
        const struct step *s = &c->steps[i];
        int ret = 0;
        switch (s->op) {
        case ASSIGN: ret = (int)offsets_assign(o, s->partition); break;
        case REVOKE: offsets_revoke(o, s->partition); break;
        case TRACK: {
            uint32_t g = offsets_track(o, s->partition, s->offset);
            if (g && s->partition >= 0)
                gen[s->partition] = g;
            ret = g != 0;
            break;
        }
        case DONE: ret = offsets_done(o, s->partition, s->offset, gen[s->partition]); break;
        case DONE_GEN: ret = offsets_done(o, s->partition, s->offset, s->arg2); break;
        case END: break;
        }
        if ((s->op != REVOKE && ret != s->want_ret) ||
            offsets_watermark(o, s->partition) != s->want_wm ||
            offsets_pending(o) != s->want_pending)
            print_message("case \"%s\", step %zu failed\n", c->name, i);
        if (s->op != REVOKE)
            assert_int_equal(ret, s->want_ret);
        assert_int_equal(offsets_watermark(o, s->partition), s->want_wm);
        assert_int_equal(offsets_pending(o), s->want_pending);
    }
    offsets_free(o);
}

static void test_sequences(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
}

static void test_unknown_partition(void **state)
{
    (void)state;
    struct offsets *o = offsets_new();
    assert_int_equal(offsets_watermark(o, 5), -1);
    assert_int_equal(offsets_done(o, 5, 0, 1), 0);
    assert_int_equal(offsets_assign(o, -3), 0);
    assert_int_equal(offsets_assign(o, 1 << 30), 0); /* no huge table */
    offsets_revoke(o, 12345);
    assert_int_equal(offsets_pending(o), 0);
    offsets_free(o);
    offsets_free(NULL);
}

/* A token stays owned only while its partition stays assigned in the
 * generation it was tracked in. */
static void test_owned(void **state)
{
    (void)state;
    struct offsets *o = offsets_new();
    assert_false(offsets_owned(o, 2, 0));           /* never assigned */
    offsets_assign(o, 2);
    uint32_t gen = offsets_track(o, 2, 40);
    assert_true(gen != 0);
    assert_true(offsets_owned(o, 2, gen));
    assert_true(offsets_owned(o, 2, 0));             /* untracked replay */
    assert_false(offsets_owned(o, 3, gen));          /* another partition */
    offsets_revoke(o, 2);
    assert_false(offsets_owned(o, 2, gen));          /* moved to another consumer */
    assert_false(offsets_owned(o, 2, 0));
    offsets_assign(o, 2);                            /* back, new generation */
    assert_false(offsets_owned(o, 2, gen));
    assert_true(offsets_owned(o, 2, offsets_track(o, 2, 41)));
    offsets_free(o);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1M messages over 4 partitions, finished in a shuffled window of 1000 so the
 * ring holds a realistic in-flight set; must stay linear. */
static void test_million_is_fast(void **state)
{
    (void)state;
    enum { N = 1000000, WINDOW = 1000, PARTS = 4 };
    struct offsets *o = offsets_new();
    uint32_t gen[PARTS];
    for (int p = 0; p < PARTS; p++)
        gen[p] = offsets_assign(o, p);
    double t0 = now_s();
    uint64_t rng = 88172645463325252ull;
    for (int64_t base = 0; base < N; base += WINDOW) {
        for (int64_t i = base; i < base + WINDOW; i++)
            assert_int_equal(offsets_track(o, (int32_t)(i % PARTS), i / PARTS),
                             gen[i % PARTS]);
        int64_t order[WINDOW];
        for (int64_t i = 0; i < WINDOW; i++)
            order[i] = base + i;
        for (int64_t i = WINDOW - 1; i > 0; i--) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            int64_t j = (int64_t)(rng % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        for (int64_t i = 0; i < WINDOW; i++)
            offsets_done(o, (int32_t)(order[i] % PARTS), order[i] / PARTS,
                         gen[order[i] % PARTS]);
        assert_int_equal(offsets_pending(o), 0);
    }
    double elapsed = now_s() - t0;
    for (int p = 0; p < PARTS; p++)
        assert_int_equal(offsets_watermark(o, p), N / PARTS);
    print_message("1M track+done: %.3f s\n", elapsed);
    assert_true(elapsed < 2.0);
    offsets_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_unknown_partition),
        cmocka_unit_test(test_owned),
        cmocka_unit_test(test_million_is_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
