/* tier0_store.h — tier-0 traces and models in PostgreSQL (schema
 * 002_tier0.sql), and the served form of a model.
 *
 * Calls are blocking (libpq synchronous, through struct db); a process that
 * must not block its loop runs them elsewhere. Errors: 0 or a negative SL_E*
 * code with detail in errstr. */
#ifndef SL_TIER0_STORE_H
#define SL_TIER0_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "sl.h"
#include "tier0_certify.h"
#include "tier0_model.h"

/* One accepted LLM answer of a label task. Borrowed strings; model may be
 * NULL, tier 0 and confidence < 0 mean unknown. */
struct tier0_trace {
    const char *task;
    const char *input; /* raw job input; stored normalised */
    const char *label;
    int tier;
    const char *model;
    double confidence;
};

int tier0_store_add_trace(struct db *db, const struct tier0_trace *t,
                          char *errstr, size_t errstr_size) SL_MUSTCHECK;

/* The newest `limit` traces of a task (normalised text and label). */
struct tier0_trace_set {
    size_t n;
    char **texts;  /* owned */
    char **labels; /* owned */
};

int tier0_store_load_traces(struct db *db, const char *task, size_t limit,
                            struct tier0_trace_set *out, char *errstr,
                            size_t errstr_size) SL_MUSTCHECK;
void tier0_trace_set_clear(struct tier0_trace_set *s);

/* Retention: deletes the task's traces created before older_than_ms (Unix
 * epoch milliseconds), at most `batch` rows per statement (each its own
 * short transaction, so a large backlog never holds long locks), until none
 * is left. *deleted (may be NULL) gets the count. Returns 0 or SL_EDB; rows
 * deleted before an error stay deleted. */
int tier0_store_prune_traces(struct db *db, const char *task,
                             int64_t older_than_ms, size_t batch,
                             uint64_t *deleted, char *errstr,
                             size_t errstr_size) SL_MUSTCHECK;

/* Stores m with its certification as the task's next version (1 for the
 * first). *version may be NULL. Two concurrent saves of one task: one fails
 * with SL_EDB (23505). */
int tier0_store_save(struct db *db, const char *task,
                     const struct tier0_model *m, const struct tier0_cert *c,
                     int64_t *version, char *errstr,
                     size_t errstr_size) SL_MUSTCHECK;

/* What a worker serves for one task: a model and its certified answer set.
 * Read-only once loaded, so threads may share it. */
struct tier0_served {
    char *task;
    int64_t version;
    struct tier0_model *model;
    struct tier0_cert cert; /* thresholds and certified flags only */
};

/* Loads the model a task serves: its newest version that certified at least
 * one label. A retraining that certifies nothing (too few new traces, an
 * unlucky split) is stored for the record but does not displace a
 * certified model; withdrawals of the served version still apply. Returns
 * 0 and a new served (free with tier0_served_free), SL_ENOTFOUND when the
 * task has no certified version, SL_EDB or SL_EINVAL (a stored model that
 * does not parse). */
int tier0_store_load_serving(struct db *db, const char *task,
                            struct tier0_served **out, char *errstr,
                            size_t errstr_size) SL_MUSTCHECK;

/* The version tier0_store_load_serving would load, 0 when none: a cheap
 * check for hot reload (reload when it exceeds the served version). */
int tier0_store_serving_version(struct db *db, const char *task,
                               int64_t *version, char *errstr,
                               size_t errstr_size) SL_MUSTCHECK;

void tier0_served_free(struct tier0_served *s);

/* Predicts raw text and says whether tier 0 may answer it: true when the
 * prediction is in the certified answer set. *label (model label name,
 * borrowed from s) and *score are set either way. */
bool tier0_served_decide(const struct tier0_served *s, const char *text,
                         const char **label, double *score);

#endif
