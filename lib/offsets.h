/* offsets.h — per-partition tracking of in-flight Kafka offsets.
 *
 * Messages of one partition are taken for processing in offset order but
 * finish out of order. The commit watermark of a partition is the offset a
 * consumer may commit: everything below it is done. It is the lowest offset
 * still pending, or the last done offset + 1 when nothing is pending; -1 until
 * something has been done since the partition was (re)assigned.
 *
 * Generations: every assign and revoke of a partition bumps its generation.
 * offsets_track() returns the current one as a token, and offsets_done()
 * ignores tokens from an older generation, so a job that finishes after its
 * partition moved to another consumer cannot move the new watermark.
 * Generation 0 is never valid.
 *
 * Cost: amortised O(1) per track/done while offsets are contiguous (a ring per
 * partition, done entries popped from its head); O(log n) lookup when a
 * partition has offset gaps (compaction, transaction markers).
 *
 * Ownership: offsets_new() returns a new tracker; free with offsets_free()
 * (NULL is a no-op). Not thread-safe. No librdkafka dependency. */
#ifndef SL_OFFSETS_H
#define SL_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct offsets;

struct offsets *offsets_new(void);
void offsets_free(struct offsets *o);

/* A partition (re)assigned: forget its old state and bump its generation.
 * Returns the new generation. Negative partitions are ignored (returns 0). */
uint32_t offsets_assign(struct offsets *o, int32_t partition);
/* The partition is no longer ours: forget its pending offsets and bump its
 * generation so outstanding tokens go stale. */
void offsets_revoke(struct offsets *o, int32_t partition);
/* Records an offset taken for processing; returns the partition's generation
 * (the token for offsets_done). Returns 0 (a token that is always ignored)
 * when the partition is not assigned or the offset is not above the last
 * tracked one: such a message is then simply never committed by us, which
 * at-least-once delivery tolerates. */
uint32_t offsets_track(struct offsets *o, int32_t partition, int64_t offset);
/* Marks an offset done; ignored when the generation is stale, the partition is
 * not assigned, or the offset is not pending. Returns 1 when the partition's
 * commit watermark advanced, else 0. */
int offsets_done(struct offsets *o, int32_t partition, int64_t offset,
                 uint32_t generation);
/* True while a message tracked with this token is still ours to answer: its
 * partition is assigned and has not been revoked (or revoked and assigned
 * again) since. Token 0 counts as current while the partition is assigned. */
bool offsets_owned(const struct offsets *o, int32_t partition,
                   uint32_t generation);
/* The commit watermark (see above); -1 when nothing is done yet or the
 * partition is not assigned. */
int64_t offsets_watermark(const struct offsets *o, int32_t partition);
/* Offsets tracked and not yet done, over all partitions. */
size_t offsets_pending(const struct offsets *o);

#endif
