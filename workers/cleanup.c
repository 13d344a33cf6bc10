/*
 * cleanup.c: s3mux-cleanup, the background role that deletes from the backends the bytes
 *     the catalogue no longer needs, from cleanup_queue.
 *
 * A pass claims due rows in batches of roles.cleanup.batch (claim_cleanups: FOR UPDATE SKIP
 * LOCKED, a fencing token per claim, a 'delete' intent on each (bucket, key) name so no
 * write of the name starts meanwhile) and deletes each row's bytes on its backend
 * (cleanupq.c): a delete that works settles the row and releases its orphan bytes; one that
 * fails is released for a retry after roles.cleanup.retry_base doubled per attempt, with
 * jitter; the roles.cleanup.max_attempts-th failure moves the row to cleanup_dlq, where its
 * bytes stay counted until an operator requeues or forgets it (s3muxctl cleanup).  A claim
 * older than roles.cleanup.claim_grace belongs to a claimer that died: it is taken over and
 * counted as reclaimed.  A pass goes on claiming until nothing is due, or until
 * roles.cleanup.pass_limit has passed (the next pass then follows at once), and logs
 *
 *	cleanup pass: 12 deleted, 1 failed, 0 dead-lettered, 0 reclaimed
 *
 * (at debug level when the pass did nothing, except with --once).  Between passes the role
 * sleeps until the next row comes due; every insert into cleanup_queue and every released
 * row wakes it (NOTIFY s3mux_cleanup).  Lock: LOCK_CLEANUP (1003, locks.h).
 *
 * Usage: s3mux-cleanup [-fhv] [-c FILE] [--once]
 *   -c FILE   configuration (default SYSCONFDIR/s3mux/s3mux.yaml)
 *   -f        log to standard error instead of syslog
 *   --once    one pass, then exit: 0 done, 1 failed or no database, 2 bad configuration,
 *             3 the lock is held by another instance
 *   -v        debug logging
 * Signals: SIGTERM/SIGINT stop after the current item (the rest of a claimed batch is given
 * back untried), SIGHUP reloads the configuration (the backends are set up again), SIGUSR1
 * reopens the log file.  Everything else is the shared skeleton in src/worker.c; see
 * s3mux-cleanup(8).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_set.h"
#include "cleanupq.h"
#include "db.h"
#include "locks.h"
#include "log.h"
#include "util.h"
#include "worker.h"

/* Sleep at least this long before looking again at rows that are due but cannot be claimed
 * (a write of their name is in progress). */
#define CLEANUP_RECHECK_MS 1000

struct cleanup_state {
	struct backend_set *set;
	char owner[200];
};

static const struct cfg_role_cleanup *
cleanup_cfg(const struct worker_ctx *ctx)
{
	return &ctx->cfg->roles[ROLE_CLEANUP].cleanup;
}

static int
cleanup_configure(struct worker_ctx *ctx)
{
	char err[512];
	struct backend_set *set = backend_set_new(ctx->cfg, err, sizeof(err));
	if (set == NULL) {
		log_warnx("cannot set up the backends: %s", err);
		return -1;
	}
	struct cleanup_state *st = ctx->role_state;
	if (st == NULL) {
		st = xcalloc(1, sizeof(*st));
		cleanupq_owner(st->owner, sizeof(st->owner), "cleanup");
		ctx->role_state = st;
	}
	backend_set_free(st->set);
	st->set = set;
	return 0;
}

static void
cleanup_teardown(struct worker_ctx *ctx)
{
	struct cleanup_state *st = ctx->role_state;
	if (st == NULL)
		return;
	backend_set_free(st->set);
	free(st);
	ctx->role_state = NULL;
}

static void
cleanup_log_reclaim(const struct worker_ctx *ctx, const struct cleanupq_row *row)
{
	log_info("cleanup row %s: reclaimed from %s (its claim outlived roles.cleanup."
	    "claim_grace, %" PRId64 " ms)", row->id,
	    row->previous_owner ? row->previous_owner : "?", cleanup_cfg(ctx)->claim_grace_ms);
}

/*
 * Claim one batch and work through it.  *claimed says how many rows were claimed; once the
 * role must stop, the rest of the batch is given back untried.
 */
