/* migrate.c — `sluice migrate`: apply schema/NNN_*.sql once each. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "config.h"
#include "db.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice migrate [--config FILE] [--schema-dir DIR]\n"
            "\n"
            "Applies the numbered SQL files of DIR (default schema/, or\n"
            "$SLUICE_SCHEMA_DIR) that the database has not seen, in order,\n"
            "each exactly once; several processes may run it at once.\n"
            "Only postgres.conninfo (or $SLUICE_PG_CONNINFO) is used.\n");
}

int cmd_migrate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"schema-dir", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = config_default_path();
    const char *schema_dir = getenv("SLUICE_SCHEMA_DIR");
    int c;
    if (!schema_dir)
        schema_dir = "schema";
    while ((c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 's': schema_dir = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    struct config *cfg = NULL;
    char err[1024];
    if (config_load(config_path, &cfg, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "sluice migrate: %s\n", err);
        return 2;
    }
    int rc = 1, applied = 0;
    struct db *db = db_open(cfg->pg_conninfo, "sluice-migrate", err, sizeof(err));
    if (!db) {
        fprintf(stderr, "sluice migrate: %s\n", err);
    } else if (db_migrate(db, schema_dir, &applied, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "sluice migrate: %s\n", err);
    } else {
        printf("migrations applied: %d\n", applied);
        rc = 0;
    }
    db_close(db);
    config_free(cfg);
    return rc;
}
