/*
 * replicator.c: s3mux-replicator, the background role that keeps every object at
 *     replication.copies copies, each on a different backend.  This file is the pass;
 *     repl_pipe.c streams the copies (repl.h); sql/008_replication.sql is the catalogue's
 *     side.
 *
 * A pass does three things:
 *
 *   events  Drain event_outbox from the role's cursor ("replicator" in outbox_cursors),
 *           roles.replicator.batch_size events at a time until nothing readable is left:
 *           each batch comes back as the distinct keys it touched (a key written 50 times
 *           in a burst is handled once, at its current version), each key is brought up to
 *           the replication factor, and only then does the cursor move past the batch.  A
 *           pass stopped half-way (or a crash) leaves the cursor where it was: the batch is
 *           done again, which is harmless because the work is idempotent.  Events whose
 *           transaction is not yet older than every open one cannot be read yet
 *           (outbox_behind): the role looks again 100 ms later, backing off to 5 s.
 *   sweep   On the first pass after the start or a reload, with --once, every
 *           roles.replicator.sweep_interval (0s: no periodic sweep) and as a retry: page
 *           through every object with fewer copies than the factor (under_replicated), for
 *           what the events missed: copies that failed, a backend that was down, a factor
 *           raised.  A retry sweep follows a pass that saw a failed copy, a busy name, or an
 *           object without a target while a breaker is open: 1 s later, doubling to 60 s.
 *   excess  With the sweep (the role holds LOCK_EXCESS_REPLICAS): objects with more copies
 *           than the factor lose the surplus (remove_excess), preferring copies on draining
 *           backends, then on backends whose circuit breaker is open, then on the fullest;
 *           the bytes are deleted at once, and a delete that fails is left to s3mux-cleanup
 *           in cleanup_queue.
 *
 * Copies stream backend to backend, roles.replicator.parallel at a time, on the role's
 * private event base, never whole in memory; a copy is recorded only if its source copy
 * still exists (record_replica), so an overwrite or delete during a slow copy leaves no
 * stale replica, only bytes queued for cleanup.  A failed copy counts against the failing
 * backend's breaker; while it is open the backend is no longer a target, and its objects are
 * caught up by a later pass.  When source and target are both s3 backends on the same
 * endpoint, a server-side copy (PUT with x-amz-copy-source) would save moving the bytes
 * through this process: not done yet, every copy streams.
 *
 * Each pass logs one line,
 *
 *	replication pass: 1500 events, 1480 copied, 0 stale, 2 failed, 3 excess removed in 2300 ms
 *
 * followed, when they are not zero, by the objects swept and those that found no target,
 * a busy name or no readable source (at debug level when the pass did nothing, except with
 * --once).  The backends' request counts go to backend_usage before and after every pass
 * (the month's totals come back for the limit checks).  Wake-ups: commit_put and
 * delete_object NOTIFY s3mux_replicator.  Locks: LOCK_REPLICATION (1002) and
 * LOCK_EXCESS_REPLICAS (1008), locks.h.
 *
 * Usage: s3mux-replicator [-fhv] [-c FILE] [--once]
 *   -c FILE   configuration (default SYSCONFDIR/s3mux/s3mux.yaml)
 *   -f        log to standard error instead of syslog
 *   --once    one full pass (events, sweep, excess), then exit: 0 done, 1 failed or stopped
 *             or no database, 2 bad configuration, 3 a lock is held by another instance
 *   -v        debug logging (a line per copy)
 * Signals: SIGTERM/SIGINT stop: copies still moving bytes are abandoned (intent dropped),
 * those that have sent every byte are left to land and recorded; SIGHUP reloads the
 * configuration (the backends are set up again and the next pass sweeps); SIGUSR1 reopens
 * the log file.  Everything else is the shared skeleton in src/worker.c; see
 * s3mux-replicator(8).
 *
 * Test hook: S3MUX_TEST_REPLICA_SLICE_DELAY_MS=N in the environment makes every copy sleep
 * N ms per slice it moves (a slow copy, for the tests); unset, it does nothing.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_set.h"
#include "cleanupq.h"
#include "locks.h"
#include "log.h"
#include "repl.h"
#include "usage.h"
#include "util.h"
#include "worker.h"

#define REPL_CONSUMER "replicator"
#define REPL_EXCESS_PAGE 10		/* objects per remove_excess call: short transactions */
#define REPL_RETRY_MIN_MS 1000
#define REPL_RETRY_MAX_MS 60000
#define REPL_BEHIND_MIN_MS 100		/* events not yet readable: look again this soon */
#define REPL_BEHIND_MAX_MS 5000
#define REPL_SLICE_DELAY_ENV "S3MUX_TEST_REPLICA_SLICE_DELAY_MS"

