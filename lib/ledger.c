#include "ledger.h"
#include "log.h"
#include "utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

struct ledger_entry {
    struct ledger_job job;
    struct ledger_result result;
    bool has_result;
    size_t first_line, n_lines; /* into ledger_batch.lines */
};

struct ledger_batch {
    struct ledger_entry *jobs;
    size_t n_jobs, cap_jobs;
    struct ledger_cost_line *lines;
    size_t n_lines, cap_lines;
    struct ledger_rejected *rejected;
    size_t n_rejected, cap_rejected;
};

/* Each statement reads its rows from one JSON array parameter, so a batch
 * costs one round trip per table however many rows it holds, and no value is
 * ever spliced into SQL text. The parameter is json, not jsonb: json is
 * scanned once by json_to_recordset, while building a jsonb of a 500-job
 * batch costs more than inserting its rows. The explicit column lists are
 * faster than json_populate_recordset. */

/* DISTINCT ON keeps the first entry of a job id repeated within the batch;
 * inserting in job_id order makes concurrent writers of overlapping batches
 * take their row locks in one order, so they wait rather than deadlock.
 * Returns the entry index ("e") of every job inserted now. */
static const char SQL_JOBS[] =
    "WITH src AS ("
    " SELECT DISTINCT ON (r.job_id) r.*"
    " FROM json_to_recordset($1::json) AS r(e int, job_id text, task text,"
    "  mode text, feature text, tenant text, cohort text, user_tier text,"
    "  input_chars int, deadline_ms bigint, metadata jsonb,"
    "  kafka_partition int, kafka_offset bigint, received_ms bigint)"
    " ORDER BY r.job_id, r.e),"
    " ins AS ("
    " INSERT INTO jobs (job_id, task, mode, feature, tenant, cohort,"
    "  user_tier, input_chars, deadline, metadata, kafka_partition,"
    "  kafka_offset, received_at)"
    " SELECT job_id, task, mode, feature, tenant, cohort, user_tier,"
    "  input_chars, 'epoch'::timestamptz + deadline_ms * interval '1 ms',"
    "  metadata, kafka_partition, kafka_offset,"
    "  'epoch'::timestamptz + received_ms * interval '1 ms'"
    " FROM src ORDER BY job_id"
    " ON CONFLICT (job_id) DO NOTHING RETURNING job_id)"
    " SELECT src.e FROM src JOIN ins USING (job_id)";

static const char SQL_RESULTS[] =
    "INSERT INTO results (job_id, status, source, tier, provider, model,"
    " label, data, text_output, confidence, attempts, error)"
    " SELECT * FROM json_to_recordset($1::json) AS r(job_id text,"
    "  status text, source text, tier int, provider text, model text,"
    "  label text, data jsonb, text_output text, confidence float8,"
    "  attempts int, error text)";

/* A line replaces the intent line written before its call was sent
 * (reason in_flight, ledger_write_intents), and nothing else: a line stored
 * once is never stored twice. created_at becomes the time the outcome is
 * written, as for a line with no intent before it, so that a line's time
 * is when its cost became known (budgets and daily totals read it so).
 * ledger_month, the partition, is fixed before the call leaves: the UTC
 * month of filed_ms, else of now (schema/014_partitioned_ledger.sql). */
#define COST_LINES_UPSERT                                                    \
    " ON CONFLICT (job_id, attempt, ledger_month)"                           \
    "  DO UPDATE SET tier = EXCLUDED.tier,"                                  \
    "  created_at = EXCLUDED.created_at,"                                    \
    "  provider = EXCLUDED.provider, model = EXCLUDED.model,"                \
    "  mode = EXCLUDED.mode, tokens_in = EXCLUDED.tokens_in,"                \
    "  tokens_cached_in = EXCLUDED.tokens_cached_in,"                        \
    "  tokens_cache_write = EXCLUDED.tokens_cache_write,"                    \
    "  tokens_out = EXCLUDED.tokens_out,"                                    \
    "  cost_nanousd = EXCLUDED.cost_nanousd,"                                \
    "  baseline_nanousd = EXCLUDED.baseline_nanousd,"                        \
    "  latency_ms = EXCLUDED.latency_ms, outcome = EXCLUDED.outcome,"        \
    "  reason = EXCLUDED.reason,"                                            \
    "  provider_request_id = EXCLUDED.provider_request_id,"                  \
    "  client_request_id = EXCLUDED.client_request_id,"                      \
    "  tokens_cache_write_1h = EXCLUDED.tokens_cache_write_1h"               \
    " WHERE cost_lines.outcome = 'unconfirmed'"                              \
    "  AND cost_lines.reason = 'in_flight'"

