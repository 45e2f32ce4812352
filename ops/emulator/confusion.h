/* confusion.h — which labels a simulated model mistakes a label for.
 *
 * Real classifiers confuse neighbouring classes (card_arrival with
 * card_delivery_estimate), not random ones. The ranking puts first the
 * labels the model file's confusion map lists for the right one (in its
 * order), then the others by the overlap of their names' words (Jaccard
 * over lower-cased runs of letters and digits), ties broken by a hash of
 * the pair so that the ranking does not depend on the order in which the
 * prompt lists the labels. Pure functions; the caller owns every array. */
#ifndef EMU_CONFUSION_H
#define EMU_CONFUSION_H

#include "emu.h"

/* Word overlap of two label names in [0, 1] (1: the same words). */
double emu_label_overlap(const char *a, const char *b);

/* Writes to out[] the indices of the min(k, n - 1) labels most confusable
 * with labels[gold], most confusable first, and returns how many. sim may
 * be NULL (no confusion map). */
size_t emu_confusable(const struct emu_sim *sim, char *const *labels, size_t n, size_t gold,
                      size_t *out, size_t k);

#endif