static const char repl_batch_sql[] =
    "SELECT bucket, key, events, last_xid, last_id FROM outbox_batch($1, $2::integer)";

static const struct cfg_role_replicator *
repl_cfg(const struct worker_ctx *ctx)
{
	return &ctx->cfg->roles[ROLE_REPLICATOR].replicator;
}

/* ---- state ---------------------------------------------------------------------------- */

static struct repl_state *
repl_state_new(void)
{
	struct repl_state *st = xcalloc(1, sizeof(*st));
	cleanupq_owner(st->owner, sizeof(st->owner), "replicator");
	st->retry_ms = REPL_RETRY_MIN_MS;
	st->behind_ms = REPL_BEHIND_MIN_MS;
	st->sweep_due = 1;		/* a new process looks at everything once */
	const char *hook = getenv(REPL_SLICE_DELAY_ENV);
	if (hook != NULL && atoi(hook) > 0) {
		st->slice_delay_ms = atoi(hook);
		log_warnx("test hook %s: every copy sleeps %d ms per slice", REPL_SLICE_DELAY_ENV,
		    st->slice_delay_ms);
	}
	return st;
}

/* Write the backends' request counts to the catalogue, if there is a session. */
static void
repl_flush_quietly(struct worker_ctx *ctx, struct repl_state *st)
{
	if (ctx->db != NULL && PQstatus(ctx->db) == CONNECTION_OK && st->set != NULL)
		usage_flush_now(ctx->db, st->backends, st->nbackends);
}

static void
repl_drop_backends(struct repl_state *st)
{
	repl_pipe_free(st->pipe);
	backend_set_free(st->set);
	free(st->backends);
	st->pipe = NULL;
	st->set = NULL;
	st->backends = NULL;
	st->nbackends = 0;
}

/*
 * The backends, on their private event base.  Drivers may start threads (the fs driver
 * syncs on a pool): they are made with every signal blocked, so that a SIGTERM stays
 * pending for worker_should_stop() instead of going to a thread.
 */
static struct backend_set *
repl_backends_new(const struct s3mux_config *cfg, char *err, size_t errlen)
{
	sigset_t all, saved;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	struct backend_set *set = backend_set_new(cfg, err, errlen);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return set;
}

static int
repl_configure(struct worker_ctx *ctx)
{
	char err[512];
	struct backend_set *set = repl_backends_new(ctx->cfg, err, sizeof(err));
	if (set == NULL) {
		log_warnx("cannot set up the backends: %s", err);
		return -1;
	}
	struct repl_state *st = ctx->role_state;
	if (st == NULL) {
		st = repl_state_new();
		ctx->role_state = st;
	} else {
		repl_flush_quietly(ctx, st);
		repl_drop_backends(st);
		st->sweep_due = 1;	/* a new factor or new backends: look at everything */
		worker_pass_after(ctx, 0);
	}
	st->set = set;
	st->pipe = repl_pipe_new(repl_cfg(ctx)->parallel);
	st->nbackends = ctx->cfg->nbackends;
	st->backends = xcalloc(st->nbackends ? st->nbackends : 1, sizeof(*st->backends));
	for (size_t i = 0; i < st->nbackends; i++)
		st->backends[i] = backend_set_find(set, ctx->cfg->backends[i].name);
	return 0;
}

static void
repl_teardown(struct worker_ctx *ctx)
{
	struct repl_state *st = ctx->role_state;
	if (st == NULL)
		return;
	repl_flush_quietly(ctx, st);
	repl_drop_backends(st);
	free(st);
	ctx->role_state = NULL;
}

