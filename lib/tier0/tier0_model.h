/* tier0_model.h — the tier-0 linear classifier: training with liblinear,
 * prediction, and a byte-exact serialised form.
 *
 * Training: L2-regularised logistic regression (liblinear L2R_LR or
 * L2R_LR_DUAL). liblinear 2.3 has no multinomial solver, so a task with
 * more than two labels gets one-vs-rest models; a prediction's score is the
 * winner's sigmoid normalised over all labels (as liblinear's
 * predict_probability does), in [0, 1].
 * Prediction touches only the weight rows of the text's features: one dot
 * product per label over a few hundred non-zeros, no allocation.
 * A model is read-only after creation, so threads may share it.
 * Determinism: liblinear's dual solver shuffles with the process-wide
 * rand(). Training holds one process-wide lock and calls srand(seed) right
 * before the solver, so the same rows and parameters give the same model
 * bit for bit whatever other training threads do (trainings serialise;
 * nothing else in sluice calls rand()). */
#ifndef SL_TIER0_MODEL_H
#define SL_TIER0_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl.h"
#include "tier0_features.h"

#define TIER0_MAX_LABELS 1024
#define TIER0_MAX_LABEL_LEN 256

struct tier0_model;
struct tier0_data;

struct tier0_train_params {
    struct tier0_feat_params feat;
    double C;   /* inverse regularisation strength */
    bool dual;  /* L2R_LR_DUAL instead of L2R_LR */
    double eps; /* solver stopping tolerance; 0 = liblinear's default */
    unsigned seed; /* srand() seed of the solver's shuffles */
};

void tier0_train_params_default(struct tier0_train_params *p);

/* A featurised training set: texts are normalised (tier0_feat_normalize)
 * and hashed once, labels sorted and numbered 0..n_labels-1 by strcmp
 * order. Copies what it needs. Returns 0 and new data (free with
 * tier0_data_free), or SL_EINVAL with errstr (bad parameters, fewer than 2
 * distinct labels, more than TIER0_MAX_LABELS, an empty or too long label). */
int tier0_data_new(const struct tier0_feat_params *feat,
                   const char *const *texts, const char *const *labels,
                   size_t n, struct tier0_data **out, char *errstr,
                   size_t errstr_size) SL_MUSTCHECK;
void tier0_data_free(struct tier0_data *d);
size_t tier0_data_count(const struct tier0_data *d);
size_t tier0_data_n_labels(const struct tier0_data *d);
const char *tier0_data_label(const struct tier0_data *d, size_t i); /* borrowed */
int tier0_data_y(const struct tier0_data *d, size_t row); /* label index */

/* Trains on the rows whose use[row] is true (all when use is NULL); the
 * model knows every label of d, and a label without training rows is never
 * predicted. params->feat must be the parameters d was built with.
 * Returns 0 and a new model (free with tier0_model_free), or SL_EINVAL
 * with errstr. */
int tier0_model_train(const struct tier0_data *d,
                      const struct tier0_train_params *params,
                      const bool *use, struct tier0_model **out,
                      char *errstr, size_t errstr_size) SL_MUSTCHECK;
void tier0_model_free(struct tier0_model *m);

size_t tier0_model_n_labels(const struct tier0_model *m);
const char *tier0_model_label(const struct tier0_model *m, size_t i); /* borrowed */
/* Label index by name, or -1. */
int tier0_model_label_index(const struct tier0_model *m, const char *label);
const struct tier0_feat_params *tier0_model_feat_params(const struct tier0_model *m);

/* One prediction and the signals novelty abstention uses. */
struct tier0_pred {
    int label;     /* index of the best label */
    double score;  /* its normalised probability, in [0, 1] */
    double margin; /* score minus the runner-up's normalised probability */
    double unseen; /* share of the text's features with no weight row in
                    * the model (never seen in training), in [0, 1];
                    * 1 for a text without features */
    double conf;   /* sigmoid of the best label's decision value minus the
                    * runner-up's, in [0.5, 1]: what the certified answer
                    * set ranks by (banking77, test coverage at 98.5 %
                    * agreement ranked by it: 0.772; by score: 0.750; by
                    * margin: 0.763) */
    double top;    /* the best label's raw decision value (w.x + b of its
                    * one-vs-rest model): low when no label's model claims
                    * the text, which is what out-of-scope text looks like
                    * (the out-of-scope floor, tier0_certify.h) */
};

/* Predicts raw (un-normalised) text. Uses about 110 KB of stack. */
void tier0_model_predict_full(const struct tier0_model *m, const char *text,
                              struct tier0_pred *out);
/* Same for row `row` of d (d must share m's feature parameters). */
void tier0_model_predict_row_full(const struct tier0_model *m,
                                  const struct tier0_data *d, size_t row,
                                  struct tier0_pred *out);

/* Predicts raw (un-normalised) text: *label = index of the best label,
 * *score = its normalised probability. Uses about 110 KB of stack. */
void tier0_model_predict(const struct tier0_model *m, const char *text,
                         int *label, double *score);
/* Same for features made with tier0_model_feat_params(m). */
void tier0_model_predict_feats(const struct tier0_model *m,
                               const struct tier0_feat *f, size_t n,
                               int *label, double *score);
/* Same for row `row` of d (d must share m's feature parameters). */
void tier0_model_predict_row(const struct tier0_model *m,
                             const struct tier0_data *d, size_t row,
                             int *label, double *score);

/* Serialises m (little-endian, versioned). Returns a new buffer (free with
 * free()) and its size in *size. serialise(deserialise(b)) == b. */
uint8_t *tier0_model_serialize(const struct tier0_model *m, size_t *size);
/* Parses a serialised model, checking every length and index. Returns 0 and
 * a new model, or SL_EINVAL with errstr. */
int tier0_model_deserialize(const uint8_t *buf, size_t size,
                            struct tier0_model **out, char *errstr,
                            size_t errstr_size) SL_MUSTCHECK;

#endif
