/*
 * worker.h: the skeleton every background role program runs on.
 *
 * A role's main() is its name, its advisory lock numbers, its LISTEN channel and its pass
 * function, handed to worker_main().  The skeleton does the rest: options (-c FILE, -f,
 * --once, -v), logging, the link to the supervisor, a database session, the role's advisory
 * locks with standby-and-retry while another instance holds them, LISTEN on the role's
 * channel, the periodic sweep timer, signal events (SIGTERM/SIGINT stop, SIGHUP reload,
 * SIGUSR1 reopen logs), and "lost the database session: stop work, reconnect, re-acquire".
 *
 * Exit status: 0 when --once did a full pass (or a normal stop), 1 when a pass failed or
 * the database could not be reached, 2 on a configuration error, 3 when --once found the
 * role's lock held by another instance.
 */
#ifndef S3MUX_WORKER_H
#define S3MUX_WORKER_H

#include <stdint.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "config.h"

#define WORKER_EXIT_OK 0
#define WORKER_EXIT_FAILED 1
#define WORKER_EXIT_CONFIG 2
#define WORKER_EXIT_LOCKED 3

struct worker_ctx;

struct worker_role {
	enum role_id id;
	const char *name;		/* "replicator" */
	const int64_t *locks;		/* advisory lock ids held while working */
	size_t nlocks;
	const char *channel;		/* LISTEN channel, e.g. "s3mux_replicator"; NULL for none */
	/* One full pass.  Returns 0 when done, -1 when it failed (already logged). */
	int (*pass)(struct worker_ctx *ctx);
	/* Optional: after the configuration is loaded, and on reload. */
	int (*configure)(struct worker_ctx *ctx);
	/* Optional: release role_state before the program exits. */
	void (*teardown)(struct worker_ctx *ctx);
	/* Nonzero while the role's real work is not written yet: say so in the log. */
	int no_work_yet;
};

struct worker_ctx {
	const struct worker_role *role;
	struct s3mux_config *cfg;
	const char *config_path;
	struct event_base *base;
	PGconn *db;			/* valid while the role holds its locks */
	int once;
	int foreground;
	int verbose;
	int stopping;			/* a long pass checks this between items */
	uint64_t passes;
	uint64_t passes_failed;
	void *role_state;		/* the role's own state */
	struct worker_internal *internal;
};

int worker_main(int argc, char **argv, const struct worker_role *role);

/* For a long pass: 1 when the role must stop (signal, supervisor gone, lost session). */
int worker_should_stop(struct worker_ctx *ctx);

/*
 * From a pass: run another pass in ms milliseconds (0: as soon as this one returns), unless
 * one is asked for sooner; a NOTIFY or the sweep may still run one earlier.  For work that
 * becomes due at a known time (a retry) or that a pass left for the next (a time bound).
 * Nothing happens with --once or when the session is lost meanwhile.
 */
void worker_pass_after(struct worker_ctx *ctx, int64_t ms);

#endif
