/* tier0_live.h — tier 0 in a running worker: the newest certified model of
 * each label task, hot reload, shadow sampling, and the live guarantee.
 *
 * The live guarantee pools the model's certification evidence (answered and
 * agreeing held-out certify traces, per label) with the shadow checks
 * recorded since (table tier0_shadow): when the 95 % Clopper-Pearson upper
 * bound of disagreement of the whole answer set rises above 1 − target, or
 * a label is clearly worse than the target (its pooled lower bound above
 * 1 − target), the model ('*') or the label is written to
 * tier0_withdrawals and no worker answers it any more. The guarantee is
 * over the whole answer set, so that is what the upper bound guards; a
 * label, certified as part of the set on a few dozen rows, is withdrawn on
 * its own only when clearly worse (its upper bound alone crosses with two
 * unlucky checks in twenty, which is noise). Pooling is what lets a handful of
 * shadow checks count: on their own, ten agreeing checks still bound the
 * disagreement only below 26 %.
 *
 * Ownership: tier0_live_new() returns a new state; free with
 * tier0_live_free(). The config is borrowed and must outlive it. Answers
 * borrow label strings from the loaded model until the next refresh. */
#ifndef SL_TIER0_LIVE_H
#define SL_TIER0_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "job.h"

struct tier0_live;

struct tier0_answer {
    const char *label; /* borrowed until the next tier0_live_refresh */
    double score;
    int64_t version;
    bool shadow;       /* also send to the LLM ladder to re-check */
};

struct tier0_live *tier0_live_new(const struct config *cfg);
void tier0_live_free(struct tier0_live *t);

/* Loads newer model versions, withdraws labels whose live bound crossed,
 * and reads the withdrawals of the served versions. Blocking (PostgreSQL);
 * call it at start and then every few seconds. *withdrawn_now (may be
 * NULL) counts the withdrawals this call made. Returns 0 or SL_EDB with
 * errstr; on error the state served so far stays in use. */
int tier0_live_refresh(struct tier0_live *t, struct db *db, int *withdrawn_now,
                       char *errstr, size_t errstr_size);

/* Evidence about one label (or the whole answer set) of a served version:
 * certification answers and disagreements, shadow checks and disagreements. */
struct tier0_evidence {
    uint64_t cert_n, cert_x, live_n, live_x;
};

/* The withdrawal rule. True when shadow checks exist and either they push
 * the pooled 95 % upper bound of disagreement across 1 − target (from a
 * certification bound at or below it), or even the pooled lower bound is
 * above 1 − target (clearly worse than the target: this catches a label
 * whose certification evidence alone was too thin to bound it). *bound
 * gets the pooled upper bound. */
bool tier0_live_breach(const struct tier0_evidence *e, double target,
                       double *bound);
/* The rule for one label: true when shadow checks exist and the pooled
 * lower bound of disagreement is above 1 − target. *bound gets the pooled
 * upper bound. */
bool tier0_live_label_breach(const struct tier0_evidence *e, double target,
                             double *bound);

/* Whether tier 0 answers this job, and if so with what. */
bool tier0_live_answer(const struct tier0_live *t, const struct job *job,
                       struct tier0_answer *out);

#endif
