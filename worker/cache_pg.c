/* cache_pg.c — see cache_pg.h. */
#include "cache_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cache_entry.h"
#include "cache_lru.h"
#include "cache_lsh.h"
#include "log.h"
#include "sl.h"

#define MAINTAIN_EVERY_MS 60000
#define WRITE_RETRY_MS 1000
/* How often a worker re-reads the near-duplicate checks of all workers. */
#define CHECKS_EVERY_MS 30000
#define EXPIRED_PER_PASS 10000

void cache_pg_queue_store(struct cache *c, const struct job *job,
                          const struct entry *e, const struct cache_sketch *sk,
                          const char *input_norm)
{
    if (c->n_queued >= QUEUE_MAX)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", e->key);
    cJSON_AddStringToObject(o, "task", e->task);
    cJSON_AddStringToObject(o, "version", e->version);
    cJSON_AddStringToObject(o, "tenant", e->tenant);
    if (input_norm)
        cJSON_AddStringToObject(o, "input_norm", input_norm);
    if (e->label)
        cJSON_AddStringToObject(o, "label", e->label);
    if (e->data_json)
        cJSON_AddStringToObject(o, "data_json", e->data_json);
    if (e->text_output)
        cJSON_AddStringToObject(o, "text_output", e->text_output);
    if (e->has_confidence)
        cJSON_AddNumberToObject(o, "confidence", e->confidence);
    cJSON_AddNumberToObject(o, "tier", e->tier);
    cJSON_AddStringToObject(o, "provider", e->provider);
    cJSON_AddStringToObject(o, "model", e->model);
    cJSON_AddNumberToObject(o, "ttl_s", (double)job->task->cache_ttl_s);
    if (sk) { /* other workers find it as a near candidate */
        uint64_t keys[LSH_BANDS];
        char *bands = xstrdup("{");
        size_t len = 1, cap = 2;
        cache_lsh_band_keys(e->version, e->tenant, sk, keys);
        cache_lsh_append_bands(&bands, &len, &cap, keys);
        bands = xrealloc(bands, len + 2);
        bands[len++] = '}';
        bands[len] = '\0';
        cJSON_AddStringToObject(o, "bands", bands);
        free(bands);
    }
    cJSON_AddItemToArray(c->q_stores, o);
    c->n_queued++;
}

void cache_pg_queue_touch(struct cache *c, const char *key)
{
    if (c->n_queued < QUEUE_MAX) {
        cJSON_AddItemToArray(c->q_touch, cJSON_CreateString(key));
        c->n_queued++;
    }
}

void cache_touch(struct cache *c, struct entry *e)
{
    cache_lru_bump(c, e);
    cache_pg_queue_touch(c, e->key);
}

void cache_pg_queue_check(struct cache *c, const struct job *job,
                          const struct cache_probe *p, bool agreed)
{
    if (c->n_queued >= QUEUE_MAX)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", job->task->name);
    cJSON_AddStringToObject(o, "version", p->version);
    cJSON_AddStringToObject(o, "job_id", job->id);
    cJSON_AddNumberToObject(o, "similarity", p->similarity);
    cJSON_AddNumberToObject(o, "threshold", p->threshold);
    cJSON_AddBoolToObject(o, "served", p->served);
    cJSON_AddBoolToObject(o, "agreed", agreed);
    cJSON_AddItemToArray(c->q_checks, o);
    c->n_queued++;
}

/* The exact keys of the micro-batch, and the near-duplicate candidates its
 * near-task jobs share an LSH band with (at most NEAR_ROWS_PER_READ). */
#define NEAR_ROWS_PER_READ "500"
static const char PREFETCH_SQL[] =
    "SELECT p.gen, e.key, e.task, e.version, e.tenant, e.input_norm, e.label,"
    "       e.data_json, e.text_output, e.confidence, e.tier, e.provider,"
    "       e.model, (extract(epoch FROM e.created_at) * 1000)::bigint"
    " FROM (SELECT coalesce(max(id), 0) AS gen FROM cache_purges) p"
    " LEFT JOIN ((SELECT * FROM cache_entries WHERE key = ANY($1::text[])"
    "             AND expires_at > now())"
    "            UNION ALL"
    "            (SELECT * FROM cache_entries WHERE $2::bigint[] <> '{}'"
    "             AND bands && $2::bigint[] AND expires_at > now()"
    "             LIMIT " NEAR_ROWS_PER_READ ")) e ON true";

