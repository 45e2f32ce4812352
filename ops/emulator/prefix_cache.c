/* prefix_cache.c — the providers' prompt-cache rules; see prefix_cache.h. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prefix_cache.h"
#include "util.h"

#define CHARS_PER_STEP 512 /* OpenAI's 128-token steps, at 4 characters a token */
#define LOOKBACK_BLOCKS 20 /* Anthropic looks this far back from a breakpoint */
#define FNV_PRIME UINT64_C(1099511628211)
#define FNV_BASIS UINT64_C(14695981039346656037)

struct entry {
    uint64_t hash; /* 0 = empty slot */
    long tokens;
    double expires, ttl;
};

struct emu_prefix_cache {
    pthread_mutex_t lock;
    struct entry *slots;
    size_t n_slots, used; /* n_slots: power of two */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct emu_prefix_cache *emu_prefix_cache_new(void)
{
    struct emu_prefix_cache *c = emu_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->n_slots = 1024;
    c->slots = emu_xcalloc(c->n_slots, sizeof(*c->slots));
    return c;
}

void emu_prefix_cache_free(struct emu_prefix_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * FNV_PRIME;
    return h;
}

/* The slot of (hash, tokens), or the empty slot where it would go. */
static struct entry *slot_of(struct emu_prefix_cache *c, uint64_t hash, long tokens)
{
    size_t mask = c->n_slots - 1, i = (size_t)(hash ^ (uint64_t)tokens) & mask;
    while (c->slots[i].hash != 0 && !(c->slots[i].hash == hash && c->slots[i].tokens == tokens))
        i = (i + 1) & mask;
    return &c->slots[i];
}

/* Doubles the table when half full, dropping expired entries on the way
 * (there is no deletion otherwise: probing stays simple). */
static void grow(struct emu_prefix_cache *c, double now)
{
    struct entry *old = c->slots;
    size_t n = c->n_slots, live = 0;
    for (size_t i = 0; i < n; i++)
        live += old[i].hash != 0 && old[i].expires > now;
    c->n_slots = live * 4 > n ? n * 2 : n;
    c->slots = emu_xcalloc(c->n_slots, sizeof(*c->slots));
    c->used = 0;
    for (size_t i = 0; i < n; i++)
        if (old[i].hash != 0 && old[i].expires > now) {
            *slot_of(c, old[i].hash, old[i].tokens) = old[i];
            c->used++;
        }
    free(old);
}

/* A live entry: refreshed (TTL restarts) when refresh is set. */
static bool hit(struct emu_prefix_cache *c, uint64_t hash, long tokens, double now, bool refresh)
{
    struct entry *e = slot_of(c, hash | 1, tokens);
    if (e->hash == 0 || e->expires <= now)
        return false;
    if (refresh)
        e->expires = now + e->ttl;
    return true;
}

static void put(struct emu_prefix_cache *c, uint64_t hash, long tokens, double ttl, double now)
{
    if ((c->used + 1) * 2 > c->n_slots)
        grow(c, now);
    struct entry *e = slot_of(c, hash | 1, tokens);
    if (e->hash == 0)
        c->used++;
    else if (e->expires > now + ttl)
        return; /* a longer-lived write of the same prefix stays */
    *e = (struct entry){.hash = hash | 1, .tokens = tokens, .expires = now + ttl, .ttl = ttl};
}

static long tokens_of(size_t chars)
{
    return (long)((chars + 3) / 4);
}

static uint64_t block_hash(uint64_t h, const struct emu_block *b)
{
    h = fnv(h, &b->role, 1);
    h = fnv(h, b->text, strlen(b->text));
    return fnv(h, "\x1e", 1);
}

void emu_prefix_cache_anthropic(struct emu_prefix_cache *c, const char *model,
                                const struct emu_block *blocks, size_t n, long min_tokens,
                                double ttl_scale, struct emu_cache_use *out)
{
    *out = (struct emu_cache_use){0};
    uint64_t *hash = emu_xcalloc(n + 1, sizeof(*hash));
    long *tok = emu_xcalloc(n + 1, sizeof(*tok));
    uint64_t h = fnv(FNV_BASIS, model, strlen(model) + 1);
    size_t chars = 0, last_bp = n;
    for (size_t i = 0; i < n; i++) {
        h = block_hash(h, &blocks[i]);
        chars += blocks[i].chars;
        hash[i] = h;
        tok[i] = tokens_of(chars);
        if (blocks[i].ttl_s > 0)
            last_bp = i;
    }
    double now = now_s();
    pthread_mutex_lock(&c->lock);
    if (last_bp < n) {
        /* Read: the longest cached prefix ending at a block boundary within
         * the look-back window of some breakpoint at or after it. */
        size_t read_at = n, window_start = n;
        for (size_t j = last_bp + 1; j-- > 0 && read_at == n;) {
            if (blocks[j].ttl_s > 0)
                window_start = j >= LOOKBACK_BLOCKS ? j - LOOKBACK_BLOCKS : 0;
            if (j >= window_start && hit(c, hash[j], tok[j], now, true))
                read_at = j;
        }
        long pos = read_at < n ? tok[read_at] : 0;
        out->read = pos;
        /* Write: each later breakpoint long enough to be cached. */
        for (size_t b = read_at < n ? read_at + 1 : 0; b <= last_bp; b++) {
            if (blocks[b].ttl_s <= 0 || tok[b] < min_tokens)
                continue;
            long seg = tok[b] - pos;
            out->write += seg;
            if (blocks[b].ttl_s >= 3600)
                out->write_1h += seg;
            pos = tok[b];
            put(c, hash[b], tok[b], blocks[b].ttl_s * ttl_scale, now);
        }
    }
    pthread_mutex_unlock(&c->lock);
    free(hash);
    free(tok);
}

/* Prefix hashes at every 512-character step: a step boundary is taken
 * before the next code point (or block) starts, so two prompts share a
 * step exactly when they share its characters. */
struct steps {
    uint64_t *hash;
    size_t n, cap;
};

static void step_add(struct steps *s, uint64_t h)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->hash = emu_xrealloc(s->hash, s->cap * sizeof(*s->hash));
    }
    s->hash[s->n++] = h;
}

