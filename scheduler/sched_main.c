/* sched_main.c — `sluice scheduler` and `sluice status`: argument parsing
 * around scheduler_run() and sched_print_status(). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler.h"
#include "log.h"
#include "sched.h"

static void usage(FILE *out, const char *cmd)
{
    if (strcmp(cmd, "status") == 0) {
        fprintf(out,
                "usage: sluice status [--config FILE]\n"
                "\n"
                "Prints pending rows per provider, model, mode and state, the\n"
                "provider batches in flight with their state and age, and the\n"
                "next off-peak window.\n");
        return;
    }
    fprintf(out,
            "usage: sluice scheduler [--config FILE] [--log-level LEVEL] [--once]\n"
            "\n"
            "Groups pending async/offpeak jobs into provider batches (OpenAI\n"
            "Batch, Anthropic Message Batches) by provider and model, submits a\n"
            "group when it is full, its oldest job waited scheduler.max_wait_s,\n"
            "an off-peak window opened or a deadline requires it; polls, ingests\n"
            "the answers (escalating or retrying like a realtime answer) and\n"
            "answers realtime what a batch cannot serve in time. Any number may\n"
            "run against one database. SIGTERM/SIGINT stops after the current step.\n"
            "\n"
            "  -c, --config FILE     configuration (default config/sluice.json,\n"
            "                        or $SLUICE_CONFIG)\n"
            "  -l, --log-level L     debug | info | warn | error\n"
            "      --once            run one pass and exit (for cron and tests)\n"
            "  -h, --help            this text\n");
}

static int parse_args(int argc, char **argv, const char *cmd,
                      const char **config_path, bool *once)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"once", no_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    *config_path = config_default_path();
    while ((c = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': *config_path = optarg; break;
        case 'o': *once = true; break;
        case 'l':
            log_level_pinned = true;
            if (log_level_parse(optarg, &log_min_level) != SL_OK) {
                fprintf(stderr, "sluice %s: unknown log level '%s'\n", cmd, optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout, cmd); return -1;
        default: usage(stderr, cmd); return 2;
        }
    }
    return 0;
}

int cmd_scheduler(int argc, char **argv)
{
    const char *path;
    bool once = false;
    struct config *cfg = NULL;
    int rc = parse_args(argc, argv, "scheduler", &path, &once);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (config_load_for("scheduler", path, &cfg) != SL_OK)
        return 2;
    config_apply_log_level(cfg);
    rc = scheduler_run(cfg, path, once);
    config_free(cfg);
    return rc;
}

int cmd_status(int argc, char **argv)
{
    const char *path;
    bool once = false;
    struct config *cfg = NULL;
    char err[512];
    int rc = parse_args(argc, argv, "status", &path, &once);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (config_load_for("status", path, &cfg) != SL_OK)
        return 2;
    struct db *db = db_open(cfg->pg_conninfo, "sluice-status", err, sizeof(err));
    if (!db) {
        fprintf(stderr, "sluice status: %s\n", err);
        config_free(cfg);
        return 1;
    }
    rc = sched_print_status(db, cfg, stdout);
    db_close(db);
    config_free(cfg);
    return rc;
}
