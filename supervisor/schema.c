/*
 * schema.c: before any child starts, reach the database and apply the sql/ migrations.
 *
 * The supervisor connects as application "s3mux-supervisor", applies what is missing with
 * migrate_apply(), registers the configured backends and their quotas, and disconnects: it keeps no database session while it runs.  When the
 * database cannot be reached (or the migrations fail) it says why and tries again every
 * SUP_DB_RETRY_MS from a timer, so SIGTERM and SIGHUP are still served while it waits.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "sup.h"
#include "util.h"

#define SUP_DB_RELOG_MS 60000	/* the same error is logged again after this long */

/* One attempt: connect, migrate, disconnect.  -1 with the reason in err. */
int
sup_schema_apply(const struct s3mux_config *cfg, char *err, size_t errlen)
{
	char why[512];
	PGconn *conn = db_connect(cfg->database.url, "supervisor",
	    cfg->database.connect_timeout_ms, why, sizeof(why));
	if (conn == NULL) {
		snprintf(err, errlen, "cannot connect: %s", why);
		return -1;
	}
	int applied = 0;
	int rc = migrate_apply(conn, migrate_sqldir(), &applied);
	if (rc == -1) {
		PQfinish(conn);
		snprintf(err, errlen, "applying the migrations in %s failed", migrate_sqldir());
		return -1;
	}
	rc = db_register_backends(conn, cfg);
	PQfinish(conn);
	if (rc == -1) {
		snprintf(err, errlen, "registering the configured backends failed");
		return -1;
	}
	if (applied > 0)
		log_info("migrations: %d applied", applied);
	else
		log_info("schema up to date");
	return 0;
}

static void
sup_schema_log_wait(struct sup_ctx *ctx, const char *err)
{
	int64_t now = clock_mono_ms();
	if (strcmp(err, ctx->db_error) == 0 && now - ctx->db_error_ms < SUP_DB_RELOG_MS) {
		log_debug("database: %s", err);
		return;
	}
	log_warnx("database: %s; retrying every %ds", err, SUP_DB_RETRY_MS / 1000);
	snprintf(ctx->db_error, sizeof(ctx->db_error), "%s", err);
	ctx->db_error_ms = now;
}

static void
sup_schema_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sup_ctx *ctx = arg;
	char err[1024];

	if (ctx->state != SUP_WAIT_DB)
		return;
	if (sup_schema_apply(ctx->cfg, err, sizeof(err)) == 0) {
		sup_pool_start(ctx);
		return;
	}
	sup_schema_log_wait(ctx, err);
	struct timeval tv = { .tv_sec = SUP_DB_RETRY_MS / 1000,
	    .tv_usec = (SUP_DB_RETRY_MS % 1000) * 1000 };
	evtimer_add(ctx->db_ev, &tv);
}

/* Arm the first attempt: it runs as soon as the loop starts. */
int
sup_schema_init(struct sup_ctx *ctx)
{
	ctx->db_ev = evtimer_new(ctx->base, sup_schema_cb, ctx);
	if (ctx->db_ev == NULL) {
		log_warnx("cannot allocate the database timer");
		return -1;
	}
	struct timeval now = { 0, 0 };
	evtimer_add(ctx->db_ev, &now);
	return 0;
}
