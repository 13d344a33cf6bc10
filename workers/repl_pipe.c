/*
 * repl_pipe.c: the replicator's copy pipeline (repl.h): up to roles.replicator.parallel
 * backend-to-backend copies in flight on the role's private event base.
 *
 * A slot holds one key.  begin_replica chooses the target (a backend that may be written
 * now and holds no copy of the key, with quota room, the most free first) and a source
 * that may be read, reserves the quota and writes a 'replica' intent; backend_copy then
 * streams the source's stored bytes into the target's name, through a bounded buffer.
 * While copies stream, the pipeline only runs the event base; the database calls that
 * settle them (record_replica, or abort_replica after a failure) happen between.  Failures
 * count against the failing backend's circuit breaker in the backend layer, so a backend
 * that keeps failing stops being offered as a target or a source.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "backend_copy.h"
#include "db.h"
#include "log.h"
#include "repl.h"

#define REPL_STOP_CHECK_MS 200		/* while copies stream: how often to ask to stop */
#define REPL_QUERY_TRIES 3		/* a statement that failed on a sound session */
#define REPL_QUERY_RETRY_MS 100

/* begin_replica's answer. */
enum repl_begin {
	REPL_BEGIN_OK = 0,
	REPL_BEGIN_ENOUGH,
	REPL_BEGIN_GONE,
	REPL_BEGIN_NO_SOURCE,
	REPL_BEGIN_NO_TARGET,
	REPL_BEGIN_BUSY,
};

struct repl_pipe;

/* One key in a slot, and its copy in flight. */
struct repl_job {
	struct repl_pipe *pipe;
	int busy;			/* the slot is in use */
	char *bucket;
	char *key;
	char *want_version;		/* the version to copy, or NULL: the current one */
	int rounds;			/* copies recorded for the key in this slot */
	/* what begin_replica chose */
	char *pending_id;
	char *target;
	char *source;
	char *version;
	int64_t size;
	/* the copy */
	struct backend_copy *copy;
	int done;
	int err;
	char message[320];
	int delay_ms;			/* test hook */
};

struct repl_pipe {
	struct repl_job *jobs;
	int width;
	int active;			/* slots with a copy in flight */
	struct event_base *base;	/* the backends' private base */
	int64_t yield_at;		/* when a copy next hands the loop back (monotonic) */
};

static const char repl_begin_sql[] =
    "SELECT status, target, pending_id, source, version, size FROM begin_replica($1, $2,"
    " $3::bigint, $4::text[], $5::text[], $6::integer, $7)";
static const char repl_record_sql[] =
    "SELECT status, cleanup_id FROM record_replica($1::bigint, $2, $3::bigint)";

int
repl_copies(const struct worker_ctx *ctx)
{
	return ctx->cfg->replication.copies;
}

PGresult *
repl_query(struct worker_ctx *ctx, const char *sql, int nparams, const char *const *params)
{
	for (int i = 1;; i++) {
		PGresult *res = db_query(ctx->db, sql, nparams, params);
		if (res != NULL || i == REPL_QUERY_TRIES || PQstatus(ctx->db) != CONNECTION_OK)
			return res;
		log_info("retrying the statement (%d of %d)", i + 1, REPL_QUERY_TRIES);
		usleep((useconds_t)(REPL_QUERY_RETRY_MS * i) * 1000);
	}
}

/* ---- the pipeline and its slots ---------------------------------------------------------- */

struct repl_pipe *
repl_pipe_new(int width)
{
	struct repl_pipe *pipe = xcalloc(1, sizeof(*pipe));
	pipe->width = width < 1 ? 1 : width > REPL_PARALLEL_MAX ? REPL_PARALLEL_MAX : width;
	pipe->jobs = xcalloc((size_t)pipe->width, sizeof(*pipe->jobs));
	for (int i = 0; i < pipe->width; i++)
		pipe->jobs[i].pipe = pipe;
	return pipe;
}

