/*
 * reaper.c: s3mux-reaper, the background role that cleans up after writers that died:
 *     stale pending intents and abandoned multipart uploads.
 *
 * Intents (lock LOCK_INTENT_REAPER, 1011).  A PUT writes an intent before its bytes go to
 * the backend and commit_put removes it; one older than roles.reaper.pending_age was left
 * by a writer that died or lost the database before its commit.  For each, the reaper
 * looks at the backend (a HEAD: backend_stat_wait) and, when the bytes there have the
 * intent's declared size, reads them through MD5 for the ETag (up to
 * roles.reaper.etag_max_size; a larger object is recorded with an empty ETag).  Then one
 * transaction decides (resolve_pending, sql/006_roles.sql): promote the intent as
 * commit_put would when its bytes are there and nothing newer was committed; drop it when
 * a later write superseded it or its bytes never arrived (bytes of its own that are there
 * go to cleanup_queue and are deleted at once); release a 'delete' intent left by a dead
 * cleanup claim; nothing when another reaper or the writer resolved it first.
 *
 * Multipart uploads (lock LOCK_MULTIPART_SWEEP, 1004).  An upload older than
 * roles.reaper.multipart_age that is still open, or stuck half-completed, is aborted as
 * AbortMultipartUpload would (reap_upload): its parts go to cleanup_queue and are deleted
 * at once, their bytes released; a completed upload's row, kept until then for a repeated
 * Complete, is forgotten.  Deletes that fail are left to s3mux-cleanup.
 *
 * Each pass logs
 *
 *	reaper pass: 1 promoted, 2 dropped, 0 released, 0 no-op, 0 failed; 1 upload(s)
 *	    aborted, 0 forgotten; 4 deleted, 0 left for cleanup
 *
 * (on one line; at debug level when the pass did nothing, except with --once), and a line
 * for each intent and upload it resolved.
 *
 * Usage: s3mux-reaper [-fhv] [-c FILE] [--once]
 *   -c FILE   configuration (default SYSCONFDIR/s3mux/s3mux.yaml)
 *   -f        log to standard error instead of syslog
 *   --once    one pass, then exit: 0 done, 1 failed or no database, 2 bad configuration,
 *             3 a lock is held by another instance
 *   -v        debug logging
 * Signals: SIGTERM/SIGINT stop after the current item, SIGHUP reloads the configuration
 * (the backends are set up again), SIGUSR1 reopens the log file.  Everything else is the
 * shared skeleton in src/worker.c; see s3mux-reaper(8).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_set.h"
#include "checksum.h"
#include "cleanupq.h"
#include "db.h"
#include "locks.h"
#include "log.h"
#include "util.h"
#include "worker.h"

#define REAPER_PAGE 100

struct reaper_state {
	struct backend_set *set;
	char owner[200];
};

struct reaper_counts {
	uint64_t promoted;
	uint64_t dropped;		/* superseded, missing, or a replica's */
	uint64_t released;		/* 'delete' intents of dead cleanup claims */
	uint64_t noop;			/* already resolved */
	uint64_t failed;		/* could not look at the backend: left for the next pass */
	uint64_t aborted;		/* stale uploads */
	uint64_t forgotten;		/* completed uploads' rows */
	struct cleanupq_counts del;	/* bytes deleted at once */
};

/* What the backend holds under an intent's name. */
struct reaper_look {
	int found;
	struct backend_stat st;
	int have_etag;
	char etag[CHECKSUM_HEX_BUF];
};

/* One stale intent, pointing into the page's PGresult. */
struct reaper_intent {
	const char *id;
	const char *backend;
	const char *bucket;
	const char *key;
	const char *kind;
	uint64_t declared;
	char *name;			/* the backend object name */
};