static void openai_steps(const char *model, const struct emu_block *blocks, size_t n,
                         struct steps *s)
{
    uint64_t h = fnv(FNV_BASIS, model, strlen(model) + 1);
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        h = fnv(h, &blocks[i].role, 1);
        for (const unsigned char *p = (const unsigned char *)blocks[i].text; *p; p++) {
            if ((*p & 0xC0) != 0x80) { /* a code point starts */
                chars++;
                if (chars > 1 && (chars - 1) % CHARS_PER_STEP == 0 && (chars - 1) / CHARS_PER_STEP > s->n)
                    step_add(s, h);
            }
            h = fnv(h, p, 1);
        }
        if (chars > 0 && chars % CHARS_PER_STEP == 0 && chars / CHARS_PER_STEP > s->n)
            step_add(s, h);
        h = fnv(h, "\x1e", 1);
    }
}

void emu_prefix_cache_openai(struct emu_prefix_cache *c, const char *model,
                             const struct emu_block *blocks, size_t n, long min_tokens,
                             double ttl_s, struct emu_cache_use *out)
{
    *out = (struct emu_cache_use){0};
    struct steps s = {0};
    openai_steps(model, blocks, n, &s);
    size_t first = (size_t)((min_tokens + 127) / 128); /* first step counted */
    if (first < 1)
        first = 1;
    double now = now_s();
    pthread_mutex_lock(&c->lock);
    for (size_t k = s.n; k >= first && out->read == 0; k--)
        if (hit(c, s.hash[k - 1], (long)k * 128, now, false))
            out->read = (long)k * 128;
    for (size_t k = first; k <= s.n; k++)
        put(c, s.hash[k - 1], (long)k * 128, ttl_s, now);
    pthread_mutex_unlock(&c->lock);
    free(s.hash);
}
