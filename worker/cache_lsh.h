/* cache_lsh.h — near-duplicate candidates: an LSH index over the MinHash
 * sketches of the entries in process (LSH_BANDS bands of LSH_ROWS
 * positions, cache_internal.h), and the band keys the table cache_entries
 * keeps (its first DB_BANDS) so that a micro-batch read finds candidates
 * other workers stored.
 *
 * The index links nodes embedded in the entries (struct band_node): it
 * owns nothing; an entry is added once when inserted and removed before
 * it is freed (cache_lru.c). */
#ifndef SL_CACHE_LSH_H
#define SL_CACHE_LSH_H

#include <stddef.h>
#include <stdint.h>

#include "cache_internal.h"

/* The band keys of sketch sk under version and tenant scope: positive
 * (they are bigints in PostgreSQL). */
void cache_lsh_band_keys(const char *version, const char *tenant,
                         const struct cache_sketch *sk,
                         uint64_t keys[LSH_BANDS]);

/* Appends the keys PostgreSQL keeps as bigint[] literal elements to the
 * growable string *buf (length *len, capacity *cap; xrealloc'd). */
void cache_lsh_append_bands(char **buf, size_t *len, size_t *cap,
                            const uint64_t keys[LSH_BANDS]);

void cache_lsh_add(struct cache *c, struct entry *e);    /* e has a sketch */
void cache_lsh_remove(struct cache *c, struct entry *e); /* e was added */

/* The most similar fresh entry of job's version and scope among the
 * candidates sharing a band with sk, or NULL; *best is its similarity
 * (-1 when none). The entry is borrowed (cache_lru.h). */
struct entry *cache_lsh_nearest(struct cache *c, const struct job *job,
                                const char *version,
                                const struct cache_sketch *sk, int64_t now_ms,
                                double *best);

#endif