static char *col(PGresult *res, int row, int c)
{
    return PQgetisnull(res, row, c) ? NULL : xstrdup(PQgetvalue(res, row, c));
}

/* Sketches e from the row's input_norm when its task is in near mode;
 * returns whether it did. */
static bool attach_near(const struct task_conf *task, struct entry *e,
                        PGresult *res, int row)
{
    if (task->output != OUTPUT_LABEL || task->cache_mode != CACHE_NEAR ||
        PQgetisnull(res, row, 5))
        return false;
    const char *norm = PQgetvalue(res, row, 5);
    struct cache_sketch sk;
    cache_sim_sketch(norm, strlen(norm), &sk);
    e->near = cache_entry_near_new(&sk);
    return true;
}

static void load_row(struct cache *c, const struct config *cfg, PGresult *res,
                     int row)
{
    if (PQgetisnull(res, row, 1))
        return;
    const struct task_conf *task = config_task(cfg, PQgetvalue(res, row, 2));
    if (!task)
        return;
    struct entry *known = cache_lru_find(c, PQgetvalue(res, row, 1));
    if (known) {
        /* stored while the task was in exact mode: a near candidate now */
        if (!known->near && attach_near(task, known, res, row))
            cache_lsh_add(c, known);
        return;
    }
    struct entry *e = cache_entry_new(PQgetvalue(res, row, 1), PQgetvalue(res, row, 3),
                                      task->name, PQgetvalue(res, row, 4));
    e->label = col(res, row, 6);
    e->data_json = col(res, row, 7);
    e->text_output = col(res, row, 8);
    e->has_confidence = !PQgetisnull(res, row, 9);
    e->confidence = e->has_confidence ? strtod(PQgetvalue(res, row, 9), NULL) : 0;
    e->tier = atoi(PQgetvalue(res, row, 10));
    e->provider = xstrdup(PQgetvalue(res, row, 11));
    e->model = xstrdup(PQgetvalue(res, row, 12));
    e->created_ms = strtoll(PQgetvalue(res, row, 13), NULL, 10);
    attach_near(task, e, res, row);
    cache_lru_insert(c, e); /* indexes e->near, if any */
}

/* The micro-batch's parameters: a text[] literal of the exact keys of the
 * jobs whose task has a cache, and a bigint[] literal of the band keys of
 * the near-task jobs not in process. Returns how many keys were wanted;
 * *keys and *bands are the caller's to free. */
static size_t prefetch_params(struct cache *c, const struct config *cfg,
                              const struct job *const *jobs, size_t n,
                              char **keys_out, char **bands_out)
{
    /* A text[] literal: hex keys need no quoting. */
    char *keys = xmalloc(n * CACHE_KEY_HEX + 3);
    size_t len = 0, wanted = 0;
    char *bands = xstrdup("{");
    size_t blen = 1, bcap = 2;
    keys[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        const struct job *job = jobs[i];
        char version[CACHE_KEY_HEX], key[CACHE_KEY_HEX];
        if (job->task->cache_mode == CACHE_OFF)
            continue;
        cache_job_keys(c, cfg, job, version, key);
        if (wanted++)
            keys[len++] = ',';
        memcpy(keys + len, key, CACHE_KEY_HEX - 1);
        len += CACHE_KEY_HEX - 1;
        if (job->task->cache_mode == CACHE_NEAR && !cache_lru_find(c, key)) {
            struct cache_sketch sk;
            uint64_t bk[LSH_BANDS];
            cache_sim_sketch(job->input, job->input_len, &sk);
            cache_lsh_band_keys(version, cache_scope_of(job), &sk, bk);
            cache_lsh_append_bands(&bands, &blen, &bcap, bk);
        }
    }
    keys[len++] = '}';
    keys[len] = '\0';
    bands = xrealloc(bands, blen + 2);
    bands[blen++] = '}';
    bands[blen] = '\0';
    *keys_out = keys;
    *bands_out = bands;
    return wanted;
}