/* ---- events ---------------------------------------------------------------------------- */

/*
 * Replicate every key of one outbox batch, and wait for the copies.  1 when the role must
 * stop (the batch is not done), -1 on a database error.
 */
static int
repl_batch_keys(struct worker_ctx *ctx, PGresult *res, struct repl_counts *c)
{
	if (repl_copies(ctx) < 2)
		return 0;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res) && !worker_should_stop(ctx); i++) {
		if (!PQgetisnull(res, i, 0))	/* NULL: a batch of bucket events only */
			rc = repl_pipe_add(ctx, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
			    NULL, c);
	}
	if (rc == 0)
		rc = repl_pipe_finish(ctx, c);
	if (rc == 0 && worker_should_stop(ctx))
		rc = 1;
	return rc;
}

static int
repl_advance(struct worker_ctx *ctx, PGresult *batch, struct repl_counts *c)
{
	const char *params[] = { REPL_CONSUMER, PQgetvalue(batch, 0, 3),
		PQgetvalue(batch, 0, 4) };
	PGresult *res = repl_query(ctx, "SELECT outbox_advance($1, $2::xid8, $3::bigint)", 3,
	    params);
	if (res == NULL)
		return -1;
	PQclear(res);
	c->events += strtoull(PQgetvalue(batch, 0, 2), NULL, 10);
	return 0;
}

/* Are there events after the cursor that could not be read yet?  -1 on error. */
static int
repl_behind(struct worker_ctx *ctx)
{
	const char *params[] = { REPL_CONSUMER };
	PGresult *res = repl_query(ctx, "SELECT outbox_behind($1)", 1, params);
	if (res == NULL)
		return -1;
	int behind = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return behind;
}

/*
 * Drain the outbox from the cursor, a batch at a time, until nothing readable is left or
 * the role must stop.  *behind: events wait that could not be read yet.  -1 on error.
 */
static int
repl_drain(struct worker_ctx *ctx, struct repl_counts *c, int *behind)
{
	char limit[16];
	snprintf(limit, sizeof(limit), "%d", repl_cfg(ctx)->batch_size);
	const char *params[] = { REPL_CONSUMER, limit };
	for (;;) {
		if (worker_should_stop(ctx))
			return 0;
		PGresult *res = repl_query(ctx, repl_batch_sql, 2, params);
		if (res == NULL)
			return -1;
		if (PQntuples(res) == 0) {
			PQclear(res);
			break;
		}
		int rc = repl_batch_keys(ctx, res, c);
		if (rc == 0)
			rc = repl_advance(ctx, res, c);
		PQclear(res);
		if (rc != 0)
			return rc == 1 ? 0 : -1;
	}
	*behind = repl_behind(ctx);
	return *behind == -1 ? -1 : 0;
}

/* ---- the sweep -------------------------------------------------------------------------- */

/* One page of under_replicated after (bucket, key). */
static PGresult *
repl_sweep_page(struct worker_ctx *ctx, const char *bucket, const char *key)
{
	char copies[16], limit[16];
	snprintf(copies, sizeof(copies), "%d", repl_copies(ctx));
	snprintf(limit, sizeof(limit), "%d", repl_cfg(ctx)->batch_size);
	const char *params[] = { copies, bucket, key, limit };
	return repl_query(ctx, "SELECT bucket, key, version FROM under_replicated("
	    "$1::integer, $2, $3, $4::integer)", 4, params);
}

/* Every object with too few copies, a page at a time, to the end.  -1 on error. */
static int
repl_sweep(struct worker_ctx *ctx, struct repl_counts *c)
{
	char *bucket = xstrdup(""), *key = xstrdup("");
	int rc = 0, n = 0;
	do {
		PGresult *res = repl_sweep_page(ctx, bucket, key);
		if (res == NULL) {
			rc = -1;
			break;
		}
		n = PQntuples(res);
		for (int i = 0; rc == 0 && i < n && !worker_should_stop(ctx); i++) {
			c->swept++;
			rc = repl_pipe_add(ctx, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
			    PQgetvalue(res, i, 2), c);
		}
		if (rc == 0)
			rc = repl_pipe_finish(ctx, c);
		if (n > 0) {
			free(bucket);
			free(key);
			bucket = xstrdup(PQgetvalue(res, n - 1, 0));
			key = xstrdup(PQgetvalue(res, n - 1, 1));
		}
		PQclear(res);
	} while (rc == 0 && n == repl_cfg(ctx)->batch_size && !worker_should_stop(ctx));
	free(bucket);
	free(key);
	return rc;
}

