/* cache_internal.h — the answer cache's state (struct cache), shared by
 * the modules behind cache.h. Not for use outside them.
 *
 *   cache.c       the front: lookups, runs in flight per key, storing
 *   cache_near.c  near-duplicate lookups and their verified bound per task
 *   cache_pg.c    the table cache_entries: micro-batch reads, queued writes,
 *                 upkeep, pooled checks; a hit's touch
 *   cache_lru.c   entries in process: hash table and LRU list
 *   cache_lsh.c   the LSH index of near-duplicate candidates
 *   cache_entry.c an entry's making, freshness, scope and keys; the event
 *                 counter
 *
 * Each module uses only those listed below it. This header holds types
 * and constants alone: a function here would tie every module to one.
 *
 * struct cache owns its entries (and their strings), pending keys, near
 * states and write queues; single-threaded (the worker's loop thread). */
#ifndef SL_CACHE_INTERNAL_H
#define SL_CACHE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cache.h"
#include "cache_sim.h"
#include "cache_verify.h"

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

/* What makes an entry a near-duplicate candidate: 644 bytes, so it is kept
 * only for the entries of tasks in near mode. An exact-mode label task
 * still stores its band keys in PostgreSQL (cache_pg_queue_store), so a
 * switch to near finds the entries already stored: they are sketched again
 * when a near lookup reads them (attach_near in cache_pg.c). */
struct entry_near {
    struct cache_sketch sketch;
    struct band_node bands[LSH_BANDS];
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
    struct entry_near *near;        /* near-mode label tasks, else NULL */
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

#endif
