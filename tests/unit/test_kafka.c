/* sources: lib/kafka.c lib/offsets.c lib/log.c lib/sl.c */
/* The consumer and producer wrappers against librdkafka's in-process mock
 * cluster: every message consumed exactly once by a two-member group, all of
 * it committed, rebalances seen by the revoke hook, pause/resume honoured. */
#include <poll.h>
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

#include "kafka.h" /* rdkafka.h must come before rdkafka_mock.h */
#include <librdkafka/rdkafka_mock.h>
#include "log.h"

#define N_MSGS 2000
#define N_PARTS 4
#define GROUP_TEST_MS 60000 /* the group test's budget for all its waits */

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mcluster;
static char bootstrap[256];

/* The 2.0.2 mock coordinator waits session.timeout.ms - 1 s for members to
 * rejoin (default session: 45 s), and a fixed 3 s before the first join of an
 * empty group, during which it expires members whose session is shorter than
 * that (2000 and 2500 failed or flaked here). 3500 keeps each rebalance at
 * 2.5 s. The auto-commit interval is far beyond the test's length: every
 * commit the test relies on is one kconsumer makes explicitly (on revoke, on
 * close). */
static struct kv_pair fast_props[] = {
    {"heartbeat.interval.ms", "100"},
    {"session.timeout.ms", "3500"},
    {"auto.commit.interval.ms", "60000"},
};
/* The same with the eager protocol, to cover assign/unassign as well. */
static struct kv_pair eager_props[] = {
    {"heartbeat.interval.ms", "100"},
    {"session.timeout.ms", "3500"},
    {"auto.commit.interval.ms", "60000"},
    {"partition.assignment.strategy", "range"},
};

static struct kafka_conf kconf(const char *topic, const char *group)
{
    return (struct kafka_conf){
        .bootstrap_servers = bootstrap,
        .topic = (char *)topic,
        .dlq_topic = "unused",
        .group_id = (char *)group,
        .properties = fast_props,
        .n_properties = SL_ARRAY_LEN(fast_props),
    };
}

static int64_t now_ms(void)
{
    return sl_monotonic_us() / 1000;
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!mock_rk)
        return -1;
    mcluster = rd_kafka_mock_cluster_new(mock_rk, 1);
    if (!mcluster)
        return -1;
    sl_strlcpy(bootstrap, rd_kafka_mock_cluster_bootstraps(mcluster), sizeof(bootstrap));
    if (rd_kafka_mock_topic_create(mcluster, "jobs", N_PARTS, 1) ||
        rd_kafka_mock_topic_create(mcluster, "paused", N_PARTS, 1))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(mock_rk);
    return 0;
}

/* ---- producing ---------------------------------------------------------- */

struct dr_count {
    int ok, failed;
};

static void count_dr(int err, const char *errmsg, void *opaque)
{
    struct dr_count *n = opaque;
    if (err) {
        print_message("delivery failed: %s\n", errmsg);
        n->failed++;
    } else {
        n->ok++;
    }
}

/* Publishes ids [from, to) as payload "<id>", key "k<id>", one header. */
static void produce_range(const char *topic, int from, int to)
{
    char err[256];
    struct kafka_conf cfg = kconf(topic, "unused");
    struct kproducer *p = kproducer_new(&cfg, err, sizeof(err));
    assert_non_null(p);
    struct dr_count n = {0, 0};
    const char *hname[] = {"sluice-test"};
    const char *hval[] = {"1"};
    for (int i = from; i < to; i++) {
        char key[32], val[32];
        int klen = snprintf(key, sizeof(key), "k%d", i);
        int vlen = snprintf(val, sizeof(val), "%d", i);
        assert_int_equal(kproducer_send(p, topic, key, (size_t)klen, val,
                                        (size_t)vlen, hname, hval, 1, count_dr, &n),
                         0);
        kproducer_poll(p);
    }
    assert_int_equal(kproducer_flush(p, 10000), 0);
    assert_int_equal(kproducer_outq(p), 0);
    assert_int_equal(n.ok, to - from);
    assert_int_equal(n.failed, 0);
    kproducer_free(p);
}

/* ---- consuming ---------------------------------------------------------- */

struct member {
    struct kconsumer *c;
    int got;
    int revokes;
};

