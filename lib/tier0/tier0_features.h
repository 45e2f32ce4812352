/* tier0_features.h — text normalisation and hashed n-gram features for the
 * tier-0 classifier.
 *
 * Features are word unigrams and bigrams plus character n-grams of the
 * normalised text padded with one space each side, hashed (64-bit FNV-1a,
 * one seed per kind) into 2^dim_bits buckets. A bucket's value is
 * weight * (1 + ln count) (sublinear tf); the vector is then L2-normalised.
 * Everything is deterministic: the same text and parameters give the same
 * features on every machine and run, which the stored models rely on.
 * No allocation: callers pass the output buffers. */
#ifndef SL_TIER0_FEATURES_H
#define SL_TIER0_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "sl.h"

/* Longer inputs are cut here (after normalisation) to bound the work. */
#define TIER0_MAX_TEXT 1024
/* Output capacity that always suffices for tier0_feat_extract. */
#define TIER0_MAX_FEATS (5 * (TIER0_MAX_TEXT + 2))

struct tier0_feat_params {
    uint8_t dim_bits;    /* buckets = 2^dim_bits, 10..24 */
    uint8_t word_ngrams; /* 0 (none), 1 (unigrams) or 2 (+ bigrams) */
    uint8_t char_min;    /* character n-gram lengths: 0 = none, else
                          * 1 <= min <= max <= 8, max - min <= 3 */
    uint8_t char_max;
    float word_weight;   /* scale of word features before normalising */
    float char_weight;   /* scale of character features */
};

/* The defaults the bench was tuned with. */
void tier0_feat_params_default(struct tier0_feat_params *p);
/* Returns 0 or SL_EINVAL with errstr when a field is out of range. */
int tier0_feat_params_check(const struct tier0_feat_params *p, char *errstr,
                            size_t errstr_size) SL_MUSTCHECK;

/* Normalises text for both training traces and serving: ASCII letters
 * lower-cased, apostrophes dropped ("hasn't" -> "hasnt"), other ASCII
 * punctuation and control characters become spaces, runs of spaces collapse,
 * ends trimmed. Bytes >= 0x80 (UTF-8) are kept unchanged. Writes at most
 * min(out_size - 1, TIER0_MAX_TEXT) bytes, never cutting a UTF-8 sequence,
 * NUL-terminates, and returns the length written. */
size_t tier0_feat_normalize(const char *text, char *out, size_t out_size);

struct tier0_feat {
    uint32_t index; /* bucket, 0 .. 2^dim_bits - 1 */
    float value;
};

/* Features of an already normalised text (at most TIER0_MAX_TEXT bytes are
 * read). Writes unique buckets, in no particular order, into out (capacity
 * cap; TIER0_MAX_FEATS always suffices) and returns how many; features past
 * cap are dropped. */
size_t tier0_feat_extract(const struct tier0_feat_params *p, const char *norm,
                          size_t len, struct tier0_feat *out, size_t cap);

#endif
