/*
 * migrate.c: apply sql/NNN_name.sql files in order, once each, under an advisory lock.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "util.h"

#define MIGRATE_MAX_FILE (4 * 1024 * 1024)

struct migration {
	int version;
	char *name;
};

const char *
migrate_sqldir(void)
{
	const char *env = getenv("S3MUX_SQLDIR");
	if (env != NULL && *env != '\0')
		return env;
	return s3mux_in_build_tree() ? S3MUX_SRCDIR "/sql" : S3MUX_SQLDIR;
}

static int
migration_cmp(const void *a, const void *b)
{
	const struct migration *ma = a, *mb = b;
	return (ma->version > mb->version) - (ma->version < mb->version);
}

/* NNN_name.sql → version NNN; -1 for any other name. */
static int
migration_version(const char *name)
{
	size_t len = strlen(name);
	if (len < 6 || strcmp(name + len - 4, ".sql") != 0 || !isdigit((unsigned char)name[0]))
		return -1;
	char *end;
	long v = strtol(name, &end, 10);
	if (*end != '_' || v <= 0 || v > 99999)
		return -1;
	return (int)v;
}

static void
migrations_free(struct migration *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].name);
	free(list);
}

static struct migration *
migrations_list(const char *sqldir, size_t *count)
{
	DIR *dir = opendir(sqldir);
	if (dir == NULL) {
		log_warn("migrate: cannot open %s", sqldir);
		return NULL;
	}
	struct migration *list = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		int v = migration_version(de->d_name);
		if (v < 0)
			continue;
		list = xreallocarray(list, n + 1, sizeof(*list));
		list[n].version = v;
		list[n].name = xstrdup(de->d_name);
		n++;
	}
	closedir(dir);
	qsort(list, n, sizeof(*list), migration_cmp);
	for (size_t i = 1; i < n; i++) {
		if (list[i].version == list[i - 1].version) {
			log_warnx("migrate: %s and %s have the same number", list[i - 1].name,
			    list[i].name);
			migrations_free(list, n);
			return NULL;
		}
	}
	*count = n;
	return list ? list : xcalloc(1, sizeof(*list));
}

static int
migration_applied(PGconn *conn, int version)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", version);
	const char *params[] = { v };
	PGresult *res = db_query(conn,
	    "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1, params);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	PQclear(res);
	return found;
}

static int
migration_apply_one(PGconn *conn, const char *sqldir, const struct migration *m)
{
	char *path = xasprintf("%s/%s", sqldir, m->name);
	char *sql = file_read_small(path, MIGRATE_MAX_FILE);
	if (sql == NULL) {
		log_warn("migrate: cannot read %s", path);
		free(path);
		return -1;
	}
	free(path);
	char v[16];
	snprintf(v, sizeof(v), "%d", m->version);
	const char *params[] = { v, m->name };
	int rc = -1;
	if (db_exec(conn, "BEGIN") == -1)
		goto out;
	if (db_exec(conn, sql) == -1) {
		log_warnx("migrate: %s failed; rolled back", m->name);
		db_exec(conn, "ROLLBACK");
		goto out;
	}
	PGresult *res = db_query(conn,
	    "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, params);
	if (res == NULL) {
		db_exec(conn, "ROLLBACK");
		goto out;
	}
	PQclear(res);
	if (db_exec(conn, "COMMIT") == 0) {
		log_info("migrate: applied %s", m->name);
		rc = 0;
	}
out:
	free(sql);
	return rc;
}

static int
migrate_apply_locked(PGconn *conn, const char *sqldir, int *applied)
{
	if (db_exec(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version integer PRIMARY KEY,"
	    " name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())") == -1)
		return -1;
	size_t n;
	struct migration *list = migrations_list(sqldir, &n);
	if (list == NULL)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int done = migration_applied(conn, list[i].version);
		if (done == -1)
			rc = -1;
		else if (!done && migration_apply_one(conn, sqldir, &list[i]) == 0)
			(*applied)++;
		else if (!done)
			rc = -1;
	}
	migrations_free(list, n);
	return rc;
}

int
migrate_apply(PGconn *conn, const char *sqldir, int *applied)
{
	char sql[64];
	*applied = 0;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%d)", MIGRATE_LOCK_ID);
	if (db_exec(conn, sql) == -1)
		return -1;
	int rc = migrate_apply_locked(conn, sqldir, applied);
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%d)", MIGRATE_LOCK_ID);
	if (db_exec(conn, sql) == -1)
		rc = -1;
	return rc;
}