static void on_revoke(void *arg)
{
    ((struct member *)arg)->revokes++;
}

static struct member *member_new(const char *topic, const char *group,
                                 bool eager)
{
    char err[256];
    struct kafka_conf cfg = kconf(topic, group);
    if (eager) {
        cfg.properties = eager_props;
        cfg.n_properties = SL_ARRAY_LEN(eager_props);
    }
    struct member *m = calloc(1, sizeof(*m));
    m->c = kconsumer_new(&cfg, err, sizeof(err));
    if (!m->c)
        print_message("kconsumer_new: %s\n", err);
    assert_non_null(m->c);
    kconsumer_set_revoke_hook(m->c, on_revoke, m);
    return m;
}

static void member_close(struct member *m)
{
    kconsumer_close(m->c);
    free(m);
}

/* Waits (10 ms at most) on the members' pipes, as a uv_poll_t would. */
static void wait_fds(struct member **ms, size_t n)
{
    struct pollfd pfd[4];
    for (size_t i = 0; i < n; i++)
        pfd[i] = (struct pollfd){.fd = kconsumer_fd(ms[i]->c), .events = POLLIN};
    poll(pfd, (nfds_t)n, 10);
}

/* Polls every member once, marking each message done at once. seen[] counts
 * deliveries per id (NULL: only counted in m->got). */
static void poll_round(struct member **ms, size_t n, int *seen)
{
    wait_fds(ms, n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *msg;
        while ((msg = kconsumer_poll(ms[i]->c)) != NULL) {
            uint32_t gen = kconsumer_track(ms[i]->c, msg);
            assert_int_not_equal(gen, 0);
            if (seen) {
                int id = atoi(msg->payload ? (const char *)msg->payload : "-1");
                assert_in_range(id, 0, N_MSGS - 1);
                seen[id]++;
            }
            ms[i]->got++;
            kconsumer_done(ms[i]->c, msg->partition, msg->offset, gen);
            rd_kafka_message_destroy(msg);
        }
    }
}

static int total_got(struct member **ms, size_t n)
{
    int t = 0;
    for (size_t i = 0; i < n; i++)
        t += ms[i]->got;
    return t;
}

static int distinct(const int *seen)
{
    int n = 0;
    for (int i = 0; i < N_MSGS; i++)
        n += seen[i] > 0;
    return n;
}

static bool both_assigned(struct member **ms)
{
    return kconsumer_assigned(ms[0]->c) > 0 && kconsumer_assigned(ms[1]->c) > 0 &&
           kconsumer_assigned(ms[0]->c) + kconsumer_assigned(ms[1]->c) == N_PARTS;
}

