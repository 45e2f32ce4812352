/* sources: worker/route.c lib/config.c lib/config_table.c lib/log.c lib/sl.c */
/* Routing: a table of rule sets x jobs -> the ladder each job climbs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "job.h"
#include "route.h"

/* Tiers 1..4; task "a" climbs all four, "b" skips 2 and 4, "c" is [2, 4]. */
static const char config_fmt[] =
    "{\"kafka\": {\"bootstrap_servers\": \"k:9092\"},"
    " \"postgres\": {\"conninfo\": \"dbname=t\"},"
    " \"providers\": {\"p\": {\"kind\": \"openai\", \"base_url\": \"http://x\"}},"
    " \"prices\": {\"m\": {\"input\": 1, \"output\": 1}},"
    " \"tiers\": {\"1\": {\"provider\": \"p\", \"model\": \"m\"},"
    "   \"2\": {\"provider\": \"p\", \"model\": \"m\"},"
    "   \"3\": {\"provider\": \"p\", \"model\": \"m\"},"
    "   \"4\": {\"provider\": \"p\", \"model\": \"m\"}},"
    " \"tasks\": {"
    "   \"a\": {\"output\": \"text\", \"prompt\": \"{{input}}\", \"ladder\": [1, 2, 3, 4]},"
    "   \"b\": {\"output\": \"text\", \"prompt\": \"{{input}}\", \"ladder\": [1, 3]},"
    "   \"c\": {\"output\": \"text\", \"prompt\": \"{{input}}\", \"ladder\": [2, 4]}},"
    " \"routing\": %s}";

/* Rule sets shared by the cases. */
#define NO_RULES "[]"
#define BIG_A_STARTS_AT_3                                                      \
    "[{\"when\": {\"task\": \"a\", \"min_input_tokens\": 100}, \"start_tier\": 3}]"
#define FIRST_MATCH_WINS                                                       \
    "[{\"when\": {\"mode\": \"offpeak\"}, \"max_tier\": 2},"                   \
    " {\"when\": {\"task\": \"a\"}, \"start_tier\": 2, \"max_tier\": 3},"      \
    " {\"start_tier\": 4}]"
#define USER_TIER_CAPS                                                         \
    "[{\"when\": {\"user_tier\": \"free\"}, \"max_tier\": 2},"                 \
    " {\"when\": {\"task\": \"a\", \"max_input_tokens\": 10}, \"start_tier\": 2}," \
    " {\"when\": {\"user_tier\": \"free\"}, \"max_tier\": 3},"                 \
    " {\"when\": {\"user_tier\": \"trial\"}, \"max_tier\": 1}]"
#define USER_TIER_WITH_TASK                                                    \
    "[{\"when\": {\"task\": \"a\", \"user_tier\": \"pro\"}, \"start_tier\": 3}," \
    " {\"when\": {\"task\": \"a\"}, \"max_tier\": 1}]"
#define EMPTIES                                                                \
    "[{\"when\": {\"task\": \"c\", \"mode\": \"async\"}, \"max_tier\": 1},"    \
    " {\"when\": {\"task\": \"b\", \"mode\": \"async\"}, \"start_tier\": 2, \"max_tier\": 2}," \
    " {\"when\": {\"task\": \"b\", \"mode\": \"offpeak\"}, \"start_tier\": 4}," \
    " {\"when\": {\"user_tier\": \"free\"}, \"max_tier\": 1}]"

struct route_case {
    const char *rules;
    const char *task;
    enum job_mode mode;
    const char *user_tier;
    size_t input_bytes;
    int want[CONFIG_MAX_TIERS];
    size_t want_n;
};

