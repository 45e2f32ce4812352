/* train.c — `sluice train`: fit tier 0 on a task's traces, certify it, and
 * store it as the task's next model version. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "config.h"
#include "db.h"
#include "tier0_certify.h"
#include "tier0_store.h"

#define TRAIN_MAX_TRACES 1000000

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice train --task T [--config FILE] [--target X] [--folds K]\n"
            "\n"
            "Trains the tier-0 classifier of label task T on its newest traces\n"
            "(at most %d), certifies it with K-fold (default 5) out-of-fold\n"
            "predictions so that the 95 %% Clopper-Pearson upper bound of\n"
            "disagreement over the answer set is <= 1 - X (default: the task's\n"
            "tier0.target), prints the table and stores the model as the task's\n"
            "next version, even when nothing is certified (it then answers\n"
            "nothing). Exit 0 when stored, 1 on failure, 2 on bad usage.\n",
            TRAIN_MAX_TRACES);
}

struct train_args {
    const char *task, *config;
    double target; /* < 0: from the task config */
    int folds;
};

static int parse_args(int argc, char **argv, struct train_args *a)
{
    static const struct option opts[] = {
        {"task", required_argument, NULL, 't'}, {"config", required_argument, NULL, 'c'},
        {"target", required_argument, NULL, 'g'}, {"folds", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    *a = (struct train_args){NULL, cli_default_config(), -1, 5};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "t:c:g:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': a->task = optarg; break;
        case 'c': a->config = optarg; break;
        case 'g':
            a->target = strtod(optarg, &end);
            if (*end || !(a->target > 0 && a->target < 1))
                return fprintf(stderr, "sluice train: --target must be in (0, 1)\n"), 2;
            break;
        case 'k':
            a->folds = (int)strtol(optarg, &end, 10);
            if (*end || a->folds < 2 || a->folds > 20)
                return fprintf(stderr, "sluice train: --folds must be in [2, 20]\n"), 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!a->task || optind != argc) {
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Trains, certifies, prints and stores; returns the exit code. */
static int train_task(struct db *db, const struct train_args *a)
{
    char err[1024];
    struct tier0_trace_set s = {0};
    struct tier0_data *d = NULL;
    struct tier0_oof *oof = NULL;
    struct tier0_model *m = NULL;
    struct tier0_cert c = {0};
    struct tier0_train_params p;
    tier0_train_params_default(&p);
    int64_t version = 0, t0 = sl_monotonic_us();
    int rc = tier0_store_load_traces(db, a->task, TRAIN_MAX_TRACES, &s, err, sizeof err);
    if (rc == SL_OK)
        rc = tier0_data_new(&p.feat, (const char *const *)s.texts,
                            (const char *const *)s.labels, s.n, &d, err, sizeof err);
    if (rc == SL_OK) {
        oof = xcalloc(s.n, sizeof *oof);
        rc = tier0_cert_kfold(d, &p, a->folds, 1, 2, oof, err, sizeof err);
    }
    if (rc == SL_OK && (rc = tier0_cert_select(oof, s.n, tier0_data_n_labels(d),
                                               a->target, &c)) != SL_OK)
        snprintf(err, sizeof err, "certification failed");
    if (rc == SL_OK)
        rc = tier0_model_train(d, &p, NULL, &m, err, sizeof err);
    if (rc == SL_OK)
        rc = tier0_store_save(db, a->task, m, &c, &version, err, sizeof err);
    if (rc == SL_OK) {
        printf("task=%s version=%lld traces=%zu labels=%zu folds=%d train_s=%.2f\n",
               a->task, (long long)version, s.n, tier0_model_n_labels(m), a->folds,
               (double)(sl_monotonic_us() - t0) / 1e6);
        tier0_cert_print(stdout, &c, m);
    } else {
        fprintf(stderr, "sluice train: task %s: %s\n", a->task, err);
    }
    tier0_cert_clear(&c);
    tier0_model_free(m);
    free(oof);
    tier0_data_free(d);
    tier0_trace_set_clear(&s);
    return rc == SL_OK ? 0 : 1;
}

int cmd_train(int argc, char **argv)
{
    struct train_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct config *cfg = NULL;
    char err[1024];
    if (config_load(a.config, &cfg, err, sizeof err) != SL_OK) {
        fprintf(stderr, "sluice train: %s\n", err);
        return 2;
    }
    const struct task_conf *task = config_task(cfg, a.task);
    if (!task || task->output != OUTPUT_LABEL) {
        fprintf(stderr, "sluice train: %s: %s\n", a.task,
                task ? "not a label task" : "no such task in the config");
        config_free(cfg);
        return 2;
    }
    if (a.target < 0)
        a.target = task->tier0_target;
    struct db *db = db_open(cfg->pg_conninfo, "sluice-train", err, sizeof err);
    if (!db) {
        fprintf(stderr, "sluice train: %s\n", err);
        rc = 1;
    } else {
        rc = train_task(db, &a);
    }
    db_close(db);
    config_free(cfg);
    return rc;
}
