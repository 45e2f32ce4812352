/* ledger.h — the batched writer of finished jobs, results, cost lines and
 * rejected messages (schema/001_core.sql).
 *
 * A batch is written with one statement per table (each table's rows travel
 * as one JSON parameter read by json_to_recordset), all in one transaction:
 * six round trips whatever the batch size.
 * Idempotent: a job already in `jobs` (redelivery) writes nothing again, and a
 * rejected payload already stored (same SHA-256) writes nothing again.
 * Text must be UTF-8: invalid sequences are stored as U+FFFD rather than
 * failing the batch; metadata_json/data_json that do not parse as JSON are
 * stored as a JSON string holding the text. */
#ifndef SL_LEDGER_H
#define SL_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "pending.h"
#include "sl.h"

/* Rows to write. All strings/bytes are borrowed until ledger_write returns
 * (until the batch is reset or freed, if it may be retried). NULL strings are
 * written as '' for not-null text columns and NULL otherwise. Times are
 * milliseconds since the Unix epoch. Money is in nano-dollars (1e-9 USD). */
/* An LLM label answer kept as tier-0 training data (table traces). */
struct ledger_trace {
    const char *input_norm; /* tier0_feat_normalize()d input */
    const char *label;
    int tier;
    const char *model;
    double confidence;
    bool has_confidence;
};
/* A tier-0 answer re-checked by the LLM (table tier0_shadow). */
struct ledger_shadow {
    int64_t version;
    const char *tier0_label, *llm_label;
};
struct ledger_job {
    const char *job_id, *task, *mode, *feature, *tenant, *cohort, *user_tier;
    int input_chars;
    int64_t deadline_ms; /* 0 none */
    const char *metadata_json; /* NULL none */
    int32_t kafka_partition;   /* < 0: not from Kafka, both stored NULL */
    int64_t kafka_offset;
    int64_t received_ms;
    const struct ledger_trace *trace;   /* NULL: no tier-0 trace */
    const struct ledger_shadow *shadow; /* NULL: not a shadow check */
    const struct pending_handover *pending; /* NULL: not deferred */
    /* The jobs row exists already (the scheduler finishing a deferred
     * job): only the result, cost lines and trace are written, always. */
    bool recorded;
};
struct ledger_result {
    const char *job_id, *status, *source; /* job_id NULL: the job's */
    int tier;                             /* 0 none */
    const char *provider, *model, *label, *data_json, *text_output;
    double confidence;
    bool has_confidence;
    int attempts;
    const char *error;
};
struct ledger_cost_line {
    const char *job_id; /* NULL: the job's */
    int attempt, tier;  /* attempt unique within a job, from 1 */
    const char *provider, *model, *mode;
    int64_t tokens_in, tokens_cached_in, tokens_cache_write, tokens_out,
        cost_nanousd, baseline_nanousd;
    int64_t tokens_cache_write_1h; /* of tokens_cache_write, 1-hour TTL */
    int latency_ms;
    const char *outcome, *reason, *task, *feature, *tenant, *cohort,
        *provider_request_id;
    const char *client_request_id; /* the id sent with the call; NULL none */
    /* When the job run writing the line began (ms since the epoch): its UTC
     * month is the line's partition (cost_lines.ledger_month), the same for
     * the line written before a call and the one that replaces it. 0: now
     * (a line that replaces nothing). */
    int64_t filed_ms;
};
struct ledger_rejected {
    const char *job_id /* may be NULL */, *reason_code, *reason, *kafka_topic;
    int32_t kafka_partition; /* < 0: not from Kafka, both stored NULL */
    int64_t kafka_offset;
    const void *payload;
    size_t payload_len;
};

/* A batch: a growable set of entries; a job entry carries its result and
 * cost lines. */
struct ledger_batch;

/* Returns a new empty batch; free with ledger_batch_free. */
struct ledger_batch *ledger_batch_new(void);
void ledger_batch_reset(struct ledger_batch *b); /* empties, keeps capacity */
void ledger_batch_free(struct ledger_batch *b);  /* NULL is a no-op */
size_t ledger_batch_jobs(const struct ledger_batch *b);
size_t ledger_batch_rejected(const struct ledger_batch *b);

