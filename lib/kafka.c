#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "offsets.h"

/* Producer: how long kproducer_send waits in total for room in a full local
 * queue, in slices that each serve delivery reports. */
#define SEND_RETRY_SLICE_MS 10
#define SEND_RETRY_SLICES 100
#define PRODUCER_CLOSE_FLUSH_MS 10000

struct kconsumer {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue; /* the consumer queue, with io events enabled */
    int pipe_rd, pipe_wr;
    char *topic;
    struct offsets *offsets;
    size_t n_assigned;
    bool paused;
    void (*revoke_hook)(void *arg);
    void *revoke_arg;
    bool brokers_down; /* since the last __ALL_BROKERS_DOWN, until a fetch */
    size_t commit_failures; /* partitions whose offset commit was refused */
    bool synced;            /* a first assignment (maybe empty) arrived */
};

struct kproducer {
    rd_kafka_t *rk;
};

struct dr_ctx {
    kproducer_dr_cb cb;
    kproducer_copy_dr_cb copy_cb; /* instead of cb, for kproducer_send_copy */
    void *opaque;
};

/* ---- shared ------------------------------------------------------------ */

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                    char *errstr, size_t errstr_size)
{
    char err[256];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka.%s: %s", key, err);
        return SL_ECONFIG;
    }
    return SL_OK;
}

/* kafka.properties serve both the consumer and the producers; librdkafka
 * warns at every start when a producer is given a consumer's property, so
 * the producer skips these. */