static const char SQL_COST_LINES[] =
    "INSERT INTO cost_lines (job_id, attempt, tier, provider, model, mode,"
    " tokens_in, tokens_cached_in, tokens_cache_write, tokens_out,"
    " cost_nanousd, baseline_nanousd, latency_ms, outcome, reason, task,"
    " feature, tenant, cohort, provider_request_id, client_request_id,"
    " tokens_cache_write_1h, ledger_month)"
    /* One row per key: an upsert may not touch a row twice. */
    " SELECT DISTINCT ON (r.job_id, r.attempt) r.job_id, r.attempt, r.tier,"
    "  r.provider, r.model, r.mode, r.tokens_in, r.tokens_cached_in,"
    "  r.tokens_cache_write, r.tokens_out, r.cost_nanousd,"
    "  r.baseline_nanousd, r.latency_ms, r.outcome, r.reason, r.task,"
    "  r.feature, r.tenant, r.cohort, r.provider_request_id,"
    "  r.client_request_id, r.tokens_cache_write_1h,"
    "  date_trunc('month', coalesce("
    "   'epoch'::timestamptz + nullif(r.filed_ms, 0) * interval '1 ms',"
    "   now()) AT TIME ZONE 'UTC')::date"
    " FROM json_to_recordset($1::json) AS r(job_id text,"
    "  attempt int, tier int, provider text, model text, mode text,"
    "  tokens_in bigint, tokens_cached_in bigint, tokens_cache_write bigint,"
    "  tokens_out bigint, cost_nanousd bigint, baseline_nanousd bigint,"
    "  latency_ms int, outcome text, reason text, task text, feature text,"
    "  tenant text, cohort text, provider_request_id text,"
    "  client_request_id text, tokens_cache_write_1h bigint, filed_ms bigint)"
    COST_LINES_UPSERT;

static const char SQL_TRACES[] =
    "INSERT INTO traces (task, input_norm, label, tier, model, confidence)"
    " SELECT * FROM json_to_recordset($1::json) AS r(task text,"
    "  input_norm text, label text, tier int, model text, confidence float8)";

static const char SQL_SHADOW[] =
    "INSERT INTO tier0_shadow (job_id, task, version, tier0_label, llm_label,"
    " agreed, cohort)"
    " SELECT r.job_id, r.task, r.version, r.tier0_label, r.llm_label,"
    "  r.tier0_label = r.llm_label, r.cohort"
    " FROM json_to_recordset($1::json) AS r(job_id text, task text,"
    "  version bigint, tier0_label text, llm_label text, cohort text)";

static const char SQL_REJECTED[] =
    "INSERT INTO rejected (payload_sha256, job_id, reason_code, reason,"
    " kafka_topic, kafka_partition, kafka_offset, payload)"
    " SELECT decode(r.sha256, 'hex'), r.job_id, r.reason_code, r.reason,"
    "  r.kafka_topic, r.kafka_partition, r.kafka_offset,"
    "  decode(r.payload, 'hex')"
    " FROM json_to_recordset($1::json) AS r(sha256 text, job_id text,"
    "  reason_code text, reason text, kafka_topic text, kafka_partition int,"
    "  kafka_offset bigint, payload text)"
    " ORDER BY r.sha256"
    " ON CONFLICT (payload_sha256) DO NOTHING";

static const char SQL_KNOWN[] =
    "SELECT a.i FROM json_array_elements_text($1::json)"
    " WITH ORDINALITY AS a(id, i)"
    " WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = a.id)";

/* ---- the batch ---- */

struct ledger_batch *ledger_batch_new(void)
{
    return xcalloc(1, sizeof(struct ledger_batch));
}

void ledger_batch_reset(struct ledger_batch *b)
{
    b->n_jobs = b->n_lines = b->n_rejected = 0;
}

void ledger_batch_free(struct ledger_batch *b)
{
    if (!b)
        return;
    free(b->jobs);
    free(b->lines);
    free(b->rejected);
    free(b);
}

size_t ledger_batch_jobs(const struct ledger_batch *b)
{
    return b->n_jobs;
}

size_t ledger_batch_rejected(const struct ledger_batch *b)
{
    return b->n_rejected;
}

