/* kafka.h — the Kafka consumer and producer of sluice (librdkafka).
 *
 * Consumer: at-least-once with commits only after a durable write
 * (STYLE.md pattern (a), docs/internals/kafka.md). Offsets are auto-committed
 * by librdkafka, but only those we store, and we store a partition's
 * watermark only when every message below it is done. Never blocks: the
 * consumer queue signals a non-blocking pipe (kconsumer_fd) for a uv_poll_t.
 *
 * Producer: idempotent; delivery reports are served by kproducer_poll.
 *
 * Neither type is thread-safe: use each from one thread (the event loop). */
#ifndef SL_KAFKA_H
#define SL_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "sl.h"

struct kconsumer;

/* Creates a consumer in group cfg->group_id subscribed to cfg->topic with
 * enable.auto.commit=true, enable.auto.offset.store=false,
 * auto.offset.reset=earliest, fetch.wait.max.ms=10,
 * partition.assignment.strategy=cooperative-sticky, then cfg->properties
 * (which may override any of these; errors name the key). cfg is borrowed for
 * the call only. Returns a new consumer (close with kconsumer_close) or NULL
 * with the reason in errstr. */
struct kconsumer *kconsumer_new(const struct kafka_conf *cfg, char *errstr,
                                size_t errstr_size);
/* The read end of a non-blocking pipe that becomes readable when messages or
 * events are waiting; owned by the consumer. Watch it with a uv_poll_t and
 * call kconsumer_poll until it returns NULL. */
int kconsumer_fd(const struct kconsumer *c);
/* Drains the pipe and returns the next message, or NULL when none is ready
 * right now. Never blocks. Returns a new message: destroy it with
 * rd_kafka_message_destroy. Messages carrying an error are logged and skipped
 * (partition EOF silently). Rebalances are handled inside, so the revoke hook
 * may run from here. */
rd_kafka_message_t *kconsumer_poll(struct kconsumer *c);
/* Starts tracking m (borrowed) for commit; returns the generation token for
 * kconsumer_done. Call it in poll order, before the message can finish. */
uint32_t kconsumer_track(struct kconsumer *c, const rd_kafka_message_t *m);
/* Marks a tracked message done: its result is durable. Stores the partition's
 * new watermark with rd_kafka_offsets_store when it advanced. Stale tokens
 * (the partition was revoked since kconsumer_track) are ignored. */
void kconsumer_done(struct kconsumer *c, int32_t partition, int64_t offset,
                    uint32_t generation);
/* False once the message's partition was revoked since kconsumer_track
 * returned generation: another consumer owns it and answers the message;
 * do not start it here. */
bool kconsumer_owns(const struct kconsumer *c, int32_t partition,
                    uint32_t generation);
/* hook(arg) runs inside kconsumer_poll/kconsumer_close just before partitions
 * are revoked, so the owner can make durable (and kconsumer_done) what it can
 * within a bounded time; what is not done by then is redelivered elsewhere. */
void kconsumer_set_revoke_hook(struct kconsumer *c, void (*hook)(void *arg),
                               void *arg);
/* Pauses fetching on all assigned partitions, including partitions assigned
 * while paused (backpressure). Keep calling kconsumer_poll meanwhile so
 * rebalances are served and max.poll.interval.ms is not exceeded. */
void kconsumer_pause(struct kconsumer *c);
void kconsumer_resume(struct kconsumer *c);
/* Number of partitions currently assigned to this consumer. */
size_t kconsumer_assigned(const struct kconsumer *c);
/* Messages tracked and not yet done. */
size_t kconsumer_pending(const struct kconsumer *c);
/* Partition offset commits the broker refused so far (each one lets the
 * partition's next owner redeliver what was finished since the last good
 * commit). */
size_t kconsumer_commit_failures(const struct kconsumer *c);
/* Messages in the assigned partitions past this consumer's fetch position,
 * from the high watermarks librdkafka caches from fetch responses: no
 * broker round trip, cheap enough for a timer. Partitions nothing was
 * fetched from yet, or without a fetch position yet (just (re)assigned),
 * are left out: their lag is not known. Returns -1 while no partition's
 * lag is known (no assignment, or before the first fetch). */