/* Adds one finished job. The structs are copied (shallow: lines[0..n_lines)
 * included); every string and byte they point to is borrowed until the
 * write. result may be NULL (no results row). Returns the entry index. */
size_t ledger_batch_add_job(struct ledger_batch *b, const struct ledger_job *job,
                            const struct ledger_result *result,
                            const struct ledger_cost_line *lines,
                            size_t n_lines);
/* Adds one rejected message; copied shallow like ledger_batch_add_job. */
void ledger_batch_add_rejected(struct ledger_batch *b,
                               const struct ledger_rejected *r);

/* Writes the whole batch in ONE transaction: jobs INSERT ... ON CONFLICT
 * (job_id) DO NOTHING; results and cost lines only for the jobs inserted now
 * (cost lines ON CONFLICT DO NOTHING: a line whose (job_id, attempt) or
 * client_request_id is already stored is not written again)
 * (a redelivered job writes nothing twice; of two entries with one job_id in
 * a batch only the first counts); rejected rows ON CONFLICT (payload_sha256)
 * DO NOTHING. On success returns 0 and, if fresh != NULL (room for
 * ledger_batch_jobs(b) entries), fresh[i] tells whether job entry i was
 * newly inserted. On failure rolls back and returns SL_EDB with errstr
 * (SQLSTATE first); the caller may retry the same batch, calling
 * db_ensure_connected first. */
int ledger_write(struct db *db, const struct ledger_batch *b, bool *fresh,
                 char *errstr, size_t errstr_size) SL_MUSTCHECK;
/* The same statements inside the caller's open transaction (no BEGIN,
 * COMMIT or ROLLBACK), so that they commit with the caller's own. */
int ledger_write_in_tx(struct db *db, const struct ledger_batch *b,
                       bool *fresh, char *errstr,
                       size_t errstr_size) SL_MUSTCHECK;

/* Writes, in one autocommitted statement, the intent lines of calls about
 * to be sent (outcome "unconfirmed", reason "in_flight"): each stays the
 * call's line unless a later line of the same (job_id, attempt) replaces it
 * (an intent replaces an intent: a retried call that was never billed).
 * Returns 0 or SL_EDB. */
int ledger_write_intents(struct db *db, const struct ledger_cost_line *lines,
                         size_t n, char *errstr, size_t errstr_size) SL_MUSTCHECK;

/* Looks up which of ids[0..n) already have a jobs row (one query).
 * known[i] set accordingly. Returns 0 or SL_EDB. */
int ledger_jobs_known(struct db *db, const char *const *ids, size_t n,
                      bool *known, char *errstr,
                      size_t errstr_size) SL_MUSTCHECK;

/* cost_lines is partitioned by month (schema/014_partitioned_ledger.sql):
 * a line whose month has no table cannot be written. Workers and the
 * scheduler create this month's and the next LEDGER_MONTHS_AHEAD months'
 * tables at start and every LEDGER_MONTHS_CHECK_MS, so a month's table
 * exists long before its first line, whichever process runs. */
#define LEDGER_MONTHS_AHEAD 3
#define LEDGER_MONTHS_CHECK_MS (3600 * 1000)

/* Creates the missing month tables; *created (may be NULL) gets how many.
 * Returns 0 or SL_EDB (also when a lock was not had within 2 s). */
int ledger_partitions_ahead(struct db *db, int *created, char *errstr,
                            size_t errstr_size) SL_MUSTCHECK;

/* Drops the month tables older than the last keep_months months (>= 1;
 * this month and the last are always kept), logging each; the daily
 * rollup keeps their sums. *dropped (may be NULL) gets how many. Returns 0
 * or SL_EDB (also when a lock was not had within 2 s: try again later). */
int ledger_retain_months(struct db *db, int keep_months, int *dropped,
                         char *errstr, size_t errstr_size) SL_MUSTCHECK;

#endif
