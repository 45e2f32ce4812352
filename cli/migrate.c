/* migrate.c — `sluice migrate`: apply schema/NNN_*.sql once each, and with
 * --roles the least-privilege roles of schema/roles.sql. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "commands.h"
#include "config.h"
#include "db.h"
#include "ledger.h"

#define ROLES_FILE "roles.sql"
/* Set by CMake to <prefix>/share/sluice/schema, where `cmake --install` puts
 * schema/; a build without it still finds ./schema. */
#ifndef SLUICE_SCHEMA_INSTALL_DIR
#define SLUICE_SCHEMA_INSTALL_DIR "schema"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice migrate [--config FILE] [--schema-dir DIR] [--roles]\n"
            "\n"
            "Applies the numbered SQL files of DIR that the database has not\n"
            "seen, in order, each exactly once; several processes may run it\n"
            "at once. Only postgres.conninfo (or $SLUICE_PG_CONNINFO) is used;\n"
            "connect as the role that owns (or will own) the tables.\n"
            "\n"
            "  -c, --config FILE     configuration (default config/sluice.json,\n"
            "                        or $SLUICE_CONFIG)\n"
            "  -s, --schema-dir DIR  the SQL files (default $SLUICE_SCHEMA_DIR,\n"
            "                        else ./schema when it exists, else\n"
            "                        %s)\n"
            "  -r, --roles           then apply DIR/" ROLES_FILE ": create the\n"
            "                        NOLOGIN roles sluice_worker, sluice_scheduler,\n"
            "                        sluice_reader, sluice_tenant_reader and set\n"
            "                        their grants (idempotent; needs CREATEROLE)\n"
            "  -h, --help            this text\n",
            SLUICE_SCHEMA_INSTALL_DIR);
}

/* A source checkout runs from its top directory with schema/ beside it; an
 * installed binary (a systemd unit, any cwd) uses the installed copy. */
static const char *default_schema_dir(void)
{
    const char *env = getenv("SLUICE_SCHEMA_DIR");
    struct stat st;
    if (env && env[0])
        return env;
    if (stat("schema", &st) == 0 && S_ISDIR(st.st_mode))
        return "schema";
    return SLUICE_SCHEMA_INSTALL_DIR;
}

/* A database migrated long ago still gets its coming months' tables
 * (schema/014; a schema directory from before it has none to make). */
static int ensure_ledger_months(struct db *db, char *err, size_t err_size)
{
    PGresult *res = db_query(db, "ledger partition function",
                             "SELECT to_regprocedure("
                             "'sluice_ledger_partitions_ahead(int)') IS NOT NULL",
                             0, NULL, err, err_size);
    if (!res)
        return SL_EDB;
    bool partitioned = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    int months = 0;
    if (partitioned && ledger_partitions_ahead(db, &months, err, err_size) != SL_OK)
        return SL_EDB;
    if (months > 0)
        printf("ledger month tables created: %d\n", months);
    return SL_OK;
}

/* Migrations, then the roles when asked; prints what it did. */
static int run(struct db *db, const char *schema_dir, bool roles, char *err,
               size_t err_size)
{
    int applied = 0;
    if (db_migrate(db, schema_dir, &applied, err, err_size) != SL_OK)
        return 1;
    printf("migrations applied: %d\n", applied);
    if (ensure_ledger_months(db, err, err_size) != SL_OK)
        return 1;
    if (!roles)
        return 0;
    char *path = xasprintf("%s/%s", schema_dir, ROLES_FILE);
    int rc = db_exec_file(db, path, err, err_size);
    free(path);
    if (rc != SL_OK)
        return 1;
    printf("roles applied: sluice_worker sluice_scheduler sluice_reader "
           "sluice_tenant_reader\n");
    return 0;
}

int cmd_migrate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"schema-dir", required_argument, NULL, 's'},
        {"roles", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = config_default_path();
    const char *schema_dir = default_schema_dir();
    bool roles = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:s:rh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 's': schema_dir = optarg; break;
        case 'r': roles = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    struct config *cfg = NULL;
    char err[1024];
    if (config_load_for("migrate", config_path, &cfg) != SL_OK)
        return 2;
    int rc = 1;
    struct db *db = db_open(cfg->pg_conninfo, "sluice-migrate", err, sizeof(err));
    if (db)
        rc = run(db, schema_dir, roles, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "sluice migrate: %s\n", err);
    db_close(db);
    config_free(cfg);
    return rc;
}