/* Makes room for `more` elements of `size` bytes in *arr (count n). */
static void grow(void **arr, size_t *cap, size_t n, size_t more, size_t size)
{
    if (n + more <= *cap)
        return;
    size_t c = *cap ? *cap : 16;
    while (c < n + more)
        c *= 2;
    *arr = xrealloc(*arr, c * size);
    *cap = c;
}

size_t ledger_batch_add_job(struct ledger_batch *b, const struct ledger_job *job,
                            const struct ledger_result *result,
                            const struct ledger_cost_line *lines,
                            size_t n_lines)
{
    grow((void **)&b->jobs, &b->cap_jobs, b->n_jobs, 1, sizeof *b->jobs);
    grow((void **)&b->lines, &b->cap_lines, b->n_lines, n_lines,
         sizeof *b->lines);
    struct ledger_entry *e = &b->jobs[b->n_jobs];
    memset(e, 0, sizeof *e);
    e->job = *job;
    if (result) {
        e->result = *result;
        e->has_result = true;
    }
    e->first_line = b->n_lines;
    e->n_lines = n_lines;
    if (n_lines)
        memcpy(&b->lines[b->n_lines], lines, n_lines * sizeof *lines);
    b->n_lines += n_lines;
    return b->n_jobs++;
}

void ledger_batch_add_rejected(struct ledger_batch *b,
                               const struct ledger_rejected *r)
{
    grow((void **)&b->rejected, &b->cap_rejected, b->n_rejected, 1,
         sizeof *b->rejected);
    b->rejected[b->n_rejected++] = *r;
}

/* ---- JSON rows ---- */

/* Keys are string constants: the CS variant does not copy them. */
static void put(cJSON *obj, const char *key, cJSON *item)
{
    cJSON_AddItemToObjectCS(obj, key, item);
}

/* For NOT NULL text columns: NULL becomes ''. */
static void put_text(cJSON *obj, const char *key, const char *s)
{
    put(obj, key, cJSON_CreateString(s ? s : ""));
}

static void put_text_or_null(cJSON *obj, const char *key, const char *s)
{
    put(obj, key, s ? cJSON_CreateString(s) : cJSON_CreateNull());
}

/* cJSON numbers are doubles; a raw literal keeps every int64 exact. */
static void put_int(cJSON *obj, const char *key, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    put(obj, key, cJSON_CreateRaw(buf));
}

/* A JSON document stays a document; text that does not parse is kept as a
 * JSON string so that one bad value cannot fail the whole batch. Parsing and
 * reprinting also drops what PostgreSQL's jsonb would refuse (\u0000). */
static void put_json(cJSON *obj, const char *key, const char *text)
{
    if (!text) {
        put(obj, key, cJSON_CreateNull());
        return;
    }
    cJSON *doc = cJSON_ParseWithOpts(text, NULL, 1);
    put(obj, key, doc ? doc : cJSON_CreateString(text));
}

static void put_hex(cJSON *obj, const char *key, const unsigned char *p,
                    size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *hex = xmalloc(2 * len + 1);
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[p[i] >> 4];
        hex[2 * i + 1] = digits[p[i] & 15];
    }
    hex[2 * len] = '\0';
    put(obj, key, cJSON_CreateString(hex));
    free(hex);
}

static void put_kafka(cJSON *o, int32_t partition, int64_t offset)
{
    if (partition < 0) {
        put(o, "kafka_partition", cJSON_CreateNull());
        put(o, "kafka_offset", cJSON_CreateNull());
        return;
    }
    put_int(o, "kafka_partition", partition);
    put_int(o, "kafka_offset", offset);
}

static cJSON *job_row(const struct ledger_job *j, size_t e)
{
    cJSON *o = cJSON_CreateObject();
    put_int(o, "e", (int64_t)e);
    put_text(o, "job_id", j->job_id);
    put_text(o, "task", j->task);
    put_text(o, "mode", j->mode);
    put_text(o, "feature", j->feature);
    put_text(o, "tenant", j->tenant);
    put_text(o, "cohort", j->cohort);
    put_text(o, "user_tier", j->user_tier);
    put_int(o, "input_chars", j->input_chars);
    if (j->deadline_ms)
        put_int(o, "deadline_ms", j->deadline_ms);
    else
        put(o, "deadline_ms", cJSON_CreateNull());
    put_json(o, "metadata", j->metadata_json);
    put_kafka(o, j->kafka_partition, j->kafka_offset);
    put_int(o, "received_ms", j->received_ms);
    return o;
}

