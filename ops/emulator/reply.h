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
 * `id`; service_tier NULL is the realtime default. *r gets the token counts
 * (r->content is NULL afterwards: the text lives only in the body). */
char *emu_reply_render(const struct emu_config *cfg, enum emu_api api, const struct emu_model *m,
                       const struct emu_request *req, const char *id, const char *service_tier,
                       struct emu_reply *r);

/* The CSV usage log; thread-safe. NULL path → NULL log, and writing to a
 * NULL log does nothing. */
struct emu_usage_log;
int emu_usage_open(const char *path, struct emu_usage_log **out, char *err, size_t err_size);
void emu_usage_write(struct emu_usage_log *u, const char *id, const char *api, const char *model,
                     const struct emu_reply *r, const char *status);
void emu_usage_close(struct emu_usage_log *u);

/* A fresh body id and request id shaped like the provider's: OpenAI
 * "chatcmpl-…" and "req_…", Anthropic "msg_01…" and "req_01…" (each buffer
 * at least 48 bytes). */
void emu_make_ids(enum emu_api api, char *body_id, size_t body_id_size,
                  char *request_id, size_t request_id_size);

#endif