/* ---- excess copies ---------------------------------------------------------------------- */

static PGresult *
repl_excess_page(struct worker_ctx *ctx, const char *broken, const char *bucket,
    const char *key)
{
	char copies[16], limit[16];
	snprintf(copies, sizeof(copies), "%d", repl_copies(ctx));
	snprintf(limit, sizeof(limit), "%d", REPL_EXCESS_PAGE);
	const char *params[] = { copies, broken, bucket, key, limit };
	return repl_query(ctx, "SELECT bucket, key, backend, cleanup_id FROM remove_excess("
	    "$1::integer, $2::text[], $3, $4, $5::integer)", 5, params);
}

/*
 * Delete the copies one page of remove_excess queued; an object it passed over (a write of
 * it was under way) counts as busy, for a retry.  -1 on a database error.
 */
static int
repl_excess_delete(struct worker_ctx *ctx, PGresult *res, struct repl_counts *c)
{
	struct repl_state *st = ctx->role_state;
	struct strbuf ids;
	strbuf_init(&ids);
	strbuf_puts(&ids, "{");
	for (int i = 0; i < PQntuples(res); i++) {
		if (PQgetisnull(res, i, 3)) {
			c->busy++;
			continue;
		}
		strbuf_printf(&ids, "%s%s", ids.len > 1 ? "," : "", PQgetvalue(res, i, 3));
		c->excess++;
		log_debug("excess copy of %s/%s on %s removed", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
	}
	strbuf_puts(&ids, "}");
	struct cleanupq_policy policy;
	cleanupq_policy_from(ctx->cfg, &policy);
	int rc = 0;
	if (ids.len > 2)
		rc = cleanupq_delete_ids(ctx->db, st->set, st->owner, ids.data, &policy,
		    &c->cleanup);
	strbuf_free(&ids);
	return rc;
}

/* Remove the copies beyond the factor, a page at a time, to the end.  -1 on error. */
static int
repl_excess(struct worker_ctx *ctx, struct repl_counts *c)
{
	struct strbuf broken;
	strbuf_init(&broken);
	repl_broken(ctx->role_state, &broken);
	char *bucket = xstrdup(""), *key = xstrdup("");
	int rc = 0, n = 0;
	do {
		PGresult *res = repl_excess_page(ctx, broken.data, bucket, key);
		if (res == NULL) {
			rc = -1;
			break;
		}
		n = PQntuples(res);
		if (n > 0) {
			rc = repl_excess_delete(ctx, res, c);
			free(bucket);
			free(key);
			bucket = xstrdup(PQgetvalue(res, n - 1, 0));
			key = xstrdup(PQgetvalue(res, n - 1, 1));
		}
		PQclear(res);
	} while (rc == 0 && n > 0 && !worker_should_stop(ctx));
	free(bucket);
	free(key);
	strbuf_free(&broken);
	return rc;
}

/* ---- the pass --------------------------------------------------------------------------- */

static int
repl_sweep_is_due(const struct worker_ctx *ctx, const struct repl_state *st, int64_t now)
{
	int64_t interval = ctx->cfg->roles[ROLE_REPLICATOR].sweep_interval_ms;
	if (ctx->once || st->sweep_due)
		return 1;
	if (interval <= 0)
		return 0;
	/* the sweep timer fires every interval: allow for the passes' own durations */
	return st->last_sweep_ms == 0 || now - st->last_sweep_ms >= interval - interval / 10;
}

static void
repl_log(const struct worker_ctx *ctx, const struct repl_counts *c, int64_t took, int swept)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "replication pass: %" PRIu64 " events, %" PRIu64
	    " copied, %" PRIu64 " stale, %" PRIu64 " failed, %" PRIu64 " excess removed in %"
	    PRId64 " ms", c->events, c->copied, c->stale, c->failed, c->excess, took);
	const struct { const char *what; uint64_t n; } extra[] = {
		{ "objects swept", swept ? c->swept : 0 },
		{ "without a target", c->no_target }, { "busy", c->busy },
		{ "without a readable source", c->no_source },
		{ "excess deletes left to s3mux-cleanup", c->cleanup.failed + c->cleanup.dead },
	};
	const char *sep = "; ";
	for (size_t i = 0; i < nitems(extra) && n > 0 && (size_t)n < sizeof(line); i++) {
		if (extra[i].n == 0)
			continue;
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s%" PRIu64 " %s", sep,
		    extra[i].n, extra[i].what);
		sep = ", ";
	}
	int idle = c->events + c->copied + c->stale + c->failed + c->excess + c->no_target +
	    c->busy + c->no_source == 0;
	if (idle && !ctx->once && !swept)
		log_debug("%s", line);
	else
		log_info("%s", line);
}

