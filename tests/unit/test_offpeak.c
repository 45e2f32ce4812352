/* sources: scheduler/offpeak.c lib/config.c lib/config_table.c lib/log.c lib/sl.c */
/* Off-peak windows: open/closed, next opening, midnight crossing, time
 * zones with daylight saving, and the scheduler config that holds them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "offpeak.h"

#define MIN 60000LL
#define HOUR (60 * MIN)
/* 2026-11-23T00:00:00Z, a Monday; Berlin is UTC+1 (no DST) that day. */
#define DAY0 1795392000000LL
/* 2026-07-01T00:00:00Z; Berlin is UTC+2 (DST). */
#define JULY1 1782864000000LL

struct window_case {
    const char *name, *tz;
    struct offpeak_window w[2];
    size_t n;
    int64_t now;
    bool open;
    int64_t opens, closes;
};

static const struct window_case cases[] = {
    {"before the window", "UTC", {{60 * 60, 360 * 60}}, 1, DAY0 + 30 * MIN, false,
     DAY0 + HOUR, DAY0 + 6 * HOUR},
    {"inside", "UTC", {{60 * 60, 360 * 60}}, 1, DAY0 + 2 * HOUR, true, DAY0 + HOUR,
     DAY0 + 6 * HOUR},
    {"at the close: next day", "UTC", {{60 * 60, 360 * 60}}, 1, DAY0 + 6 * HOUR, false,
     DAY0 + 25 * HOUR, DAY0 + 30 * HOUR},
    {"crossing midnight, after it", "UTC", {{22 * 60 * 60, 120 * 60}}, 1,
     DAY0 + HOUR, true, DAY0 - 2 * HOUR, DAY0 + 2 * HOUR},
    {"crossing midnight, before it", "UTC", {{22 * 60 * 60, 120 * 60}}, 1,
     DAY0 + 12 * HOUR, false, DAY0 + 22 * HOUR, DAY0 + 26 * HOUR},
    {"two windows: the nearer", "UTC", {{13 * 3600, 14 * 3600}, {3600, 6 * 3600}}, 2,
     DAY0 + 7 * HOUR, false, DAY0 + 13 * HOUR, DAY0 + 14 * HOUR},
    {"seconds: opens at 01:00:30", "UTC", {{3600 + 30, 7200}}, 1, DAY0 + HOUR,
     false, DAY0 + HOUR + 30000, DAY0 + 2 * HOUR},
    {"Berlin winter (UTC+1)", "Europe/Berlin", {{60 * 60, 360 * 60}}, 1, DAY0, true,
     DAY0, DAY0 + 5 * HOUR},
    {"Berlin summer (UTC+2)", "Europe/Berlin", {{60 * 60, 360 * 60}}, 1, JULY1, true,
     JULY1 - HOUR, JULY1 + 4 * HOUR},
    {"Berlin summer, after the close", "Europe/Berlin", {{60 * 60, 360 * 60}}, 1,
     JULY1 + 5 * HOUR, false, JULY1 + 23 * HOUR, JULY1 + 28 * HOUR},
};

static void test_windows(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct window_case *c = &cases[i];
        struct scheduler_conf s = {.timezone = (char *)c->tz,
                                   .windows = (struct offpeak_window *)c->w,
                                   .n_windows = c->n};
        struct offpeak_state st;
        char err[128];
        print_message("case: %s\n", c->name);
        assert_int_equal(offpeak_at(&s, c->now, &st, err, sizeof(err)), SL_OK);
        assert_int_equal(st.open, c->open);
        assert_int_equal(st.opens_ms, c->opens);
        assert_int_equal(st.closes_ms, c->closes);
    }
}

static void test_no_window_and_bad_zone(void **state)
{
    (void)state;
    struct offpeak_window w = {3600, 7200};
    struct scheduler_conf s = {.timezone = "UTC"};
    struct offpeak_state st;
    char err[128];
    assert_int_equal(offpeak_at(&s, DAY0, &st, err, sizeof(err)), SL_ENOTFOUND);
    s.windows = &w;
    s.n_windows = 1;
    s.timezone = "Mars/Olympus_Mons";
    assert_int_equal(offpeak_at(&s, DAY0, &st, err, sizeof(err)), SL_ECONFIG);
    assert_non_null(strstr(err, "Mars/Olympus_Mons"));
}

static const char cfg_fmt[] =
    "{\"kafka\": {\"bootstrap_servers\": \"k:9092\"},"
    " \"postgres\": {\"conninfo\": \"dbname=t\"},"
    " \"providers\": {\"p\": {\"kind\": \"openai\", \"base_url\": \"http://x\"}},"
    " \"prices\": {\"m\": {\"input\": 1, \"output\": 1}},"
    " \"tiers\": {\"1\": {\"provider\": \"p\", \"model\": \"m\"}},"
    " \"tasks\": {\"a\": {\"output\": \"text\", \"prompt\": \"{{input}}\", \"ladder\": [1]}},"
    " \"scheduler\": %s}";

static int parse_scheduler(const char *section, struct config **cfg,
                           char *err, size_t err_size)
{
    char json[2048];
    snprintf(json, sizeof(json), cfg_fmt, section);
    return config_parse(json, "t.json", cfg, err, err_size);
}

static void test_config(void **state)
{
    (void)state;
    struct config *cfg = NULL;
    char err[256];
    assert_int_equal(parse_scheduler("{\"batch_max_requests\": 50, \"offpeak\":"
                                     " {\"timezone\": \"Europe/Berlin\","
                                     " \"windows\": [\"22:30-02:00\", \"13:00:15-14:00\"]}}",
                                     &cfg, err, sizeof(err)), SL_OK);
    assert_int_equal(cfg->scheduler.batch_max_requests, 50);
    assert_int_equal(cfg->scheduler.max_wait_s, 300);
    assert_int_equal(cfg->scheduler.realtime_concurrency, 16);
    assert_string_equal(cfg->scheduler.timezone, "Europe/Berlin");
    assert_int_equal(cfg->scheduler.n_windows, 2);
    assert_int_equal(cfg->scheduler.windows[0].start_s, 22 * 3600 + 1800);
    assert_int_equal(cfg->scheduler.windows[0].end_s, 7200);
    assert_int_equal(cfg->scheduler.windows[1].start_s, 13 * 3600 + 15);
    config_free(cfg);

    static const char *const bad[][2] = {
        {"{\"offpeak\": {\"windows\": [\"1:00-6\"]}}", "scheduler.offpeak.windows[0]"},
        {"{\"offpeak\": {\"windows\": [\"06:00-06:00\"]}}", "scheduler.offpeak.windows[0]"},
        {"{\"offpeak\": {\"windows\": [\"01:00-25:00\"]}}", "scheduler.offpeak.windows[0]"},
        {"{\"offpeak\": {\"windows\": [\"01:00:7-02:00\"]}}", "scheduler.offpeak.windows[0]"},
        {"{\"offpeak\": {\"windows\": [\"00:00-24:00\"]}}", "scheduler.offpeak.windows[0]"},
        {"{\"poll_min_ms\": 500, \"poll_max_ms\": 100}", "scheduler.poll_max_ms"},
        {"{\"batch_size\": 5}", "scheduler.batch_size"},
        {"{\"realtime_concurrency\": 0}", "scheduler.realtime_concurrency"},
        {"{\"realtime_concurrency\": 257}", "scheduler.realtime_concurrency"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg = NULL;
        assert_int_equal(parse_scheduler(bad[i][0], &cfg, err, sizeof(err)),
                         SL_ECONFIG);
        assert_non_null(strstr(err, bad[i][1]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_no_window_and_bad_zone),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
