/* tier0_certify.h — choosing which tier-0 predictions may be answered
 * without the LLM, with a guarantee that is valid by construction.
 *
 * The procedure (tier0_cert_build), on one task's traces:
 *  1. Split: stratified by label and seeded, into fit (80 %) and certify
 *     (20 %) rows.
 *  2. Tune (tier0_cert_oof, tier0_cert_tune): the fit rows are dealt into
 *     5 stratified folds; each fold is predicted by a model trained on the
 *     other four. From these out-of-fold predictions, tier0_cert_tune ranks
 *     answers by an estimated risk, (1 - conf) times a per-label factor
 *     (the label's errors over what its confs predicted, shrunk towards
 *     the pooled ratio; conf: tier0_model.h), and fixes the novelty limit
 *     (the largest share of unseen features still answered), the
 *     out-of-scope floor on the top decision value (when asked for) and a
 *     sequence of nested candidate answer sets {risk <= lambda_j}, from the most
 *     conservative to the least, starting a little below the largest set
 *     the out-of-fold rows themselves would certify.
 *  3. Train: the served model is trained on all fit rows.
 *  4. Certify (tier0_cert_ltt): it predicts the certify rows, which
 *     neither trained it nor chose anything, so the certified scores are
 *     the served model's own. Fixed-sequence testing (Learn-then-Test):
 *     candidate j is accepted when the one-sided (1 - alpha) Clopper-Pearson
 *     upper bound of its disagreement on the certify rows is <= 1 - target;
 *     testing stops at the first candidate not accepted, and the last
 *     accepted one is served. Each test runs at level alpha in an order
 *     fixed before the certify rows are looked at, so the family-wise error
 *     is at most alpha: the search costs no validity, and the per-label
 *     thresholds are covered because they are part of each candidate.
 * The served model (80 % of the traces) is a little more confident than
 * the fold models (64 %), so it passes further along the same sequence;
 * the sequence only orders the candidates, and validity does not depend on
 * how well the fold models predict the served one. The older variant, a
 * tune split (15 %) predicted by the served model, is still available
 * (inner_folds 0, tune_share > 0): it kept 15 % of the traces from both
 * training and certification (banking77, 20 open-set re-splits, in-scope
 * coverage 0.657 -> 0.708 with inner folds and ranking by conf).
 * Guarantee: if future traffic is exchangeable with the traces, then with
 * probability >= 1 - alpha over the certify rows, the served answer set's
 * disagreement with the LLM is <= 1 - target.
 * The task's fallback label (the LLM's "none of these", e.g. "other") is
 * certified like any label; a prediction of it is exempt from novelty
 * abstention, since novel text is what it is for. */
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
/* Novelty limit: the tune points' quantile of unseen-feature share above
 * which tier 0 abstains. Text unlike anything trained on (other languages,
 * other topics) is mostly unseen features; near-synonym out-of-scope intents
 * are not (banking77 open-set, AUROC of out-of-scope detection: low score
 * 0.84, small margin 0.82, unseen share 0.66; the score is already what the
 * answer set ranks by). 0.99 costs about 0.5 % coverage. */
#define TIER0_NOVELTY_QUANTILE 0.99
/* Out-of-scope floor (tasks.<t>.tier0.oos_floor_quantile): tier 0 abstains
 * when the best label's raw decision value (tier0_pred.top) is below this
 * quantile of the out-of-fold predictions' (fit rows only): no label's
 * model claims the text. Off by default: on banking77's open-set re-splits
 * it catches few of the out-of-scope messages the answer set lets through
 * for the in-scope coverage it costs, and on traffic less like the traces
 * than the certify rows (50-tier0's second run) 0.05 cut tier-0 answers
 * from more than a third to an eighth (docs/tier0.md). */
#define TIER0_FLOOR_QUANTILE 0.0

/* The one-sided (1 - alpha) Clopper-Pearson upper bound of a binomial
 * proportion with x successes in n trials: the p at which P(X <= x; n, p) =
 * alpha (exact, via the regularised incomplete beta and bisection to 1e-12).
 * Returns 1 when x >= n or n == 0. */
double tier0_cp_upper(uint64_t x, uint64_t n, double alpha);

/* One held-out row: its label (the LLM's answer) and the prediction. */
struct tier0_point {
    int y;
    struct tier0_pred p;
};

/* What tuning fixes before certification looks at its rows. */
struct tier0_rank {
    size_t n_labels;
    double *factor;    /* owned; per label, multiplies (1 - conf) */
    double max_unseen; /* answered only up to this unseen-feature share */
    double min_top;    /* answered only from this tier0_pred.top on
                        * (-HUGE_VAL: no floor) */
    int fallback;      /* label exempt from novelty limit and floor, or -1 */
    size_t n_steps;
    double *lambda;    /* owned; n_steps increasing risk levels */
};