static void
repl_job_forget_intent(struct repl_job *job)
{
	free(job->pending_id);
	free(job->target);
	free(job->source);
	free(job->version);
	job->pending_id = job->target = job->source = job->version = NULL;
	job->copy = NULL;
	job->done = 0;
	job->err = 0;
	job->message[0] = '\0';
}

static void
repl_job_release(struct repl_job *job)
{
	repl_job_forget_intent(job);
	free(job->bucket);
	free(job->key);
	free(job->want_version);
	struct repl_pipe *pipe = job->pipe;
	memset(job, 0, sizeof(*job));
	job->pipe = pipe;
}

/* Stop every copy in flight and empty the slots, without a word to the catalogue. */
static void
repl_pipe_abandon(struct repl_pipe *pipe)
{
	for (int i = 0; i < pipe->width; i++) {
		struct repl_job *job = &pipe->jobs[i];
		if (job->copy != NULL && !job->done)
			backend_copy_abort(job->copy);
		if (job->busy)
			repl_job_release(job);
	}
	pipe->active = 0;
}

void
repl_pipe_free(struct repl_pipe *pipe)
{
	if (pipe == NULL)
		return;
	repl_pipe_abandon(pipe);
	free(pipe->jobs);
	free(pipe);
}

/* ---- which backends may be used now ------------------------------------------------------ */

static void
repl_list_add(struct strbuf *sb, const char *name)
{
	strbuf_printf(sb, "%s\"%s\"", sb->len > 1 ? "," : "", name);
}

/*
 * The backends that may be written (breaker closed, under the write limits: the front
 * end's rule) and read (breaker closed, under the read limits) now, as PostgreSQL arrays in
 * configured order.  A half-open breaker lets one probing request through: it is asked
 * once per backend here.
 */
static void
repl_usable(const struct repl_state *st, struct strbuf *writable, struct strbuf *readable)
{
	strbuf_puts(writable, "{");
	strbuf_puts(readable, "{");
	for (size_t i = 0; i < st->nbackends; i++) {
		struct backend *be = st->backends[i];
		if (!backend_available(be))
			continue;
		if (!backend_over_limit(be, 1))
			repl_list_add(writable, be->name);
		if (!backend_over_limit(be, 0))
			repl_list_add(readable, be->name);
	}
	strbuf_puts(writable, "}");
	strbuf_puts(readable, "}");
}

void
repl_broken(const struct repl_state *st, struct strbuf *out)
{
	strbuf_puts(out, "{");
	for (size_t i = 0; i < st->nbackends; i++) {
		if (strcmp(backend_breaker_state(st->backends[i]), "closed") != 0)
			repl_list_add(out, st->backends[i]->name);
	}
	strbuf_puts(out, "}");
}

int
repl_any_broken(const struct repl_state *st)
{
	for (size_t i = 0; i < st->nbackends; i++) {
		if (strcmp(backend_breaker_state(st->backends[i]), "closed") != 0)
			return 1;
	}
	return 0;
}

/* ---- asking the catalogue ------------------------------------------------------------------ */

static enum repl_begin
repl_begin_status(const char *status)
{
	static const struct { const char *name; enum repl_begin value; } map[] = {
		{ "OK", REPL_BEGIN_OK }, { "Enough", REPL_BEGIN_ENOUGH },
		{ "NoSuchKey", REPL_BEGIN_GONE }, { "NoSource", REPL_BEGIN_NO_SOURCE },
		{ "NoTarget", REPL_BEGIN_NO_TARGET }, { "Busy", REPL_BEGIN_BUSY },
	};
	for (size_t i = 0; i < nitems(map); i++) {
		if (strcmp(status, map[i].name) == 0)
			return map[i].value;
	}
	log_warnx("begin_replica answered '%s': taking it as busy", status);
	return REPL_BEGIN_BUSY;
}

