/*
 * s3muxctl.c: the control tool of s3mux.
 *
 * Usage: s3muxctl [-hv] [-c FILE] COMMAND
 *   -c FILE   configuration (default SYSCONFDIR/s3mux/s3mux.yaml); database.url is read
 *             from it
 *   -v        debug logging on standard error
 * Commands:
 *   roles     for each background role and each of its advisory locks, whether the lock is
 *             held and by which database session (application_name, backend pid, client
 *             address): the way to see which s3mux instance is active and which stands by
 *   migrate   apply the SQL migrations that are missing, print how many were applied
 *   backends  each backend: bytes against quota, orphans, this month's usage against its
 *             limits, and its circuit breaker as a front end sees it (listen.admin)
 *   cleanup   the cleanup queue (depth, due, claimed) and its dead letters (cleanup_dlq)
 *   cleanup requeue ID   send a dead letter back to the queue, its attempts reset
 *   cleanup forget ID    write a dead letter off: its bytes stop counting as orphans
 *   version   print the version
 * Exit status 0 on success, 1 on any error; errors go to standard error and say what to do.
 * Files: the configuration file; the sql/ directory ($S3MUX_SQLDIR overrides it).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "db.h"
#include "locks.h"
#include "log.h"
#include "migrate.h"
#include "util.h"

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAILED 1

struct ctl_ctx {
	const char *config_path;
	int verbose;
	struct s3mux_config *cfg;
	PGconn *conn;
	int argc;			/* the words after the command */
	char **argv;
};

struct ctl_command {
	const char *name;
	int needs_db;
	int max_args;			/* words the command takes after its name */
	int (*run)(struct ctl_ctx *ctx);
	const char *help;
};

/* The advisory lock table of DESIGN.md, in the order the roles start. */
static const struct ctl_lock {
	const char *holder;
	int64_t id;
	const char *purpose;
} ctl_locks[] = {
	{ "replicator", LOCK_REPLICATION, "replication" },
	{ "replicator", LOCK_EXCESS_REPLICAS, "excess-replica removal" },
	{ "lifecycle", LOCK_LIFECYCLE, "lifecycle rules" },
	{ "cleanup", LOCK_CLEANUP, "cleanup-queue retries" },
	{ "scrubber", LOCK_RECONCILE, "reconcile catalogue vs backends" },
	{ "scrubber", LOCK_SCRUB, "integrity scrub" },
	{ "reaper", LOCK_INTENT_REAPER, "pending-intent reaper" },
	{ "reaper", LOCK_MULTIPART_SWEEP, "stale multipart sweep" },
	{ "notifier", LOCK_NOTIFY, "event delivery" },
	{ "rebalancer", LOCK_REBALANCE, "periodic rebalance" },
	{ "rebalancer", LOCK_DRAIN, "backend drain" },
	{ "(usage)", LOCK_USAGE_FLUSH, "usage-counter flush" },
	{ "(migrate)", MIGRATE_LOCK_ID, "schema migrations" },
};

/*
 * A bigint advisory key k shows in pg_locks as classid = k >> 32, objid = k & 0xffffffff,
 * objsubid = 1 (objsubid 2 is the two-int4 form).
 */
static const char ctl_roles_sql[] =
    "SELECT k.id, l.pid, a.application_name,"
    "  CASE WHEN a.pid IS NULL THEN NULL WHEN a.client_addr IS NULL THEN 'local'"
    "       ELSE host(a.client_addr) || ':' || a.client_port END,"
    "  to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS')"
    " FROM unnest($1::bigint[]) WITH ORDINALITY AS k(id, ord)"
    " LEFT JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted"
    "  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    "  AND l.classid::bigint = (k.id >> 32)"
    "  AND l.objid::bigint = (k.id & 4294967295) AND l.objsubid = 1"
    " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
    " ORDER BY k.ord";

static const char *
ctl_lock_holder(int64_t id)
{
	for (size_t i = 0; i < nitems(ctl_locks); i++) {
		if (ctl_locks[i].id == id)
			return ctl_locks[i].holder;
	}
	return "?";
}

static const char *
ctl_value(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? "-" : PQgetvalue(res, row, col);
}