/* Pseudo-errors shrinking a label's factor towards the pooled one. Small
 * priors overfit the tune rows (banking77, one split: 2 -> nothing
 * certified, 10 -> coverage 0.62, 20 -> 0.70, 50 -> 0.72, no per-label
 * factor at all -> 0.68). */
#define TIER0_TUNE_PRIOR 50.0
#define TIER0_SEQ_FIRST 0.20   /* lowest tune coverage of the first candidate */
#define TIER0_SEQ_BACKOFF 0.75 /* first candidate: this share of the tune
                                * coverage whose tune bound meets target
                                * (banking77, 50 % of train: 0.9 -> nothing
                                * certified, 0.75 -> 0.48; full train: 0.70
                                * -> 0.71) */
#define TIER0_SEQ_STEP 0.005   /* tune coverage added by each next one */

/* Ranks from n tune points. novelty_quantile in (0, 1]: max_unseen is that
 * quantile of the tune points' unseen shares (1: no novelty abstention).
 * floor_quantile in [0, 1): min_top is that quantile of the tune points'
 * top decision values (0: no floor).
 * target and n_cert, the number of rows certification will test (0: n),
 * place the first candidate (see sequence_start in the .c).
 * Fills *out (free its content with tier0_rank_clear). Returns 0 or
 * SL_EINVAL (a label or the fallback out of range, quantile out of range). */
int tier0_cert_tune(const struct tier0_point *tune, size_t n, size_t n_labels,
                    int fallback, double novelty_quantile,
                    double floor_quantile, double target,
                    size_t n_cert, struct tier0_rank *out) SL_MUSTCHECK;
void tier0_rank_clear(struct tier0_rank *r);

/* Per label, counted over the certify rows whose prediction is that label. */
struct tier0_label_cert {
    size_t support;   /* rows predicted as this label */
    double threshold; /* answered when conf >= threshold (> 1: never) */
    size_t answered;  /* of support, in the answer set */
    size_t agreed;    /* of answered, prediction == label */
    double agreement; /* agreed / answered (0 when none) */
    double coverage;  /* answered / support (0 when none) */
    bool certified;   /* threshold <= 1 */
};

struct tier0_cert {
    double target;
    double lambda;      /* the accepted risk level (0: none accepted) */
    size_t steps;       /* candidates accepted before the first failure */
    double max_unseen;  /* novelty limit (1: none) */
    double min_top;     /* out-of-scope floor on tier0_pred.top (-HUGE_VAL:
                         * none, as for a version stored without it) */
    int fallback;       /* -1: none */
    bool by_score;      /* thresholds are on the score, not conf (a version
                         * stored before conf existed) */
    size_t n_traces, n_answered, n_disagree; /* over the certify rows */
    double coverage;    /* n_answered / n_traces */
    double agreement;   /* 1 - n_disagree / n_answered */
    double bound;       /* upper bound of disagreement over the answer set */
    bool certified;     /* some candidate accepted */
    size_t n_labels;
    struct tier0_label_cert *labels; /* owned; n_labels entries */
};

/* Fixed-sequence testing of r's candidates on n certify points. Fills *out
 * (free its content with tier0_cert_clear). Returns 0 or SL_EINVAL (target
 * not in (0, 1), a label out of range, r for another label count). */
int tier0_cert_ltt(const struct tier0_point *cal, size_t n,
                   const struct tier0_rank *r, double target,
                   struct tier0_cert *out) SL_MUSTCHECK;
void tier0_cert_clear(struct tier0_cert *c);

/* The serving decision: true when prediction p is in the certified answer
 * set (certified label, conf (score if by_score) >= its threshold, and,
 * unless p is the fallback label, unseen share <= the novelty limit and
 * top >= the out-of-scope floor). */
bool tier0_cert_answers(const struct tier0_cert *c, const struct tier0_pred *p);

/* Options of the whole procedure; tier0_cert_opts_default fills them. */
struct tier0_cert_opts {
    double target;
    double tune_share, cert_share; /* of the traces; fit gets the rest */
    double novelty_quantile;       /* see tier0_cert_tune */
    double floor_quantile;         /* see tier0_cert_tune */
    const char *fallback;          /* label name, NULL: none; borrowed */
    unsigned seed;                 /* split shuffle and solver seed */
    unsigned inner_folds; /* 0: tune on the tune rows; 2..TIER0_MAX_FOLDS:
                           * tune_share must be 0, and the tune points are
                           * the out-of-fold predictions of that many models
                           * trained on parts of the fit rows */
};
#define TIER0_MAX_FOLDS 20
/* Defaults: fit 80 %, certify 20 %, tuned by 5-fold inner cross-validation
 * of the fit rows (see the header comment for what each choice gave). */
