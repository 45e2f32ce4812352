/* cache_lsh.c — see cache_lsh.h. */
#include "cache_lsh.h"

#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "cache_entry.h"
#include "sl.h"

void cache_lsh_band_keys(const char *version, const char *tenant,
                         const struct cache_sketch *sk, uint64_t keys[LSH_BANDS])
{
    uint64_t scope = XXH3_64bits_withSeed(tenant, strlen(tenant),
                                          XXH3_64bits(version, strlen(version)));
    for (int b = 0; b < LSH_BANDS; b++) {
        uint64_t h = XXH3_64bits_withSeed(&sk->min[b * LSH_ROWS],
                                          LSH_ROWS * sizeof(sk->min[0]),
                                          scope + (uint64_t)b);
        keys[b] = h >> 2; /* a positive bigint in PostgreSQL */
    }
}

/* Appends the first DB_BANDS band keys as bigint[] literal elements
 * ("k1,k2,...") to a growable string. The table keeps 4 of the 16 bands:
 * a candidate of similarity 0.9 is still found with probability 0.986 (0.8:
 * 0.88), and the micro-batch read stays a small index scan. */
#define DB_BANDS 4
void cache_lsh_append_bands(char **buf, size_t *len, size_t *cap,
                            const uint64_t keys[LSH_BANDS])
{
    for (int b = 0; b < DB_BANDS; b++) {
        if (*len + 24 >= *cap) {
            while (*len + 24 >= *cap)
                *cap = *cap ? *cap * 2 : 1024;
            *buf = xrealloc(*buf, *cap);
        }
        *len += (size_t)snprintf(*buf + *len, *cap - *len, "%s%llu",
                                 *len > 1 ? "," : "", (unsigned long long)keys[b]);
    }
}

void cache_lsh_add(struct cache *c, struct entry *e)
{
    uint64_t keys[LSH_BANDS];
    cache_lsh_band_keys(e->version, e->tenant, &e->near->sketch, keys);
    for (int b = 0; b < LSH_BANDS; b++) {
        struct band_node *n = &e->near->bands[b];
        size_t slot = (size_t)(keys[b] & (c->n_lsh - 1));
        n->key = keys[b];
        n->e = e;
        n->next = c->lsh[slot];
        c->lsh[slot] = n;
    }
}

void cache_lsh_remove(struct cache *c, struct entry *e)
{
    for (int b = 0; b < LSH_BANDS; b++) {
        struct band_node *node = &e->near->bands[b];
        struct band_node **pp = &c->lsh[node->key & (c->n_lsh - 1)];
        while (*pp && *pp != node)
            pp = &(*pp)->next;
        if (*pp)
            *pp = node->next;
    }
}

/* The most similar fresh entry of the same version and scope among the
 * LSH candidates. */
struct entry *cache_lsh_nearest(struct cache *c, const struct job *job,
                                const char *version,
                                const struct cache_sketch *sk, int64_t now_ms,
                                double *best)
{
    struct entry *found = NULL;
    const char *scope = cache_scope_of(job);
    uint64_t keys[LSH_BANDS];
    cache_lsh_band_keys(version, scope, sk, keys);
    uint64_t stamp = ++c->query;
    *best = -1.0;
    for (int b = 0; b < LSH_BANDS; b++) {
        for (struct band_node *n = c->lsh[keys[b] & (c->n_lsh - 1)]; n; n = n->next) {
            struct entry *e = n->e;
            if (n->key != keys[b] || e->seen == stamp)
                continue;
            e->seen = stamp;
            if (strcmp(e->version, version) != 0 || strcmp(e->tenant, scope) != 0 ||
                !cache_entry_fresh(e, job->task, now_ms))
                continue;
            double s = cache_sim_similarity(sk, &e->near->sketch);
            if (s > *best) {
                *best = s;
                found = e;
            }
        }
    }
    return found;
}
