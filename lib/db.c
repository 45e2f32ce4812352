#include "db.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "sluice\0\1" read as a big-endian int64: one lock key for every process
 * that migrates the same database. */
#define MIGRATE_LOCK_SQL "SELECT pg_advisory_lock(8317151707346042881)"
#define MIGRATE_UNLOCK_SQL "SELECT pg_advisory_unlock(8317151707346042881)"
#define MIGRATION_MAX_BYTES (16u << 20)

struct db {
    PGconn *conn;
};

struct migration {
    int version;
    char *name; /* file name, e.g. 001_core.sql */
};

static void trim_newlines(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
}

int db_error(struct db *db, const PGresult *res, const char *what,
             char *errstr, size_t errstr_size)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg[0])
        msg = db && db->conn ? PQerrorMessage(db->conn) : "no connection";
    if (!msg[0] && res)
        msg = PQresStatus(PQresultStatus(res));
    snprintf(errstr, errstr_size, "%s: %s%s%s", what, state ? state : "",
             state ? ": " : "", msg);
    trim_newlines(errstr);
    return SL_EDB;
}

/* Runs sql (no parameters) expecting want; returns 0 or SL_EDB. */
static int exec_simple(struct db *db, const char *sql, ExecStatusType want,
                       const char *what, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(db->conn, sql);
    int rc = 0;
    if (PQresultStatus(res) != want)
        rc = db_error(db, res, what, errstr, errstr_size);
    PQclear(res);
    return rc;
}

PGresult *db_query_bin(struct db *db, const char *what, const char *sql,
                       int n_params, const char *const *params,
                       const int *lengths, const int *formats, char *errstr,
                       size_t errstr_size)
{
    PGresult *res = PQexecParams(db->conn, sql, n_params, NULL, params,
                                 lengths, formats, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    db_error(db, res, what, errstr, errstr_size);
    PQclear(res);
    return NULL;
}

PGresult *db_query(struct db *db, const char *what, const char *sql,
                   int n_params, const char *const *params, char *errstr,
                   size_t errstr_size)
{
    return db_query_bin(db, what, sql, n_params, params, NULL, NULL, errstr,
                        errstr_size);
}

int db_begin(struct db *db, char *errstr, size_t errstr_size)
{
    return exec_simple(db, "BEGIN", PGRES_COMMAND_OK, "begin", errstr,
                       errstr_size);
}

int db_commit(struct db *db, char *errstr, size_t errstr_size)
{
    return exec_simple(db, "COMMIT", PGRES_COMMAND_OK, "commit", errstr,
                       errstr_size);
}

void db_rollback(struct db *db)
{
    PGTransactionStatusType ts = PQtransactionStatus(db->conn);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        PQclear(PQexec(db->conn, "ROLLBACK"));
}

struct db *db_open(const char *conninfo, const char *application_name,
                   char *errstr, size_t errstr_size)
{
    /* Values after dbname override what conninfo says; those before it are
     * defaults that conninfo may change. */
    const char *keys[] = {"connect_timeout", "keepalives", "keepalives_idle",
                          "keepalives_interval", "keepalives_count",
                          "client_encoding", "options", "dbname",
                          "application_name", NULL};
    /* NOTICEs (e.g. "already exists, skipping") would reach stderr through
     * libpq's default notice processor; warnings still do. */
    const char *vals[] = {"10", "1", "30", "10", "3", "UTF8",
                          "-c client_min_messages=warning",
                          conninfo ? conninfo : "",
                          application_name ? application_name : "sluice",
                          NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(errstr, errstr_size, "connect: %s",
                 conn ? PQerrorMessage(conn) : "out of memory");
        trim_newlines(errstr);
        PQfinish(conn);
        return NULL;
    }
    struct db *db = xcalloc(1, sizeof *db);
    db->conn = conn;
    return db;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    PQfinish(db->conn);
    free(db);
}

PGconn *db_conn(struct db *db)
{
    return db->conn;
}

int db_ensure_connected(struct db *db, char *errstr, size_t errstr_size)
{
    if (PQstatus(db->conn) == CONNECTION_OK) {
        PGTransactionStatusType ts = PQtransactionStatus(db->conn);
        if (ts == PQTRANS_IDLE)
            return 0;
        /* A caller that failed mid-transaction: roll back rather than
         * reconnect, the session itself is fine. */
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
            db_rollback(db);
            if (PQtransactionStatus(db->conn) == PQTRANS_IDLE)
                return 0;
        }
    }
    PQreset(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK)
        return db_error(db, NULL, "reconnect", errstr, errstr_size);
    return 0;
}

/* Runs a file of several statements; the last one's status decides. */
static int exec_script(struct db *db, const char *sql, const char *what,
                       char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(db->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
        st != PGRES_EMPTY_QUERY)
        rc = db_error(db, res, what, errstr, errstr_size);
    PQclear(res);
    return rc;
}

