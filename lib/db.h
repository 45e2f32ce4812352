/* db.h — one PostgreSQL connection and the schema migrations.
 *
 * Calls here are blocking (libpq's synchronous API); a process that must not
 * block its event loop runs them off the loop. A struct db is used by one
 * thread at a time.
 * Errors: 0 or a negative SL_E* code, detail in errstr (SQLSTATE first when
 * the server sent one, e.g. "23505: duplicate key ..."). */
#ifndef SL_DB_H
#define SL_DB_H

#include <stddef.h>

#include <libpq-fe.h>

#include "sl.h"

struct db;

/* Connects (blocking) with application_name, connect_timeout=10, keepalives
 * and client_encoding=UTF8; conninfo may override all but application_name.
 * Returns new db or NULL with errstr. Free with db_close. */
struct db *db_open(const char *conninfo, const char *application_name,
                   char *errstr, size_t errstr_size);
/* Closes the connection and frees db; db_close(NULL) is a no-op. */
void db_close(struct db *db);

/* Applies schema_dir/NNN_*.sql files not yet in schema_migrations, in order,
 * each in its own transaction, under a pg_advisory_lock so several processes
 * may run it at once; each file exactly once. A file must not contain
 * BEGIN/COMMIT. Returns 0 or SL_EDB/SL_EIO; *applied = count applied now
 * (may be NULL). */
int db_migrate(struct db *db, const char *schema_dir, int *applied,
               char *errstr, size_t errstr_size) SL_MUSTCHECK;

/* Runs the SQL file at path (any number of statements, no BEGIN/COMMIT) in
 * one transaction: all of it or, on the first error, none. Used for files
 * re-applied on every run, unlike migrations (schema/roles.sql). Returns 0,
 * SL_EIO (unreadable) or SL_EDB with "<file name>: <SQLSTATE>: <message>". */
int db_exec_file(struct db *db, const char *path, char *errstr,
                 size_t errstr_size) SL_MUSTCHECK;

/* Reconnects when the connection is bad (PQreset with backoff is the
 * caller's loop; this tries once). Returns 0 when the connection is usable
 * (left idle, outside any transaction), else SL_EDB with errstr. */
int db_ensure_connected(struct db *db, char *errstr, size_t errstr_size);

PGconn *db_conn(struct db *db); /* borrowed */

/* Runs sql with n_params text parameters (a NULL value is SQL NULL).
 * Returns the result when the statement succeeded (a command, or rows; the
 * caller PQclear()s it), else NULL with "<what>: <SQLSTATE>: <message>" in
 * errstr. */
PGresult *db_query(struct db *db, const char *what, const char *sql,
                   int n_params, const char *const *params, char *errstr,
                   size_t errstr_size);
/* db_query with each parameter's length and format (1: binary, for bytea
 * values); NULL arrays mean all text. */
PGresult *db_query_bin(struct db *db, const char *what, const char *sql,
                       int n_params, const char *const *params,
                       const int *lengths, const int *formats, char *errstr,
                       size_t errstr_size);

/* BEGIN and COMMIT: 0, or SL_EDB with errstr. */
int db_begin(struct db *db, char *errstr, size_t errstr_size);
int db_commit(struct db *db, char *errstr, size_t errstr_size);
/* Rolls back the transaction in progress (or failed); nothing to do outside
 * one, or when the session is gone (it never committed). */
void db_rollback(struct db *db);

/* Formats a failed result into errstr as "<what>: <SQLSTATE>: <message>",
 * or the connection's message when res is NULL. Returns SL_EDB. */
int db_error(struct db *db, const PGresult *res, const char *what,
             char *errstr, size_t errstr_size);

#endif