static int
ctl_roles(struct ctl_ctx *ctx)
{
	struct strbuf ids;
	strbuf_init(&ids);
	strbuf_puts(&ids, "{");
	for (size_t i = 0; i < nitems(ctl_locks); i++)
		strbuf_printf(&ids, "%s%" PRId64, i ? "," : "", ctl_locks[i].id);
	strbuf_puts(&ids, "}");
	const char *params[] = { ids.data };
	PGresult *res = db_query(ctx->conn, ctl_roles_sql, 1, params);
	strbuf_free(&ids);
	if (res == NULL) {
		fprintf(stderr, "s3muxctl: cannot read pg_locks (see the message above); the "
		    "database user needs to see pg_stat_activity (superuser or pg_read_all_stats)\n");
		return CTL_EXIT_FAILED;
	}
	printf("%-12s %-5s %-5s %-20s %-8s %-22s %s\n", "ROLE", "LOCK", "STATE",
	    "APPLICATION", "BACKEND", "CLIENT", "SESSION_START");
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		int held = !PQgetisnull(res, r, 1);
		printf("%-12s %-5" PRId64 " %-5s %-20s %-8s %-22s %s\n", ctl_lock_holder(id), id,
		    held ? "held" : "free", ctl_value(res, r, 2), ctl_value(res, r, 1),
		    ctl_value(res, r, 3), ctl_value(res, r, 4));
	}
	PQclear(res);
	return CTL_EXIT_OK;
}

static int
ctl_migrate(struct ctl_ctx *ctx)
{
	const char *dir = migrate_sqldir();
	int applied = 0;
	if (migrate_apply(ctx->conn, dir, &applied) == -1) {
		fprintf(stderr, "s3muxctl: migrations from %s failed (see the message above); "
		    "fix the database or the file and run 's3muxctl migrate' again\n", dir);
		return CTL_EXIT_FAILED;
	}
	printf("applied %d migration%s%s\n", applied, applied == 1 ? "" : "s",
	    applied == 0 ? " (the schema is up to date)" : "");
	return CTL_EXIT_OK;
}

/* ---- backends ----------------------------------------------------------------------------- */

static const char ctl_backends_sql[] =
    "SELECT q.backend, b.driver, q.bytes_used, q.bytes_limit, q.bytes_reserved,"
    "  q.orphan_bytes, q.draining, coalesce(u.requests, 0), coalesce(u.egress_bytes, 0),"
    "  coalesce(u.ingress_bytes, 0)"
    " FROM backend_quotas q JOIN backends b ON b.name = q.backend"
    " LEFT JOIN backend_usage u ON u.backend = q.backend"
    "  AND u.month = date_trunc('month', now() AT TIME ZONE 'UTC')::date"
    " ORDER BY q.backend";

