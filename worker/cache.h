/* cache.h — the answer cache in front of the tier ladder (docs/cache.md).
 *
 * A worker keeps one cache: an in-process LRU of entries (bounded by
 * worker.cache_lru_entries) in front of the table cache_entries, which all
 * workers share. The worker reads the keys of a whole micro-batch of claimed
 * jobs in one statement (cache_prefetch) before it starts them; a run then
 * asks the LRU alone (cache_lookup: no I/O). What runs add (answers to
 * store, hits to mark, near-duplicate checks) is queued and written by
 * cache_tick in one statement.
 *
 * A miss makes the run the key's owner until it ends (cache_release): a run
 * of the same key that looks up meanwhile waits for it (CACHE_WAIT) instead
 * of calling the provider too, and is resumed from cache_tick to look up
 * again. It waits once: if the owner's answer was not stored, it climbs the
 * ladder itself.
 *
 * Exact hits match the entry key (lib/cache_key.h): the task's version key,
 * the tenant unless the task's cache is shared, and the lightly normalised
 * input. Near-duplicate hits (label tasks with cache.mode "near") match the
 * most similar entry of the same version and tenant scope
 * (lib/cache_sim.h) at or above the task's threshold, which the checks
 * verify (cache_verify.h). Only accepted answers at or above the task's
 * confidence threshold are stored: never a failed, invalid or low-confidence
 * one.
 *
 * Ownership: cache_new() returns a cache freed by cache_free(). A struct
 * cache_hit owns its strings (cache_hit_clear). Single-threaded: the
 * worker's loop thread only. Config pointers are borrowed per call.
 *
 * Implemented by cache.c (lookups, runs in flight, storing, the tick and
 * close), with cache_near.c (cache_near_threshold, cache_record_check),
 * cache_pg.c (cache_prefetch), cache_lru.c, cache_lsh.c and cache_entry.c;
 * their shared state is cache_internal.h. */
#ifndef SL_CACHE_H
#define SL_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "job.h"
#include "cache_key.h"

struct cache;

/* An answer served from the cache; strings owned (cache_hit_clear). */
struct cache_hit {
    char *label, *data_json, *text_output;
    double confidence;
    bool has_confidence;
    int tier;            /* who produced it */
    char *provider, *model;
    bool near;           /* a near-duplicate hit, not an exact one */
    double similarity;   /* near: similarity to the entry */
};

/* What a lookup left for after the ladder: the key to store the answer
 * under, and a near candidate to compare the ladder's answer with. */
struct cache_probe {
    bool active;          /* the task's cache is on */
    char key[CACHE_KEY_HEX];
    char version[CACHE_KEY_HEX];
    bool has_candidate;   /* a near-duplicate to check */
    bool served;          /* the candidate was a served hit, sampled */
    double similarity, threshold;
    char *candidate_label; /* owned */
    bool owner;           /* other runs of the key wait for this one */
};

/* A run waiting for the owner of its key; resume() is called from
 * cache_tick once the owner ended (never from inside another call). */
struct cache_waiter {
    void (*resume)(struct cache_waiter *w);
    struct cache_waiter *next;
};

enum cache_decision {
    CACHE_MISS,   /* run the ladder (the probe may hold a candidate) */
    CACHE_HIT,    /* serve *hit */
    CACHE_WAIT    /* another run of the key is in flight: waiter queued */
};

struct cache *cache_new(size_t max_entries);
void cache_free(struct cache *c); /* NULL is a no-op; unwritten work is lost */
/* Writes what is queued (db may be NULL: nothing written), then frees c. */
void cache_close(struct cache *c, struct db *db);

/* Reads the entries of jobs[0..n) (those whose task has a cache) from
 * PostgreSQL into the LRU in one statement, and drops every in-process
 * entry when a purge happened since the last read. A failure is logged:
 * lookups then miss. */
void cache_prefetch(struct cache *c, struct db *db, const struct config *cfg,
                    const struct job *const *jobs, size_t n);

/* Looks job up in the process (no I/O). u in [0, 1) draws the
 * verification sample. Fills *probe always and *hit on CACHE_HIT. With a
 * waiter, a key owned by another run in flight returns CACHE_WAIT and
 * queues it; without one (or with again), it is a miss. again: a resumed
 * waiter's second lookup (not counted as a lookup). */
enum cache_decision cache_lookup(struct cache *c, const struct config *cfg,
                                 const struct job *job, int64_t now_ms,
                                 double u, struct cache_hit *hit,
                                 struct cache_probe *probe,
                                 struct cache_waiter *waiter, bool again);

/* The owner of probe's key ended (or stored its answer): its waiters are
 * resumed by the next cache_tick. No-op unless probe->owner; c may be
 * NULL. */
void cache_release(struct cache *c, struct cache_probe *probe);

/* Resumes the waiters whose owner ended (cache_tick calls it first). */
void cache_resume_waiters(struct cache *c);

/* The ladder finished the job: stores an accepted answer (answered, and
 * confidence, when reported, at or above the task's threshold), and
 * compares a near candidate with it. label/data_json/text_output may be
 * NULL. */
void cache_after_ladder(struct cache *c, const struct config *cfg,
                        const struct job *job, struct cache_probe *probe,
                        bool answered, const char *label, const char *data_json,
                        const char *text_output, double confidence,
                        bool has_confidence, int tier, const char *provider,
                        const char *model, int64_t now_ms);

void cache_hit_clear(struct cache_hit *hit);
void cache_probe_clear(struct cache_probe *probe);

/* Writes what is queued (entries, hit times, checks) in one statement, at
 * most every worker.batch_flush_ms, and once a minute drops expired entries and trims each task to its
 * max_entries. Failures are logged and the queue kept (bounded). */
void cache_tick(struct cache *c, struct db *db, const struct config *cfg,
                int64_t now_ms);

/* In-process state, for tests and the shutdown log. */
size_t cache_entries(const struct cache *c);
/* The near-duplicate threshold of task now, or -1 when near hits stopped
 * (or the task has no near state yet). */
double cache_near_threshold(const struct cache *c, const char *task);

/* Feeds one check to the task's verification state, as the ladder's answer
 * would (exposed for tests; cache_after_ladder calls it). */
void cache_record_check(struct cache *c, const struct task_conf *task,
                        const char *version, double similarity, bool agreed);

#endif
