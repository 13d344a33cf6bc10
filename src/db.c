/*
 * db.c: blocking libpq helpers: connect, run, query, advisory locks, liveness.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "util.h"

/* Server notices ("relation already exists, skipping") are not worth a log line. */
static void
db_ignore_notice(void *arg, const char *message)
{
}

PGconn *
db_connect(const char *url, const char *role, int64_t timeout_ms, char *errbuf,
    size_t errbuf_size)
{
	char appname[64], timeout[32];
	snprintf(appname, sizeof(appname), "s3mux-%s", role);
	snprintf(timeout, sizeof(timeout), "%" PRId64, timeout_ms > 0 ? (timeout_ms + 999) / 1000 : 10);
	const char *keys[] = { "dbname", "application_name", "connect_timeout", NULL };
	const char *values[] = { url, appname, timeout, NULL };
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	if (conn == NULL) {
		snprintf(errbuf, errbuf_size, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(errbuf, errbuf_size, "%s", PQerrorMessage(conn));
		errbuf[strcspn(errbuf, "\n")] = '\0';
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, db_ignore_notice, NULL);
	return conn;
}

static const char *
db_error_text(PGconn *conn, PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(conn);
	return msg;
}

static void
db_log_error(PGconn *conn, PGresult *res, const char *sql)
{
	char what[128];
	snprintf(what, sizeof(what), "%s", sql);
	what[strcspn(what, "\n")] = '\0';
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", db_error_text(conn, res));
	msg[strcspn(msg, "\n")] = '\0';
	log_warnx("database: %s (in: %s)", msg, what);
}

int
db_exec(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		db_log_error(conn, res, sql);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

PGresult *
db_query(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		db_log_error(conn, res, sql);
		PQclear(res);
		return NULL;
	}
	return res;
}

static int
db_lock_call(PGconn *conn, const char *fn, int64_t lock_id)
{
	char sql[96], id[32];
	snprintf(sql, sizeof(sql), "SELECT %s($1::bigint)", fn);
	snprintf(id, sizeof(id), "%" PRId64, lock_id);
	const char *params[] = { id };
	PGresult *res = db_query(conn, sql, 1, params);
	if (res == NULL)
		return -1;
	int got = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return got;
}

int
db_try_advisory_lock(PGconn *conn, int64_t lock_id)
{
	return db_lock_call(conn, "pg_try_advisory_lock", lock_id);
}

int
db_advisory_unlock(PGconn *conn, int64_t lock_id)
{
	return db_lock_call(conn, "pg_advisory_unlock", lock_id) == -1 ? -1 : 0;
}

int
db_alive(PGconn *conn)
{
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		return 0;
	PGresult *res = PQexec(conn, "SELECT 1");
	int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	return ok;
}

int
db_register_backends(PGconn *conn, const struct s3mux_config *cfg)
{
	for (size_t i = 0; i < cfg->nbackends; i++) {
		const struct cfg_backend *b = &cfg->backends[i];
		char quota[24];
		snprintf(quota, sizeof(quota), "%llu", (unsigned long long)b->quota);
		const char *params[] = { b->name, b->driver == BACKEND_DRIVER_S3 ? "s3" : "fs", quota };
		PGresult *res = db_query(conn, "SELECT register_backend($1, $2, $3::bigint)", 3,
		    params);
		if (res == NULL)
			return -1;
		PQclear(res);
	}
	return 0;
}