static void test_group_consumes_each_once(void **state)
{
    (void)state;
    static int seen[N_MSGS];
    /* Four rebalances take 14-16 s on an idle machine; under ASan with two
     * suites running alongside, 26 s were seen. */
    int64_t start = now_ms(), deadline = start + GROUP_TEST_MS;
    struct member *ms[2];

    /* First half with one member, which then shares with a second: the
     * rebalance must commit what the first did, and revoke through the hook. */
    produce_range("jobs", 0, N_MSGS / 2);
    ms[0] = member_new("jobs", "g1", false);
    while (total_got(ms, 1) < N_MSGS / 2 && now_ms() < deadline)
        poll_round(ms, 1, seen);
    assert_int_equal(kconsumer_assigned(ms[0]->c), N_PARTS);
    ms[1] = member_new("jobs", "g1", false);
    while (!both_assigned(ms) && now_ms() < deadline)
        poll_round(ms, 2, seen);
    assert_true(both_assigned(ms));
    assert_true(ms[0]->revokes >= 1);

    /* Second half while both are members: the newcomer takes a share. (The
     * first member's share is not asserted: the 2.0.2 mock sometimes runs a
     * second rebalance here — a late SyncGroup is answered INVALID_REQUEST —
     * and then briefly hands every partition to one member.) */
    int before = ms[1]->got;
    produce_range("jobs", N_MSGS / 2, N_MSGS);
    while (distinct(seen) < N_MSGS && now_ms() < deadline)
        poll_round(ms, 2, seen);
    assert_int_equal(distinct(seen), N_MSGS);
    assert_true(ms[1]->got > before);
    assert_int_equal(kconsumer_pending(ms[0]->c), 0);
    assert_int_equal(kconsumer_pending(ms[1]->c), 0);
    /* Exactly once, unless the broker refused a commit: the 2.0.2 mock
     * refuses commits while a group rebalances (a real broker accepts them
     * until the rebalance completes), and then the partition's next owner
     * redelivers; that is the only redelivery allowed. */
    size_t refused = kconsumer_commit_failures(ms[0]->c) +
                     kconsumer_commit_failures(ms[1]->c);
    for (int i = 0; i < N_MSGS; i++)
        if (seen[i] != 1 && refused == 0)
            fail_msg("message %d delivered %d times, no commit refused", i, seen[i]);
    /* Scale down to one member, then to none. The mock rejects commits while
     * the group is joining (a real broker accepts them until it completes
     * the rebalance), so the second member closes once the group settled;
     * otherwise its last commit fails and its partitions are redelivered. */
    member_close(ms[0]);
    int got1 = ms[1]->got;
    while (kconsumer_assigned(ms[1]->c) < N_PARTS && now_ms() < deadline)
        poll_round(&ms[1], 1, seen);
    assert_int_equal(kconsumer_assigned(ms[1]->c), N_PARTS);
    assert_int_equal(ms[1]->got, got1); /* ms[0] committed all it did */
    member_close(ms[1]);

    /* Everything was committed: a newcomer to the group gets nothing. */
    struct member *third = member_new("jobs", "g1", false);
    while (kconsumer_assigned(third->c) < N_PARTS && now_ms() < deadline)
        poll_round(&third, 1, NULL);
    assert_int_equal(kconsumer_assigned(third->c), N_PARTS);
    int64_t until = now_ms() + 1000;
    while (now_ms() < until)
        poll_round(&third, 1, NULL);
    assert_int_equal(third->got, 0);
    member_close(third);

    print_message("group test took %lld ms\n", (long long)(now_ms() - start));
}

/* Backpressure, with the eager protocol (range assignor). */
static void test_pause_resume(void **state)
{
    (void)state;
    int64_t deadline = now_ms() + 15000;
    struct member *m = member_new("paused", "g-pause", true);
    /* Paused before any assignment: partitions must arrive paused. */
    kconsumer_pause(m->c);
    while (kconsumer_assigned(m->c) < N_PARTS && now_ms() < deadline)
        poll_round(&m, 1, NULL);
    assert_int_equal(kconsumer_assigned(m->c), N_PARTS);
    produce_range("paused", 0, 100);
    int64_t until = now_ms() + 500;
    while (now_ms() < until)
        poll_round(&m, 1, NULL);
    assert_int_equal(m->got, 0);

    kconsumer_resume(m->c);
    /* The pipe must wake a poller once messages flow again. */
    struct pollfd pfd = {.fd = kconsumer_fd(m->c), .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    while (m->got < 100 && now_ms() < deadline)
        poll_round(&m, 1, NULL);
    assert_int_equal(m->got, 100);

    /* Paused again mid-stream: nothing more arrives until resumed. */
    kconsumer_pause(m->c);
    produce_range("paused", 100, 150);
    until = now_ms() + 500;
    while (now_ms() < until)
        poll_round(&m, 1, NULL);
    assert_int_equal(m->got, 100);
    kconsumer_resume(m->c);
    while (m->got < 150 && now_ms() < deadline)
        poll_round(&m, 1, NULL);
    assert_int_equal(m->got, 150);
    member_close(m);
}

static void test_bad_property_names_key(void **state)
{
    (void)state;
    char err[256] = "";
    struct kv_pair bad[] = {{"no.such.property", "1"}};
    struct kafka_conf cfg = kconf("jobs", "g");
    cfg.properties = bad;
    cfg.n_properties = 1;
    assert_null(kconsumer_new(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "no.such.property"));
    err[0] = '\0';
    assert_null(kproducer_new(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "no.such.property"));
    kconsumer_close(NULL);
    kproducer_free(NULL);
}

int main(void)
{
    log_min_level = getenv("SLUICE_TEST_DEBUG") ? SL_LOG_DEBUG : SL_LOG_WARN;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_property_names_key),
        cmocka_unit_test(test_group_consumes_each_once),
        cmocka_unit_test(test_pause_resume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