static int
cleanup_batch(struct worker_ctx *ctx, struct cleanupq_counts *counts, int *claimed)
{
	struct cleanup_state *st = ctx->role_state;
	const struct cfg_role_cleanup *cc = cleanup_cfg(ctx);
	struct cleanupq_policy policy;
	cleanupq_policy_from(ctx->cfg, &policy);
	PGresult *res = cleanupq_claim_due(ctx->db, st->owner, cc->batch, cc->claim_grace_ms);
	if (res == NULL)
		return -1;
	*claimed = PQntuples(res);
	int rc = 0;
	for (int i = 0; rc == 0 && i < *claimed; i++) {
		struct cleanupq_row row;
		cleanupq_row_get(res, i, &row);
		if (worker_should_stop(ctx)) {
			rc = cleanupq_unclaim(ctx->db, &row);
		} else {
			if (row.reclaimed) {
				counts->reclaimed++;
				cleanup_log_reclaim(ctx, &row);
			}
			rc = cleanupq_delete(ctx->db, st->set, &row, &policy, counts);
		}
		cleanupq_row_free(&row);
	}
	PQclear(res);
	return rc;
}

static void
cleanup_log_counts(const struct worker_ctx *ctx, const struct cleanupq_counts *c)
{
	char line[200];
	snprintf(line, sizeof(line), "cleanup pass: %" PRIu64 " deleted, %" PRIu64 " failed, %"
	    PRIu64 " dead-lettered, %" PRIu64 " reclaimed", c->deleted, c->failed, c->dead,
	    c->reclaimed);
	if (c->deleted + c->failed + c->dead + c->reclaimed + c->lost == 0 && !ctx->once)
		log_debug("%s", line);
	else
		log_info("%s", line);
	if (c->lost > 0)
		log_info("cleanup pass: %" PRIu64 " claim(s) taken over by another while deleting",
		    c->lost);
}

/* Sleep until the next row can be claimed; a NOTIFY or the sweep may wake us sooner. */
static int
cleanup_schedule(struct worker_ctx *ctx)
{
	char grace[24];
	snprintf(grace, sizeof(grace), "%" PRId64, cleanup_cfg(ctx)->claim_grace_ms);
	const char *params[] = { grace };
	PGresult *res = db_query(ctx->db,
	    "SELECT cleanup_next_due($1::bigint * interval '1 millisecond')", 1, params);
	if (res == NULL)
		return -1;
	if (!PQgetisnull(res, 0, 0)) {
		int64_t ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		worker_pass_after(ctx, ms < CLEANUP_RECHECK_MS ? CLEANUP_RECHECK_MS : ms);
	}
	PQclear(res);
	return 0;
}

static int
cleanup_pass(struct worker_ctx *ctx)
{
	const struct cfg_role_cleanup *cc = cleanup_cfg(ctx);
	struct cleanupq_counts counts = { 0 };
	int64_t start = clock_mono_ms();
	int rc = 0, claimed = 0, bounded = 0;
	do {
		rc = cleanup_batch(ctx, &counts, &claimed);
		bounded = rc == 0 && claimed > 0 && clock_mono_ms() - start >= cc->pass_limit_ms;
	} while (rc == 0 && claimed > 0 && !bounded && !ctx->stopping);
	cleanup_log_counts(ctx, &counts);
	if (rc == -1 || ctx->stopping || ctx->once)
		return rc;
	if (bounded) {
		log_info("cleanup pass: stopped after roles.cleanup.pass_limit (%" PRId64 " ms) "
		    "with rows still due; the next pass follows", cc->pass_limit_ms);
		worker_pass_after(ctx, 0);
		return 0;
	}
	return cleanup_schedule(ctx);
}

int
main(int argc, char **argv)
{
	static const int64_t locks[] = { LOCK_CLEANUP };
	static const struct worker_role role = {
		.id = ROLE_CLEANUP,
		.name = "cleanup",
		.locks = locks,
		.nlocks = sizeof(locks) / sizeof(locks[0]),
		.channel = "s3mux_cleanup",
		.pass = cleanup_pass,
		.configure = cleanup_configure,
		.teardown = cleanup_teardown,
	};
	return worker_main(argc, argv, &role);
}