/* Ask for a target for one more copy of the job's key.  -1 on a database error. */
static int
repl_begin(struct worker_ctx *ctx, struct repl_job *job, enum repl_begin *status)
{
	const struct repl_state *st = ctx->role_state;
	struct strbuf writable, readable;
	strbuf_init(&writable);
	strbuf_init(&readable);
	repl_usable(st, &writable, &readable);
	char copies[16];
	snprintf(copies, sizeof(copies), "%d", repl_copies(ctx));
	const char *params[] = { job->bucket, job->key, job->want_version, writable.data,
		readable.data, copies, st->owner };
	PGresult *res = repl_query(ctx, repl_begin_sql, 7, params);
	strbuf_free(&writable);
	strbuf_free(&readable);
	if (res == NULL)
		return -1;
	*status = repl_begin_status(PQgetvalue(res, 0, 0));
	if (*status == REPL_BEGIN_OK) {
		job->target = xstrdup(PQgetvalue(res, 0, 1));
		job->pending_id = xstrdup(PQgetvalue(res, 0, 2));
		job->source = xstrdup(PQgetvalue(res, 0, 3));
		job->version = xstrdup(PQgetvalue(res, 0, 4));
		job->size = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	}
	PQclear(res);
	return 0;
}

/* Count an answer that is not a copy to make. */
static void
repl_count_begin(enum repl_begin status, struct repl_counts *c)
{
	switch (status) {
	case REPL_BEGIN_NO_TARGET:
		c->no_target++;
		break;
	case REPL_BEGIN_NO_SOURCE:
		c->no_source++;
		break;
	case REPL_BEGIN_BUSY:
		c->busy++;
		break;
	default:
		break;
	}
}

