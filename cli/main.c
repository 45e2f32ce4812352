/* main.c — the `sluice` binary: one entry point, one subcommand per job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "commands.h"
#include "rfc3339.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"worker", cmd_worker, "consume jobs, route them through the tiers, write results and costs"},
    {"migrate", cmd_migrate, "apply the SQL migrations in schema/ (safe to run concurrently)"},
    {"publish", cmd_publish, "publish a JSONL file of jobs to the jobs topic"},
    {"report", cmd_report, "cost tables, CSV or an HTML page with charts from the ledger views"},
    {"reconcile", cmd_reconcile, "the ledger against the providers' usage reports, per day, provider and model"},
    {"cache", cmd_cache, "purge a task's cached answers (all, or one tenant's)"},
    {"train", cmd_train, "train and certify the tier-0 classifier of a label task from its traces"},
    {"scheduler", cmd_scheduler, "submit async/offpeak jobs as provider batches, poll and ingest them"},
    {"status", cmd_status, "pending jobs, batches in flight and the next off-peak window"},
};

int cli_valid_date(const char *s)
{
    char stamp[32];
    int64_t ms;
    if (!s || strlen(s) != 10)
        return 0;
    snprintf(stamp, sizeof(stamp), "%sT00:00:00Z", s);
    return rfc3339_parse_ms(stamp, &ms) == SL_OK;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: sluice <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`sluice <command> --help` describes a command's options.\n"
                 "Configuration: --config FILE, else $SLUICE_CONFIG, else "
                 "config/sluice.json.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = commands[i].run(argc - 1, argv + 1);
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "sluice: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