static const struct cfg_role_reaper *
reaper_cfg(const struct worker_ctx *ctx)
{
	return &ctx->cfg->roles[ROLE_REAPER].reaper;
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int
reaper_configure(struct worker_ctx *ctx)
{
	char err[512];
	struct backend_set *set = backend_set_new(ctx->cfg, err, sizeof(err));
	if (set == NULL) {
		log_warnx("cannot set up the backends: %s", err);
		return -1;
	}
	struct reaper_state *st = ctx->role_state;
	if (st == NULL) {
		st = xcalloc(1, sizeof(*st));
		cleanupq_owner(st->owner, sizeof(st->owner), "reaper");
		ctx->role_state = st;
	}
	backend_set_free(st->set);
	st->set = set;
	return 0;
}

static void
reaper_teardown(struct worker_ctx *ctx)
{
	struct reaper_state *st = ctx->role_state;
	if (st == NULL)
		return;
	backend_set_free(st->set);
	free(st);
	ctx->role_state = NULL;
}

/* ---- the bytes of an intent: HEAD, then MD5 ----------------------------------------------- */

struct reaper_md5 {
	struct checksum sum;
	int done;
	int err;
	char message[256];
};

static void
reaper_md5_start(void *arg, const struct backend_stat *st)
{
}

static int
reaper_md5_data(void *arg, const char *data, size_t len)
{
	struct reaper_md5 *m = arg;
	checksum_update(&m->sum, data, len);
	return BACKEND_ACCEPTED;
}

static void
reaper_md5_done(void *arg, int err, const char *message)
{
	struct reaper_md5 *m = arg;
	m->done = 1;
	m->err = err;
	snprintf(m->message, sizeof(m->message), "%s", message ? message : "");
}

/* Read name through MD5, running the backend's private base; -1 with the reason in err. */
static int
reaper_md5(struct backend *be, const char *name, char hex[CHECKSUM_HEX_BUF], char *err,
    size_t errlen)
{
	static const struct backend_get_cbs cbs = {
		.on_start = reaper_md5_start,
		.on_data = reaper_md5_data,
		.on_done = reaper_md5_done,
	};
	struct reaper_md5 m = { .done = 0 };
	if (checksum_init(&m.sum, CHECKSUM_MD5) == -1) {
		snprintf(err, errlen, "cannot start an MD5 digest");
		return -1;
	}
	if (backend_get_start(be, name, 0, -1, &cbs, &m) == NULL) {
		checksum_free(&m.sum);
		snprintf(err, errlen, "cannot start reading it");
		return -1;
	}
	while (!m.done)
		event_base_loop(be->base, EVLOOP_ONCE);
	if (m.err != 0) {
		checksum_free(&m.sum);
		snprintf(err, errlen, "%s", m.message[0] ? m.message : strerror(m.err));
		return -1;
	}
	checksum_final_hex(&m.sum, hex);
	return 0;
}

/* Look at what the backend holds for the intent.  -1 when it cannot tell (logged). */
static int
reaper_look(struct worker_ctx *ctx, const struct reaper_intent *in, struct reaper_look *look)
{
	struct reaper_state *st = ctx->role_state;
	struct backend *be = backend_set_find(st->set, in->backend);
	char err[300];
	if (be == NULL) {
		log_warnx("intent %s (%s on %s): the backend is not in the configuration; left "
		    "alone", in->id, in->name, in->backend);
		return -1;
	}
	if (backend_stat_wait(be, in->name, &look->st, err, sizeof(err)) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warnx("intent %s (%s on %s): cannot look at the backend: %s; left for the "
		    "next pass", in->id, in->name, in->backend, err);
		return -1;
	}
	look->found = 1;
	if (look->st.size != in->declared || look->st.size > reaper_cfg(ctx)->etag_max_bytes)
		return 0;
	if (reaper_md5(be, in->name, look->etag, err, sizeof(err)) == -1) {
		log_warnx("intent %s (%s on %s): cannot read the bytes for their MD5: %s; left "
		    "for the next pass", in->id, in->name, in->backend, err);
		return -1;
	}
	look->have_etag = 1;
	return 0;
}

/* ---- intents ------------------------------------------------------------------------------ */

static void
reaper_intent_log(const struct reaper_intent *in, const char *outcome, PGresult *res,
    const struct reaper_look *look)
{
	if (strcmp(outcome, "promoted") == 0)
		log_info("intent %s (%s on %s): promoted as version %s, %" PRIu64 " bytes, ETag "
		    "'%s'", in->id, in->name, in->backend, PQgetvalue(res, 0, 1), look->st.size,
		    look->have_etag ? look->etag : "");
	else if (strcmp(outcome, "released") == 0)
		log_info("intent %s (%s on %s): a dead cleanup claim's; released", in->id,
		    in->name, in->backend);
	else if (strcmp(outcome, "gone") == 0 || strcmp(outcome, "young") == 0)
		log_info("intent %s (%s on %s): %s; nothing to do", in->id, in->name, in->backend,
		    strcmp(outcome, "gone") == 0 ? "already resolved" : "not stale");
	else
		log_info("intent %s (%s on %s): %s; dropped%s", in->id, in->name, in->backend,
		    outcome, PQgetisnull(res, 0, 2) ? "" : ", its bytes queued for deletion");
}

static void
reaper_intent_count(const char *outcome, struct reaper_counts *c)
{
	if (strcmp(outcome, "promoted") == 0)
		c->promoted++;
	else if (strcmp(outcome, "released") == 0)
		c->released++;
	else if (strcmp(outcome, "gone") == 0 || strcmp(outcome, "young") == 0)
		c->noop++;
	else
		c->dropped++;
}

/* One transaction decides; bytes it queued for deletion are deleted at once. */
static int
reaper_resolve(struct worker_ctx *ctx, const struct reaper_intent *in,
    const struct reaper_look *look, struct reaper_counts *c)
{
	struct reaper_state *st = ctx->role_state;
	char age[24], size[24], mtime[24];
	snprintf(age, sizeof(age), "%" PRId64, reaper_cfg(ctx)->pending_age_ms);
	snprintf(size, sizeof(size), "%" PRIu64, look->st.size);
	snprintf(mtime, sizeof(mtime), "%" PRId64, look->st.mtime);
	const char *params[] = { in->id, age, look->found ? size : NULL,
		look->found ? mtime : NULL, look->have_etag ? look->etag : NULL };
	PGresult *res = db_query(ctx->db, "SELECT outcome, version, cleanup_id FROM "
	    "resolve_pending($1::bigint, $2::bigint * interval '1 millisecond', $3::bigint, "
	    "$4::bigint, $5)", 5, params);
	if (res == NULL)
		return -1;
	const char *outcome = PQgetvalue(res, 0, 0);
	reaper_intent_log(in, outcome, res, look);
	reaper_intent_count(outcome, c);
	int rc = 0;
	if (!PQgetisnull(res, 0, 2)) {
		char *ids = xasprintf("{%s}", PQgetvalue(res, 0, 2));
		struct cleanupq_policy policy;
		cleanupq_policy_from(ctx->cfg, &policy);
		rc = cleanupq_delete_ids(ctx->db, st->set, st->owner, ids, &policy, &c->del);
		free(ids);
	}
	PQclear(res);
	return rc;
}

static int
reaper_intent(struct worker_ctx *ctx, PGresult *page, int i, struct reaper_counts *c)
{
	struct reaper_intent in = {
		.id = PQgetvalue(page, i, 0), .backend = PQgetvalue(page, i, 1),
		.bucket = PQgetvalue(page, i, 2), .key = PQgetvalue(page, i, 3),
		.kind = PQgetvalue(page, i, 4),
		.declared = strtoull(PQgetvalue(page, i, 5), NULL, 10),
	};
	in.name = backend_object_name(in.bucket, in.key);
	struct reaper_look look = { .found = 0 };
	int rc = 0;
	if (strcmp(in.kind, "delete") != 0 && reaper_look(ctx, &in, &look) == -1)
		c->failed++;
	else
		rc = reaper_resolve(ctx, &in, &look, c);
	free(in.name);
	return rc;
}

/* Every intent older than roles.reaper.pending_age, a page at a time in id order. */
static int
reaper_intents(struct worker_ctx *ctx, struct reaper_counts *c)
{
	char age[24], after[24] = "0", limit[16];
	snprintf(age, sizeof(age), "%" PRId64, reaper_cfg(ctx)->pending_age_ms);
	snprintf(limit, sizeof(limit), "%d", REAPER_PAGE);
	for (;;) {
		const char *params[] = { age, after, limit };
		PGresult *page = db_query(ctx->db, "SELECT id, backend, bucket, key, kind, "
		    "declared_size FROM stale_pending($1::bigint * interval '1 millisecond', "
		    "$2::bigint, $3::int)", 3, params);
		if (page == NULL)
			return -1;
		int n = PQntuples(page), rc = 0;
		for (int i = 0; rc == 0 && i < n && !worker_should_stop(ctx); i++)
			rc = reaper_intent(ctx, page, i, c);
		if (n > 0)
			snprintf(after, sizeof(after), "%s", PQgetvalue(page, n - 1, 0));
		PQclear(page);
		if (rc == -1 || n < REAPER_PAGE || ctx->stopping)
			return rc;
	}
}

/* ---- multipart uploads -------------------------------------------------------------------- */

/* Elements of a PostgreSQL array text "{4,7,9}"; 0 for NULL or "{}". */
static int
reaper_array_len(const char *text)
{
	if (text == NULL || strcmp(text, "{}") == 0 || *text == '\0')
		return 0;
	int n = 1;
	for (const char *p = text; *p; p++)
		n += *p == ',';
	return n;
}

static int
reaper_upload(struct worker_ctx *ctx, PGresult *page, int i, struct reaper_counts *c)
{
	struct reaper_state *st = ctx->role_state;
	const char *upload = PQgetvalue(page, i, 0);
	char age[24];
	snprintf(age, sizeof(age), "%" PRId64, reaper_cfg(ctx)->multipart_age_ms);
	const char *params[] = { upload, age };
	PGresult *res = db_query(ctx->db, "SELECT status, cleanup_ids FROM reap_upload($1, "
	    "$2::bigint * interval '1 millisecond')", 2, params);
	if (res == NULL)
		return -1;
	const char *status = PQgetvalue(res, 0, 0);
	const char *ids = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
	int rc = 0;
	if (strcmp(status, "aborted") == 0) {
		c->aborted++;
		log_info("upload %s (%s/%s on %s): abandoned; aborted, %d part(s) queued for "
		    "deletion", upload, PQgetvalue(page, i, 1), PQgetvalue(page, i, 2),
		    PQgetvalue(page, i, 3), reaper_array_len(ids));
		struct cleanupq_policy policy;
		cleanupq_policy_from(ctx->cfg, &policy);
		rc = cleanupq_delete_ids(ctx->db, st->set, st->owner, ids, &policy, &c->del);
	} else if (strcmp(status, "forgotten") == 0) {
		c->forgotten++;
		log_debug("upload %s: completed long ago; its row is forgotten", upload);
	}
	PQclear(res);
	return rc;
}

/* Every upload older than roles.reaper.multipart_age, a page at a time in id order. */
static int
reaper_uploads(struct worker_ctx *ctx, struct reaper_counts *c)
{
	char age[24], limit[16];
	char *after = xstrdup("");
	snprintf(age, sizeof(age), "%" PRId64, reaper_cfg(ctx)->multipart_age_ms);
	snprintf(limit, sizeof(limit), "%d", REAPER_PAGE);
	int rc = 0;
	for (;;) {
		const char *params[] = { age, after, limit };
		PGresult *page = db_query(ctx->db, "SELECT upload_id, bucket, key, backend FROM "
		    "stale_uploads($1::bigint * interval '1 millisecond', $2, $3::int)", 3,
		    params);
		if (page == NULL) {
			rc = -1;
			break;
		}
		int n = PQntuples(page);
		for (int i = 0; rc == 0 && i < n && !worker_should_stop(ctx); i++)
			rc = reaper_upload(ctx, page, i, c);
		if (n > 0) {
			free(after);
			after = xstrdup(PQgetvalue(page, n - 1, 0));
		}
		PQclear(page);
		if (rc == -1 || n < REAPER_PAGE || ctx->stopping)
			break;
	}
	free(after);
	return rc;
}

/* ---- the pass ----------------------------------------------------------------------------- */

static void
reaper_log_counts(const struct worker_ctx *ctx, const struct reaper_counts *c)
{
	char line[400];
	snprintf(line, sizeof(line), "reaper pass: %" PRIu64 " promoted, %" PRIu64 " dropped, %"
	    PRIu64 " released, %" PRIu64 " no-op, %" PRIu64 " failed; %" PRIu64 " upload(s) "
	    "aborted, %" PRIu64 " forgotten; %" PRIu64 " deleted, %" PRIu64 " left for cleanup",
	    c->promoted, c->dropped, c->released, c->noop, c->failed, c->aborted, c->forgotten,
	    c->del.deleted, c->del.failed + c->del.dead + c->del.lost);
	uint64_t any = c->promoted + c->dropped + c->released + c->noop + c->failed +
	    c->aborted + c->forgotten;
	if (any == 0 && !ctx->once)
		log_debug("%s", line);
	else
		log_info("%s", line);
}

static int
reaper_pass(struct worker_ctx *ctx)
{
	struct reaper_counts counts;
	memset(&counts, 0, sizeof(counts));
	int rc = reaper_intents(ctx, &counts);
	if (rc == 0 && !ctx->stopping)
		rc = reaper_uploads(ctx, &counts);
	reaper_log_counts(ctx, &counts);
	return rc;
}

int
main(int argc, char **argv)
{
	static const int64_t locks[] = { LOCK_INTENT_REAPER, LOCK_MULTIPART_SWEEP };
	static const struct worker_role role = {
		.id = ROLE_REAPER,
		.name = "reaper",
		.locks = locks,
		.nlocks = sizeof(locks) / sizeof(locks[0]),
		.channel = "s3mux_reaper",
		.pass = reaper_pass,
		.configure = reaper_configure,
		.teardown = reaper_teardown,
	};
	return worker_main(argc, argv, &role);
}