static cJSON *result_row(const struct ledger_result *r, const char *job_id)
{
    cJSON *o = cJSON_CreateObject();
    put_text(o, "job_id", r->job_id ? r->job_id : job_id);
    put_text(o, "status", r->status);
    put_text(o, "source", r->source);
    if (r->tier)
        put_int(o, "tier", r->tier);
    else
        put(o, "tier", cJSON_CreateNull());
    put_text_or_null(o, "provider", r->provider);
    put_text_or_null(o, "model", r->model);
    put_text_or_null(o, "label", r->label);
    put_json(o, "data", r->data_json);
    put_text_or_null(o, "text_output", r->text_output);
    /* cJSON prints NaN and infinities as null, which jsonb accepts. */
    put(o, "confidence", r->has_confidence ? cJSON_CreateNumber(r->confidence)
                                           : cJSON_CreateNull());
    put_int(o, "attempts", r->attempts);
    put_text_or_null(o, "error", r->error);
    return o;
}

static cJSON *cost_row(const struct ledger_cost_line *c, const char *job_id)
{
    cJSON *o = cJSON_CreateObject();
    put_text(o, "job_id", c->job_id ? c->job_id : job_id);
    put_int(o, "attempt", c->attempt);
    put_int(o, "tier", c->tier);
    put_text(o, "provider", c->provider);
    put_text(o, "model", c->model);
    put_text(o, "mode", c->mode);
    put_int(o, "tokens_in", c->tokens_in);
    put_int(o, "tokens_cached_in", c->tokens_cached_in);
    put_int(o, "tokens_cache_write", c->tokens_cache_write);
    put_int(o, "tokens_out", c->tokens_out);
    put_int(o, "tokens_cache_write_1h", c->tokens_cache_write_1h);
    put_int(o, "cost_nanousd", c->cost_nanousd);
    put_int(o, "baseline_nanousd", c->baseline_nanousd);
    put_int(o, "latency_ms", c->latency_ms);
    put_text(o, "outcome", c->outcome);
    put_text_or_null(o, "reason", c->reason);
    put_text(o, "task", c->task);
    put_text(o, "feature", c->feature);
    put_text(o, "tenant", c->tenant);
    put_text(o, "cohort", c->cohort);
    put_text_or_null(o, "provider_request_id", c->provider_request_id);
    put_text_or_null(o, "client_request_id", c->client_request_id);
    if (c->filed_ms > 0)
        put_int(o, "filed_ms", c->filed_ms);
    return o;
}

static cJSON *rejected_row(const struct ledger_rejected *r)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    static const unsigned char empty[1];
    const void *payload = r->payload ? r->payload : empty;
    size_t len = r->payload ? r->payload_len : 0;
    /* EVP_Digest only fails on allocation failure; abort like xmalloc. */
    if (!EVP_Digest(payload, len, md, &md_len, EVP_sha256(), NULL))
        abort();
    cJSON *o = cJSON_CreateObject();
    put_hex(o, "sha256", md, md_len);
    put_text_or_null(o, "job_id", r->job_id);
    put_text(o, "reason_code", r->reason_code);
    put_text(o, "reason", r->reason);
    put_text_or_null(o, "kafka_topic", r->kafka_topic);
    put_kafka(o, r->kafka_partition, r->kafka_offset);
    put_hex(o, "payload", payload, len);
    return o;
}

/* ---- UTF-8 ---- */


/* PostgreSQL refuses a parameter with invalid UTF-8, which would fail the
 * batch on every retry. cJSON copies string bytes verbatim and emits only
 * ASCII around them, so replacing each bad byte with U+FFFD keeps the JSON
 * well-formed. Returns NULL when s is valid, else a new string to free. */
