/* cache_verify.h — the near-duplicate cache's verified bound, per task.
 *
 * Near-duplicate hits are served only while the evidence says they agree
 * with the ladder: checks (a near candidate compared with what the ladder
 * answered for the same job) are kept with their similarity, and the 95 %
 * Clopper-Pearson upper bound of disagreement over the checks at or above
 * the threshold must be at most max_false_hit. Until it is (too few checks
 * yet), candidates are not served: the ladder answers them and each one is
 * a check for free. Once served, a share of hits (cache.verify_share) still
 * goes through the ladder, so the evidence keeps coming.
 *
 * When a check pushes the bound above max_false_hit while hits are served,
 * or the evidence is clearly worse (even the lower bound is above it), the
 * threshold tightens by CACHE_VERIFY_STEP; the checks below the new
 * threshold no longer count, so serving resumes only once the evidence at
 * the new threshold holds the bound. Past a threshold of 1 near-duplicate
 * hits stop for good (until the task's version changes or a restart).
 *
 * The bound is tier 0's (tier0_cp_upper in lib/tier0/tier0_certify.c).
 * Pure state, no allocation beyond the struct; not thread-safe. */
#ifndef SL_CACHE_VERIFY_H
#define SL_CACHE_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_VERIFY_STEP 0.02
#define CACHE_VERIFY_KEEP 4096 /* newest checks kept */

struct cache_verify {
    double threshold;   /* least similarity served now */
    bool stopped;       /* tightened past 1: no near-duplicate hits */
    bool serving;       /* the bound holds at the threshold (kept current
                         * by cache_verify_record: lookups only read it) */
    uint64_t tightenings;
    float sim[CACHE_VERIFY_KEEP];
    bool disagreed[CACHE_VERIFY_KEEP];
    size_t n, head;     /* ring of the newest checks */
};

enum cache_verify_event { CV_NONE, CV_TIGHTENED, CV_STOPPED };

void cache_verify_init(struct cache_verify *v, double threshold);

/* Checks at or above the current threshold (*n) and their disagreements
 * (*x); returns the 95 % upper bound of disagreement (1 with no checks). */
double cache_verify_bound(const struct cache_verify *v, uint64_t *n,
                          uint64_t *x);

/* Whether near-duplicate hits at the threshold may be served now (as of
 * the last record; a changed max_false_hit applies from the next one). */
bool cache_verify_serving(const struct cache_verify *v);

/* Replaces the checks by sim[0..n), agreed[0..n) (oldest first; the newest
 * CACHE_VERIFY_KEEP are kept) at threshold, and recomputes whether hits are
 * served (the pooled evidence of every worker, read from cache_checks). A
 * threshold past 1 stops near hits. */
void cache_verify_load(struct cache_verify *v, double threshold,
                       const float *sim, const bool *agreed, size_t n,
                       double max_false_hit);

/* Records one check and applies the tightening rule. */
enum cache_verify_event cache_verify_record(struct cache_verify *v,
                                            double similarity, bool agreed,
                                            double max_false_hit);

#endif