/* "1.5 GiB"; "-" for 0 when zero means "no limit". */
static void
ctl_size(char *buf, size_t size, uint64_t bytes, int zero_is_none)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (bytes == 0 && zero_is_none) {
		snprintf(buf, size, "-");
		return;
	}
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u + 1 < nitems(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static size_t
ctl_body(char *data, size_t size, size_t n, void *arg)
{
	strbuf_append(arg, data, size * n);
	return size * n;
}

/* GET /backends from a front end's admin listener: its breakers; NULL when none answers. */
static json_t *
ctl_admin_backends(const struct s3mux_config *cfg)
{
	if (cfg->listen.admin == NULL)
		return NULL;
	CURL *curl = curl_easy_init();
	struct strbuf body;
	strbuf_init(&body);
	char *url = xasprintf("http://%s/backends", cfg->listen.admin);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ctl_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	long status = 0;
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	free(url);
	json_t *doc = status == 200 ? json_loads(body.data ? body.data : "", 0, NULL) : NULL;
	strbuf_free(&body);
	return doc;
}

static const char *
ctl_breaker(json_t *doc, const char *name)
{
	size_t i;
	json_t *b;
	json_array_foreach(json_object_get(doc, "backends"), i, b) {
		if (strcmp(json_string_value(json_object_get(b, "name")), name) == 0)
			return json_string_value(json_object_get(b, "breaker"));
	}
	return "?";
}

static void
ctl_backend_row(const struct s3mux_config *cfg, PGresult *res, int r, json_t *admin)
{
	const struct cfg_backend *conf = config_backend(cfg, PQgetvalue(res, r, 0));
	static const struct cfg_limits none;
	const struct cfg_limits *lim = conf ? &conf->limits : &none;
	char used[24], limit[24], orphans[24], eg[24], egl[24], in[24], inl[24];
	ctl_size(used, sizeof(used), strtoull(PQgetvalue(res, r, 2), NULL, 10), 0);
	ctl_size(limit, sizeof(limit), strtoull(PQgetvalue(res, r, 3), NULL, 10), 1);
	ctl_size(orphans, sizeof(orphans), strtoull(PQgetvalue(res, r, 5), NULL, 10), 0);
	ctl_size(eg, sizeof(eg), strtoull(PQgetvalue(res, r, 8), NULL, 10), 0);
	ctl_size(egl, sizeof(egl), lim->egress_per_month, 1);
	ctl_size(in, sizeof(in), strtoull(PQgetvalue(res, r, 9), NULL, 10), 0);
	ctl_size(inl, sizeof(inl), lim->ingress_per_month, 1);
	char req[48];
	if (lim->requests_per_month)
		snprintf(req, sizeof(req), "%s/%" PRIu64, PQgetvalue(res, r, 7),
		    lim->requests_per_month);
	else
		snprintf(req, sizeof(req), "%s/-", PQgetvalue(res, r, 7));
	printf("%-14s %-6s %10s/%-10s %10s %-18s %10s/%-10s %10s/%-10s %-9s%s\n",
	    PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), used, limit, orphans, req, eg, egl,
	    in, inl, admin ? ctl_breaker(admin, PQgetvalue(res, r, 0)) : "unknown",
	    strcmp(PQgetvalue(res, r, 6), "t") == 0 ? " draining" : "");
}

static int
ctl_backends(struct ctl_ctx *ctx)
{
	PGresult *res = db_query(ctx->conn, ctl_backends_sql, 0, NULL);
	if (res == NULL)
		return CTL_EXIT_FAILED;
	json_t *admin = ctl_admin_backends(ctx->cfg);
	printf("%-14s %-6s %21s %10s %-18s %21s %21s %s\n", "BACKEND", "DRIVER",
	    "USED/QUOTA", "ORPHANS", "REQUESTS/LIMIT", "EGRESS/LIMIT", "INGRESS/LIMIT",
	    "BREAKER");
	for (int r = 0; r < PQntuples(res); r++)
		ctl_backend_row(ctx->cfg, res, r, admin);
	if (admin == NULL)
		printf("(breaker state unknown: no front end answered on listen.admin)\n");
	else
		printf("(breakers as front end %" JSON_INTEGER_FORMAT " sees them; usage for this "
		    "month, UTC)\n", json_integer_value(json_object_get(admin, "worker")));
	json_decref(admin);
	PQclear(res);
	return CTL_EXIT_OK;
}

/* ---- cleanup ------------------------------------------------------------------------------ */

static const char ctl_cleanup_summary_sql[] =
    "SELECT (SELECT count(*) FROM cleanup_queue),"
    "  (SELECT count(*) FROM cleanup_queue WHERE next_attempt_at <= now()"
    "     AND claimed_at IS NULL),"
    "  (SELECT count(*) FROM cleanup_queue WHERE claimed_at IS NOT NULL),"
    "  (SELECT coalesce(sum(size), 0) FROM cleanup_queue),"
    "  (SELECT count(*) FROM cleanup_dlq),"
    "  (SELECT coalesce(sum(size), 0) FROM cleanup_dlq)";

static const char ctl_cleanup_dlq_sql[] =
    "SELECT id, backend, attempts, size, to_char(failed_at, 'YYYY-MM-DD HH24:MI:SS'),"
    "  coalesce(object_name, bucket || '/' || key), coalesce(last_error, '')"
    " FROM cleanup_dlq ORDER BY id";

