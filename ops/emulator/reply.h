/* reply.h — a model's successful answer (shared by the realtime and the
 * batch endpoints, so both give the same answer to the same request),
 * random ids, and the usage log. */
#ifndef EMU_REPLY_H
#define EMU_REPLY_H

#include <stdio.h>

#include "emu.h"
#include "wire.h"

extern const char emu_b62[]; /* A-Z a-z 0-9 */

/* Fills out[0..n-1] from alphabet and terminates it: out holds n + 1. */
void emu_random_chars(char *out, size_t n, const char *alphabet);

/* Returns the new 200 body (free()) that model m gives to req, with body id
 * `id`; service_tier NULL is the realtime default ("flex" for a flex call,
 * "batch" for an Anthropic batch line). The prompt cache (prefix_cache.h)
 * decides the cached and written tokens. *r gets the token counts
 * (r->content is NULL afterwards: the text lives only in the body). */
char *emu_reply_render(const struct emu_config *cfg, enum emu_api api, const struct emu_model *m,
                       const struct emu_request *req, const char *id, const char *service_tier,
                       struct emu_reply *r);

/* What the emulator billed: the CSV usage log (only with a path) and, in
 * memory, totals per UTC day, api and model that the usage report
 * endpoints serve (usage_report.c). Thread-safe. A NULL log does nothing.
 * client_id is the request's X-Client-Request-Id (NULL or "" when none). */
struct emu_usage_log;
int emu_usage_open(const char *path, struct emu_usage_log **out, char *err, size_t err_size);
void emu_usage_write(struct emu_usage_log *u, const char *id, const char *api, const char *model,
                     const struct emu_reply *r, const char *status, const char *client_id);
void emu_usage_close(struct emu_usage_log *u);

/* A fresh body id and request id shaped like the provider's: OpenAI
 * "chatcmpl-…" and "req_…", Anthropic "msg_01…" and "req_01…" (each buffer
 * at least 48 bytes). */
void emu_make_ids(enum emu_api api, char *body_id, size_t body_id_size,
                  char *request_id, size_t request_id_size);

/* One day's billed totals for one api ("openai", "openai-batch",
 * "anthropic", "anthropic-batch") and model. */
struct emu_usage_total {
    long long day;      /* Unix seconds of 00:00 UTC */
    char api[24];
    char model[128];
    long long requests, input_tokens, cached_tokens, output_tokens;
    long long cache_write_tokens, cache_write_1h_tokens;
};
/* Copies the totals of days in [from, to) (Unix seconds) into a new array
 * (free()); *n gets the count. Sorted by day, api, model. */
struct emu_usage_total *emu_usage_totals(struct emu_usage_log *u, long long from, long long to,
                                         size_t *n);

#endif