/* NNN_anything.sql -> NNN, else -1. */
static int migration_version(const char *name)
{
    size_t digits = 0, len = strlen(name);
    while (isdigit((unsigned char)name[digits]))
        digits++;
    if (digits == 0 || digits > 9 || name[digits] != '_' || len < 5 ||
        strcmp(name + len - 4, ".sql") != 0)
        return -1;
    return atoi(name);
}

static int cmp_migration(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static void free_migrations(struct migration *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].name);
    free(m);
}

/* Lists schema_dir's migration files sorted by version. */
static int list_migrations(const char *dir, struct migration **out,
                           size_t *n_out, char *errstr, size_t errstr_size)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
        return SL_EIO;
    }
    struct migration *m = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int v = migration_version(e->d_name);
        if (v < 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            m = xrealloc(m, cap * sizeof *m);
        }
        m[n].version = v;
        m[n++].name = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(m, n, sizeof *m, cmp_migration);
    for (size_t i = 1; i < n; i++) {
        if (m[i].version == m[i - 1].version) {
            snprintf(errstr, errstr_size, "%s: %s and %s share version %d",
                     dir, m[i - 1].name, m[i].name, m[i].version);
            free_migrations(m, n);
            return SL_EIO;
        }
    }
    *out = m;
    *n_out = n;
    return 0;
}

static bool version_applied(PGresult *applied, int version)
{
    for (int r = 0; r < PQntuples(applied); r++)
        if (atoi(PQgetvalue(applied, r, 0)) == version)
            return true;
    return false;
}

/* Runs the SQL file at path in one transaction (messages name it name);
 * a migration (version >= 0) is recorded in schema_migrations in the same
 * transaction. */
static int run_file(struct db *db, const char *path, const char *name,
                    int version, char *errstr, size_t errstr_size)
{
    char *sql = sl_read_file(path, MIGRATION_MAX_BYTES, NULL, errstr,
                             errstr_size);
    if (!sql)
        return SL_EIO;
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *params[] = {v, name};
    int rc = db_begin(db, errstr, errstr_size);
    if (rc == 0)
        rc = exec_script(db, sql, name, errstr, errstr_size);
    if (rc == 0 && version >= 0) {
        PGresult *res = db_query(db, "record migration",
                                 "INSERT INTO schema_migrations (version, name)"
                                 " VALUES ($1::int, $2)",
                                 2, params, errstr, errstr_size);
        rc = res ? 0 : SL_EDB;
        PQclear(res);
    }
    if (rc == 0)
        rc = db_commit(db, errstr, errstr_size);
    if (rc != 0)
        db_rollback(db);
    free(sql);
    return rc;
}

static int apply_one(struct db *db, const char *dir, const struct migration *m,
                     char *errstr, size_t errstr_size)
{
    char *path = xasprintf("%s/%s", dir, m->name);
    int rc = run_file(db, path, m->name, m->version, errstr, errstr_size);
    free(path);
    return rc;
}

/* The body of db_migrate, run while holding the advisory lock. */
static int migrate_locked(struct db *db, const char *dir, int *applied,
                          char *errstr, size_t errstr_size)
{
    struct migration *m = NULL;
    size_t n = 0;
    PGresult *done = NULL;
    int rc = exec_simple(db,
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version int PRIMARY KEY, name text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now())",
                         PGRES_COMMAND_OK, "schema_migrations", errstr,
                         errstr_size);
    if (rc != 0)
        goto out;
    rc = list_migrations(dir, &m, &n, errstr, errstr_size);
    if (rc != 0)
        goto out;
    done = PQexec(db->conn, "SELECT version FROM schema_migrations");
    if (PQresultStatus(done) != PGRES_TUPLES_OK) {
        rc = db_error(db, done, "schema_migrations", errstr, errstr_size);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (version_applied(done, m[i].version))
            continue;
        rc = apply_one(db, dir, &m[i], errstr, errstr_size);
        if (rc != 0)
            goto out;
        (*applied)++;
    }
out:
    PQclear(done);
    free_migrations(m, n);
    return rc;
}

int db_migrate(struct db *db, const char *schema_dir, int *applied,
               char *errstr, size_t errstr_size)
{
    int count = 0;
    if (applied)
        *applied = 0;
    int rc = exec_simple(db, MIGRATE_LOCK_SQL, PGRES_TUPLES_OK, "migrate lock",
                         errstr, errstr_size);
    if (rc != 0)
        return rc;
    rc = migrate_locked(db, schema_dir, &count, errstr, errstr_size);
    /* The lock is per session: a failed unlock means the session is gone,
     * which released it anyway. */
    PQclear(PQexec(db->conn, MIGRATE_UNLOCK_SQL));
    if (applied)
        *applied = count;
    return rc;
}

int db_exec_file(struct db *db, const char *path, char *errstr,
                 size_t errstr_size)
{
    const char *name = strrchr(path, '/');
    return run_file(db, path, name ? name + 1 : path, -1, errstr, errstr_size);
}
