/* pg_fixture.h — a throwaway PostgreSQL server for tests.
 *
 * pg_fixture_start() runs initdb --nosync -A trust -U postgres into a new
 * /tmp/sluice-pg.XXXXXX directory (as the "postgres" OS user when running as
 * root), listens on 127.0.0.1 on a free port with its unix socket in that
 * directory, and starts it with pg_ctl -w. pg_fixture_stop() stops it and
 * removes the directory. A watchdog process does the same if the test
 * process dies first (crash, abort, kill), so no server outlives its test.
 *
 * The binaries come from $SLUICE_PG_BINDIR, else the newest
 * /usr/lib/postgresql/<version>/bin, else $PATH.
 * List tests/unit/pg_fixture.c and lib/db.c in the test's "sources:" line;
 * the query helpers fail the running cmocka test. */
#ifndef PG_FIXTURE_H
#define PG_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct db;

struct pg_fixture {
    char dir[PATH_MAX];    /* temp dir: data/, log, socket */
    char bindir[PATH_MAX]; /* where initdb, pg_ctl, createdb live */
    int port;
    pid_t owner;    /* the process that started it; only it stops it */
    pid_t watchdog; /* cleans up if the owner dies */
    int watchdog_fd;
};

/* Starts a server. Returns 0, or -1 with a message on stderr (nothing left
 * behind). */
int pg_fixture_start(struct pg_fixture *pg);

/* Creates database name. Returns 0 or -1. */
int pg_fixture_createdb(struct pg_fixture *pg, const char *name);

/* Writes a libpq conninfo for database name into buf. */
void pg_fixture_conninfo(const struct pg_fixture *pg, const char *name,
                         char *buf, size_t size);

/* Stops the server and removes its directory; safe to call twice, and a
 * no-op in a forked child. */
void pg_fixture_stop(struct pg_fixture *pg);

/* Opens database dbname as application app_name and, when migrate, applies
 * SLUICE_SOURCE_DIR/schema. Returns the handle (free with db_close), or NULL
 * with a message on stderr. */
struct db *pg_fixture_open_db(const struct pg_fixture *pg, const char *dbname,
                              const char *app_name, bool migrate);

/* The group set-up of the database tests: starts pg, creates database
 * "sluice" and opens it as pg_fixture_open_db does. Returns NULL, with a
 * message on stderr and the server stopped, on failure. */
struct db *pg_fixture_start_db(struct pg_fixture *pg, const char *app_name,
                               bool migrate);

/* The matching teardown: closes db (NULL is fine) and stops pg. */
void pg_fixture_stop_db(struct pg_fixture *pg, struct db *db);

/* Runs q; fails the test unless the server accepts it. */
void pg_fixture_exec(struct db *db, const char *q);

/* The first column of the first row of q as text into out ("" for no row or
 * NULL); fails the test unless q returns rows. */
void pg_fixture_query_text(struct db *db, const char *q, char *out,
                           size_t size);

/* The same as a number (0 for no row or NULL). */
long long pg_fixture_query_int(struct db *db, const char *q);

#endif
