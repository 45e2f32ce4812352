/* cache_key.h — the keys of the answer cache (worker/cache.h).
 *
 * A task's version key hashes everything in its config that changes the
 * answer: output type, labels, schema, system prompt, prompt template,
 * confidence threshold, output cap, and its ladder (each tier's provider,
 * wire format and model). Changing any of them makes a new version, so old
 * entries are never looked up again: invalidation needs no bookkeeping.
 * The entry key then adds the tenant (empty for a shared cache) and the
 * normalised input. Keys are SHA-256 as 64 lower-case hex digits.
 *
 * Normalisation for the exact key is deliberately light: runs of white
 * space become one space and the ends are trimmed; case and punctuation are
 * kept, since they may change an answer (an extracted name, a JSON field).
 * Near-duplicate matching (lib/cache_sim.h) works on a harder
 * normalisation. No allocation except where said. */
#ifndef SL_CACHE_KEY_H
#define SL_CACHE_KEY_H

#include <stddef.h>

#include "config_types.h"

#define CACHE_KEY_HEX 65 /* 64 hex digits and a NUL */

/* The version key of task under cfg (which resolves its ladder). */
void cache_key_version(const struct config *cfg, const struct task_conf *task,
                       char out[CACHE_KEY_HEX]);

/* Normalises in[0..len) into out (capacity out_size, NUL-terminated, never
 * cutting a UTF-8 sequence when it truncates) and returns the length. */
size_t cache_key_normalize(const char *in, size_t len, char *out,
                           size_t out_size);

/* The entry key: version, tenant ("" or NULL when shared) and the
 * normalised input norm[0..len). */
void cache_key_entry(const char *version, const char *tenant, const char *norm,
                     size_t len, char out[CACHE_KEY_HEX]);

#endif