/* The rows of a micro-batch read into the LRU, after dropping every
 * in-process entry when a purge happened since the last read. */
static void load_result(struct cache *c, const struct config *cfg,
                        PGresult *res)
{
    int rows = PQntuples(res);
    int64_t gen = rows ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    if (gen != c->purge_gen) {
        if (c->purge_gen != 0 || c->n_entries)
            log_info("cache: a purge happened; dropping %zu in-process entries",
                     c->n_entries);
        cache_lru_drop_all(c);
        c->purge_gen = gen;
    }
    for (int r = 0; r < rows; r++)
        load_row(c, cfg, res, r);
}

void cache_prefetch(struct cache *c, struct db *db, const struct config *cfg,
                    const struct job *const *jobs, size_t n)
{
    char err[512];
    if (!c)
        return;
    char *keys, *bands;
    size_t wanted = prefetch_params(c, cfg, jobs, n, &keys, &bands);
    if (wanted == 0) {
        free(keys);
        free(bands);
        return;
    }
    const char *params[] = {keys, bands};
    int64_t t0 = sl_monotonic_us();
    PGresult *res = db_query(db, "cache lookup", PREFETCH_SQL, 2, params, err,
                             sizeof(err));
    free(keys);
    free(bands);
    c->read_us += sl_monotonic_us() - t0;
    c->reads++;
    if (!res) {
        log_warn("cache: lookup of %zu keys failed, they miss: %s", wanted, err);
        return;
    }
    load_result(c, cfg, res);
    PQclear(res);
}

static const char FLUSH_SQL[] =
    "WITH s AS (INSERT INTO cache_entries (key, task, version, tenant,"
    "    input_norm, label, data_json, text_output, confidence, tier,"
    "    provider, model, expires_at, bands)"
    "  SELECT key, task, version, tenant, input_norm, label, data_json,"
    "         text_output, confidence, tier, provider, model,"
    "         now() + make_interval(secs => ttl_s), bands::bigint[]"
    "  FROM json_to_recordset($1::json) AS x(key text, task text,"
    "       version text, tenant text, input_norm text, label text,"
    "       data_json text, text_output text, confidence float8, tier int,"
    "       provider text, model text, ttl_s float8, bands text)"
    "  ON CONFLICT (key) DO NOTHING RETURNING 1),"
    " t AS (UPDATE cache_entries SET hit_at = now()"
    "  WHERE key IN (SELECT json_array_elements_text($2::json)) RETURNING 1),"
    " k AS (INSERT INTO cache_checks (task, version, job_id, similarity,"
    "    threshold, served, agreed)"
    "  SELECT task, version, job_id, similarity, threshold, served, agreed"
    "  FROM json_to_recordset($3::json) AS x(task text, version text,"
    "       job_id text, similarity real, threshold real, served boolean,"
    "       agreed boolean) RETURNING 1)"
    " SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM t),"
    "        (SELECT count(*) FROM k)";

bool cache_pg_flush(struct cache *c, struct db *db)
{
    char err[512];
    if (c->n_queued == 0)
        return true;
    char *stores = cJSON_PrintUnformatted(c->q_stores);
    char *touched = cJSON_PrintUnformatted(c->q_touch);
    char *checks = cJSON_PrintUnformatted(c->q_checks);
    if (!stores || !touched || !checks)
        abort(); /* cJSON's only failure is allocation */
    const char *params[] = {stores, touched, checks};
    PGresult *res = db_query(db, "cache write", FLUSH_SQL, 3, params, err,
                             sizeof(err));
    cJSON_free(stores);
    cJSON_free(touched);
    cJSON_free(checks);
    if (!res) {
        log_warn("cache: writing %zu queued items failed, retrying in %d ms: %s",
                 c->n_queued, WRITE_RETRY_MS, err);
        return false;
    }
    PQclear(res);
    cJSON_Delete(c->q_stores);
    cJSON_Delete(c->q_touch);
    cJSON_Delete(c->q_checks);
    c->q_stores = cJSON_CreateArray();
    c->q_touch = cJSON_CreateArray();
    c->q_checks = cJSON_CreateArray();
    c->n_queued = 0;
    return true;
}