static bool consumer_only(const char *key)
{
    static const char *const prefixes[] = {
        "group.", "session.timeout.ms", "heartbeat.interval.ms",
        "auto.offset.reset", "auto.commit.", "enable.auto.", "fetch.",
        "max.poll.interval.ms", "partition.assignment.strategy",
        "isolation.level", "queued.", "check.crcs", "max.partition.fetch.bytes",
        "enable.partition.eof", "allow.auto.create.topics",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(prefixes); i++)
        if (strncmp(key, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* A pass-through property; a value "env:NAME" is read from the environment
 * variable NAME now, so that secrets (sasl.password, ssl.key.password) stay
 * out of the config file. The message never shows such a value. */
static int set_property(rd_kafka_conf_t *conf, const struct kv_pair *p,
                        char *errstr, size_t errstr_size)
{
    if (strncmp(p->value, "env:", 4) != 0)
        return conf_set(conf, p->key, p->value, errstr, errstr_size);
    const char *secret = getenv(p->value + 4);
    char err[256];
    if (!secret || !*secret) {
        snprintf(errstr, errstr_size,
                 "kafka.properties.%s: environment variable %s is not set",
                 p->key, p->value + 4);
        return SL_ECONFIG;
    }
    if (rd_kafka_conf_set(conf, p->key, secret, err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size,
                 "kafka.properties.%s: librdkafka refused the value of %s",
                 p->key, p->value + 4);
        return SL_ECONFIG;
    }
    return SL_OK;
}

/* Sets defaults, then the bootstrap servers and the pass-through properties,
 * which win over the defaults. */
static int conf_apply(rd_kafka_conf_t *conf, const char *const (*defaults)[2],
                      size_t n_defaults, const struct kafka_conf *cfg,
                      bool producer, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < n_defaults; i++)
        if (conf_set(conf, defaults[i][0], defaults[i][1], errstr, errstr_size))
            return SL_ECONFIG;
    if (cfg->bootstrap_servers &&
        conf_set(conf, "bootstrap.servers", cfg->bootstrap_servers, errstr,
                 errstr_size))
        return SL_ECONFIG;
    for (size_t i = 0; i < cfg->n_properties; i++) {
        if (producer && consumer_only(cfg->properties[i].key))
            continue;
        if (set_property(conf, &cfg->properties[i], errstr, errstr_size))
            return SL_ECONFIG;
    }
    return SL_OK;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        log_error("kafka %s: fatal error: %s: %s", rd_kafka_name(rk),
                  rd_kafka_err2name(orig), buf);
        return;
    }
    /* Transport errors are retried by librdkafka itself; they only tell the
     * operator that a broker is unreachable. */
    log_warn("kafka %s: %s: %s", rd_kafka_name(rk),
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Remembers "all brokers down" for kconsumer_healthy(); librdkafka reports
 * no matching "up" event, so a later fetch result or rebalance clears it. */
static void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason,
                              void *opaque)
{
    struct kconsumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        c->brokers_down = true;
    error_cb(rk, err, reason, opaque);
}

/* ---- consumer: rebalances ---------------------------------------------- */

static bool cooperative(rd_kafka_t *rk)
{
    const char *proto = rd_kafka_rebalance_protocol(rk);
    return proto && strcmp(proto, "COOPERATIVE") == 0;
}

static void log_rk_error(const char *what, rd_kafka_error_t *error)
{
    if (!error)
        return;
    log_error("kafka: %s: %s", what, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
}

static void on_assign(struct kconsumer *c, rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++)
        offsets_assign(c->offsets, parts->elems[i].partition);
    if (cooperative(c->rk)) {
        log_rk_error("incremental assign", rd_kafka_incremental_assign(c->rk, parts));
    } else {
        rd_kafka_resp_err_t err = rd_kafka_assign(c->rk, parts);
        if (err)
            log_error("kafka: assign: %s", rd_kafka_err2str(err));
        c->n_assigned = 0;
    }
    c->n_assigned += (size_t)parts->cnt;
    /* A partition that arrives during backpressure must not start flowing;
     * one that arrives after it must flow, even if it was paused when it
     * was last ours: librdkafka keeps a partition's pause across an eager
     * revoke and re-assignment, and the resume ran while it was away. */
    if (c->paused)
        rd_kafka_pause_partitions(c->rk, parts);
    else
        rd_kafka_resume_partitions(c->rk, parts);
    log_info("kafka: assigned %d partition(s) of %s, %zu now",
             parts->cnt, c->topic, c->n_assigned);
}

/* Stores the watermark of every revoked partition that has one, so the
 * synchronous commit that follows carries the last durable progress. */
static void store_watermarks(struct kconsumer *c,
                             const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *store =
        rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        int64_t wm = offsets_watermark(c->offsets, parts->elems[i].partition);
        if (wm >= 0)
            rd_kafka_topic_partition_list_add(store, parts->elems[i].topic,
                                              parts->elems[i].partition)->offset = wm;
    }
    if (store->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, store);
        if (err)
            log_warn("kafka: storing offsets on revoke: %s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(store);
}

static void on_revoke(struct kconsumer *c, rd_kafka_topic_partition_list_t *parts)
{
    bool lost = rd_kafka_assignment_lost(c->rk);
    if (c->revoke_hook)
        c->revoke_hook(c->revoke_arg);
    if (!lost) {
        store_watermarks(c, parts);
        rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, NULL, 0);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            log_warn("kafka: commit on revoke: %s", rd_kafka_err2str(err));
    }
    for (int i = 0; i < parts->cnt; i++)
        offsets_revoke(c->offsets, parts->elems[i].partition);
    if (cooperative(c->rk)) {
        log_rk_error("incremental unassign",
                     rd_kafka_incremental_unassign(c->rk, parts));
        c->n_assigned -= (size_t)parts->cnt < c->n_assigned ? (size_t)parts->cnt
                                                             : c->n_assigned;
    } else {
        rd_kafka_assign(c->rk, NULL);
        c->n_assigned = 0;
    }
    log_info("kafka: %s %d partition(s) of %s, %zu left",
             lost ? "lost" : "revoked", parts->cnt, c->topic, c->n_assigned);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct kconsumer *c = opaque;
    (void)rk;
    c->brokers_down = false; /* a rebalance needs the group coordinator */
    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        c->synced = true;
        on_assign(c, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        on_revoke(c, parts);
        break;
    default:
        log_error("kafka: rebalance failed: %s", rd_kafka_err2str(err));
        for (int i = 0; i < parts->cnt; i++)
            offsets_revoke(c->offsets, parts->elems[i].partition);
        rd_kafka_assign(c->rk, NULL);
        c->n_assigned = 0;
        break;
    }
}

/* ---- consumer ---------------------------------------------------------- */

static const char *const consumer_defaults[][2] = {
    {"enable.auto.commit", "true"},
    /* Nothing is committed until kconsumer_done stores it. */
    {"enable.auto.offset.store", "false"},
    {"auto.offset.reset", "earliest"},
    {"fetch.wait.max.ms", "10"},
    {"partition.assignment.strategy", "cooperative-sticky"},
};

static int make_pipe(struct kconsumer *c, char *errstr, size_t errstr_size)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
        return SL_EIO;
    }
    /* Non-blocking on both ends: librdkafka must never stall on a full pipe
     * and draining must stop when it is empty. */
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    c->pipe_rd = fds[0];
    c->pipe_wr = fds[1];
    return SL_OK;
}

