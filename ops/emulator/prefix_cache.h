/* prefix_cache.h — the providers' prompt cache, per model, keyed by the
 * exact prefix bytes (see README.md, "Prompt caching").
 *
 * A prompt is a sequence of text blocks (system, then each message's
 * parts), hashed in order with each block's role; a cached prefix is the
 * FNV-1a 64-bit hash of (model, blocks up to a point) and its length in
 * tokens, with an expiry time. Token positions are ceil(characters / 4),
 * the emulator's token estimate, so cached + written + plain input always
 * add up to the prompt's tokens.
 *
 *   Anthropic: only at cache_control breakpoints. The longest prefix that
 *     ends at a block boundary (at most 20 blocks before a breakpoint) and
 *     is cached is read; the tokens from there to each later breakpoint
 *     that reaches min_tokens are written with that breakpoint's TTL. A
 *     hit refreshes the entry's TTL, as the API does.
 *   OpenAI: automatic for prompts of at least min_tokens (1024), in steps
 *     of 128 tokens (512 characters): the longest cached step is read, and
 *     every step is (re)written with the model's TTL. Writes are free and
 *     not reported.
 *
 * Thread-safe (one mutex). Entries past their expiry are dropped when the
 * table grows. */
#ifndef EMU_PREFIX_CACHE_H
#define EMU_PREFIX_CACHE_H

#include <stddef.h>

struct emu_prefix_cache;

/* One text block of a prompt, in order. */
struct emu_block {
    char *text;   /* owned */
    size_t chars; /* code points of text */
    char role;    /* 's' system, 'u' user, 'a' assistant, 'o' other */
    int ttl_s;    /* cache_control breakpoint TTL (300 / 3600); 0 = none */
};

/* Tokens read from and written to the cache by one request. */
struct emu_cache_use {
    long read;      /* cache hits (Anthropic cache_read_input_tokens, OpenAI cached_tokens) */
    long write;     /* Anthropic cache_creation_input_tokens */
    long write_1h;  /* the part of write with the 1-hour TTL */
};

struct emu_prefix_cache *emu_prefix_cache_new(void);
void emu_prefix_cache_free(struct emu_prefix_cache *c);

/* ttl_scale multiplies every TTL (tests use a small one to see expiry). */
void emu_prefix_cache_anthropic(struct emu_prefix_cache *c, const char *model,
                                const struct emu_block *blocks, size_t n, long min_tokens,
                                double ttl_scale, struct emu_cache_use *out);
void emu_prefix_cache_openai(struct emu_prefix_cache *c, const char *model,
                             const struct emu_block *blocks, size_t n, long min_tokens,
                             double ttl_s, struct emu_cache_use *out);

#endif