int64_t kconsumer_lag(const struct kconsumer *c);
/* False after a fatal error, and after librdkafka reported every broker
 * down until the next fetch result or rebalance. */
bool kconsumer_healthy(const struct kconsumer *c);
/* Commits stored offsets synchronously, leaves the group
 * (rd_kafka_consumer_close) and frees everything. NULL is a no-op. */
void kconsumer_close(struct kconsumer *c);

struct kproducer;

/* Creates a producer with enable.idempotence=true, linger.ms=5, then
 * cfg->properties (errors name the key). Returns a new producer (free with
 * kproducer_free) or NULL with the reason in errstr. */
struct kproducer *kproducer_new(const struct kafka_conf *cfg, char *errstr,
                                size_t errstr_size);
/* Delivery report: err is 0 or SL_EKAFKA; errmsg is borrowed for the call. */
typedef void (*kproducer_dr_cb)(int err, const char *errmsg, void *opaque);
/* Queues one message. key, payload, header names and values are copied
 * (header_names/header_values: n_headers NUL-terminated strings each).
 * On 0, dr (may be NULL) runs exactly once, later, from kproducer_poll,
 * kproducer_flush or kproducer_free. When the local queue is full, serves
 * delivery reports and retries for up to about 1 s. Returns 0, or SL_EKAFKA
 * (logged) and dr is never called. */
int kproducer_send(struct kproducer *p, const char *topic, const void *key,
                   size_t key_len, const void *payload, size_t len,
                   const char *const *header_names,
                   const char *const *header_values, size_t n_headers,
                   kproducer_dr_cb dr, void *opaque) SL_MUSTCHECK;
/* The producer for copies of consumed messages (the dead-letter topic): as
 * kproducer_new, with message.max.bytes raised to max_message_bytes plus
 * room for headers, so that a copy of anything the jobs topic delivered is
 * refused, if at all, by the broker and not by a smaller local default
 * (kafka.properties still win). */
struct kproducer *kproducer_new_for_copies(const struct kafka_conf *cfg,
                                           size_t max_message_bytes,
                                           char *errstr, size_t errstr_size);
/* Delivery report with librdkafka's error code (0 on success), so that a
 * caller can tell RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE from the rest;
 * errmsg is borrowed for the call. */
typedef void (*kproducer_copy_dr_cb)(int kerr, const char *errmsg,
                                     void *opaque);
/* Queues a copy: key and payload copied, base headers (may be NULL;
 * borrowed) copied first, then n extra NUL-terminated name/value pairs.
 * Does not wait for room in a full queue. Returns 0 (dr then runs exactly
 * once, from kproducer_poll/flush/free) or SL_EKAFKA with *kerr set (dr is
 * never called). */
int kproducer_send_copy(struct kproducer *p, const char *topic,
                        const void *key, size_t key_len, const void *payload,
                        size_t len, const rd_kafka_headers_t *base,
                        const char *const *names, const char *const *values,
                        size_t n, kproducer_copy_dr_cb dr, void *opaque,
                        int *kerr) SL_MUSTCHECK;
/* Serves delivery reports without blocking. */
void kproducer_poll(struct kproducer *p);
/* Waits up to timeout_ms for every queued message to be delivered or fail.
 * Returns 0 or SL_ETIMEOUT. */
int kproducer_flush(struct kproducer *p, int timeout_ms);
/* Messages and requests not yet acknowledged. */
size_t kproducer_outq(const struct kproducer *p);
/* The underlying handle, borrowed: for metadata and watermark queries. */
rd_kafka_t *kproducer_handle(const struct kproducer *p);
/* Flushes for up to 10 s, fails what is left (their dr runs with an error),
 * then frees. NULL is a no-op. */
void kproducer_free(struct kproducer *p);

#endif