#define TIER0_CERT_SHARE 0.20
#define TIER0_INNER_FOLDS 5
void tier0_cert_opts_default(struct tier0_cert_opts *o);

/* The certify share used for n traces: cert_share, raised towards
 * TIER0_CERT_ROWS_PER_MISS / (1 - target) certify rows but never above
 * TIER0_CERT_MAX_SHARE. Certification needs a few hundred answers whose
 * disagreements stay well under 1 - target; with 20 % of a few thousand
 * traces a single unlucky error fails the first candidate and certifies
 * nothing. It depends on n and the target alone, never on the traces'
 * content, so it costs no validity. */
#define TIER0_CERT_ROWS_PER_MISS 50.0 /* 2,500 certify rows at target 0.98 */
#define TIER0_CERT_MAX_SHARE 0.40
double tier0_cert_share_for(size_t n, double target, double cert_share);
/* The certify share tier0_cert_build splits with: tier0_cert_share_for of
 * the rows used (rows NULL: all of d), or o->cert_share as given for the
 * older tune-split procedure (o->tune_share > 0). */
double tier0_cert_share(const struct tier0_data *d, const bool *rows,
                        const struct tier0_cert_opts *o);

/* Split part of each row: 0 fit, 1 tune, 2 certify, -1 not used (rows
 * given and rows[i] false; rows NULL: all used). Stratified: each label's
 * rows, shuffled by seed, are dealt so every part gets its share of every
 * label. Returns a new array of tier0_data_count(d) (free()). */
int *tier0_cert_split(const struct tier0_data *d, const bool *rows,
                      double tune_share, double cert_share, unsigned seed);

/* Inner folds of the fit rows (part[i] == 0): a seeded, stratified fold
 * 0..k-1 per fit row, -1 for every other row. Returns a new array of
 * tier0_data_count(d) (free()). */
int *tier0_cert_folds(const struct tier0_data *d, const int *part,
                      unsigned k, unsigned seed);
/* Out-of-fold predictions of the fit rows: for each of the k folds, a model
 * trained on the fit rows of the other folds predicts the fold's rows. Reads
 * no row with part[i] != 0 (certify rows choose nothing). out holds
 * tier0_data_count(d) points; *n_out gets how many were written. Returns 0
 * or SL_EINVAL with errstr (a fold's training failed). A fold whose other
 * folds hold fewer than two labels (a handful of traces) is left out. */
int tier0_cert_oof(const struct tier0_data *d, const int *part,
                   const struct tier0_train_params *params, unsigned k,
                   unsigned seed, struct tier0_point *out, size_t *n_out,
                   char *errstr, size_t errstr_size) SL_MUSTCHECK;

/* Steps 1-4 above, over the rows of d with rows[i] true (rows NULL: all;
 * a label without rows is known to the model but never predicted).
 * Returns 0 with *model (new; free with tier0_model_free)
 * and *cert (free its content with tier0_cert_clear), or SL_EINVAL with
 * errstr (bad options, too few rows or labels to train). A model is
 * returned even when nothing is certified; it then answers nothing.
 * Same data, params and opts give the same model and thresholds bit for
 * bit. */
int tier0_cert_build(const struct tier0_data *d, const bool *rows,
                     const struct tier0_train_params *params,
                     const struct tier0_cert_opts *o,
                     struct tier0_model **model, struct tier0_cert *cert,
                     char *errstr, size_t errstr_size) SL_MUSTCHECK;

/* Prints the overall line and the per-label table, labels named by m. */
void tier0_cert_print(FILE *f, const struct tier0_cert *c,
                      const struct tier0_model *m);

/* JSON for tier0_models.thresholds: {"target":t,"lambda":l,"max_unseen":u,
 * "min_top":f (only with a floor),"rank":"conf","fallback":"<label>","labels":{"<label>":threshold,...}} with certified
 * labels only (fallback only when there is one); and for
 * tier0_models.metrics: the overall figures and every label's row.
 * Return new strings; free with free(). */
char *tier0_cert_thresholds_json(const struct tier0_cert *c,
                                 const struct tier0_model *m);
char *tier0_cert_metrics_json(const struct tier0_cert *c,
                              const struct tier0_model *m);
/* Rebuilds the serving part of a cert (target, thresholds, certified flags,
 * novelty limit, fallback; no counts) from thresholds JSON, mapping labels
 * through m; a label the model does not know is an error. A version stored
 * before the novelty limit existed has none (max_unseen 1), one stored
 * without "min_top" no out-of-scope floor (-HUGE_VAL); one stored
 * before "rank" existed has thresholds on the score (by_score). Returns 0 or
 * SL_EINVAL with errstr. */
int tier0_cert_from_json(const char *thresholds_json,
                         const struct tier0_model *m, struct tier0_cert *out,
                         char *errstr, size_t errstr_size) SL_MUSTCHECK;

#endif