/* A refused commit (e.g. during a rebalance) means the next owner of the
 * partition redelivers what this one finished: harmless for jobs (their ids
 * are idempotent), but worth knowing. */
static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    struct kconsumer *c = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET || !offsets)
        return;
    for (int i = 0; i < offsets->cnt; i++)
        if (offsets->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
            c->commit_failures++;
}

static rd_kafka_conf_t *consumer_conf(struct kconsumer *c,
                                      const struct kafka_conf *cfg,
                                      char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "group.id", cfg->group_id, errstr, errstr_size) ||
        conf_apply(conf, consumer_defaults, SL_ARRAY_LEN(consumer_defaults),
                   cfg, false, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    return conf;
}

static int consumer_subscribe(struct kconsumer *c, char *errstr,
                              size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, c->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe %s: %s", c->topic,
                 rd_kafka_err2str(err));
        return SL_EKAFKA;
    }
    return SL_OK;
}

struct kconsumer *kconsumer_new(const struct kafka_conf *cfg, char *errstr,
                                size_t errstr_size)
{
    struct kconsumer *c = xcalloc(1, sizeof(*c));
    c->pipe_rd = c->pipe_wr = -1;
    c->topic = xstrdup(cfg->topic);
    c->offsets = offsets_new();
    rd_kafka_conf_t *conf = consumer_conf(c, cfg, errstr, errstr_size);
    if (!conf || make_pipe(c, errstr, errstr_size))
        goto fail;
    char err[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!c->rk) {
        snprintf(errstr, errstr_size, "kafka consumer: %s", err);
        goto fail;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);
    rd_kafka_queue_io_event_enable(c->queue, c->pipe_wr, "1", 1);
    if (consumer_subscribe(c, errstr, errstr_size))
        goto fail;
    return c;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    kconsumer_close(c);
    return NULL;
}

int kconsumer_fd(const struct kconsumer *c)
{
    return c->pipe_rd;
}