static int
ctl_cleanup_show(struct ctl_ctx *ctx)
{
	PGresult *sum = db_query(ctx->conn, ctl_cleanup_summary_sql, 0, NULL);
	if (sum == NULL)
		return CTL_EXIT_FAILED;
	printf("queue: %s rows (%s due, %s claimed), %s bytes\n", PQgetvalue(sum, 0, 0),
	    PQgetvalue(sum, 0, 1), PQgetvalue(sum, 0, 2), PQgetvalue(sum, 0, 3));
	printf("dead letters: %s rows, %s bytes\n", PQgetvalue(sum, 0, 4), PQgetvalue(sum, 0, 5));
	PQclear(sum);
	PGresult *res = db_query(ctx->conn, ctl_cleanup_dlq_sql, 0, NULL);
	if (res == NULL)
		return CTL_EXIT_FAILED;
	if (PQntuples(res) > 0)
		printf("%-10s %-16s %-8s %-12s %-19s %s\n", "ID", "BACKEND", "ATTEMPTS", "SIZE",
		    "FAILED_AT", "NAME / LAST_ERROR");
	for (int r = 0; r < PQntuples(res); r++) {
		printf("%-10s %-16s %-8s %-12s %-19s %s\n", PQgetvalue(res, r, 0),
		    PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
		    PQgetvalue(res, r, 4), PQgetvalue(res, r, 5));
		printf("%-10s %s\n", "", PQgetvalue(res, r, 6));
	}
	PQclear(res);
	return CTL_EXIT_OK;
}

/* A dead letter's id: digits only.  Prints the error and returns -1 otherwise. */
static int
ctl_cleanup_id(const char *text)
{
	size_t n = strspn(text, "0123456789");
	if (n == 0 || text[n] != '\0' || n > 18) {
		fprintf(stderr, "s3muxctl: '%s' is not a dead-letter id (a number, as 's3muxctl "
		    "cleanup' shows)\n", text);
		return -1;
	}
	return 0;
}

static int
ctl_cleanup_requeue(struct ctl_ctx *ctx, const char *id)
{
	const char *params[] = { id };
	PGresult *res = db_query(ctx->conn, "SELECT dlq_requeue($1::bigint)", 1, params);
	if (res == NULL)
		return CTL_EXIT_FAILED;
	int done = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!done) {
		fprintf(stderr, "s3muxctl: no dead letter %s (see 's3muxctl cleanup')\n", id);
		return CTL_EXIT_FAILED;
	}
	printf("dead letter %s requeued: due now, attempts reset\n", id);
	return CTL_EXIT_OK;
}

