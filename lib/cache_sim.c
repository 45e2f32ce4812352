/* cache_sim.c — see cache_sim.h. */
#include "cache_sim.h"

#include <stdlib.h>
#include <string.h>

#include "sl.h"
#include "tier0/tier0_features.h"

static uint64_t fnv1a(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* splitmix64's finaliser: one well-mixed hash per (shingle, position). */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static void add_shingle(struct cache_sketch *sk, uint64_t h)
{
    for (int k = 0; k < CACHE_SIM_K; k++) {
        uint32_t v = (uint32_t)mix(h + 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1));
        if (v < sk->min[k])
            sk->min[k] = v;
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
        add_shingle(out, fnv1a(padded + i, CACHE_SIM_SHINGLE,
                               14695981039346656037ull));
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
