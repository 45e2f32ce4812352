/* cache.c — see cache.h. */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "cache_sim.h"
#include "cache_verify.h"
#include "log.h"
#include "metrics/telemetry.h"
#include "sl.h"

#define MAINTAIN_EVERY_MS 60000
#define WRITE_RETRY_MS 1000
/* How often a worker re-reads the near-duplicate checks of all workers. */
#define CHECKS_EVERY_MS 30000
#define EXPIRED_PER_PASS 10000
/* Queued writes beyond this are dropped (PostgreSQL unreachable for long):
 * a lost store is only a later miss. */
#define QUEUE_MAX 100000

/* Near-duplicate candidates come from an LSH index over the sketches:
 * LSH_BANDS bands of LSH_ROWS positions; two sketches share a band's bucket
 * when those positions all agree, so an entry of Jaccard similarity J is a
 * candidate with probability 1 - (1 - J^4)^16: 0.9998 at 0.8, 0.988 at 0.7,
 * 0.64 at 0.5. */
#define LSH_BANDS 16
#define LSH_ROWS (CACHE_SIM_K / LSH_BANDS)

struct entry;
struct band_node {
    uint64_t key;          /* scope (version, tenant) and the band's values */
    struct entry *e;
    struct band_node *next;
};

struct entry {
    char key[CACHE_KEY_HEX];
    char version[CACHE_KEY_HEX];
    char *task, *tenant; /* tenant "" when shared */
    char *label, *data_json, *text_output, *provider, *model;
    double confidence;
    bool has_confidence;
    int tier;
    int64_t created_ms;
    bool has_sketch;                /* label tasks */
    struct cache_sketch sketch;
    struct band_node bands[LSH_BANDS];
    uint64_t seen;                  /* the last query that compared it */
    struct entry *prev, *next;      /* LRU list, head = most recent */
    struct entry *chain;            /* hash bucket */
};

/* A label task's near-duplicate verification, for one version. */
struct near_state {
    char *task;
    char version[CACHE_KEY_HEX];
    struct cache_verify v;
    int64_t load_at_ms; /* next read of the pooled checks; 0: at once */
};

/* A key owned by a run in flight, and the runs waiting for it. */
struct pending {
    char key[CACHE_KEY_HEX];
    struct cache_waiter *waiters;
    struct pending *chain;
};

struct version_memo {
    const struct task_conf *task;
    char version[CACHE_KEY_HEX];
};

struct cache {
    size_t max_entries, n_entries;
    struct entry **buckets;
    size_t n_buckets; /* power of two */
    struct band_node **lsh;
    size_t n_lsh;     /* power of two */
    uint64_t query;   /* stamp of the current near query */
    struct pending **pend; /* n_buckets chains */
    struct cache_waiter *ready; /* owners ended: resume at the next tick */
    struct entry *head, *tail;
    int64_t purge_gen;
    struct near_state *near;
    size_t n_near;
    cJSON *q_stores, *q_touch, *q_checks;
    size_t n_queued;
    int64_t maintain_at_ms;
    int64_t flush_at_ms;
    /* Version keys of the config in force, by task (hashing a prompt with
     * its labels takes microseconds; it changes only with the config). */
    const struct config *memo_cfg;
    struct version_memo *memo;
    size_t n_memo;
    /* For the shutdown log (ops/bench-cache reads it). */
    uint64_t lookups, reads;
    int64_t lookup_us, read_us;
};

/* ---- counting ------------------------------------------------------------- */

static void count(const char *task, const char *event)
{
    metrics_count(telemetry()->cache_events, 1, task, event, NULL);
}

/* ---- the LRU ------------------------------------------------------------- */

static size_t bucket_of(const struct cache *c, const char *key)
{
    uint64_t h = 0;
    for (int i = 0; i < 16 && key[i]; i++) {
        char ch = key[i];
        h = (h << 4) | (uint64_t)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
    }
    return (size_t)(h & (c->n_buckets - 1));
}