/* The copy did not land: drop the intent, and queue the name when bytes may be there. */
static int
repl_abort(struct worker_ctx *ctx, const struct repl_job *job, int maybe_written)
{
	const char *params[] = { job->pending_id, maybe_written ? "true" : "false" };
	PGresult *res = repl_query(ctx, "SELECT abort_replica($1::bigint, $2::boolean)", 2,
	    params);
	if (res == NULL)
		return -1;
	if (!PQgetisnull(res, 0, 0))
		log_info("replica of %s/%s on %s: the name is queued for cleanup (row %s)",
		    job->bucket, job->key, job->target, PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* A failed write can leave new bytes only on drivers without an atomic rename. */
static int
repl_failure_may_write(const struct worker_ctx *ctx, const char *target)
{
	const struct cfg_backend *conf = config_backend(ctx->cfg, target);
	return conf == NULL || conf->driver != BACKEND_DRIVER_FS;
}

/* record_replica found the intent resolved by another: queue what may have landed. */
static int
repl_lost(struct worker_ctx *ctx, const struct repl_job *job)
{
	char size[24];
	snprintf(size, sizeof(size), "%" PRId64, job->size);
	const char *params[] = { job->target, job->bucket, job->key, job->version, size };
	PGresult *res = repl_query(ctx, "SELECT replica_lost($1, $2, $3, $4::bigint, "
	    "$5::bigint)", 5, params);
	if (res == NULL)
		return -1;
	log_warnx("replica of %s/%s on %s: its intent was resolved by another meanwhile; "
	    "the copy is not recorded", job->bucket, job->key, job->target);
	PQclear(res);
	return 0;
}

/* The copy landed: record it, unless its source changed meanwhile.  1 when recorded. */
static int
repl_record(struct worker_ctx *ctx, struct repl_job *job, struct repl_counts *c)
{
	const char *params[] = { job->pending_id, job->source, job->version };
	PGresult *res = repl_query(ctx, repl_record_sql, 3, params);
	if (res == NULL)
		return -1;
	const char *status = PQgetvalue(res, 0, 0);
	int rc = 0;
	if (strcmp(status, "OK") == 0) {
		c->copied++;
		rc = 1;
		log_debug("copied %s/%s (%" PRId64 " bytes) from %s to %s", job->bucket,
		    job->key, job->size, job->source, job->target);
	} else if (strcmp(status, "Stale") == 0) {
		c->stale++;
		log_info("replica of %s/%s on %s is stale: the source was overwritten or deleted "
		    "during the copy; its bytes are queued for cleanup (row %s)", job->bucket,
		    job->key, job->target,
		    PQgetisnull(res, 0, 1) ? "none" : PQgetvalue(res, 0, 1));
	} else {
		c->failed++;
		rc = repl_lost(ctx, job);
	}
	PQclear(res);
	return rc;
}

/* ---- copies ------------------------------------------------------------------------------ */

static void
repl_copy_done(void *arg, int err, const char *message)
{
	struct repl_job *job = arg;
	job->done = 1;
	job->copy = NULL;	/* backend_copy frees itself before it calls back */
	job->err = err;
	snprintf(job->message, sizeof(job->message), "%s",
	    message != NULL && *message != '\0' ? message : "copy failed");
}

/*
 * Every slice of every copy passes here.  A driver may deliver slice after slice within one
 * turn of the loop (the fs driver does, to an fs destination that never fills up): every
 * REPL_STOP_CHECK_MS the loop is handed back, so that the pipeline can settle the copies
 * that ended and see whether the role must stop.  The test hook sleeps here.
 */
static void
repl_copy_tap(void *arg, const void *data, size_t len)
{
	struct repl_job *job = arg;
	if (job->delay_ms > 0)
		usleep((useconds_t)job->delay_ms * 1000);
	int64_t now = clock_mono_ms();
	if (now >= job->pipe->yield_at) {
		job->pipe->yield_at = now + REPL_STOP_CHECK_MS;
		event_base_loopbreak(job->pipe->base);
	}
}

/* Start streaming the source's bytes into the target.  0, or -1 with job->message set. */
static int
repl_copy_start(struct worker_ctx *ctx, struct repl_pipe *pipe, struct repl_job *job)
{
	const struct repl_state *st = ctx->role_state;
	struct backend *src = backend_set_find(st->set, job->source);
	struct backend *dst = backend_set_find(st->set, job->target);
	if (src == NULL || dst == NULL) {
		snprintf(job->message, sizeof(job->message), "backend %s is not in the "
		    "configuration", src == NULL ? job->source : job->target);
		return -1;
	}
	char *name = backend_object_name(job->bucket, job->key);
	struct backend_copy_source from = { .be = src, .name = name, .offset = 0, .length = -1 };
	job->delay_ms = st->slice_delay_ms;
	pipe->base = dst->base;
	job->copy = backend_copy_start(&from, 1, dst, name, job->size, repl_copy_tap,
	    repl_copy_done, job);
	free(name);
	if (job->copy == NULL) {
		snprintf(job->message, sizeof(job->message), "cannot start writing to %s",
		    job->target);
		return -1;
	}
	return 0;
}

/*
 * Get the next copy of the slot's key under way, or empty the slot when it needs no more
 * (or can get none now).  -1 on a database error.
 */
static int
repl_job_next(struct worker_ctx *ctx, struct repl_pipe *pipe, struct repl_job *job,
    struct repl_counts *c)
{
	while (job->rounds < repl_copies(ctx) - 1 && !worker_should_stop(ctx)) {
		enum repl_begin status;
		if (repl_begin(ctx, job, &status) == -1)
			return -1;
		if (status != REPL_BEGIN_OK) {
			repl_count_begin(status, c);
			break;
		}
		if (repl_copy_start(ctx, pipe, job) == 0) {
			pipe->active++;
			return 0;
		}
		c->failed++;
		log_warnx("replica of %s/%s from %s to %s failed: %s", job->bucket, job->key,
		    job->source, job->target, job->message);
		int rc = repl_abort(ctx, job, 0);	/* nothing was written */
		repl_job_forget_intent(job);
		if (rc == -1)
			return -1;
		break;
	}
	repl_job_release(job);
	return 0;
}

/* A slot's copy ended: settle it, then go on with the key.  -1 on a database error. */
static int
repl_job_settle(struct worker_ctx *ctx, struct repl_pipe *pipe, struct repl_job *job,
    struct repl_counts *c)
{
	pipe->active--;
	int rc;
	if (job->err == 0) {
		rc = repl_record(ctx, job, c);
	} else {
		c->failed++;
		log_warnx("replica of %s/%s from %s to %s failed: %s", job->bucket, job->key,
		    job->source, job->target, job->message);
		rc = repl_abort(ctx, job, repl_failure_may_write(ctx, job->target));
	}
	repl_job_forget_intent(job);
	if (rc == -1)
		return -1;
	if (rc == 1) {
		job->rounds++;
		return repl_job_next(ctx, pipe, job, c);
	}
	repl_job_release(job);
	return 0;
}

/*
 * The role must stop: abandon the copies still moving bytes (their destinations are left
 * as they were).  A copy whose every byte went out may be landing now: it is left to end
 * and is settled as usual, so that no bytes land behind the catalogue's back.  -1 on a
 * database error.
 */
static int
repl_pipe_cut(struct worker_ctx *ctx, struct repl_pipe *pipe)
{
	for (int i = 0; i < pipe->width; i++) {
		struct repl_job *job = &pipe->jobs[i];
		if (!job->busy || job->done || job->copy == NULL ||
		    backend_copy_progress(job->copy) >= (uint64_t)job->size)
			continue;
		backend_copy_abort(job->copy);
		job->copy = NULL;
		pipe->active--;
		log_info("replica of %s/%s to %s abandoned: stopping", job->bucket, job->key,
		    job->target);
		int rc = repl_abort(ctx, job, repl_failure_may_write(ctx, job->target));
		repl_job_release(job);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* Settle every slot whose copy ended.  -1 on a database error. */
static int
repl_pipe_settle(struct worker_ctx *ctx, struct repl_pipe *pipe, struct repl_counts *c)
{
	for (int i = 0; i < pipe->width; i++) {
		struct repl_job *job = &pipe->jobs[i];
		if (job->busy && job->done && repl_job_settle(ctx, pipe, job, c) == -1)
			return -1;
	}
	return 0;
}

/*
 * Run the copies until a slot is free (all: until none is in flight), settling each as it
 * ends.  When the role must stop, the copies still moving bytes are abandoned and the rest
 * are waited for.  -1 on a database error (the pipeline is emptied).
 */
static int
repl_pipe_wait(struct worker_ctx *ctx, struct repl_pipe *pipe, struct repl_counts *c,
    int all)
{
	int64_t next_check = clock_mono_ms() + REPL_STOP_CHECK_MS;
	int cut = 0;
	pipe->yield_at = next_check;
	while (pipe->active > 0 && (all || pipe->active >= pipe->width)) {
		event_base_loop(pipe->base, EVLOOP_ONCE);
		int rc = repl_pipe_settle(ctx, pipe, c);
		if (rc == 0 && !cut && clock_mono_ms() >= next_check) {
			next_check = clock_mono_ms() + REPL_STOP_CHECK_MS;
			if (worker_should_stop(ctx)) {
				cut = all = 1;
				rc = repl_pipe_cut(ctx, pipe);
			}
		}
		if (rc == -1) {
			repl_pipe_abandon(pipe);
			return -1;
		}
	}
	return 0;
}

int
repl_pipe_add(struct worker_ctx *ctx, const char *bucket, const char *key,
    const char *version, struct repl_counts *c)
{
	struct repl_pipe *pipe = ((struct repl_state *)ctx->role_state)->pipe;
	if (repl_pipe_wait(ctx, pipe, c, 0) == -1)
		return -1;
	if (worker_should_stop(ctx))
		return 0;
	struct repl_job *job = NULL;
	for (int i = 0; job == NULL && i < pipe->width; i++) {
		if (!pipe->jobs[i].busy)
			job = &pipe->jobs[i];
	}
	job->busy = 1;
	job->bucket = xstrdup(bucket);
	job->key = xstrdup(key);
	job->want_version = version != NULL ? xstrdup(version) : NULL;
	if (repl_job_next(ctx, pipe, job, c) == -1) {
		repl_pipe_abandon(pipe);
		return -1;
	}
	return 0;
}

int
repl_pipe_finish(struct worker_ctx *ctx, struct repl_counts *c)
{
	struct repl_pipe *pipe = ((struct repl_state *)ctx->role_state)->pipe;
	return repl_pipe_wait(ctx, pipe, c, 1);
}
