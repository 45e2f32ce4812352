/* cache_pg.h — the cache's side in PostgreSQL (table cache_entries, and
 * cache_checks for near-duplicate checks): one read per micro-batch of
 * claimed jobs (cache_prefetch), the queue of stores, hit times and checks
 * written in one statement from cache_tick (at most every
 * worker.batch_flush_ms, retried after a failure), the minute's upkeep
 * (expired entries, each task's max_entries) and the pooled checks of all
 * workers; and a hit's touch (cache_touch). cache_prefetch() of cache.h is
 * defined here; cache_tick() and cache_close() (cache.c) call
 * cache_pg_tick() and cache_pg_flush().
 *
 * The queue is owned by struct cache and bounded (QUEUE_MAX items; past it
 * a store is only a later miss). The queue functions copy what they get. */
#ifndef SL_CACHE_PG_H
#define SL_CACHE_PG_H

#include <stdbool.h>
#include <stdint.h>

#include "cache_internal.h"

/* Queues e's answer for cache_entries; for label tasks, sk is the input's
 * sketch (its band keys make the row a near candidate) and input_norm the
 * sketch input other workers recompute it from; both NULL otherwise. */
void cache_pg_queue_store(struct cache *c, const struct job *job,
                          const struct entry *e, const struct cache_sketch *sk,
                          const char *input_norm);
/* Queues a new hit time for the entry of key. */
void cache_pg_queue_touch(struct cache *c, const char *key);

/* e was served: most recent in the LRU, its hit time queued. */
void cache_touch(struct cache *c, struct entry *e);
/* Queues the outcome of a near-duplicate check for cache_checks. */
void cache_pg_queue_check(struct cache *c, const struct job *job,
                          const struct cache_probe *p, bool agreed);

/* Writes the queue in one statement; false when the write failed (the
 * queue is kept). */
bool cache_pg_flush(struct cache *c, struct db *db);

/* cache_tick's PostgreSQL part (c not NULL): the queue at most every
 * worker.batch_flush_ms (retried after a failure), then the pooled checks
 * of near tasks due, then the minute's upkeep. */
void cache_pg_tick(struct cache *c, struct db *db, const struct config *cfg,
                   int64_t now_ms);

#endif
