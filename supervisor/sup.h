/*
 * sup.h: the supervisor s3muxd: its one context, its process table and the interfaces of
 * its modules.
 *
 * The process table is a set of slots, one per front end (frontend 0..N-1) and one per
 * background role.  A slot says whether the configuration wants it running, holds the
 * process that serves it (cur) and, while a reload replaces that process, the one being
 * replaced (prev).  Every live child is also on the list ctx->procs, which is what SIGCHLD
 * reaps against; a process told to stop ("retiring") stays on that list until it is reaped
 * but no longer belongs to its slot, so it is never respawned.
 *
 * Modules: s3muxd.c (options, start-up, daemonizing), spawn.c (slots, spawn, reap,
 * backoff), signals.c (signal events, graceful stop), reload.c (SIGHUP), listen.c
 * (listening sockets), pidfile.c (the locked pid file), schema.c (database wait and
 * migrations).
 */
#ifndef S3MUX_SUP_H
#define S3MUX_SUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#include "config.h"
#include "proctitle.h"

#define SUP_BACKOFF_MIN_MS	1000	/* first respawn delay */
#define SUP_BACKOFF_MAX_MS	60000	/* the delay doubles up to this */
#define SUP_BACKOFF_RESET_MS	10000	/* up (ready) this long: back to the first delay */
#define SUP_EARLY_DEATH_MS	2000	/* dying sooner counts as "before doing any work" */
#define SUP_DB_RETRY_MS		2000	/* database not reachable at start: retry this often */
#define SUP_READY_TIMEOUT_MS	15000	/* reload: how long a replacement may take to be ready */
#define SUP_STOP_TIMEOUT_MS	30000	/* daemon.stop_timeout when the file does not set it */
#define SUP_KILL_WAIT_MS	5000	/* after SIGKILL: last bound before exiting anyway */
#define SUP_LISTEN_BACKLOG	511

enum sup_state {
	SUP_WAIT_DB = 0,		/* started; waiting for the database to apply migrations */
	SUP_RUNNING,			/* children started */
	SUP_STOPPING,			/* SIGTERM/SIGINT: children told to stop */
};

enum sup_kind {
	SUP_FRONTEND = 0,
	SUP_ROLE,
};

struct sup_ctx;
struct sup_slot;

/* One child process. */
struct sup_proc {
	struct sup_ctx *ctx;
	struct sup_slot *slot;		/* the slot it was started for (kept for its name) */
	pid_t pid;
	int fd;				/* our end of the socketpair; -1 after end-of-file */
	struct event *read_ev;
	struct event *kill_ev;		/* SIGKILL timer, armed when told to stop */
	char buf[64];			/* a partial line from the child */
	size_t buflen;
	int64_t started_ms;
	int64_t ready_ms;		/* 0 until the child said "ready" */
	unsigned generation;		/* the configuration it was started with */
	int retiring;			/* told to stop: never respawned */
	struct sup_proc *next;
};

/* One place in the pool: a front end number or a role. */
struct sup_slot {
	struct sup_ctx *ctx;
	enum sup_kind kind;
	int index;			/* front end number, or enum role_id */
	char name[32];			/* "frontend 0", "replicator" */
	int wanted;			/* the configuration wants it running */
	int held;			/* exited with a configuration error: left stopped */
	struct sup_proc *cur;		/* the process serving this slot, or NULL */
	struct sup_proc *prev;		/* during a reload: the process being replaced */
	int64_t backoff_ms;		/* the next respawn delay */
	struct event *restart_ev;	/* a scheduled respawn */
};

struct sup_listener {
	const char *key;		/* "s3", "admin": the name in S3MUX_LISTEN_FDS */
	char *addr;			/* as written in the file; NULL when not configured */
	int fd;				/* -1 when not open */
};

struct sup_pidfile {
	char *path;			/* NULL: no pid file */
	int fd;
};

/* A reload under way: the slots to restart one at a time. */
struct sup_reload {
	int active;
	struct sup_slot **queue;
	size_t nqueue;
	size_t pos;
	struct sup_slot *inflight;	/* the slot whose replacement we wait for */
	struct event *timer;		/* bound on the wait for "ready" */
	unsigned replaced;
	unsigned kept;
};

struct sup_ctx {
	char *config_path;		/* absolute */
	int foreground;
	int verbose;
	struct proctitle *title;
	struct s3mux_config *cfg;
	unsigned generation;		/* bumped by every successful reload */
	enum sup_state state;
	struct event_base *base;

	struct sup_pidfile pidfile;
	struct sup_listener s3;
	struct sup_listener admin;

	struct sup_slot **frontends;	/* every front end slot ever configured */
	size_t nfrontends;
	struct sup_slot roles[ROLE_COUNT];
	struct sup_proc *procs;		/* every child not yet reaped */

	struct event *sig_ev[8];
	size_t nsig_ev;
	struct event *db_ev;		/* database retry timer */
	char db_error[1024];		/* the last database error logged */
	int64_t db_error_ms;
	struct event *stop_ev;		/* graceful stop bound */
	int stop_killed;		/* SIGKILL already sent to everything */

	struct sup_reload reload;
};

/* s3muxd.c */
int sup_log_configure(const struct sup_ctx *ctx, char *err, size_t errlen);

/* spawn.c */
void sup_slots_init(struct sup_ctx *ctx);
void sup_slots_free(struct sup_ctx *ctx);
void sup_pool_start(struct sup_ctx *ctx);
void sup_pool_apply(struct sup_ctx *ctx);
struct sup_proc *sup_slot_start(struct sup_ctx *ctx, struct sup_slot *slot);
void sup_slot_cancel_restart(struct sup_slot *slot);
void sup_proc_retire(struct sup_ctx *ctx, struct sup_proc *p);
void sup_proc_signal(const struct sup_proc *p, int sig);
void sup_signal_all(struct sup_ctx *ctx, int sig);
void sup_reap(struct sup_ctx *ctx);
void sup_procs_free(struct sup_ctx *ctx);
int64_t sup_stop_timeout_ms(const struct sup_ctx *ctx);

/* signals.c */
int sup_signals_init(struct sup_ctx *ctx);
void sup_signals_free(struct sup_ctx *ctx);
void sup_stop(struct sup_ctx *ctx, int signo);

/* reload.c */
void sup_reload(struct sup_ctx *ctx);
void sup_reload_cancel(struct sup_ctx *ctx);
void sup_reload_proc_ready(struct sup_ctx *ctx, struct sup_proc *p);
int sup_reload_proc_died(struct sup_ctx *ctx, struct sup_proc *p);
int sup_reload_init(struct sup_ctx *ctx);

/* listen.c */
void sup_listener_init(struct sup_listener *l, const char *key);
int sup_listener_open(struct sup_listener *l, const char *addr, char *err, size_t errlen);
void sup_listener_close(struct sup_listener *l);

/* pidfile.c */
void sup_pidfile_init(struct sup_pidfile *pf);
int sup_pidfile_lock(struct sup_pidfile *pf, const char *path, char *err, size_t errlen);
int sup_pidfile_write(struct sup_pidfile *pf, char *err, size_t errlen);
void sup_pidfile_remove(struct sup_pidfile *pf);

/* schema.c */
int sup_schema_init(struct sup_ctx *ctx);
int sup_schema_apply(const struct s3mux_config *cfg, char *err, size_t errlen);

#endif
