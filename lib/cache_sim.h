/* cache_sim.h — near-duplicate similarity for the answer cache.
 *
 * MinHash over character 3-grams (bytes) of the text after tier 0's
 * normalisation (lower case, punctuation to spaces; tier0_features.h),
 * padded with a space each side:
 * CACHE_SIM_K hash functions, each keeping the least hash over the text's
 * shingles; the share of positions where two sketches agree estimates the
 * Jaccard similarity of their shingle sets (standard error about
 * sqrt(J(1-J)/K), 0.05 at J = 0.8). A sketch is 256 bytes, computed in a few
 * microseconds, compared in nanoseconds. docs/cache.md has the measurement
 * on banking77 behind the choice. Deterministic across machines and runs:
 * stored entries are sketched again when loaded. */
#ifndef SL_CACHE_SIM_H
#define SL_CACHE_SIM_H

#include <stddef.h>
#include <stdint.h>

#define CACHE_SIM_K 64
#define CACHE_SIM_MAX_TEXT 1024 /* longer texts are cut (= TIER0_MAX_TEXT) */
#define CACHE_SIM_SHINGLE 3

struct cache_sketch {
    uint32_t min[CACHE_SIM_K];
    uint32_t shingles; /* 0: no words, similar to nothing */
};

/* The normalisation (tier0_feat_normalize); returns the length. */
size_t cache_sim_normalize(const char *text, size_t len, char *out,
                           size_t out_size);

/* Sketches text[0..len) (raw or already normalised: normalising twice
 * changes nothing). */
void cache_sim_sketch(const char *text, size_t len, struct cache_sketch *out);

/* Estimated Jaccard similarity in [0, 1]; 0 when either is empty. */
double cache_sim_similarity(const struct cache_sketch *a,
                            const struct cache_sketch *b);

#endif
