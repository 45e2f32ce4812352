/* train.c — `sluice train`: the command-line face of tier0_train_task()
 * (prune old traces, fit tier 0 on the task's traces, certify it, store it
 * as the task's next model version). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "config.h"
#include "db.h"
#include "tier0/tier0_train.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice train --task T [--config FILE] [--target X] [--seed S]\n"
            "\n"
            "Deletes T's traces older than tier0.trace_retention_days, splits\n"
            "T's newest traces (at most %d) into fit, tune and certify rows\n"
            "(seeded by S, default 1), trains the tier-0 classifier of label\n"
            "task T, and certifies it on the held-out certify rows by\n"
            "fixed-sequence testing, so that the 95 %% Clopper-Pearson upper\n"
            "bound of disagreement over the answer set is <= 1 - X (default:\n"
            "the task's tier0.target). Prints the table and stores the model as\n"
            "the task's next version, even when nothing is certified (it then\n"
            "answers nothing). Exit 0 when stored, 1 on failure, 2 on bad usage.\n",
            TIER0_TRAIN_MAX_TRACES);
}

struct train_args {
    const char *task, *config;
    double target; /* < 0: from the task config */
    unsigned seed;
};

static int parse_args(int argc, char **argv, struct train_args *a)
{
    static const struct option opts[] = {
        {"task", required_argument, NULL, 't'}, {"config", required_argument, NULL, 'c'},
        {"target", required_argument, NULL, 'g'}, {"seed", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    *a = (struct train_args){NULL, config_default_path(), -1, 1};
    unsigned long seed;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "t:c:g:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': a->task = optarg; break;
        case 'c': a->config = optarg; break;
        case 'g':
            a->target = strtod(optarg, &end);
            if (*end || !(a->target > 0 && a->target < 1))
                return fprintf(stderr, "sluice train: --target must be in (0, 1)\n"), 2;
            break;
        case 's':
            seed = strtoul(optarg, &end, 10);
            if (*end || seed < 1 || seed > 0x7fffffffUL)
                return fprintf(stderr, "sluice train: --seed must be in [1, 2^31)\n"), 2;
            a->seed = (unsigned)seed;
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

int cmd_train(int argc, char **argv)
{
    struct train_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct config *cfg = NULL;
    char err[1024];
    if (config_load_for("train", a.config, &cfg) != SL_OK)
        return 2;
    const struct task_conf *task = config_task(cfg, a.task);
    if (!task || task->output != OUTPUT_LABEL) {
        fprintf(stderr, "sluice train: %s: %s\n", a.task,
                task ? "not a label task" : "no such task in the config");
        config_free(cfg);
        return 2;
    }
    struct db *db = db_open(cfg->pg_conninfo, "sluice-train", err, sizeof err);
    struct tier0_train_report r;
    struct tier0_train_opts o = {a.target > 0 ? a.target : 0, 0, a.seed};
    if (!db) {
        fprintf(stderr, "sluice train: %s\n", err);
        rc = 1;
    } else if (tier0_train_task_opts(cfg, db, a.task, &o, &r, err, sizeof err) != SL_OK) {
        fprintf(stderr, "sluice train: task %s: %s\n", a.task, err);
        tier0_train_report_clear(&r);
        rc = 1;
    } else {
        tier0_train_report_print(stdout, a.task, &r);
        tier0_train_report_clear(&r);
        rc = 0;
    }
    db_close(db);
    config_free(cfg);
    return rc;
}
