/* cache_sim.c — see cache_sim.h. */
#include "cache_sim.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "sl.h"
#include "tier0/tier0_features.h"

/* The K hash functions of MinHash by double hashing (Kirsch and
 * Mitzenmacher): h_k = h1 + k * h2 from one 128-bit XXH3 of the shingle,
 * as good for MinHash as K independent hashes and K times cheaper. */
static void add_shingle(struct cache_sketch *sk, const char *shingle)
{
    XXH128_hash_t h = XXH3_128bits(shingle, CACHE_SIM_SHINGLE);
    for (int k = 0; k < CACHE_SIM_K; k++) {
        uint64_t v = h.low64 + (uint64_t)k * (h.high64 | 1);
        uint32_t top = (uint32_t)(v >> 32);
        if (top < sk->min[k])
            sk->min[k] = top;
    }
    sk->shingles++;
}

size_t cache_sim_normalize(const char *text, size_t len, char *out,
                           size_t out_size)
{
    /* tier0_feat_normalize reads a C string. */
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    size_t n = tier0_feat_normalize(copy, out, out_size);
    free(copy);
    return n;
}

void cache_sim_sketch(const char *text, size_t len, struct cache_sketch *out)
{
    /* The normalised text padded with a space each side, so that the
     * first and last words have shingles of their own. */
    char padded[CACHE_SIM_MAX_TEXT + 3];
    padded[0] = ' ';
    size_t n = cache_sim_normalize(text, len, padded + 1, CACHE_SIM_MAX_TEXT + 1);
    memset(out->min, 0xff, sizeof(out->min));
    out->shingles = 0;
    if (n == 0)
        return;
    padded[n + 1] = ' ';
    for (size_t i = 0; i + CACHE_SIM_SHINGLE <= n + 2; i++)
        add_shingle(out, padded + i);
}

double cache_sim_similarity(const struct cache_sketch *a,
                            const struct cache_sketch *b)
{
    if (!a->shingles || !b->shingles)
        return 0.0;
    int same = 0;
    for (int k = 0; k < CACHE_SIM_K; k++)
        same += a->min[k] == b->min[k];
    return (double)same / CACHE_SIM_K;
}
