/* batch.h — OpenAI Files + Batch and Anthropic Message Batches.
 *
 * State lives in memory under one mutex. A batch's state is a function of
 * the clock (created_at + batch.turnaround_s), evaluated on every call, so
 * nothing runs in the background; a batch's output is built, and its
 * usage logged, the first time a call sees it ended. The server does the
 * HTTP plumbing and hands each call over as an emu_call. */
#ifndef EMU_BATCH_H
#define EMU_BATCH_H

#include "emu.h"
#include "reply.h"

/* OpenAI: 200 MB per input file; Anthropic: 256 MB per create request. */
#define EMU_OPENAI_FILE_MAX 200000000u
#define EMU_ANTHROPIC_BATCH_BYTES_MAX 256000000u
#define EMU_OPENAI_BATCH_LINES_MAX 50000u
#define EMU_ANTHROPIC_BATCH_LINES_MAX 100000u

struct emu_batches;

/* Returns a new table; free with emu_batches_free(). cfg and usage (may be
 * NULL) are borrowed for the table's lifetime. */
struct emu_batches *emu_batches_new(const struct emu_config *cfg, struct emu_usage_log *usage);
void emu_batches_free(struct emu_batches *b);

enum emu_batch_route {
    EMU_BATCH_NONE,      /* not a batch path */
    EMU_BATCH_UPLOAD,    /* POST /v1/files: multipart body */
    EMU_BATCH_OPENAI,    /* /v1/files/…, /v1/batches… */
    EMU_BATCH_ANTHROPIC  /* /v1/messages/batches… */
};
enum emu_batch_route emu_batch_route(const char *method, const char *path);

/* One HTTP call; everything borrowed for the call. */
struct emu_call {
    const char *method, *path;
    const char *body; /* the JSON body, or the uploaded file's bytes; may be NULL */
    size_t len;
    const char *request_id; /* for error bodies */
    const char *base_url;   /* http://host:port, for results_url */
    const char *(*query)(void *ctx, const char *name); /* query argument or NULL */
    void *query_ctx;
    const char *filename, *purpose; /* upload only; NULL when the form lacks them */
};

/* What to send back; body is new (free()). */
struct emu_answer {
    int status;
    char *body;
    size_t len;
    const char *content_type;
};

void emu_batches_openai(struct emu_batches *b, const struct emu_call *c, struct emu_answer *a);
void emu_batches_anthropic(struct emu_batches *b, const struct emu_call *c, struct emu_answer *a);

#endif