static int
ctl_cleanup_forget(struct ctl_ctx *ctx, const char *id)
{
	const char *params[] = { id };
	PGresult *res = db_query(ctx->conn, "SELECT backend, size FROM dlq_forget($1::bigint)", 1,
	    params);
	if (res == NULL)
		return CTL_EXIT_FAILED;
	int done = !PQgetisnull(res, 0, 0);
	if (done)
		printf("dead letter %s forgotten: %s bytes on %s no longer counted as orphans "
		    "(whatever is still on the backend stays there)\n", id, PQgetvalue(res, 0, 1),
		    PQgetvalue(res, 0, 0));
	else
		fprintf(stderr, "s3muxctl: no dead letter %s (see 's3muxctl cleanup')\n", id);
	PQclear(res);
	return done ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

static int
ctl_cleanup(struct ctl_ctx *ctx)
{
	if (ctx->argc == 0)
		return ctl_cleanup_show(ctx);
	const char *verb = ctx->argv[0];
	int known = strcmp(verb, "requeue") == 0 || strcmp(verb, "forget") == 0;
	if (!known || ctx->argc != 2) {
		fprintf(stderr, "s3muxctl: usage: s3muxctl cleanup [requeue ID | forget ID]\n");
		return CTL_EXIT_FAILED;
	}
	if (ctl_cleanup_id(ctx->argv[1]) == -1)
		return CTL_EXIT_FAILED;
	return strcmp(verb, "requeue") == 0 ? ctl_cleanup_requeue(ctx, ctx->argv[1]) :
	    ctl_cleanup_forget(ctx, ctx->argv[1]);
}

static int
ctl_version(struct ctl_ctx *ctx)
{
	printf("s3muxctl (s3mux) %s\n", S3MUX_VERSION);
	return CTL_EXIT_OK;
}

static const struct ctl_command ctl_commands[] = {
	{ "roles", 1, 0, ctl_roles, "show which session holds each role's advisory lock" },
	{ "migrate", 1, 0, ctl_migrate, "apply the missing SQL migrations" },
	{ "backends", 1, 0, ctl_backends, "each backend's bytes against its quota, orphan bytes,\n"
	    "            this month's usage against its limits, its circuit breaker" },
	{ "cleanup", 1, 2, ctl_cleanup, "show the cleanup queue and its dead letters;\n"
	    "            cleanup requeue ID: retry a dead letter; cleanup forget ID: write it off" },
	{ "version", 0, 0, ctl_version, "print the version" },
};

static void
ctl_usage(FILE *out)
{
	fprintf(out, "usage: s3muxctl [-hv] [-c FILE] COMMAND [ARGUMENTS]\n"
	    "  -c, --config FILE  configuration file (default %s/s3mux.yaml)\n"
	    "  -v, --verbose      log debug messages\n"
	    "commands:\n", S3MUX_SYSCONFDIR);
	for (size_t i = 0; i < nitems(ctl_commands); i++)
		fprintf(out, "  %-9s %s\n", ctl_commands[i].name, ctl_commands[i].help);
}

static const struct ctl_command *
ctl_find(const char *name)
{
	for (size_t i = 0; i < nitems(ctl_commands); i++) {
		if (strcmp(ctl_commands[i].name, name) == 0)
			return &ctl_commands[i];
	}
	return NULL;
}

/* Load the configuration and connect.  Errors are printed; returns -1. */
static int
ctl_connect(struct ctl_ctx *ctx)
{
	char err[1024];
	ctx->cfg = config_load(ctx->config_path, err, sizeof(err));
	if (ctx->cfg == NULL) {
		fprintf(stderr, "s3muxctl: %s\n  fix the file (see s3mux.yaml(5)) or name "
		    "another one with -c FILE\n", err);
		return -1;
	}
	if (ctx->cfg->database.url == NULL) {
		fprintf(stderr, "s3muxctl: %s: database.url is not set; add it (see "
		    "s3mux.yaml(5))\n", ctx->config_path);
		return -1;
	}
	ctx->conn = db_connect(ctx->cfg->database.url, "ctl",
	    ctx->cfg->database.connect_timeout_ms, err, sizeof(err));
	if (ctx->conn == NULL) {
		fprintf(stderr, "s3muxctl: cannot connect to the database: %s\n  check that "
		    "PostgreSQL is running and database.url in %s\n", err, ctx->config_path);
		return -1;
	}
	return 0;
}

/* Returns -1 to go on, or the exit status. */
static int
ctl_options(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "+c:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': ctx->config_path = optarg; break;
		case 'v': ctx->verbose = 1; break;
		case 'h': ctl_usage(stdout); return CTL_EXIT_OK;
		default: ctl_usage(stderr); return CTL_EXIT_FAILED;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "s3muxctl: no command given\n");
		ctl_usage(stderr);
		return CTL_EXIT_FAILED;
	}
	ctx->argc = argc - optind - 1;
	ctx->argv = argv + optind + 1;
	return -1;
}

int
main(int argc, char **argv)
{
	struct ctl_ctx ctx = { .config_path = S3MUX_SYSCONFDIR "/s3mux.yaml" };
	int rc = ctl_options(&ctx, argc, argv);
	if (rc != -1)
		return rc;
	log_init("s3muxctl", LOG_DEST_STDERR, ctx.verbose);
	const struct ctl_command *cmd = ctl_find(argv[optind]);
	if (cmd == NULL) {
		fprintf(stderr, "s3muxctl: unknown command '%s'\n", argv[optind]);
		ctl_usage(stderr);
		return CTL_EXIT_FAILED;
	}
	if (ctx.argc > cmd->max_args) {
		fprintf(stderr, "s3muxctl: too many arguments for '%s' (one command at a time)\n",
		    cmd->name);
		ctl_usage(stderr);
		return CTL_EXIT_FAILED;
	}
	if (cmd->needs_db && ctl_connect(&ctx) == -1)
		rc = CTL_EXIT_FAILED;
	else
		rc = cmd->run(&ctx);
	if (ctx.conn != NULL)
		PQfinish(ctx.conn);
	if (ctx.cfg != NULL)
		config_free(ctx.cfg);
	return rc;
}