static char *utf8_sanitize(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, k;
    while (i < len && (k = utf8_seq_len(p + i, len - i)) != 0)
        i += k;
    if (i == len)
        return NULL;
    char *out = xmalloc(3 * len + 1);
    size_t o = 0;
    for (i = 0; i < len; i += k ? k : 1) {
        k = utf8_seq_len(p + i, len - i);
        if (k) {
            memcpy(out + o, p + i, k);
            o += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- statements ---- */

/* Runs sql with rows as its $1; frees rows. Returns the result (the caller
 * clears it) or NULL with errstr set. */
static PGresult *exec_rows(struct db *db, const char *sql, cJSON *rows,
                           const char *what, char *errstr, size_t errstr_size)
{
    char *json = cJSON_PrintUnformatted(rows);
    cJSON_Delete(rows);
    if (!json)
        abort(); /* cJSON's only failure is allocation */
    char *clean = utf8_sanitize(json);
    const char *params[1] = {clean ? clean : json};
    PGresult *res = db_query(db, what, sql, 1, params, errstr, errstr_size);
    cJSON_free(json);
    free(clean);
    return res;
}

/* Inserts the jobs and marks fresh[e] for each one inserted now. */
static int write_jobs(struct db *db, const struct ledger_batch *b, bool *fresh,
                     char *errstr, size_t errstr_size)
{
    cJSON *rows = cJSON_CreateArray();
    for (size_t i = 0; i < b->n_jobs; i++) {
        if (b->jobs[i].job.recorded)
            fresh[i] = true;
        else
            cJSON_AddItemToArray(rows, job_row(&b->jobs[i].job, i));
    }
    if (cJSON_GetArraySize(rows) == 0) {
        cJSON_Delete(rows);
        return 0;
    }
    PGresult *res = exec_rows(db, SQL_JOBS, rows, "jobs",
                              errstr, errstr_size);
    if (!res)
        return SL_EDB;
    for (int r = 0; r < PQntuples(res); r++) {
        size_t e = strtoul(PQgetvalue(res, r, 0), NULL, 10);
        if (e < b->n_jobs)
            fresh[e] = true;
    }
    PQclear(res);
    return 0;
}

static cJSON *trace_row(const struct ledger_job *j)
{
    const struct ledger_trace *t = j->trace;
    cJSON *o = cJSON_CreateObject();
    put_text(o, "task", j->task);
    put_text(o, "input_norm", t->input_norm);
    put_text(o, "label", t->label);
    if (t->tier > 0)
        put_int(o, "tier", t->tier);
    put_text_or_null(o, "model", t->model);
    if (t->has_confidence)
        put(o, "confidence", cJSON_CreateNumber(t->confidence));
    return o;
}

static cJSON *shadow_row(const struct ledger_job *j)
{
    const struct ledger_shadow *s = j->shadow;
    cJSON *o = cJSON_CreateObject();
    put_text(o, "job_id", j->job_id);
    put_text(o, "task", j->task);
    put_int(o, "version", s->version);
    put_text(o, "tier0_label", s->tier0_label);
    put_text(o, "llm_label", s->llm_label);
    put_text(o, "cohort", j->cohort);
    return o;
}

/* Results, cost lines, traces, shadow checks and pending rows of the fresh
 * entries only. */
static int write_details(struct db *db, const struct ledger_batch *b,
                         const bool *fresh, char *errstr, size_t errstr_size)
{
    struct {
        const char *sql, *what;
        cJSON *rows;
    } tables[] = {{SQL_RESULTS, "results", cJSON_CreateArray()},
                  {SQL_COST_LINES, "cost_lines", cJSON_CreateArray()},
                  {SQL_TRACES, "traces", cJSON_CreateArray()},
                  {SQL_SHADOW, "tier0_shadow", cJSON_CreateArray()},
                  {pending_insert_sql, "pending", cJSON_CreateArray()}};
    for (size_t i = 0; i < b->n_jobs; i++) {
        const struct ledger_entry *e = &b->jobs[i];
        if (!fresh[i])
            continue;
        if (e->has_result)
            cJSON_AddItemToArray(tables[0].rows,
                                 result_row(&e->result, e->job.job_id));
        for (size_t k = 0; k < e->n_lines; k++)
            cJSON_AddItemToArray(tables[1].rows,
                                 cost_row(&b->lines[e->first_line + k],
                                          e->job.job_id));
        if (e->job.trace)
            cJSON_AddItemToArray(tables[2].rows, trace_row(&e->job));
        if (e->job.shadow)
            cJSON_AddItemToArray(tables[3].rows, shadow_row(&e->job));
        if (e->job.pending)
            cJSON_AddItemToArray(tables[4].rows, pending_row_json(
                &(struct pending_job){e->job.job_id, e->job.task, e->job.mode,
                                      e->job.feature, e->job.tenant,
                                      e->job.cohort, e->job.deadline_ms},
                e->job.pending));
    }
    int rc = 0;
    for (size_t t = 0; t < SL_ARRAY_LEN(tables); t++) {
        if (rc != 0 || cJSON_GetArraySize(tables[t].rows) == 0) {
            cJSON_Delete(tables[t].rows);
            continue;
        }
        /* exec_rows takes the rows. */
        PGresult *res = exec_rows(db, tables[t].sql, tables[t].rows,
                                  tables[t].what, errstr, errstr_size);
        if (!res)
            rc = SL_EDB;
        PQclear(res);
    }
    return rc;
}

static int write_rejected(struct db *db, const struct ledger_batch *b,
                          char *errstr, size_t errstr_size)
{
    cJSON *rows = cJSON_CreateArray();
    for (size_t i = 0; i < b->n_rejected; i++)
        cJSON_AddItemToArray(rows, rejected_row(&b->rejected[i]));
    PGresult *res = exec_rows(db, SQL_REJECTED, rows, "rejected", errstr,
                              errstr_size);
    if (!res)
        return SL_EDB;
    PQclear(res);
    return 0;
}

int ledger_write(struct db *db, const struct ledger_batch *b, bool *fresh,
                 char *errstr, size_t errstr_size)
{
    if (b->n_jobs == 0 && b->n_rejected == 0)
        return 0;
    int rc = db_begin(db, errstr, errstr_size);
    if (rc == 0)
        rc = ledger_write_in_tx(db, b, fresh, errstr, errstr_size);
    if (rc == 0)
        rc = db_commit(db, errstr, errstr_size);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

int ledger_write_in_tx(struct db *db, const struct ledger_batch *b,
                       bool *fresh, char *errstr, size_t errstr_size)
{
    bool *marks = xcalloc(b->n_jobs ? b->n_jobs : 1, sizeof *marks);
    int rc = 0;
    if (b->n_jobs > 0)
        rc = write_jobs(db, b, marks, errstr, errstr_size);
    if (rc == 0 && b->n_jobs > 0)
        rc = write_details(db, b, marks, errstr, errstr_size);
    if (rc == 0 && b->n_rejected > 0)
        rc = write_rejected(db, b, errstr, errstr_size);
    if (rc == 0 && fresh)
        memcpy(fresh, marks, b->n_jobs * sizeof *fresh);
    free(marks);
    return rc;
}

int ledger_write_intents(struct db *db, const struct ledger_cost_line *lines,
                         size_t n, char *errstr, size_t errstr_size)
{
    if (n == 0)
        return 0;
    cJSON *rows = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(rows, cost_row(&lines[i], lines[i].job_id));
    PGresult *res = exec_rows(db, SQL_COST_LINES, rows, "intent lines", errstr,
                              errstr_size);
    if (!res)
        return SL_EDB;
    PQclear(res);
    return 0;
}

int ledger_jobs_known(struct db *db, const char *const *ids, size_t n,
                      bool *known, char *errstr, size_t errstr_size)
{
    if (n == 0)
        return 0;
    memset(known, 0, n * sizeof *known);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i] ? ids[i] : ""));
    PGresult *res = exec_rows(db, SQL_KNOWN, arr, "jobs known", errstr,
                              errstr_size);
    if (!res)
        return SL_EDB;
    for (int r = 0; r < PQntuples(res); r++) {
        size_t i = strtoul(PQgetvalue(res, r, 0), NULL, 10);
        if (i >= 1 && i <= n)
            known[i - 1] = true;
    }
    PQclear(res);
    return 0;
}

int ledger_partitions_ahead(struct db *db, int *created, char *errstr,
                            size_t errstr_size)
{
    char ahead[16];
    snprintf(ahead, sizeof(ahead), "%d", LEDGER_MONTHS_AHEAD);
    const char *params[] = {ahead};
    PGresult *res = db_query(db, "ledger partitions",
                             "SELECT sluice_ledger_partitions_ahead($1::int)",
                             1, params, errstr, errstr_size);
    if (!res)
        return SL_EDB;
    if (created)
        *created = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

int ledger_retain_months(struct db *db, int keep_months, int *dropped,
                         char *errstr, size_t errstr_size)
{
    char keep[16];
    snprintf(keep, sizeof(keep), "%d", keep_months);
    const char *params[] = {keep};
    PGresult *res = db_query(db, "ledger retention",
                             "SELECT sluice_ledger_retain($1::int)", 1, params,
                             errstr, errstr_size);
    if (!res)
        return SL_EDB;
    for (int r = 0; r < PQntuples(res); r++)
        log_info("ledger retention: dropped %s (older than %d months)",
                 PQgetvalue(res, r, 0), keep_months);
    if (dropped)
        *dropped = PQntuples(res);
    PQclear(res);
    return 0;
}
