/* tier0_train.h — the tier-0 training pipeline of one label task, as a
 * library call: prune old traces (tasks.<t>.tier0.trace_retention_days),
 * load the newest traces, split them, tune, train the served model and
 * certify it on held-out traces (tier0_cert_build, tier0_certify.h), and
 * store it with its certification as the task's next version
 * (tier0_store.h).
 *
 * `sluice train` is a thin wrapper; `sluice scheduler` calls it every
 * tasks.<t>.tier0.retrain_every_s. Blocking (PostgreSQL, and seconds to
 * minutes of CPU on one thread): run it off any event
 * loop. The model is stored even when nothing is certified; it then
 * answers nothing. */
#ifndef SL_TIER0_TRAIN_H
#define SL_TIER0_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "db.h"
#include "sl.h"
#include "tier0_certify.h"
#include "tier0_model.h"

#define TIER0_TRAIN_MAX_TRACES 1000000
#define TIER0_TRAIN_MIN_TRACES 10
#define TIER0_PRUNE_BATCH 10000

/* Zero (or NULL options) means the default for each field. */
struct tier0_train_opts {
    double target;     /* in (0, 1); 0: the task's tier0.target */
    size_t max_traces; /* newest traces used; 0: TIER0_TRAIN_MAX_TRACES */
    unsigned seed;     /* split and solver seed; 0: 1 */
};

struct tier0_train_report {
    int64_t version;     /* stored version (0 when nothing was stored) */
    uint64_t pruned;     /* traces deleted by retention before training */
    size_t traces;       /* traces loaded (fit, tune and certify rows) */
    double train_s;      /* wall time of the whole call */
    struct tier0_cert cert;    /* owned; the stored certification */
    struct tier0_model *model; /* owned; the stored model */
};

/* Trains, certifies and stores task `task` of cfg with default options.
 * Returns 0 and fills *out (release with tier0_train_report_clear, also
 * after an error), SL_EINVAL (no such label task, too few
 * traces or labels to train) or SL_EDB, with the reason in errstr. */
int tier0_train_task(const struct config *cfg, struct db *db,
                     const char *task, struct tier0_train_report *out,
                     char *errstr, size_t errstr_size) SL_MUSTCHECK;
/* The same with options (opts may be NULL). */
int tier0_train_task_opts(const struct config *cfg, struct db *db,
                          const char *task, const struct tier0_train_opts *opts,
                          struct tier0_train_report *out, char *errstr,
                          size_t errstr_size) SL_MUSTCHECK;
void tier0_train_report_clear(struct tier0_train_report *r);

/* The summary line and the per-label certification table. */
void tier0_train_report_print(FILE *f, const char *task,
                              const struct tier0_train_report *r);

#endif
