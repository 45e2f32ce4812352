/* broker.c — sluice-broker, the development Kafka broker.
 *
 * A Kafka-protocol cluster on 127.0.0.1 built from librdkafka's mock cluster
 * (rdkafka_mock.h), modelled on kcat's -M mode (edenhill/kcat:kcat.c
 * mock_run). Real clients (kcat, librdkafka, confluent-kafka) produce,
 * fetch, join consumer groups and commit offsets against it over loopback.
 *
 * It creates the topics it is given, prints exactly one line
 *   BOOTSTRAP=<host:port,...>
 * on stdout, and runs until SIGTERM or SIGINT, then destroys the cluster and
 * exits 0. Diagnostics go to stderr.
 *
 * Limits of the mock cluster, which it inherits (librdkafka 2.0.2):
 *   - Everything lives in memory and dies with the process.
 *   - Each partition keeps at most 5 MiB or 100 000 message sets (producer
 *     batches), whichever comes first, and silently drops the OLDEST beyond
 *     that (the log start offset moves up). Give topics enough partitions
 *     for the data a run keeps unconsumed.
 *   - Unknown topics are auto-created when a client's Metadata request asks
 *     for it (producers do by default: allow.auto.create.topics), with the
 *     mock's fixed default of 4 partitions. Consumers do not auto-create, so
 *     topics that are consumed before anything is produced must be listed.
 *   - The CreateTopics admin API is not supported.
 *   - A consumer group's rebalance waits session.timeout.ms - 1 s for a
 *     joining member (3 s for the first member of an empty group), also
 *     after a member leaves: consumers should set a short
 *     session.timeout.ms (e.g. 6000) in tests.
 *   - OffsetCommit is refused (REBALANCE_IN_PROGRESS) as soon as a rebalance
 *     is pending, where a real broker still accepts the current generation's
 *     commits; so the commit a client makes on revoke fails and offsets
 *     stored since the last successful commit are delivered again. And a
 *     follower whose SyncGroup arrives after the leader's gets
 *     INVALID_REQUEST and rejoins (a second rebalance, seen under load).
 *     Both mean at-least-once delivery around rebalances. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define BROKER_MAX_TOPICS 64
#define BROKER_MAX_BROKERS 16
#define BROKER_MAX_PARTITIONS 1024

static const char *const default_topics[] = {"sluice.jobs", "sluice.jobs.dlq", "sluice.results"};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice-broker [--brokers N] [--partitions P] [--topic NAME]...\n"
            "\n"
            "Development Kafka broker on 127.0.0.1 (librdkafka mock cluster).\n"
            "Prints one line BOOTSTRAP=<host:port,...> on stdout, then serves\n"
            "until SIGTERM or SIGINT.\n"
            "\n"
            "  --brokers N     number of brokers (default 1, at most %d)\n"
            "  --partitions P  partitions of each listed topic (default 8, at most %d)\n"
            "  --topic NAME    topic to create; repeatable (default: sluice.jobs,\n"
            "                  sluice.jobs.dlq, sluice.results)\n"
            "  --help          this text\n"
            "\n"
            "Limits (of the mock cluster):\n"
            "  - data is in memory only and lost on exit;\n"
            "  - each partition keeps at most 5 MiB or 100000 message sets and\n"
            "    DROPS THE OLDEST beyond that: use enough partitions;\n"
            "  - unknown topics are auto-created (4 partitions) only when a\n"
            "    producer asks for them; consumers do not create topics, so list\n"
            "    every topic that is consumed before it is produced to;\n"
            "  - no CreateTopics admin API;\n"
            "  - group rebalances wait up to session.timeout.ms - 1 s for joining\n"
            "    members: use a short session.timeout.ms (e.g. 6000) in tests;\n"
            "  - offset commits are refused while a rebalance is pending, so\n"
            "    uncommitted messages are redelivered after each rebalance.\n",
            BROKER_MAX_BROKERS, BROKER_MAX_PARTITIONS);
}

/* Parses a decimal int in [min, max]; returns 0 on success, -1 otherwise. */
static int parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    fprintf(stderr, "sluice-broker: rdkafka %d %s: %s\n", level, fac, buf);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"partitions", required_argument, NULL, 'p'},
        {"topic", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *topics[BROKER_MAX_TOPICS];
    int topic_cnt = 0;
    int broker_cnt = 1;
    int partition_cnt = 8;
    int opt;

    while ((opt = getopt_long(argc, argv, "b:p:t:h", options, NULL)) != -1) {
        switch (opt) {
        case 'b':
            if (parse_int(optarg, 1, BROKER_MAX_BROKERS, &broker_cnt) != 0) {
                fprintf(stderr, "sluice-broker: --brokers: want 1..%d, got '%s'\n",
                        BROKER_MAX_BROKERS, optarg);
                return 2;
            }
            break;
        case 'p':
            if (parse_int(optarg, 1, BROKER_MAX_PARTITIONS, &partition_cnt) != 0) {
                fprintf(stderr, "sluice-broker: --partitions: want 1..%d, got '%s'\n",
                        BROKER_MAX_PARTITIONS, optarg);
                return 2;
            }
            break;
        case 't':
            if (optarg[0] == '\0' || topic_cnt == BROKER_MAX_TOPICS) {
                fprintf(stderr, "sluice-broker: --topic: empty name or more than %d topics\n",
                        BROKER_MAX_TOPICS);
                return 2;
            }
            topics[topic_cnt++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice-broker: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (topic_cnt == 0) {
        for (size_t i = 0; i < sizeof default_topics / sizeof default_topics[0]; i++)
            topics[topic_cnt++] = default_topics[i];
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    /* The mock cluster needs an rd_kafka_t for its bookkeeping; a producer
     * that never produces is the cheapest one (as in kcat). */
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    /* log_level 4: keep warnings and errors, drop the notice that this
     * bookkeeping client has no bootstrap.servers. */
    if (rd_kafka_conf_set(conf, "client.id", "sluice-broker", errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "sluice-broker: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "sluice-broker: rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    conf = NULL; /* owned by rk now */

    int rc = 1;
    rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, broker_cnt);
    if (!mcluster) {
        fprintf(stderr, "sluice-broker: failed to create the mock cluster\n");
        goto out;
    }

    int replication = broker_cnt < 3 ? broker_cnt : 3;
    for (int i = 0; i < topic_cnt; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mcluster, topics[i], partition_cnt, replication);
        if (err) {
            fprintf(stderr, "sluice-broker: create topic %s: %s\n", topics[i],
                    rd_kafka_err2str(err));
            goto out;
        }
        fprintf(stderr, "sluice-broker: topic %s: %d partitions, replication %d\n", topics[i],
                partition_cnt, replication);
    }

    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    if (printf("BOOTSTRAP=%s\n", bootstraps) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "sluice-broker: cannot write to stdout\n");
        goto out;
    }
    fprintf(stderr, "sluice-broker: %d broker(s) at %s\n", broker_cnt, bootstraps);

    /* The cluster runs in its own thread; serve logs until told to stop. */
    while (!stop_requested)
        rd_kafka_poll(rk, 200);
    fprintf(stderr, "sluice-broker: stopping\n");
    rc = 0;

out:
    if (mcluster)
        rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(rk);
    return rc;
}
