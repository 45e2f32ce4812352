/* tier0_features.c — see tier0_features.h. */
#include "tier0_features.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { KIND_WORD = 1, KIND_BIGRAM = 2, KIND_CHAR = 3 };

_Static_assert(16384 >= 2 * TIER0_MAX_FEATS, "slot table too small");

void tier0_feat_params_default(struct tier0_feat_params *p)
{
    p->dim_bits = 20;
    p->word_ngrams = 2;
    p->char_min = 3;
    p->char_max = 5;
    p->word_weight = 1.0f;
    p->char_weight = 1.0f;
}

int tier0_feat_params_check(const struct tier0_feat_params *p, char *errstr,
                            size_t errstr_size)
{
    const char *why = NULL;
    if (p->dim_bits < 10 || p->dim_bits > 24)
        why = "dim_bits must be in [10, 24]";
    else if (p->word_ngrams > 2)
        why = "word_ngrams must be 0, 1 or 2";
    else if (p->char_min > p->char_max || p->char_max > 8 ||
             (p->char_max > 0 && p->char_min == 0) ||
             p->char_max - p->char_min > 3)
        why = "char n-gram lengths must satisfy 1 <= min <= max <= 8, "
              "max - min <= 3";
    else if (p->word_ngrams == 0 && p->char_max == 0)
        why = "no feature kind enabled";
    else if (!(p->word_weight >= 0) || !(p->char_weight >= 0))
        why = "weights must be >= 0";
    if (!why)
        return SL_OK;
    snprintf(errstr, errstr_size, "tier0 features: %s", why);
    return SL_EINVAL;
}

size_t tier0_feat_normalize(const char *text, char *out, size_t out_size)
{
    size_t cap = out_size ? out_size - 1 : 0, n = 0;
    int pending_space = 0;
    if (cap > TIER0_MAX_TEXT)
        cap = TIER0_MAX_TEXT;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        unsigned char c = *s;
        if (c == '\'')
            continue;
        if (c < 0x80 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
            !(c >= 'A' && c <= 'Z')) {
            pending_space = n > 0;
            continue;
        }
        /* A UTF-8 sequence is copied whole or not at all. */
        size_t seq = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (n + (size_t)pending_space + seq > cap)
            break;
        if (pending_space)
            out[n++] = ' ';
        pending_space = 0;
        out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        for (size_t k = 1; k < seq && s[1] >= 0x80 && s[1] < 0xC0; k++)
            out[n++] = (char)*++s;
    }
    if (out_size)
        out[n] = '\0';
    return n;
}

/* FNV-1a 64, with the kind folded in first so that a word and a character
 * n-gram with the same bytes land in different buckets. */
static uint64_t fnv1a(int kind, const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = (h ^ (uint64_t)kind) * 0x100000001b3ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

/* Counts features in a small open-addressing table sized for the text, so
 * a short text clears only a few hundred slots. */
struct counter {
    struct tier0_feat *out;
    size_t n, cap;
    float *weight; /* per output: the kind's weight (value holds counts) */
    int32_t *slot; /* index into out, -1 = empty */
    uint32_t mask, dim_mask;
};

static void count_add(struct counter *c, uint64_t h, float w)
{
    uint32_t bucket = (uint32_t)(h ^ (h >> 32)) & c->dim_mask;
    uint32_t i = (bucket * 2654435761u) & c->mask;
    while (c->slot[i] >= 0) {
        struct tier0_feat *f = &c->out[c->slot[i]];
        if (f->index == bucket) {
            f->value += 1;
            return;
        }
        i = (i + 1) & c->mask;
    }
    if (c->n == c->cap)
        return;
    c->slot[i] = (int32_t)c->n;
    c->out[c->n].index = bucket;
    c->out[c->n].value = 1;
    c->weight[c->n] = w;
    c->n++;
}

static void add_words(struct counter *c, const struct tier0_feat_params *p,
                      const char *s, size_t len)
{
    size_t prev = 0, start = 0;
    int have_prev = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ' ')
            continue;
        if (i > start) {
            count_add(c, fnv1a(KIND_WORD, s + start, i - start), p->word_weight);
            /* Normalised text has single spaces, so a bigram is the
             * substring from the previous word's start. */
            if (p->word_ngrams >= 2 && have_prev)
                count_add(c, fnv1a(KIND_BIGRAM, s + prev, i - prev),
                          p->word_weight);
            prev = start;
            have_prev = 1;
        }
        start = i + 1;
    }
}

static void add_chars(struct counter *c, const struct tier0_feat_params *p,
                      const char *s, size_t len)
{
    char padded[TIER0_MAX_TEXT + 2];
    padded[0] = ' ';
    memcpy(padded + 1, s, len);
    padded[len + 1] = ' ';
    size_t plen = len + 2;
    for (size_t n = p->char_min; n <= p->char_max; n++)
        for (size_t i = 0; i + n <= plen; i++)
            count_add(c, fnv1a(KIND_CHAR, padded + i, n), p->char_weight);
}

size_t tier0_feat_extract(const struct tier0_feat_params *p, const char *norm,
                          size_t len, struct tier0_feat *out, size_t cap)
{
    if (len > TIER0_MAX_TEXT)
        len = TIER0_MAX_TEXT;
    /* At most len/2+1 words (+ as many bigrams) and len+2 n-grams of each
     * length; TIER0_MAX_FEATS covers the largest case. */
    size_t bound = 2 * (len / 2 + 1);
    if (p->char_max > 0)
        bound += (len + 2) * (size_t)(p->char_max - p->char_min + 1);
    if (bound > cap)
        bound = cap;
    uint32_t size = 16;
    while (size < 2 * bound)
        size *= 2;
    int32_t slots[16384]; /* a power of two >= 2 * TIER0_MAX_FEATS */
    float weights[TIER0_MAX_FEATS];
    if (size > SL_ARRAY_LEN(slots))
        size = (uint32_t)SL_ARRAY_LEN(slots);
    if (bound > SL_ARRAY_LEN(weights))
        bound = SL_ARRAY_LEN(weights);
    memset(slots, 0xff, size * sizeof slots[0]);
    struct counter c = {out, 0, bound, weights, slots, size - 1,
                        (1u << p->dim_bits) - 1};
    if (p->word_ngrams > 0)
        add_words(&c, p, norm, len);
    if (p->char_max > 0)
        add_chars(&c, p, norm, len);
    /* Sublinear tf keeps a repeated n-gram from dominating short texts. */
    double norm2 = 0;
    for (size_t i = 0; i < c.n; i++) {
        out[i].value = weights[i] * (1.0f + logf(out[i].value));
        norm2 += (double)out[i].value * out[i].value;
    }
    if (norm2 > 0) {
        float inv = (float)(1.0 / sqrt(norm2));
        for (size_t i = 0; i < c.n; i++)
            out[i].value *= inv;
    }
    return c.n;
}
