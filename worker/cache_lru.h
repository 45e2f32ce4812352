/* cache_lru.h — the cache's entries in process: a hash table by entry key
 * and a list in order of use, bounded by worker.cache_lru_entries (the
 * least recently used go first). Entries with a sketch are kept in the LSH
 * index too (cache_lsh.h).
 *
 * Ownership: an entry from cache_entry_new() (cache_entry.h) is owned by
 * the caller until cache_lru_insert() takes it; the cache frees it when it
 * is removed, evicted or dropped. Pointers from cache_lru_find() are
 * borrowed until the next insert, remove or drop. */
#ifndef SL_CACHE_LRU_H
#define SL_CACHE_LRU_H

#include <stddef.h>

#include "cache_internal.h"

/* The bucket of key (a hex entry key) in c's tables of n_buckets. */
size_t cache_lru_bucket(const struct cache *c, const char *key);
/* The entry of key, or NULL. */
struct entry *cache_lru_find(const struct cache *c, const char *key);
/* Takes e (a key not in c); evicts the least recently used past the bound
 * (with a bound of 0, frees e at once). */
void cache_lru_insert(struct cache *c, struct entry *e);
/* Unlinks e from every index and frees it. */
void cache_lru_remove(struct cache *c, struct entry *e);
/* Removes every entry. */
void cache_lru_drop_all(struct cache *c);
/* Makes e the most recently used. */
void cache_lru_bump(struct cache *c, struct entry *e);

#endif
