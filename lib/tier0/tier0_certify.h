/* tier0_certify.h — choosing, with a statistical guarantee, which tier-0
 * predictions may be answered without the LLM.
 *
 * Every trace gets an out-of-fold prediction (k-fold cross-validation, so
 * each trace serves both training and calibration). The answer set is, per
 * label k, {pred == k, score >= max(threshold, floor_k)}. The pooled
 * threshold is the lowest one (largest coverage) at which the one-sided
 * (1 - alpha) Clopper-Pearson upper bound of the disagreement rate over ALL
 * answered traces is <= 1 - target (selective risk in the manner of
 * Geifman & El-Yaniv's SGR).
 * Per-label refinement: a label whose own agreement inside the answer set
 * is clearly below target (the one-sided (1 - alpha) upper bound of its
 * agreement is < target) gets a floor: the lowest score above its current
 * threshold at which its own answers are no longer clearly below target
 * (no such score: the label is dropped). The pooled threshold is then
 * chosen again with the floors, until no floor rises. Floors only remove
 * answers, and the bound that certifies is always computed over the union
 * of every label's answers, so refinement never weakens the guarantee; it
 * buys coverage by keeping a weak label's confident answers (rather than
 * dropping the label) and by letting the pooled threshold fall once the weak
 * labels' low-score errors are out.
 * Caveat: the threshold is picked by scanning every candidate, so the bound
 * is the bound at the chosen threshold, without the Bonferroni correction
 * over candidates that SGR's binary search applies. */
#ifndef SL_TIER0_CERTIFY_H
#define SL_TIER0_CERTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sl.h"
#include "tier0_model.h"

#define TIER0_TARGET_DEFAULT 0.98
#define TIER0_ALPHA 0.05

/* The one-sided (1 - alpha) Clopper-Pearson upper bound of a binomial
 * proportion with x successes in n trials: the p at which P(X <= x; n, p) =
 * alpha (exact, via the regularised incomplete beta and bisection to 1e-12).
 * Returns 1 when x >= n or n == 0. */
double tier0_cp_upper(uint64_t x, uint64_t n, double alpha);

/* One calibration point: the trace's label and its out-of-fold prediction. */
struct tier0_oof {
    int y;
    int pred;
    double score;
};

/* Per label, counted over the traces whose prediction is that label. */
struct tier0_label_cert {
    size_t support;   /* traces predicted as this label */
    double threshold; /* answered when score >= threshold (> 1: never):
                       * the pooled threshold or the label's higher floor */
    size_t answered;  /* of support, with score >= threshold */
    size_t agreed;    /* of answered, prediction == label */
    double agreement; /* agreed / answered (0 when none) */
    double coverage;  /* answered / support (0 when none) */
    bool certified;   /* not dropped and answered >= 1 */
};

struct tier0_cert {
    double target;
    double threshold;   /* the pooled score threshold (> 1: none) */
    size_t n_traces, n_answered, n_disagree;
    double coverage;    /* n_answered / n_traces */
    double agreement;   /* 1 - n_disagree / n_answered */
    double bound;       /* upper bound of disagreement over the answer set */
    bool certified;     /* bound <= 1 - target and some label certified */
    size_t n_labels;
    struct tier0_label_cert *labels; /* owned; n_labels entries */
};

/* Chooses the answer set for n out-of-fold points over n_labels labels.
 * Fills *out (free its content with tier0_cert_clear). Returns 0 or
 * SL_EINVAL (target not in (0, 1), a label out of range). */
int tier0_cert_select(const struct tier0_oof *oof, size_t n, size_t n_labels,
                      double target, struct tier0_cert *out) SL_MUSTCHECK;
void tier0_cert_clear(struct tier0_cert *c);

/* Out-of-fold predictions over all rows of d: rows are split into `folds`
 * stratified folds by a shuffle seeded with seed; each fold is predicted by
 * a model trained on the others (folds run on up to `threads` threads).
 * oof must hold tier0_data_count(d) entries. Returns 0 or SL_EINVAL. */
int tier0_cert_kfold(const struct tier0_data *d,
                     const struct tier0_train_params *params, int folds,
                     uint64_t seed, int threads, struct tier0_oof *oof,
                     char *errstr, size_t errstr_size) SL_MUSTCHECK;

/* The serving decision: true when a prediction of label with score falls in
 * the certified answer set. */
bool tier0_cert_answers(const struct tier0_cert *c, int label, double score);

/* Prints the overall line and the per-label table, labels named by m. */
void tier0_cert_print(FILE *f, const struct tier0_cert *c,
                      const struct tier0_model *m);

/* JSON for tier0_models.thresholds: {"target":t,"threshold":t0,
 * "labels":{"<label>":threshold,...}} with certified labels only; and for
 * tier0_models.metrics: the overall figures and every label's row.
 * Return new strings; free with free(). */
char *tier0_cert_thresholds_json(const struct tier0_cert *c,
                                 const struct tier0_model *m);
char *tier0_cert_metrics_json(const struct tier0_cert *c,
                              const struct tier0_model *m);
/* Rebuilds the serving part of a cert (target, thresholds, certified flags;
 * no counts) from thresholds JSON, mapping labels through m; a label the
 * model does not know is an error. Returns 0 or SL_EINVAL with errstr. */
int tier0_cert_from_json(const char *thresholds_json,
                         const struct tier0_model *m, struct tier0_cert *out,
                         char *errstr, size_t errstr_size) SL_MUSTCHECK;

#endif
