/* pending.h — the pending table's row (schema/005_scheduler.sql): an
 * async/offpeak job a worker handed to the scheduler. Written by the
 * worker's ledger (pending_insert_sql, pending_row_json) and read by the
 * scheduler (PENDING_COLUMNS, pending_row_read), so its shape is defined
 * here once.
 *
 * Ownership: pending_row_json returns a new cJSON object (the caller adds
 * it to an array or deletes it); a struct pending_row borrows its strings
 * from the PGresult it was read from and its task from the config. */
#ifndef SL_PENDING_H
#define SL_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "config.h"

/* What the worker hands over, besides the job's attribution. */
struct pending_handover {
    const int *ladder; /* the route plan's tier numbers, n_ladder of them */
    size_t n_ladder;
    int tier;          /* ladder[0]: the first tier the batch goes to */
    const char *provider, *model, *input;
    size_t input_len;
};

/* The job's attribution columns (borrowed). */
struct pending_job {
    const char *job_id, *task, *mode, *feature, *tenant, *cohort;
    int64_t deadline_ms; /* 0: none */
};

/* INSERT of the rows of pending_row_json(), given as a JSON array in $1. */
extern const char pending_insert_sql[];

/* One row for pending_insert_sql. */
cJSON *pending_row_json(const struct pending_job *j,
                        const struct pending_handover *h);

/* A pending row as the scheduler reads it. */
struct pending_row {
    int64_t id;
    const char *job_id, *task_name, *mode, *input, *feature, *tenant, *cohort;
    const struct task_conf *task; /* NULL: the task left the config */
    int ladder[CONFIG_MAX_TIERS];
    size_t n_ladder, step;
    int attempt, lines, retries;
    int64_t deadline_ms;          /* 0: none */
};

/* The columns pending_row_read expects, in order, for SELECTs from pending
 * aliased p (more columns may follow them). */
#define PENDING_COLUMNS                                                       \
    "p.id, p.job_id, p.task, p.mode, p.input, p.feature, p.tenant,"           \
    " p.cohort, p.ladder, p.step, p.attempt, p.lines, p.retries,"             \
    " COALESCE((extract(epoch FROM p.deadline) * 1000)::bigint, 0)"

/* Reads row r of res (selected with PENDING_COLUMNS first); the task is
 * looked up in cfg. */
void pending_row_read(const struct config *cfg, const PGresult *res, int r,
                      struct pending_row *out);

/* The tier the row is at now, or NULL when it left the ladder or config. */
const struct tier_conf *pending_row_tier(const struct config *cfg,
                                         const struct pending_row *row);

#endif
