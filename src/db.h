/*
 * db.h: blocking libpq helpers for the supervisor, s3muxctl and the background roles.
 *
 * Every helper logs a failure once, with the server's message, and returns -1 or NULL.
 * (The front end's asynchronous database access lives in its own module.)
 */
#ifndef S3MUX_DB_H
#define S3MUX_DB_H

#include <stdint.h>
#include <libpq-fe.h>

/* Connect with application_name "s3mux-<role>"; NULL on failure (reason in errbuf). */
PGconn *db_connect(const char *url, const char *role, int64_t timeout_ms, char *errbuf,
    size_t errbuf_size);
/* Run a command (or several, separated by ';') that returns no rows; -1 on error. */
int db_exec(PGconn *conn, const char *sql);
/* Run a parameterised statement; NULL on error, else a result the caller PQclear()s. */
PGresult *db_query(PGconn *conn, const char *sql, int nparams, const char *const *params);
/* pg_try_advisory_lock: 1 when taken, 0 when another session holds it, -1 on error. */
int db_try_advisory_lock(PGconn *conn, int64_t lock_id);
int db_advisory_unlock(PGconn *conn, int64_t lock_id);
struct s3mux_config;
/* Make the configured backends known to the catalogue, with their current quotas; -1 on error. */
int db_register_backends(PGconn *conn, const struct s3mux_config *cfg);

/* 1 when the connection is usable (a cheap round trip succeeded), else 0. */
int db_alive(PGconn *conn);

#endif