static void entry_free(struct entry *e)
{
    free(e->task);
    free(e->tenant);
    free(e->label);
    free(e->data_json);
    free(e->text_output);
    free(e->provider);
    free(e->model);
    free(e);
}

static void list_unlink(struct cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(struct cache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static struct entry *find(const struct cache *c, const char *key)
{
    if (!c->n_buckets)
        return NULL;
    for (struct entry *e = c->buckets[bucket_of(c, key)]; e; e = e->chain)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* ---- the LSH index ----------------------------------------------------------- */

static void band_keys(const char *version, const char *tenant,
                      const struct cache_sketch *sk, uint64_t keys[LSH_BANDS])
{
    uint64_t scope = XXH3_64bits_withSeed(tenant, strlen(tenant),
                                          XXH3_64bits(version, strlen(version)));
    for (int b = 0; b < LSH_BANDS; b++) {
        uint64_t h = XXH3_64bits_withSeed(&sk->min[b * LSH_ROWS],
                                          LSH_ROWS * sizeof(sk->min[0]),
                                          scope + (uint64_t)b);
        keys[b] = h >> 2; /* a positive bigint in PostgreSQL */
    }
}

/* Appends the first DB_BANDS band keys as bigint[] literal elements
 * ("k1,k2,...") to a growable string. The table keeps 4 of the 16 bands:
 * a candidate of similarity 0.9 is still found with probability 0.986 (0.8:
 * 0.88), and the micro-batch read stays a small index scan. */
#define DB_BANDS 4
static void append_bands(char **buf, size_t *len, size_t *cap,
                         const uint64_t keys[LSH_BANDS])
{
    for (int b = 0; b < DB_BANDS; b++) {
        if (*len + 24 >= *cap) {
            while (*len + 24 >= *cap)
                *cap = *cap ? *cap * 2 : 1024;
            *buf = xrealloc(*buf, *cap);
        }
        *len += (size_t)snprintf(*buf + *len, *cap - *len, "%s%llu",
                                 *len > 1 ? "," : "", (unsigned long long)keys[b]);
    }
}

static void lsh_add(struct cache *c, struct entry *e)
{
    uint64_t keys[LSH_BANDS];
    band_keys(e->version, e->tenant, &e->sketch, keys);
    for (int b = 0; b < LSH_BANDS; b++) {
        struct band_node *n = &e->bands[b];
        size_t slot = (size_t)(keys[b] & (c->n_lsh - 1));
        n->key = keys[b];
        n->e = e;
        n->next = c->lsh[slot];
        c->lsh[slot] = n;
    }
}

static void lsh_remove(struct cache *c, struct entry *e)
{
    for (int b = 0; b < LSH_BANDS; b++) {
        struct band_node **pp = &c->lsh[e->bands[b].key & (c->n_lsh - 1)];
        while (*pp && *pp != &e->bands[b])
            pp = &(*pp)->next;
        if (*pp)
            *pp = e->bands[b].next;
    }
}

static void remove_entry(struct cache *c, struct entry *e)
{
    if (e->has_sketch)
        lsh_remove(c, e);
    struct entry **pp = &c->buckets[bucket_of(c, e->key)];
    while (*pp && *pp != e)
        pp = &(*pp)->chain;
    if (*pp)
        *pp = e->chain;
    list_unlink(c, e);
    c->n_entries--;
    entry_free(e);
}

/* Takes e (a new key); evicts the least recently used past the bound. */
static void insert(struct cache *c, struct entry *e)
{
    if (c->max_entries == 0) {
        entry_free(e);
        return;
    }
    size_t b = bucket_of(c, e->key);
    e->chain = c->buckets[b];
    c->buckets[b] = e;
    if (e->has_sketch)
        lsh_add(c, e);
    list_push_front(c, e);
    c->n_entries++;
    while (c->n_entries > c->max_entries)
        remove_entry(c, c->tail);
}

static void drop_all(struct cache *c)
{
    while (c->tail)
        remove_entry(c, c->tail);
}

struct cache *cache_new(size_t max_entries)
{
    struct cache *c = xcalloc(1, sizeof(*c));
    c->max_entries = max_entries;
    c->n_buckets = 16;
    while (c->n_buckets < 2 * max_entries)
        c->n_buckets *= 2;
    c->buckets = xcalloc(c->n_buckets, sizeof(*c->buckets));
    c->pend = xcalloc(c->n_buckets, sizeof(*c->pend));
    c->n_lsh = c->n_buckets * 8; /* LSH_BANDS nodes per entry, half full */
    c->lsh = xcalloc(c->n_lsh, sizeof(*c->lsh));
    c->q_stores = cJSON_CreateArray();
    c->q_touch = cJSON_CreateArray();
    c->q_checks = cJSON_CreateArray();
    return c;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    drop_all(c);
    free(c->buckets);
    free(c->lsh);
    free(c->memo);
    for (size_t i = 0; i < c->n_buckets; i++)
        while (c->pend[i]) {
            struct pending *p = c->pend[i];
            c->pend[i] = p->chain;
            free(p);
        }
    free(c->pend);
    for (size_t i = 0; i < c->n_near; i++)
        free(c->near[i].task);
    free(c->near);
    cJSON_Delete(c->q_stores);
    cJSON_Delete(c->q_touch);
    cJSON_Delete(c->q_checks);
    free(c);
}

size_t cache_entries(const struct cache *c)
{
    return c->n_entries;
}

/* ---- keys ------------------------------------------------------------------ */

static const char *scope_of(const struct job *job)
{
    return job->task->cache_shared || !job->tenant ? "" : job->tenant;
}

/* The version key of task under cfg, memoised for the config in force.
 * A config is never freed while the worker runs (the reload holder keeps
 * every config a job may still borrow), so its task pointers are not
 * reused for another task. */
static void version_of(struct cache *c, const struct config *cfg,
                       const struct task_conf *task, char out[CACHE_KEY_HEX])
{
    if (c->memo_cfg != cfg) {
        c->memo_cfg = cfg;
        c->n_memo = 0;
    }
    for (size_t i = 0; i < c->n_memo; i++)
        if (c->memo[i].task == task) {
            memcpy(out, c->memo[i].version, CACHE_KEY_HEX);
            return;
        }
    cache_key_version(cfg, task, out);
    c->memo = xrealloc(c->memo, (c->n_memo + 1) * sizeof(*c->memo));
    c->memo[c->n_memo].task = task;
    memcpy(c->memo[c->n_memo++].version, out, CACHE_KEY_HEX);
}

/* The job's version and entry keys. */
static void job_keys(struct cache *c, const struct config *cfg,
                     const struct job *job, char version[CACHE_KEY_HEX],
                     char key[CACHE_KEY_HEX])
{
    char *norm = xmalloc(job->input_len + 1);
    size_t len = cache_key_normalize(job->input, job->input_len, norm,
                                     job->input_len + 1);
    version_of(c, cfg, job->task, version);
    cache_key_entry(version, scope_of(job), norm, len, key);
    free(norm);
}

/* ---- near-duplicate state ---------------------------------------------------- */

/* The task's verification state for version, (re)started at the task's
 * configured threshold when the version changed. */
static struct cache_verify *near_state(struct cache *c,
                                       const struct task_conf *task,
                                       const char *version)
{
    struct near_state *s = NULL;
    for (size_t i = 0; i < c->n_near; i++)
        if (strcmp(c->near[i].task, task->name) == 0)
            s = &c->near[i];
    if (!s) {
        c->near = xrealloc(c->near, (c->n_near + 1) * sizeof(*c->near));
        s = &c->near[c->n_near++];
        s->task = xstrdup(task->name);
        s->version[0] = '\0';
    }
    if (strcmp(s->version, version) != 0) {
        sl_strlcpy(s->version, version, sizeof(s->version));
        cache_verify_init(&s->v, task->cache_near_threshold);
        s->load_at_ms = 0;
    }
    return &s->v;
}

double cache_near_threshold(const struct cache *c, const char *task)
{
    for (size_t i = 0; i < c->n_near; i++)
        if (strcmp(c->near[i].task, task) == 0)
            return c->near[i].v.stopped ? -1.0 : c->near[i].v.threshold;
    return -1.0;
}

void cache_record_check(struct cache *c, const struct task_conf *task,
                        const char *version, double similarity, bool agreed)
{
    struct cache_verify *v = near_state(c, task, version);
    double before = v->threshold;
    count(task->name, "check");
    if (!agreed)
        count(task->name, "disagreement");
    switch (cache_verify_record(v, similarity, agreed, task->cache_max_false_hit)) {
    case CV_NONE:
        break;
    case CV_TIGHTENED:
        count(task->name, "tightened");
        log_warn("cache: task %s: near-duplicate disagreement bound above %g; "
                 "threshold tightened from %.2f to %.2f", task->name,
                 task->cache_max_false_hit, before, v->threshold);
        break;
    case CV_STOPPED:
        count(task->name, "stopped");
        log_warn("cache: task %s: near-duplicate disagreement bound above %g "
                 "at every threshold; near-duplicate hits stopped",
                 task->name, task->cache_max_false_hit);
        break;
    }
}

/* ---- lookups ---------------------------------------------------------------- */

static bool fresh(const struct entry *e, const struct task_conf *task,
                  int64_t now_ms)
{
    return now_ms - e->created_ms < task->cache_ttl_s * 1000;
}

static void fill_hit(const struct entry *e, struct cache_hit *hit)
{
    *hit = (struct cache_hit){
        .label = e->label ? xstrdup(e->label) : NULL,
        .data_json = e->data_json ? xstrdup(e->data_json) : NULL,
        .text_output = e->text_output ? xstrdup(e->text_output) : NULL,
        .confidence = e->confidence, .has_confidence = e->has_confidence,
        .tier = e->tier, .provider = xstrdup(e->provider),
        .model = xstrdup(e->model),
    };
}

static void touch(struct cache *c, struct entry *e)
{
    list_unlink(c, e);
    list_push_front(c, e);
    if (c->n_queued < QUEUE_MAX) {
        cJSON_AddItemToArray(c->q_touch, cJSON_CreateString(e->key));
        c->n_queued++;
    }
}

/* The most similar fresh entry of the same version and scope among the
 * LSH candidates. */
static struct entry *nearest(struct cache *c, const struct job *job,
                             const char *version,
                             const struct cache_sketch *sk, int64_t now_ms,
                             double *best)
{
    struct entry *found = NULL;
    const char *scope = scope_of(job);
    uint64_t keys[LSH_BANDS];
    band_keys(version, scope, sk, keys);
    uint64_t stamp = ++c->query;
    *best = -1.0;
    for (int b = 0; b < LSH_BANDS; b++) {
        for (struct band_node *n = c->lsh[keys[b] & (c->n_lsh - 1)]; n; n = n->next) {
            struct entry *e = n->e;
            if (n->key != keys[b] || e->seen == stamp)
                continue;
            e->seen = stamp;
            if (strcmp(e->version, version) != 0 || strcmp(e->tenant, scope) != 0 ||
                !fresh(e, job->task, now_ms))
                continue;
            double s = cache_sim_similarity(sk, &e->sketch);
            if (s > *best) {
                *best = s;
                found = e;
            }
        }
    }
    return found;
}

static enum cache_decision lookup_near(struct cache *c, const struct job *job,
                                       int64_t now_ms, double u,
                                       struct cache_hit *hit,
                                       struct cache_probe *probe)
{
    const struct task_conf *task = job->task;
    struct cache_verify *v = near_state(c, task, probe->version);
    if (v->stopped)
        return CACHE_MISS;
    struct cache_sketch sk;
    cache_sim_sketch(job->input, job->input_len, &sk);
    double sim;
    struct entry *e = nearest(c, job, probe->version, &sk, now_ms, &sim);
    if (!e || !e->label || sim + 1e-9 < v->threshold)
        return CACHE_MISS;
    probe->similarity = sim;
    probe->threshold = v->threshold;
    if (cache_verify_serving(v) && u >= task->cache_verify_share) {
        fill_hit(e, hit);
        hit->near = true;
        hit->similarity = sim;
        touch(c, e);
        count(task->name, "near_hit");
        return CACHE_HIT;
    }
    /* Not served (no bound yet), or sampled for verification: the ladder
     * answers and its answer is compared with the candidate's. */
    probe->has_candidate = true;
    probe->served = cache_verify_serving(v);
    probe->candidate_label = xstrdup(e->label);
    return CACHE_MISS;
}

/* ---- runs in flight per key ------------------------------------------------------ */

static struct pending **pending_slot(struct cache *c, const char *key)
{
    struct pending **pp = &c->pend[bucket_of(c, key)];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->chain;
    return pp;
}

/* True when the key is owned: waiter (if any) is queued on it. Else the
 * probe's run becomes the owner. */
static bool wait_or_own(struct cache *c, struct cache_probe *probe,
                        struct cache_waiter *waiter)
{
    struct pending **pp = pending_slot(c, probe->key);
    if (*pp) {
        if (!waiter)
            return false;
        waiter->next = (*pp)->waiters;
        (*pp)->waiters = waiter;
        return true;
    }
    struct pending *p = xcalloc(1, sizeof(*p));
    sl_strlcpy(p->key, probe->key, sizeof(p->key));
    *pp = p;
    probe->owner = true;
    return false;
}

void cache_release(struct cache *c, struct cache_probe *probe)
{
    if (!c || !probe->owner)
        return;
    probe->owner = false;
    struct pending **pp = pending_slot(c, probe->key);
    struct pending *p = *pp;
    if (!p)
        return;
    *pp = p->chain;
    while (p->waiters) {
        struct cache_waiter *w = p->waiters;
        p->waiters = w->next;
        w->next = c->ready;
        c->ready = w;
    }
    free(p);
}

void cache_resume_waiters(struct cache *c)
{
    if (!c)
        return;
    /* A resumed run may become an owner or wait again: take the list. */
    struct cache_waiter *w = c->ready;
    c->ready = NULL;
    while (w) {
        struct cache_waiter *next = w->next;
        w->next = NULL;
        w->resume(w);
        w = next;
    }
}

static enum cache_decision lookup(struct cache *c, const struct config *cfg,
                                  const struct job *job, int64_t now_ms,
                                  double u, struct cache_hit *hit,
                                  struct cache_probe *probe,
                                  struct cache_waiter *waiter, bool again)
{
    const struct task_conf *task = job->task;
    probe->active = true;
    job_keys(c, cfg, job, probe->version, probe->key);
    if (!again)
        count(task->name, "lookup");
    struct entry *e = find(c, probe->key);
    if (e && !fresh(e, task, now_ms)) {
        remove_entry(c, e);
        e = NULL;
    }
    if (e) {
        fill_hit(e, hit);
        touch(c, e);
        count(task->name, "exact_hit");
        return CACHE_HIT;
    }
    if (wait_or_own(c, probe, again ? NULL : waiter))
        return CACHE_WAIT;
    if (task->cache_mode != CACHE_NEAR)
        return CACHE_MISS;
    enum cache_decision d = lookup_near(c, job, now_ms, u, hit, probe);
    if (d == CACHE_HIT) /* answered: nothing for others to wait for */
        cache_release(c, probe);
    return d;
}

enum cache_decision cache_lookup(struct cache *c, const struct config *cfg,
                                 const struct job *job, int64_t now_ms,
                                 double u, struct cache_hit *hit,
                                 struct cache_probe *probe,
                                 struct cache_waiter *waiter, bool again)
{
    memset(probe, 0, sizeof(*probe));
    if (!c || job->task->cache_mode == CACHE_OFF)
        return CACHE_MISS;
    int64_t t0 = sl_monotonic_us();
    enum cache_decision d = lookup(c, cfg, job, now_ms, u, hit, probe, waiter,
                                   again);
    c->lookup_us += sl_monotonic_us() - t0;
    c->lookups++;
    return d;
}

void cache_hit_clear(struct cache_hit *hit)
{
    free(hit->label);
    free(hit->data_json);
    free(hit->text_output);
    free(hit->provider);
    free(hit->model);
    memset(hit, 0, sizeof(*hit));
}

void cache_probe_clear(struct cache_probe *probe)
{
    free(probe->candidate_label);
    memset(probe, 0, sizeof(*probe));
}

/* ---- storing ------------------------------------------------------------------ */

static struct entry *new_entry(const char *key, const char *version,
                               const char *task, const char *tenant)
{
    struct entry *e = xcalloc(1, sizeof(*e));
    sl_strlcpy(e->key, key, sizeof(e->key));
    sl_strlcpy(e->version, version, sizeof(e->version));
    e->task = xstrdup(task);
    e->tenant = xstrdup(tenant ? tenant : "");
    return e;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void queue_store(struct cache *c, const struct job *job,
                        const struct entry *e, const char *input_norm)
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
    if (e->has_sketch) { /* other workers find it as a near candidate */
        uint64_t keys[LSH_BANDS];
        char *bands = xstrdup("{");
        size_t len = 1, cap = 2;
        band_keys(e->version, e->tenant, &e->sketch, keys);
        append_bands(&bands, &len, &cap, keys);
        bands = xrealloc(bands, len + 2);
        bands[len++] = '}';
        bands[len] = '\0';
        cJSON_AddStringToObject(o, "bands", bands);
        free(bands);
    }
    cJSON_AddItemToArray(c->q_stores, o);
    c->n_queued++;
}

static void queue_check(struct cache *c, const struct job *job,
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

static void store_answer(struct cache *c, const struct job *job,
                         struct cache_probe *probe, bool answered,
                         const char *label, const char *data_json,
                         const char *text_output, double confidence,
                         bool has_confidence, int tier, const char *provider,
                         const char *model, int64_t now_ms)
{
    const struct task_conf *task = job->task;
    if (probe->has_candidate && answered && label) {
        bool agreed = strcmp(label, probe->candidate_label) == 0;
        queue_check(c, job, probe, agreed);
        cache_record_check(c, task, probe->version, probe->similarity, agreed);
    }
    /* Never cache a failed, invalid or low-confidence answer. */
    if (!answered || (has_confidence && confidence < task->confidence_threshold))
        return;
    if (!label && !data_json && !text_output)
        return;
    if (find(c, probe->key)) /* a copy answered meanwhile */
        return;
    struct entry *e = new_entry(probe->key, probe->version, task->name,
                                scope_of(job));
    e->label = dup_or_null(label);
    e->data_json = dup_or_null(data_json);
    e->text_output = dup_or_null(text_output);
    e->confidence = confidence;
    e->has_confidence = has_confidence;
    e->tier = tier;
    e->provider = xstrdup(provider);
    e->model = xstrdup(model);
    e->created_ms = now_ms;
    char *norm = NULL;
    /* Label tasks keep their sketch input even in exact mode, so that a
     * switch to near finds the entries already stored. */
    if (task->output == OUTPUT_LABEL) {
        norm = xmalloc(CACHE_SIM_MAX_TEXT + 1);
        cache_sim_normalize(job->input, job->input_len, norm,
                            CACHE_SIM_MAX_TEXT + 1);
        cache_sim_sketch(job->input, job->input_len, &e->sketch);
        e->has_sketch = true;
    }
    queue_store(c, job, e, norm);
    free(norm);
    insert(c, e);
}

void cache_after_ladder(struct cache *c, const struct config *cfg,
                        const struct job *job, struct cache_probe *probe,
                        bool answered, const char *label, const char *data_json,
                        const char *text_output, double confidence,
                        bool has_confidence, int tier, const char *provider,
                        const char *model, int64_t now_ms)
{
    (void)cfg;
    if (!c || !probe->active)
        return;
    store_answer(c, job, probe, answered, label, data_json, text_output,
                 confidence, has_confidence, tier, provider, model, now_ms);
    cache_release(c, probe); /* the owner's answer is in (or will not be) */
}

/* ---- PostgreSQL ---------------------------------------------------------------- */

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

static void load_row(struct cache *c, const struct config *cfg, PGresult *res,
                     int row)
{
    if (PQgetisnull(res, row, 1) || find(c, PQgetvalue(res, row, 1)))
        return;
    const struct task_conf *task = config_task(cfg, PQgetvalue(res, row, 2));
    if (!task)
        return;
    struct entry *e = new_entry(PQgetvalue(res, row, 1), PQgetvalue(res, row, 3),
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
    if (task->output == OUTPUT_LABEL && !PQgetisnull(res, row, 5)) {
        const char *norm = PQgetvalue(res, row, 5);
        cache_sim_sketch(norm, strlen(norm), &e->sketch);
        e->has_sketch = true;
    }
    insert(c, e);
}

void cache_prefetch(struct cache *c, struct db *db, const struct config *cfg,
                    const struct job *const *jobs, size_t n)
{
    char err[512];
    if (!c)
        return;
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
        job_keys(c, cfg, job, version, key);
        if (wanted++)
            keys[len++] = ',';
        memcpy(keys + len, key, CACHE_KEY_HEX - 1);
        len += CACHE_KEY_HEX - 1;
        if (job->task->cache_mode == CACHE_NEAR && !find(c, key)) {
            struct cache_sketch sk;
            uint64_t bk[LSH_BANDS];
            cache_sim_sketch(job->input, job->input_len, &sk);
            band_keys(version, scope_of(job), &sk, bk);
            append_bands(&bands, &blen, &bcap, bk);
        }
    }
    keys[len++] = '}';
    keys[len] = '\0';
    bands = xrealloc(bands, blen + 2);
    bands[blen++] = '}';
    bands[blen] = '\0';
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
    int rows = PQntuples(res);
    int64_t gen = rows ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    if (gen != c->purge_gen) {
        if (c->purge_gen != 0 || c->n_entries)
            log_info("cache: a purge happened; dropping %zu in-process entries",
                     c->n_entries);
        drop_all(c);
        c->purge_gen = gen;
    }
    for (int r = 0; r < rows; r++)
        load_row(c, cfg, res, r);
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

/* False when the write failed (the queue is kept). */
static bool flush_queue(struct cache *c, struct db *db)
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

void cache_tick(struct cache *c, struct db *db, const struct config *cfg,
                int64_t now_ms)
{
    if (!c)
        return;
    cache_resume_waiters(c);
    if (now_ms < c->flush_at_ms)
        return;
    c->flush_at_ms = now_ms + cfg->worker.batch_flush_ms;
    if (!flush_queue(c, db)) {
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

void cache_close(struct cache *c, struct db *db)
{
    if (c && db)
        flush_queue(c, db);
    if (c && c->lookups)
        log_info("cache: %llu lookups, %.2f us per lookup in memory; %llu "
                 "micro-batch reads, %.2f ms each",
                 (unsigned long long)c->lookups,
                 (double)c->lookup_us / (double)c->lookups,
                 (unsigned long long)c->reads,
                 c->reads ? (double)c->read_us / 1000.0 / (double)c->reads : 0.0);
    cache_free(c);
}