static const struct route_case route_cases[] = {
    /* no rules: the task ladder as configured */
    {NO_RULES, "a", MODE_INTERACTIVE, "", 10, {1, 2, 3, 4}, 4},
    {NO_RULES, "b", MODE_ASYNC, "free", 10, {1, 3}, 2},
    /* token threshold: 400 bytes = 100 tokens matches, 396 bytes = 99 not */
    {BIG_A_STARTS_AT_3, "a", MODE_INTERACTIVE, "", 400, {3, 4}, 2},
    {BIG_A_STARTS_AT_3, "a", MODE_INTERACTIVE, "", 397, {3, 4}, 2},
    {BIG_A_STARTS_AT_3, "a", MODE_INTERACTIVE, "", 396, {1, 2, 3, 4}, 4},
    {BIG_A_STARTS_AT_3, "b", MODE_INTERACTIVE, "", 4000, {1, 3}, 2},
    /* first matching rule wins; later ones are not merged in */
    {FIRST_MATCH_WINS, "a", MODE_OFFPEAK, "", 10, {1, 2}, 2},
    {FIRST_MATCH_WINS, "a", MODE_ASYNC, "", 10, {2, 3}, 2},
    {FIRST_MATCH_WINS, "c", MODE_INTERACTIVE, "", 10, {4}, 1},
    /* the catch-all start_tier 4 leaves b nothing: its cheapest tier */
    {FIRST_MATCH_WINS, "b", MODE_INTERACTIVE, "", 10, {1}, 1},
    /* user tier: every matching user-tier rule caps, the lowest cap wins,
     * and the first matching task rule still applies */
    {USER_TIER_CAPS, "a", MODE_INTERACTIVE, "free", 40, {2}, 1},
    {USER_TIER_CAPS, "a", MODE_INTERACTIVE, "free", 400, {1, 2}, 2},
    {USER_TIER_CAPS, "a", MODE_INTERACTIVE, "pro", 40, {2, 3, 4}, 3},
    {USER_TIER_CAPS, "a", MODE_INTERACTIVE, "", 400, {1, 2, 3, 4}, 4},
    {USER_TIER_CAPS, "b", MODE_INTERACTIVE, "trial", 10, {1}, 1},
    {USER_TIER_CAPS, "c", MODE_INTERACTIVE, "free", 10, {2}, 1},
    /* a rule testing user_tier with other conditions is a normal rule */
    {USER_TIER_WITH_TASK, "a", MODE_INTERACTIVE, "pro", 10, {3, 4}, 2},
    {USER_TIER_WITH_TASK, "a", MODE_INTERACTIVE, "free", 10, {1}, 1},
    /* never empty: cheapest tier under the cap, else the first tier */
    {EMPTIES, "c", MODE_ASYNC, "", 10, {2}, 1},
    {EMPTIES, "b", MODE_ASYNC, "", 10, {1}, 1},
    {EMPTIES, "b", MODE_OFFPEAK, "", 10, {1}, 1},
    {EMPTIES, "b", MODE_OFFPEAK, "free", 10, {1}, 1},
    {EMPTIES, "c", MODE_INTERACTIVE, "free", 10, {2}, 1},
};

static void run_case(size_t i, const struct route_case *rc)
{
    char text[4096];
    char err[256];
    struct config *cfg = NULL;
    snprintf(text, sizeof(text), config_fmt, rc->rules);
    if (config_parse(text, "route", &cfg, err, sizeof(err)) != SL_OK)
        fail_msg("case %zu: %s", i, err);
    struct job job = {0};
    job.task = config_task(cfg, rc->task);
    assert_non_null(job.task);
    job.mode = rc->mode;
    job.user_tier = (char *)rc->user_tier;
    job.input_len = rc->input_bytes;
    struct route_plan plan;
    memset(&plan, 0xff, sizeof(plan));
    route_plan(cfg, &job, &plan);
    config_free(cfg);
    int ok = plan.n == rc->want_n;
    for (size_t k = 0; ok && k < plan.n; k++)
        ok = plan.tiers[k] == rc->want[k];
    if (!ok) {
        char got[64] = "";
        for (size_t k = 0; k < plan.n && k < CONFIG_MAX_TIERS; k++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%d ",
                     plan.tiers[k]);
        fail_msg("case %zu (task %s): got [%s] (n=%zu), want n=%zu", i,
                 rc->task, got, plan.n, rc->want_n);
    }
}

static void test_route_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(route_cases); i++)
        run_case(i, &route_cases[i]);
}

static void test_estimate_tokens(void **state)
{
    (void)state;
    static const size_t bytes[] = {0, 1, 3, 4, 5, 8, 32768};
    static const int64_t want[] = {0, 1, 1, 1, 2, 2, 8192};
    for (size_t i = 0; i < SL_ARRAY_LEN(bytes); i++)
        assert_int_equal(route_estimate_tokens(bytes[i]), want[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_table),
        cmocka_unit_test(test_estimate_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