static void run_maintenance(struct db *db, const struct config *cfg)
{
    char err[512], limit[32], max[32];
    snprintf(limit, sizeof(limit), "%d", EXPIRED_PER_PASS);
    const char *p1[] = {limit};
    PGresult *res = db_query(db, "cache expiry",
        "DELETE FROM cache_entries WHERE key IN (SELECT key FROM cache_entries"
        " WHERE expires_at <= now() LIMIT $1::int)", 1, p1, err, sizeof(err));
    if (!res)
        log_warn("cache: dropping expired entries failed: %s", err);
    PQclear(res);
    for (size_t i = 0; i < cfg->n_tasks; i++) {
        const struct task_conf *t = &cfg->tasks[i];
        if (t->cache_mode == CACHE_OFF)
            continue;
        snprintf(max, sizeof(max), "%lld", (long long)t->cache_max_entries);
        const char *p2[] = {t->name, max};
        res = db_query(db, "cache trim",
            "DELETE FROM cache_entries WHERE key IN (SELECT key FROM"
            " cache_entries WHERE task = $1 ORDER BY hit_at DESC"
            " OFFSET $2::bigint)", 2, p2, err, sizeof(err));
        if (!res)
            log_warn("cache: trimming task %s failed: %s", t->name, err);
        PQclear(res);
    }
}

/* Reads the newest checks of every worker for one task version: the
 * evidence is pooled through cache_checks. The threshold is the higher of
 * this worker's and the one the newest check was made at (another worker
 * may have tightened it). */
static void load_checks(struct near_state *s, struct db *db,
                        const struct config *cfg)
{
    char err[512], limit[32];
    const struct task_conf *task = config_task(cfg, s->task);
    if (!task || task->cache_mode != CACHE_NEAR)
        return;
    snprintf(limit, sizeof(limit), "%d", CACHE_VERIFY_KEEP);
    const char *params[] = {s->task, s->version, limit};
    PGresult *res = db_query(db, "cache checks",
        "SELECT similarity, agreed, threshold FROM (SELECT similarity, agreed,"
        " threshold, checked_at FROM cache_checks WHERE task = $1 AND version = $2"
        " ORDER BY checked_at DESC LIMIT $3::int) k ORDER BY checked_at",
        3, params, err, sizeof(err));
    if (!res) {
        log_warn("cache: reading the checks of task %s failed: %s", s->task, err);
        return;
    }
    size_t n = (size_t)PQntuples(res);
    float *sim = xcalloc(n + 1, sizeof(*sim));
    bool *agreed = xcalloc(n + 1, sizeof(*agreed));
    double threshold = s->v.threshold;
    for (size_t i = 0; i < n; i++) {
        sim[i] = strtof(PQgetvalue(res, (int)i, 0), NULL);
        agreed[i] = PQgetvalue(res, (int)i, 1)[0] == 't';
    }
    if (n) {
        double newest = strtod(PQgetvalue(res, (int)n - 1, 2), NULL);
        if (newest > threshold)
            threshold = newest;
    }
    PQclear(res);
    cache_verify_load(&s->v, threshold, sim, agreed, n, task->cache_max_false_hit);
    free(sim);
    free(agreed);
}

void cache_pg_tick(struct cache *c, struct db *db, const struct config *cfg,
                   int64_t now_ms)
{
    if (now_ms < c->flush_at_ms)
        return;
    c->flush_at_ms = now_ms + cfg->worker.batch_flush_ms;
    if (!cache_pg_flush(c, db)) {
        c->flush_at_ms = now_ms + WRITE_RETRY_MS;
        return;
    }
    for (size_t i = 0; i < c->n_near; i++) {
        struct near_state *s = &c->near[i];
        if (now_ms < s->load_at_ms || c->n_queued)
            continue; /* after the queue is written: own checks included */
        s->load_at_ms = now_ms + CHECKS_EVERY_MS;
        load_checks(s, db, cfg);
    }
    if (now_ms < c->maintain_at_ms)
        return;
    c->maintain_at_ms = now_ms + MAINTAIN_EVERY_MS;
    for (size_t i = 0; i < cfg->n_tasks; i++)
        if (cfg->tasks[i].cache_mode != CACHE_OFF) {
            run_maintenance(db, cfg);
            break;
        }
}
