/* sources: lib/kafka.c lib/offsets.c lib/log.c lib/sl.c */
/* kconsumer_lag() and kconsumer_healthy() against librdkafka's mock
 * cluster: unknown (-1) before the first fetch, then the high watermark
 * minus what the application has taken, step by step, down to 0. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kafka.h" /* rdkafka.h must come before rdkafka_mock.h */
#include <librdkafka/rdkafka_mock.h>

#define N_MSGS 100

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mcluster;
static char bootstrap[256];

/* See test_kafka.c for why these values suit the mock coordinator. */
static struct kv_pair props[] = {
    {"heartbeat.interval.ms", "100"},
    {"session.timeout.ms", "3500"},
    {"auto.commit.interval.ms", "60000"},
};

static struct kafka_conf kconf(void)
{
    return (struct kafka_conf){
        .bootstrap_servers = bootstrap, .topic = "lag", .dlq_topic = "unused",
        .group_id = "lag-group", .properties = props,
        .n_properties = SL_ARRAY_LEN(props),
    };
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof(err));
    if (!mock_rk)
        return -1;
    mcluster = rd_kafka_mock_cluster_new(mock_rk, 1);
    if (!mcluster)
        return -1;
    sl_strlcpy(bootstrap, rd_kafka_mock_cluster_bootstraps(mcluster), sizeof(bootstrap));
    return rd_kafka_mock_topic_create(mcluster, "lag", 1, 1) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(mock_rk);
    return 0;
}

static void produce(int n)
{
    char err[256];
    struct kafka_conf cfg = kconf();
    struct kproducer *p = kproducer_new(&cfg, err, sizeof(err));
    assert_non_null(p);
    for (int i = 0; i < n; i++)
        assert_int_equal(kproducer_send(p, "lag", NULL, 0, "x", 1, NULL, NULL, 0,
                                        NULL, NULL),
                         0);
    assert_int_equal(kproducer_flush(p, 10000), 0);
    kproducer_free(p);
}

/* Takes up to n messages (marking each done), waiting at most 20 s. */
static int take(struct kconsumer *c, int n)
{
    int got = 0;
    for (int rounds = 0; got < n && rounds < 2000; rounds++) {
        struct pollfd pfd = {.fd = kconsumer_fd(c), .events = POLLIN};
        poll(&pfd, 1, 10);
        rd_kafka_message_t *m;
        while (got < n && (m = kconsumer_poll(c)) != NULL) {
            uint32_t gen = kconsumer_track(c, m);
            kconsumer_done(c, m->partition, m->offset, gen);
            rd_kafka_message_destroy(m);
            got++;
        }
    }
    return got;
}

/* The watermark arrives with fetch responses: wait for the value. */
static int64_t lag_settles_at(struct kconsumer *c, int64_t want)
{
    int64_t lag = -2;
    for (int i = 0; i < 500 && lag != want; i++) {
        lag = kconsumer_lag(c);
        if (lag != want)
            poll(NULL, 0, 10);
    }
    return lag;
}

static void test_lag_follows_consumption(void **state)
{
    (void)state;
    char err[256];
    struct kafka_conf cfg = kconf();
    struct kconsumer *c = kconsumer_new(&cfg, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(kconsumer_lag(c), -1); /* nothing assigned yet */
    assert_true(kconsumer_healthy(c));
    produce(N_MSGS);

    static const int steps[] = {30, 45, 25}; /* taken before each check */
    int taken = 0;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        assert_int_equal(take(c, steps[i]), steps[i]);
        taken += steps[i];
        assert_int_equal(lag_settles_at(c, N_MSGS - taken), N_MSGS - taken);
    }
    produce(10);
    assert_int_equal(lag_settles_at(c, 10), 10);
    assert_int_equal(take(c, 10), 10);
    assert_int_equal(lag_settles_at(c, 0), 0);
    assert_true(kconsumer_healthy(c));
    kconsumer_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lag_follows_consumption),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
