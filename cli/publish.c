#include "publish.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "sl.h"

#define LINE_CAP (1024 * 1024)
#define DEFAULT_TOPIC "sluice.jobs"
#define MAX_ERRORS_SHOWN 5
#define METADATA_TIMEOUT_MS 10000
#define PACE_SLICE_US 10000

struct publish_opts {
    const char *config_path; /* NULL: see load_conf */
    const char *bootstrap;
    const char *topic;
    double rate;             /* messages per second, 0 = unlimited */
    const char *input;
};

struct publish_stats {
    long delivered, failed;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice publish [--config FILE] [--bootstrap HOST:PORT] "
            "[--topic T] [--rate N] FILE.jsonl|-\n\n"
            "Publishes one message per non-empty line (at most 1 MiB each) and\n"
            "waits for every delivery report. A line that is a JSON object with\n"
            "a string \"id\" is keyed by it.\n\n"
            "  --config FILE         configuration (default: $SLUICE_CONFIG, else\n"
            "                        config/sluice.json; not read when a bootstrap\n"
            "                        address is given and neither is set)\n"
            "  --bootstrap HOST:PORT Kafka bootstrap servers (overrides\n"
            "                        $SLUICE_KAFKA_BOOTSTRAP and the config)\n"
            "  --topic T             topic (default: kafka.topic, else %s)\n"
            "  --rate N              messages per second, 0 = unlimited (default 0)\n"
            "  --help                this text\n\n"
            "Exit status: 0 all delivered, 1 some failed or were already dropped\n"
            "by the broker, 2 usage error.\n",
            DEFAULT_TOPIC);
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct publish_opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"bootstrap", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"rate", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:b:t:r:h", longopts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'c': o->config_path = optarg; break;
        case 'b': o->bootstrap = optarg; break;
        case 't': o->topic = optarg; break;
        case 'r':
            errno = 0;
            o->rate = strtod(optarg, &end);
            if (errno || end == optarg || *end || o->rate < 0) {
                fprintf(stderr, "sluice publish: --rate: not a rate: %s\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    o->input = argv[optind];
    return -1;
}

/* Fills *kc from flags, environment and (maybe) the config file; *cfg_out
 * owns the strings kc borrows. */
static int load_conf(const struct publish_opts *o, struct config **cfg_out,
                     struct kafka_conf *kc)
{
    const char *env_bootstrap = getenv("SLUICE_KAFKA_BOOTSTRAP");
    if (env_bootstrap && !*env_bootstrap)
        env_bootstrap = NULL;
    const char *path = o->config_path;
    if (!path)
        path = getenv("SLUICE_CONFIG");
    /* Publishing needs only an address: with one, no file is required. */
    if (!path && !o->bootstrap && !env_bootstrap)
        path = config_default_path();
    *kc = (struct kafka_conf){0};
    if (path) {
        if (config_load_for("publish", path, cfg_out) != SL_OK)
            return SL_ECONFIG;
        *kc = (*cfg_out)->kafka;
    }
    if (o->bootstrap)
        kc->bootstrap_servers = (char *)o->bootstrap;
    else if (env_bootstrap)
        kc->bootstrap_servers = (char *)env_bootstrap;
    if (o->topic)
        kc->topic = (char *)o->topic;
    else if (!kc->topic)
        kc->topic = DEFAULT_TOPIC;
    if (!kc->bootstrap_servers || !*kc->bootstrap_servers) {
        fprintf(stderr, "sluice publish: no Kafka bootstrap servers "
                        "(--bootstrap, $SLUICE_KAFKA_BOOTSTRAP or config)\n");
        return SL_ECONFIG;
    }
    return SL_OK;
}

/* Reads one line without its newline into buf (cap + 1 bytes). Returns 1, 0
 * at end of input, SL_ENOMEM when the line is longer than cap (the rest of it
 * is consumed), SL_EIO on a read error. getline() would grow without bound. */
static int read_line(FILE *f, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    bool too_long = false;
    int ch;
    while ((ch = getc(f)) != EOF && ch != '\n') {
        if (n < cap)
            buf[n++] = (char)ch;
        else
            too_long = true;
    }
    if (ferror(f))
        return SL_EIO;
    if (ch == EOF && n == 0 && !too_long)
        return 0;
    if (too_long)
        return SL_ENOMEM;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return 1;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

static void on_delivery(int err, const char *errmsg, void *opaque)
{
    struct publish_stats *st = opaque;
    if (!err) {
        st->delivered++;
        return;
    }
    if (st->failed++ < MAX_ERRORS_SHOWN)
        fprintf(stderr, "sluice publish: delivery failed: %s\n", errmsg);
}

static void sleep_us(int64_t us)
{
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Holds message n back until its slot at the given rate, serving delivery
 * reports meanwhile. */
static void pace(struct kproducer *p, double rate, int64_t start_us, long n)
{
    if (rate <= 0)
        return;
    int64_t due = start_us + (int64_t)((double)n * 1e6 / rate);
    for (int64_t now = sl_monotonic_us(); now < due; now = sl_monotonic_us()) {
        kproducer_poll(p);
        sleep_us(due - now < PACE_SLICE_US ? due - now : PACE_SLICE_US);
    }
}

static int send_line(struct kproducer *p, const char *topic, const char *line,
                     size_t len, struct publish_stats *st)
{
    cJSON *root = cJSON_ParseWithLength(line, len);
    const cJSON *id = cJSON_IsObject(root)
                          ? cJSON_GetObjectItemCaseSensitive(root, "id")
                          : NULL;
    const char *key = cJSON_IsString(id) ? id->valuestring : NULL;
    int rc = kproducer_send(p, topic, key, key ? strlen(key) : 0, line, len,
                            NULL, NULL, 0, on_delivery, st);
    cJSON_Delete(root);
    if (rc != SL_OK)
        st->failed++;
    return rc;
}

/* Sends every line of f; returns 0 or an error that stopped reading. */
static int publish_stream(struct kproducer *p, const char *topic, FILE *f,
                          const char *name, double rate,
                          struct publish_stats *st)
{
    char *buf = xmalloc(LINE_CAP + 1);
    int64_t start = sl_monotonic_us();
    long lineno = 0, sent = 0;
    size_t len;
    int rc;
    while ((rc = read_line(f, buf, LINE_CAP, &len)) == 1) {
        lineno++;
        if (blank(buf, len))
            continue;
        pace(p, rate, start, sent++);
        (void)send_line(p, topic, buf, len, st);
        kproducer_poll(p);
    }
    if (rc == SL_ENOMEM)
        fprintf(stderr, "sluice publish: %s:%ld: line longer than %d bytes\n",
                name, lineno + 1, LINE_CAP);
    else if (rc == SL_EIO)
        fprintf(stderr, "sluice publish: %s: %s\n", name, strerror(errno));
    free(buf);
    return rc < 0 ? rc : SL_OK;
}

/* Fails fast on a missing topic instead of after message.timeout.ms, and
 * returns its partition count (*n_parts). */
static int check_topic(struct kproducer *p, const char *topic, int *n_parts)
{
    rd_kafka_t *rk = kproducer_handle(p);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, METADATA_TIMEOUT_MS);
    if (!err && md->topic_cnt != 1)
        err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    if (!err)
        err = md->topics[0].err;
    if (err)
        fprintf(stderr, "sluice publish: topic %s: %s\n", topic, rd_kafka_err2str(err));
    else
        *n_parts = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return err ? SL_EKAFKA : SL_OK;
}

/* The end (high) or start (low) offset of each partition; -1 if unknown. */
static void log_bounds(struct kproducer *p, const char *topic, int n_parts,
                       int64_t *out, bool want_low)
{
    for (int i = 0; i < n_parts; i++) {
        int64_t lo = -1, hi = -1;
        if (rd_kafka_query_watermark_offsets(kproducer_handle(p), topic, i, &lo,
                                             &hi, METADATA_TIMEOUT_MS))
            lo = hi = -1;
        out[i] = want_low ? lo : hi;
    }
}

/* A broker may drop the oldest data of a partition while we publish (the
 * mock cluster keeps 5 MiB or 100k message sets per partition); delivery
 * reports still succeed, so compare the log start with where we began.
 * Returns the number of messages of this run (or a concurrent producer's)
 * no longer in the log. */
static long count_dropped(struct kproducer *p, const char *topic, int n_parts,
                          const int64_t *end_before)
{
    int64_t *start_after = xcalloc((size_t)n_parts, sizeof(int64_t));
    log_bounds(p, topic, n_parts, start_after, true);
    long dropped = 0;
    for (int i = 0; i < n_parts; i++)
        if (end_before[i] >= 0 && start_after[i] > end_before[i])
            dropped += (long)(start_after[i] - end_before[i]);
    free(start_after);
    return dropped;
}

/* A producer whose message.max.bytes (default 1000000) fits the longest line
 * we accept; configured properties still win. */
static struct kproducer *new_producer(const struct kafka_conf *kc, char *errstr,
                                      size_t errstr_size)
{
    char max_bytes[32];
    snprintf(max_bytes, sizeof(max_bytes), "%d", LINE_CAP + 64 * 1024);
    struct kafka_conf pc = *kc;
    pc.properties = xcalloc(kc->n_properties + 1, sizeof(struct kv_pair));
    pc.properties[0] = (struct kv_pair){"message.max.bytes", max_bytes};
    for (size_t i = 0; i < kc->n_properties; i++)
        pc.properties[i + 1] = kc->properties[i];
    pc.n_properties = kc->n_properties + 1;
    struct kproducer *p = kproducer_new(&pc, errstr, errstr_size);
    free(pc.properties);
    return p;
}

static void wait_all(struct kproducer *p)
{
    /* Every message gets its report within message.timeout.ms. */
    while (kproducer_outq(p) > 0)
        (void)kproducer_flush(p, 1000);
}

/* Publishes f to topic and reports; returns the exit code. */
static int publish_all(struct kproducer *p, const char *topic, FILE *f,
                       const struct publish_opts *o)
{
    int n_parts = 0;
    struct publish_stats st = {0, 0};
    if (check_topic(p, topic, &n_parts) != SL_OK)
        return 1;
    int64_t *end_before = xcalloc((size_t)n_parts, sizeof(int64_t));
    log_bounds(p, topic, n_parts, end_before, false);
    int rc = publish_stream(p, topic, f, o->input, o->rate, &st);
    wait_all(p);
    printf("published %ld messages to %s (%ld failed)\n", st.delivered, topic,
           st.failed);
    long dropped = count_dropped(p, topic, n_parts, end_before);
    free(end_before);
    if (dropped > 0)
        fprintf(stderr, "sluice publish: warning: the broker already dropped "
                        "%ld message(s) of %s from the start of its log "
                        "(retention or the mock cluster's per-partition cap); "
                        "consumers that had not read them will miss them. "
                        "Use more partitions or a lower --rate.\n",
                dropped, topic);
    return rc == SL_OK && st.failed == 0 && dropped == 0 ? 0 : 1;
}

int cmd_publish(int argc, char **argv)
{
    struct publish_opts o = {0};
    int exit_code = parse_args(argc, argv, &o);
    if (exit_code >= 0)
        return exit_code;
    exit_code = 1;
    struct config *cfg = NULL;
    struct kproducer *p = NULL;
    FILE *f = NULL;
    struct kafka_conf kc;
    char err[512];
    if (load_conf(&o, &cfg, &kc) != SL_OK)
        goto out;
    f = strcmp(o.input, "-") == 0 ? stdin : fopen(o.input, "r");
    if (!f) {
        fprintf(stderr, "sluice publish: %s: %s\n", o.input, strerror(errno));
        goto out;
    }
    p = new_producer(&kc, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "sluice publish: %s\n", err);
        goto out;
    }
    exit_code = publish_all(p, kc.topic, f, &o);
out:
    kproducer_free(p);
    if (f && f != stdin)
        fclose(f);
    config_free(cfg);
    return exit_code;
}
