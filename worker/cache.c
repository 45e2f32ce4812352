/* cache.c — see cache.h: the front of the answer cache (lookups, runs in
 * flight per key, what the ladder's answers leave, the tick and close),
 * built on cache_near.c (near-duplicate lookups and their verified bound),
 * cache_pg.c (the table cache_entries: reads, queued writes, upkeep),
 * cache_lru.c (entries in process), cache_lsh.c (near-duplicate
 * candidates) and cache_entry.c (entries, keys, the event counter). */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cache_entry.h"
#include "cache_lru.h"
#include "cache_near.h"
#include "cache_pg.h"
#include "log.h"
#include "sl.h"

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
    cache_lru_drop_all(c);
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

static struct pending **pending_slot(struct cache *c, const char *key)
{
    struct pending **pp = &c->pend[cache_lru_bucket(c, key)];
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
    cache_job_keys(c, cfg, job, probe->version, probe->key);
    if (!again)
        cache_count(task->name, "lookup");
    struct entry *e = cache_lru_find(c, probe->key);
    if (e && !cache_entry_fresh(e, task, now_ms)) {
        cache_lru_remove(c, e);
        e = NULL;
    }
    if (e) {
        cache_fill_hit(e, hit);
        cache_touch(c, e);
        cache_count(task->name, "exact_hit");
        return CACHE_HIT;
    }
    if (wait_or_own(c, probe, again ? NULL : waiter))
        return CACHE_WAIT;
    if (task->cache_mode != CACHE_NEAR)
        return CACHE_MISS;
    enum cache_decision d = cache_near_lookup(c, job, now_ms, u, hit, probe);
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

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
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
        cache_pg_queue_check(c, job, probe, agreed);
        cache_record_check(c, task, probe->version, probe->similarity, agreed);
    }
    /* Never cache a failed, invalid or low-confidence answer. */
    if (!answered || (has_confidence && confidence < task->confidence_threshold))
        return;
    if (!label && !data_json && !text_output)
        return;
    if (cache_lru_find(c, probe->key)) /* a copy answered meanwhile */
        return;
    struct entry *e = cache_entry_new(probe->key, probe->version, task->name,
                                      cache_scope_of(job));
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
    struct cache_sketch sk;
    /* Label tasks store their sketch input and band keys even in exact
     * mode, so that a switch to near finds the entries already stored. */
    if (task->output == OUTPUT_LABEL) {
        norm = xmalloc(CACHE_SIM_MAX_TEXT + 1);
        cache_sim_normalize(job->input, job->input_len, norm,
                            CACHE_SIM_MAX_TEXT + 1);
        cache_sim_sketch(job->input, job->input_len, &sk);
        if (task->cache_mode == CACHE_NEAR)
            e->near = cache_entry_near_new(&sk);
    }
    cache_pg_queue_store(c, job, e, norm ? &sk : NULL, norm);
    free(norm);
    cache_lru_insert(c, e);
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

void cache_tick(struct cache *c, struct db *db, const struct config *cfg,
                int64_t now_ms)
{
    if (!c)
        return;
    cache_resume_waiters(c);
    cache_pg_tick(c, db, cfg, now_ms);
}

void cache_close(struct cache *c, struct db *db)
{
    if (c && db)
        cache_pg_flush(c, db);
    if (c && c->lookups)
        log_info("cache: %llu lookups, %.2f us per lookup in memory; %llu "
                 "micro-batch reads, %.2f ms each",
                 (unsigned long long)c->lookups,
                 (double)c->lookup_us / (double)c->lookups,
                 (unsigned long long)c->reads,
                 c->reads ? (double)c->read_us / 1000.0 / (double)c->reads : 0.0);
    cache_free(c);
}
