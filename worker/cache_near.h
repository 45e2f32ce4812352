/* cache_near.h — near-duplicate hits (label tasks with cache.mode "near"):
 * the lookup that serves the most similar entry at or above the task's
 * threshold or samples it for a check, and each task's verification state
 * per version (cache_verify.h), which tightens the threshold or stops near
 * hits when checks disagree too often. cache_near_threshold() and
 * cache_record_check() of cache.h are defined here.
 *
 * States are owned by struct cache (freed by cache_free). */
#ifndef SL_CACHE_NEAR_H
#define SL_CACHE_NEAR_H

#include <stdint.h>

#include "cache_internal.h"

/* The task's verification state for version, (re)started at the task's
 * configured threshold when the version changed. Borrowed from c. */
struct cache_verify *cache_near_state(struct cache *c,
                                      const struct task_conf *task,
                                      const char *version);

/* After an exact miss: CACHE_HIT fills *hit (touched, counted); else
 * CACHE_MISS, with a candidate to check in *probe when one was found but
 * not served (no bound yet, or sampled: u < cache.verify_share). */
enum cache_decision cache_near_lookup(struct cache *c, const struct job *job,
                                      int64_t now_ms, double u,
                                      struct cache_hit *hit,
                                      struct cache_probe *probe);

#endif