static void drain_pipe(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

rd_kafka_message_t *kconsumer_poll(struct kconsumer *c)
{
    /* Drain first: an event queued after the drain re-arms the pipe, so a
     * wakeup is never lost, at worst spurious. */
    drain_pipe(c->pipe_rd);
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(c->rk, 0)) != NULL) {
        if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            c->brokers_down = false;
        if (!m->err)
            return m;
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warn("kafka: %s[%d]@%lld: %s",
                     m->rkt ? rd_kafka_topic_name(m->rkt) : c->topic,
                     (int)m->partition, (long long)m->offset,
                     rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

uint32_t kconsumer_track(struct kconsumer *c, const rd_kafka_message_t *m)
{
    return offsets_track(c->offsets, m->partition, m->offset);
}

void kconsumer_done(struct kconsumer *c, int32_t partition, int64_t offset,
                    uint32_t generation)
{
    if (!offsets_done(c->offsets, partition, offset, generation))
        return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, c->topic, partition)->offset =
        offsets_watermark(c->offsets, partition);
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, list);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        err = list->elems[0].err;
    /* __STATE: the partition was revoked between done and store; its new
     * owner redelivers what we did not commit. */
    if (err == RD_KAFKA_RESP_ERR__STATE)
        log_debug("kafka: %s[%d]: not assigned, offset not stored", c->topic,
                  (int)partition);
    else if (err)
        log_warn("kafka: %s[%d]: storing offset: %s", c->topic, (int)partition,
                 rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(list);
}

void kconsumer_set_revoke_hook(struct kconsumer *c, void (*hook)(void *arg),
                               void *arg)
{
    c->revoke_hook = hook;
    c->revoke_arg = arg;
}

static void pause_resume(struct kconsumer *c, bool pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    c->paused = pause;
    rd_kafka_resp_err_t err = rd_kafka_assignment(c->rk, &parts);
    if (!err && parts->cnt > 0)
        err = pause ? rd_kafka_pause_partitions(c->rk, parts)
                    : rd_kafka_resume_partitions(c->rk, parts);
    if (err)
        log_warn("kafka: %s: %s", pause ? "pause" : "resume", rd_kafka_err2str(err));
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
}

void kconsumer_pause(struct kconsumer *c)
{
    pause_resume(c, true);
}

void kconsumer_resume(struct kconsumer *c)
{
    pause_resume(c, false);
}

size_t kconsumer_assigned(const struct kconsumer *c)
{
    return c->n_assigned;
}

bool kconsumer_owns(const struct kconsumer *c, int32_t partition,
                    uint32_t generation)
{
    return offsets_owned(c->offsets, partition, generation);
}

size_t kconsumer_pending(const struct kconsumer *c)
{
    return offsets_pending(c->offsets);
}

size_t kconsumer_commit_failures(const struct kconsumer *c)
{
    return c->commit_failures;
}

int64_t kconsumer_lag(const struct kconsumer *c)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    int64_t lag = 0;
    bool known = false;
    rd_kafka_position(c->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo,
                                           &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            continue; /* nothing fetched from it yet */
        /* A partition just (re)assigned has no fetch position until its
         * fetch starts. Counting it from the low watermark would report the
         * whole partition as lag even when it is fully consumed; its lag is
         * not known yet, so it stays out of the sum. */
        if (p->offset < 0)
            continue;
        lag += hi > p->offset ? hi - p->offset : 0;
        known = true;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return known ? lag : -1;
}

bool kconsumer_healthy(const struct kconsumer *c)
{
    char reason[16];
    return !c->brokers_down &&
           rd_kafka_fatal_error(c->rk, reason, sizeof(reason)) ==
               RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* librdkafka before 2.3.0 asserts in rd_kafka_destroy() when a
 * cooperative-sticky consumer is destroyed before its first assignment
 * (librdkafka #4312, fixed by #4381): a worker stopped while still joining
 * its group would abort. So it finishes joining first (bounded); what it
 * receives meanwhile is dropped unstored, hence redelivered. Returns false
 * when the join did not finish: then the handle must not be destroyed. */
#define JOIN_BEFORE_CLOSE_MS 15000

static bool finish_join(struct kconsumer *c)
{
    if (c->synced || rd_kafka_version() >= 0x020300ff)
        return true;
    log_info("kafka: finishing the group join before closing");
    int64_t until = sl_monotonic_us() + JOIN_BEFORE_CLOSE_MS * 1000LL;
    while (!c->synced && sl_monotonic_us() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    if (!c->synced)
        log_warn("kafka: group join unfinished after %d ms; leaving the "
                 "consumer handle undestroyed", JOIN_BEFORE_CLOSE_MS);
    return c->synced;
}

void kconsumer_close(struct kconsumer *c)
{
    if (!c)
        return;
    bool destroyable = !c->rk || finish_join(c);
    if (c->rk) {
        rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, NULL, 0);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            log_warn("kafka: final commit: %s", rd_kafka_err2str(err));
        /* Leaving the group serves the last revoke through rebalance_cb. */
        err = rd_kafka_consumer_close(c->rk);
        if (err)
            log_warn("kafka: consumer close: %s", rd_kafka_err2str(err));
    }
    if (c->queue) {
        rd_kafka_queue_io_event_enable(c->queue, -1, NULL, 0);
        rd_kafka_queue_destroy(c->queue);
    }
    if (c->rk && destroyable)
        rd_kafka_destroy(c->rk);
    if (c->pipe_rd >= 0)
        close(c->pipe_rd);
    if (c->pipe_wr >= 0)
        close(c->pipe_wr);
    offsets_free(c->offsets);
    free(c->topic);
    free(c);
}

/* ---- producer ---------------------------------------------------------- */

static const char *const producer_defaults[][2] = {
    {"enable.idempotence", "true"},
    {"linger.ms", "5"},
};

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct dr_ctx *ctx = m->_private;
    (void)rk;
    (void)opaque;
    if (!ctx)
        return;
    if (ctx->copy_cb)
        ctx->copy_cb((int)m->err, m->err ? rd_kafka_err2str(m->err) : NULL,
                     ctx->opaque);
    else if (ctx->cb)
        ctx->cb(m->err ? SL_EKAFKA : SL_OK,
                m->err ? rd_kafka_err2str(m->err) : NULL, ctx->opaque);
    free(ctx);
}

/* Room for a copy's headers and the record overhead above its payload. */
#define COPY_HEADER_ROOM (64u << 10)

static struct kproducer *producer_new(const struct kafka_conf *cfg,
                                      size_t max_message_bytes, char *errstr,
                                      size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char max[32];
    snprintf(max, sizeof(max), "%zu", max_message_bytes + COPY_HEADER_ROOM);
    /* Before conf_apply, so that kafka.properties can still override. */
    if (max_message_bytes &&
        conf_set(conf, "message.max.bytes", max, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (conf_apply(conf, producer_defaults, SL_ARRAY_LEN(producer_defaults),
                   cfg, true, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, errstr_size, "kafka producer: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    struct kproducer *p = xcalloc(1, sizeof(*p));
    p->rk = rk;
    return p;
}

struct kproducer *kproducer_new(const struct kafka_conf *cfg, char *errstr,
                                size_t errstr_size)
{
    return producer_new(cfg, 0, errstr, errstr_size);
}

struct kproducer *kproducer_new_for_copies(const struct kafka_conf *cfg,
                                           size_t max_message_bytes,
                                           char *errstr, size_t errstr_size)
{
    return producer_new(cfg, max_message_bytes, errstr, errstr_size);
}

static rd_kafka_headers_t *make_headers(const char *const *names,
                                        const char *const *values, size_t n)
{
    if (n == 0)
        return NULL;
    rd_kafka_headers_t *h = rd_kafka_headers_new(n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_header_add(h, names[i], -1, values[i], -1);
    return h;
}

static rd_kafka_resp_err_t produce_once(struct kproducer *p, const char *topic,
                                        const void *key, size_t key_len,
                                        const void *payload, size_t len,
                                        rd_kafka_headers_t *headers,
                                        struct dr_ctx *ctx)
{
    /* A NULL headers pointer must not reach RD_KAFKA_V_HEADERS. */
    if (headers)
        return rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE((void *)payload, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
            RD_KAFKA_V_OPAQUE(ctx), RD_KAFKA_V_END);
    return rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE((void *)payload, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(ctx),
        RD_KAFKA_V_END);
}

int kproducer_send(struct kproducer *p, const char *topic, const void *key,
                   size_t key_len, const void *payload, size_t len,
                   const char *const *header_names,
                   const char *const *header_values, size_t n_headers,
                   kproducer_dr_cb dr, void *opaque)
{
    struct dr_ctx *ctx = xcalloc(1, sizeof(*ctx));
    ctx->cb = dr;
    ctx->opaque = opaque;
    rd_kafka_headers_t *headers = make_headers(header_names, header_values,
                                               n_headers);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i <= SEND_RETRY_SLICES; i++) {
        err = produce_once(p, topic, key, key_len, payload, len, headers, ctx);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(p->rk, SEND_RETRY_SLICE_MS);
    }
    if (!err)
        return SL_OK; /* the message owns headers and ctx now */
    log_warn("kafka: produce to %s: %s", topic, rd_kafka_err2str(err));
    if (headers)
        rd_kafka_headers_destroy(headers);
    free(ctx);
    return SL_EKAFKA;
}

int kproducer_send_copy(struct kproducer *p, const char *topic,
                        const void *key, size_t key_len, const void *payload,
                        size_t len, const rd_kafka_headers_t *base,
                        const char *const *names, const char *const *values,
                        size_t n, kproducer_copy_dr_cb dr, void *opaque,
                        int *kerr)
{
    struct dr_ctx *ctx = xcalloc(1, sizeof(*ctx));
    ctx->copy_cb = dr;
    ctx->opaque = opaque;
    rd_kafka_headers_t *headers = base ? rd_kafka_headers_copy(base)
                                       : rd_kafka_headers_new(n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_header_add(headers, names[i], -1, values[i], -1);
    rd_kafka_resp_err_t err = produce_once(p, topic, key, key_len, payload,
                                           len, headers, ctx);
    *kerr = (int)err;
    if (!err)
        return SL_OK; /* the message owns headers and ctx now */
    rd_kafka_headers_destroy(headers);
    free(ctx);
    return SL_EKAFKA;
}

void kproducer_poll(struct kproducer *p)
{
    rd_kafka_poll(p->rk, 0);
}

int kproducer_flush(struct kproducer *p, int timeout_ms)
{
    return rd_kafka_flush(p->rk, timeout_ms) ? SL_ETIMEOUT : SL_OK;
}

size_t kproducer_outq(const struct kproducer *p)
{
    int n = rd_kafka_outq_len(p->rk);
    return n > 0 ? (size_t)n : 0;
}

rd_kafka_t *kproducer_handle(const struct kproducer *p)
{
    return p->rk;
}

void kproducer_free(struct kproducer *p)
{
    if (!p)
        return;
    if (rd_kafka_flush(p->rk, PRODUCER_CLOSE_FLUSH_MS)) {
        log_warn("kafka: %d message(s) undelivered after %d ms; failing them",
                 rd_kafka_outq_len(p->rk), PRODUCER_CLOSE_FLUSH_MS);
        /* Purged messages get a delivery report with an error, so every
         * dr callback still runs exactly once and its context is freed. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0);
    }
    rd_kafka_destroy(p->rk);
    free(p);
}
