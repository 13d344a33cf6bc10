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
 *   version   print the version
 * Exit status 0 on success, 1 on any error; errors go to standard error and say what to do.
 * Files: the configuration file; the sql/ directory ($S3MUX_SQLDIR overrides it).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
};

struct ctl_command {
	const char *name;
	int needs_db;
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

static int
ctl_version(struct ctl_ctx *ctx)
{
	printf("s3muxctl (s3mux) %s\n", S3MUX_VERSION);
	return CTL_EXIT_OK;
}

static const struct ctl_command ctl_commands[] = {
	{ "roles", 1, ctl_roles, "show which session holds each role's advisory lock" },
	{ "migrate", 1, ctl_migrate, "apply the missing SQL migrations" },
	{ "version", 0, ctl_version, "print the version" },
};

static void
ctl_usage(FILE *out)
{
	fprintf(out, "usage: s3muxctl [-hv] [-c FILE] COMMAND\n"
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
	if (optind + 1 != argc) {
		fprintf(stderr, "s3muxctl: %s\n", optind == argc ? "no command given" :
		    "one command at a time");
		ctl_usage(stderr);
		return CTL_EXIT_FAILED;
	}
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