/*
 * What the next pass should be: soon again while events wait that could not be read yet;
 * a retry sweep, with backoff, after failures, busy names, or objects that found no target
 * while a breaker is open.
 */
static void
repl_schedule(struct worker_ctx *ctx, const struct repl_counts *c, int behind)
{
	struct repl_state *st = ctx->role_state;
	if (behind) {
		worker_pass_after(ctx, st->behind_ms);
		st->behind_ms = c->events > 0 ? REPL_BEHIND_MIN_MS : st->behind_ms * 2;
		if (st->behind_ms > REPL_BEHIND_MAX_MS)
			st->behind_ms = REPL_BEHIND_MAX_MS;
	} else {
		st->behind_ms = REPL_BEHIND_MIN_MS;
	}
	int retry = c->failed > 0 || c->busy > 0 || (c->no_target > 0 && repl_any_broken(st));
	if (!retry) {
		st->retry_ms = REPL_RETRY_MIN_MS;
		return;
	}
	st->sweep_due = 1;
	worker_pass_after(ctx, st->retry_ms);
	log_debug("retry pass in %" PRId64 " ms", st->retry_ms);
	st->retry_ms *= 2;
	if (st->retry_ms > REPL_RETRY_MAX_MS)
		st->retry_ms = REPL_RETRY_MAX_MS;
}

static int
repl_pass(struct worker_ctx *ctx)
{
	struct repl_state *st = ctx->role_state;
	struct repl_counts c;
	memset(&c, 0, sizeof(c));
	int64_t start = clock_mono_ms();
	int sweep = repl_sweep_is_due(ctx, st, start), behind = 0;
	/* the month's totals come back with the flush: the limit checks need them */
	if (usage_flush_now(ctx->db, st->backends, st->nbackends) == -1)
		return -1;
	int rc = repl_drain(ctx, &c, &behind);
	if (rc == 0 && sweep && !worker_should_stop(ctx)) {
		st->last_sweep_ms = start;
		rc = repl_sweep(ctx, &c);
		if (rc == 0 && !worker_should_stop(ctx))
			rc = repl_excess(ctx, &c);
		if (rc == 0 && !ctx->stopping)
			st->sweep_due = 0;
	}
	if (usage_flush_now(ctx->db, st->backends, st->nbackends) == -1)
		rc = -1;
	repl_log(ctx, &c, clock_mono_ms() - start, sweep);
	if (rc == 0 && !ctx->stopping)
		repl_schedule(ctx, &c, behind);
	if (rc == 0 && ctx->once && ctx->stopping) {
		log_info("replication pass: stopped before the end");
		return -1;
	}
	return rc;
}

int
main(int argc, char **argv)
{
	static const int64_t locks[] = { LOCK_REPLICATION, LOCK_EXCESS_REPLICAS };
	static const struct worker_role role = {
		.id = ROLE_REPLICATOR,
		.name = "replicator",
		.locks = locks,
		.nlocks = sizeof(locks) / sizeof(locks[0]),
		.channel = "s3mux_replicator",
		.pass = repl_pass,
		.configure = repl_configure,
		.teardown = repl_teardown,
	};
	return worker_main(argc, argv, &role);
}
