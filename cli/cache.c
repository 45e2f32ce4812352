/* cache.c — `sluice cache purge`: drops a task's cached answers (all, or one
 * tenant's) and records the purge, which every worker sees with its next
 * cache read and then drops its in-process entries (worker/cache.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "db.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice cache purge --task T [--tenant X] [--config FILE]\n"
            "\n"
            "Deletes the cached answers of task T (of every version), or only\n"
            "tenant X's, and records the purge so that running workers drop\n"
            "their in-process copies with their next cache read. A task whose\n"
            "cache is shared keeps its answers under no tenant: purge it\n"
            "without --tenant. Prints the number of entries removed. Exit 0\n"
            "when done, 1 on a database error, 2 on bad usage.\n");
}

struct purge_args {
    const char *task, *tenant, *config;
};

static int parse_args(int argc, char **argv, struct purge_args *a)
{
    static const struct option opts[] = {
        {"task", required_argument, NULL, 't'}, {"tenant", required_argument, NULL, 'n'},
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *a = (struct purge_args){NULL, NULL, config_default_path()};
    int c;
    while ((c = getopt_long(argc, argv, "t:n:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': a->task = optarg; break;
        case 'n': a->tenant = optarg; break;
        case 'c': a->config = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!a->task || !a->task[0] || (a->tenant && !a->tenant[0]) || optind != argc) {
        usage(stderr);
        return 2;
    }
    return -1;
}

static const char PURGE_SQL[] =
    "WITH d AS (DELETE FROM cache_entries WHERE task = $1"
    "           AND ($2::text IS NULL OR tenant = $2) RETURNING 1),"
    " p AS (INSERT INTO cache_purges (task, tenant, entries)"
    "       SELECT $1, $2, count(*) FROM d RETURNING entries)"
    " SELECT entries FROM p";

static int purge(int argc, char **argv)
{
    struct purge_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct config *cfg = NULL;
    char err[1024];
    if (config_load_for("cache", a.config, &cfg) != SL_OK)
        return 2;
    struct db *db = db_open(cfg->pg_conninfo, "sluice-cache", err, sizeof err);
    PGresult *res = NULL;
    const char *params[] = {a.task, a.tenant};
    if (db)
        res = db_query(db, "cache purge", PURGE_SQL, 2, params, err, sizeof err);
    if (!res) {
        fprintf(stderr, "sluice cache: %s\n", err);
        rc = 1;
    } else {
        printf("purged %s entries of task %s%s%s\n", PQgetvalue(res, 0, 0),
               a.task, a.tenant ? ", tenant " : "", a.tenant ? a.tenant : "");
        rc = 0;
    }
    PQclear(res);
    db_close(db);
    config_free(cfg);
    return rc;
}

int cmd_cache(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "purge") == 0)
        return purge(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
