/* worker_main.c — `sluice worker`: argument parsing around worker_run(). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "worker.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice worker [--config FILE] [--log-level LEVEL]\n"
            "\n"
            "Consumes jobs from the Kafka topic in config (consumer group\n"
            "kafka.group_id, so several workers share the partitions), routes\n"
            "each through its tier ladder and writes results and cost lines\n"
            "to PostgreSQL. SIGTERM or SIGINT drains and exits 0; a second\n"
            "signal exits at once.\n"
            "\n"
            "  -c, --config FILE     configuration (default config/sluice.json,\n"
            "                        or $SLUICE_CONFIG)\n"
            "  -l, --log-level L     debug | info | warn | error\n"
            "  -h, --help            this text\n");
}


int cmd_worker(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = config_default_path();
    int c;
    while ((c = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'l':
            log_level_pinned = true;
            if (log_level_parse(optarg, &log_min_level) != SL_OK) {
                fprintf(stderr, "sluice worker: unknown log level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    struct config *cfg = NULL;
    if (config_load_for("worker", config_path, &cfg) != SL_OK)
        return 2;
    config_apply_log_level(cfg);
    int rc = worker_run(cfg, config_path);
    config_free(cfg);
    return rc;
}
