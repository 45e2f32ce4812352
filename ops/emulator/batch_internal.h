/* batch_internal.h — shared between batch.c, batch_openai.c and
 * batch_anthropic.c; not for the server. */
#ifndef EMU_BATCH_INTERNAL_H
#define EMU_BATCH_INTERNAL_H

#include <pthread.h>

#include "batch.h"
#include "wire.h"

struct oa_file;
struct oa_batch;
struct an_batch;

struct emu_batches {
    const struct emu_config *cfg;
    struct emu_usage_log *usage;
    pthread_mutex_t lock; /* guards everything below */
    struct oa_file **files;
    size_t n_files;
    struct oa_batch **oa;
    size_t n_oa;
    struct an_batch **an;
    size_t n_an;
};

/* Each API frees its own objects (batch_openai.c, batch_anthropic.c). */
void emu_batches_free_openai(struct emu_batches *b);
void emu_batches_free_anthropic(struct emu_batches *b);

/* One request of a batch, answered when the batch is created (answers
 * are deterministic, so "when" does not matter; only the clock decides
 * when the caller may see them). */
struct emu_line {
    char *custom_id;
    int status;        /* 200, or the HTTP status the request failed with */
    char *body;        /* the realtime body: success, or the error body */
    char body_id[48];  /* chatcmpl-… / msg_… of a success */
    char request_id[48];
    const char *model; /* borrowed from the config; NULL when unknown */
    struct emu_reply usage; /* token counts of a success */
};

/* Answers one request. params is the line's body (OpenAI) or params
 * (Anthropic); batch_id and custom_id seed the errored-share draw. */
void emu_line_answer(const struct emu_batches *b, enum emu_api api, const char *batch_id, const cJSON *params,
                     struct emu_line *l);
void emu_lines_free(struct emu_line *lines, size_t n);

/* Share of a run done at time now: 0 before start, 1 at end. */
double emu_progress(double start, double end, double now);

/* A random permutation of 0..n-1 (new array): result files are shuffled. */
size_t *emu_shuffled(size_t n);

/* RFC 3339 UTC with seconds ("2026-11-20T10:00:00Z"), or null for t < 0. */
void emu_add_time(cJSON *o, const char *name, double t);
/* Unix seconds, or null for t < 0. */
void emu_add_unix(cJSON *o, const char *name, double t);

/* Renders root (consumed) into an answer. */
void emu_answer_json(struct emu_answer *a, int status, cJSON *root);
void emu_answer_error(struct emu_answer *a, enum emu_api api, enum emu_err e, const char *message,
                      const char *request_id);
/* Takes ownership of body. */
void emu_answer_raw(struct emu_answer *a, int status, char *body, size_t len, const char *content_type);

/* Path after prefix: "" for the prefix itself, the rest after a '/', or
 * NULL when path does not start with prefix. */
const char *emu_path_tail(const char *path, const char *prefix);

/* The integer query argument in [lo, hi], dflt when absent; -1 when bad. */
long emu_query_long(const struct emu_call *c, const char *name, long lo, long hi, long dflt);

#endif
