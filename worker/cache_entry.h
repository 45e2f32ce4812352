/* cache_entry.h — the bottom of the answer cache's modules: an entry's
 * making and freeing, its freshness and tenant scope, the copy a hit gets,
 * a job's version and entry keys (the version memoised per config in
 * force), and the counter of cache events. Everything above
 * (cache_lsh.c, cache_lru.c, cache_pg.c, cache_near.c, cache.c) uses these;
 * this module uses none of them.
 *
 * Ownership: cache_entry_new() returns an entry owned by the caller until
 * cache_lru_insert() takes it (cache_lru.h); cache_fill_hit() copies. */
#ifndef SL_CACHE_ENTRY_H
#define SL_CACHE_ENTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "cache_internal.h"

/* Counts one sluice_cache_events_total event of task. */
void cache_count(const char *task, const char *event);

/* A new entry with its keys, task and tenant (NULL: "") copied; the
 * answer fields are the caller's to fill (owned strings). */
struct entry *cache_entry_new(const char *key, const char *version,
                              const char *task, const char *tenant);

/* A near-duplicate part holding a copy of sk (its LSH nodes unlinked), for
 * e->near of an entry of a near-mode task. */
struct entry_near *cache_entry_near_new(const struct cache_sketch *sk);

/* Frees e and its strings (not linked anywhere any more). */
void cache_entry_free(struct entry *e);

/* The tenant an entry of job is scoped to: "" when the task's cache is
 * shared (or the job has no tenant). */
const char *cache_scope_of(const struct job *job);

/* e is young enough for task's cache.ttl_s. */
bool cache_entry_fresh(const struct entry *e, const struct task_conf *task,
                       int64_t now_ms);

/* Fills *hit with copies of e's answer. */
void cache_fill_hit(const struct entry *e, struct cache_hit *hit);

/* The job's version and entry keys (the version is memoised per config in
 * force, in c). */
void cache_job_keys(struct cache *c, const struct config *cfg,
                    const struct job *job, char version[CACHE_KEY_HEX],
                    char key[CACHE_KEY_HEX]);

#endif
