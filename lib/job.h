/* job.h — a job message: parsing and validation.
 *
 * The contract is schema/job.schema.json:
 *   {"id": str (1..200 chars), "task": str (a task in config),
 *    "input": str (valid UTF-8, <= worker.max_input_bytes),
 *    "mode": "interactive"|"async"|"offpeak" (default interactive),
 *    "feature": str, "tenant": str, "cohort": str, "user_tier": str (all
 *    optional, default ""), "deadline": RFC 3339 str (optional),
 *    "metadata": object (optional, kept as JSON)}
 * Unknown extra fields are ignored.
 *
 * Ownership: job_parse() returns a new struct job; free with job_free().
 * The job borrows its task from the config, which must outlive it. */
#ifndef SL_JOB_H
#define SL_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "utf8.h"

/* Why a message was rejected; JOB_OK when it was not. */
enum job_reject {
    JOB_OK = 0,
    JOB_MALFORMED_JSON,
    JOB_NOT_OBJECT,
    JOB_MISSING_FIELD,
    JOB_WRONG_TYPE,
    JOB_UNKNOWN_TASK,
    JOB_INVALID_UTF8,
    JOB_OVERSIZE,
    JOB_BAD_VALUE
};

struct job {
    char *id;
    const struct task_conf *task; /* borrowed from config */
    char *input;
    size_t input_len;
    enum job_mode mode;
    char *feature;
    char *tenant;
    char *cohort;
    char *user_tier;
    int64_t deadline_ms; /* unix ms; 0 = none */
    char *metadata_json; /* compact JSON or NULL */
};

/* Parses and validates one message. Returns JOB_OK and *out, or the reject
 * code with a one-line reason in reason (e.g. "missing field: input"); the
 * reason never contains the payload. */
enum job_reject job_parse(const struct config *cfg, const char *buf,
                          size_t len, struct job **out, char *reason,
                          size_t reason_size) SL_MUSTCHECK;
void job_free(struct job *job);

/* Stable machine name of a reject code, e.g. "missing_field". */
const char *job_reject_name(enum job_reject code);

#endif
