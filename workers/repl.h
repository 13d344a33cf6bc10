/*
 * repl.h: what the two files of s3mux-replicator share: the role's state, its counts, and
 * the copy pipeline (repl_pipe.c) that replicator.c feeds with keys.
 *
 * The pipeline streams up to roles.replicator.parallel copies at once on the role's
 * private event base.  repl_pipe_add() brings one key toward the replication factor: it asks
 * begin_replica for a target and starts the copy, first waiting for a free slot (and
 * settling the copies that ended meanwhile: record_replica or abort_replica).  A key stays in
 * its slot until it has the copies it needs or can get no more now, so one key is never
 * copied twice at once.  repl_pipe_finish() waits for every copy in flight; call it before
 * moving an outbox cursor past the keys added.  When the role must stop, the copies in
 * flight are abandoned and their names queued for cleanup.
 */
#ifndef S3MUX_REPL_H
#define S3MUX_REPL_H

#include <stdint.h>

#include "backend.h"
#include "backend_set.h"
#include "cleanupq.h"
#include "util.h"
#include "worker.h"

struct repl_pipe;

struct repl_state {
	struct backend_set *set;
	struct backend **backends;	/* the set's, in configured order */
	size_t nbackends;
	struct repl_pipe *pipe;
	char owner[200];		/* of intents and cleanup claims */
	int sweep_due;			/* the next pass sweeps and removes excess */
	int64_t last_sweep_ms;		/* monotonic start of the last sweep; 0: none yet */
	int64_t retry_ms;		/* delay of the next retry pass */
	int64_t behind_ms;		/* delay of the next look at events not yet readable */
	int slice_delay_ms;		/* test hook: sleep per copied slice */
};

struct repl_counts {
	uint64_t events;		/* outbox events read */
	uint64_t swept;			/* objects the sweep found with too few copies */
	uint64_t copied;		/* replicas recorded */
	uint64_t stale;			/* replicas whose source changed during the copy */
	uint64_t failed;		/* copies that failed */
	uint64_t busy;			/* a write of the target's name was in progress */
	uint64_t no_target;		/* no backend could take another copy */
	uint64_t no_source;		/* no readable backend holds the object */
	uint64_t excess;		/* surplus copies removed */
	struct cleanupq_counts cleanup;	/* their deletes */
};

/* Copies streaming at once, at most. */
#define REPL_PARALLEL_MAX 256

int repl_copies(const struct worker_ctx *ctx);

/*
 * db_query() on the role's session, tried again (up to 3 times, 100 ms apart, then 200)
 * when a statement fails while the session stays sound: a deadlock or serialization
 * failure rolled it back, and the catalogue functions are safe to call again.  NULL when it
 * kept failing or the session is lost (logged).
 */
PGresult *repl_query(struct worker_ctx *ctx, const char *sql, int nparams,
    const char *const *params);

struct repl_pipe *repl_pipe_new(int width);
/* Abandon whatever is in flight without telling the catalogue (the reaper resolves the
 * intents), and free the pipeline. */
void repl_pipe_free(struct repl_pipe *pipe);

/*
 * Bring (bucket, key) toward the replication factor; version: the version to copy, or NULL
 * for the current one.  Returns 0 (the key's copies are under way, or it needs none, or
 * none can be made now: counted), or -1 on a database error (logged).
 */
int repl_pipe_add(struct worker_ctx *ctx, const char *bucket, const char *key,
    const char *version, struct repl_counts *c);
/* Wait for every copy in flight and settle it.  -1 on a database error. */
int repl_pipe_finish(struct worker_ctx *ctx, struct repl_counts *c);

/* The backends whose circuit breaker is not closed, as a PostgreSQL array (into out). */
void repl_broken(const struct repl_state *st, struct strbuf *out);
int repl_any_broken(const struct repl_state *st);

#endif
