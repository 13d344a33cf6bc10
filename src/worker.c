/*
 * worker.c: the skeleton every background role program runs on (worker.h).
 *
 * A role's main() hands its struct worker_role to worker_main(), which parses the options,
 * loads the configuration, starts logging and then runs one of two ways:
 *
 *   --once   connect, take the role's advisory locks, run one pass, release, exit with a
 *            status that says whether the pass was done (worker.h).
 *   loop     an event loop in the pgqd manner, a small state machine:
 *
 *              DISCONNECTED --connect--> take every lock of the role
 *                 ^                        | all taken           | one held elsewhere
 *                 |                        v                     v
 *                 +---- session lost --- ACTIVE <--retry----- STANDBY
 *
 *            ACTIVE listens on the role's channel and runs a pass on activation, on each
 *            NOTIFY (several coalesce into one pass), on the sweep timer and when a pass
 *            asked for another at a given time (worker_pass_after).  The session is
 *            checked before each pass and whenever its socket reports trouble; a lost session
 *            stops the work at once (the locks went with it) and the worker reconnects with a
 *            backoff of 1 s doubling to 30 s, then must re-acquire before it does anything.
 *
 * Signals are libevent signal events: SIGTERM/SIGINT stop (the current pass finishes; it can
 * ask worker_should_stop() between items), SIGHUP reloads the configuration (a bad file is
 * reported and the old one kept), SIGUSR1 reopens the log file.  While a pass runs, SIGTERM
 * and SIGINT are blocked so that worker_should_stop() can see them pending; they are
 * delivered to the loop when the pass returns.  When the supervisor's end of the link
 * closes, the worker exits at once.
 *
 * All state lives in the worker_ctx on worker_main()'s stack and its worker_internal.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "proctitle.h"
#include "util.h"
#include "worker.h"

#define WORKER_BACKOFF_MIN_MS 1000
#define WORKER_BACKOFF_MAX_MS 30000
#define WORKER_STANDBY_RETRY_DEFAULT_MS 5000
#define WORKER_LOCKLIST_MAX 256
#define WORKER_NOTIFY_GAP_MS 100	/* notified passes start at least this far apart */

enum worker_state {
	WORKER_DISCONNECTED = 0,
	WORKER_STANDBY,
	WORKER_ACTIVE,
};

struct worker_internal {
	struct proctitle title;
	struct child_link link;
	char *config_path;		/* our copy: the argv block is rewritten by the title */
	enum worker_state state;
	PGconn *conn;			/* the session, in STANDBY and ACTIVE */
	struct event *sig_ev[4];
	struct event *step_ev;		/* reconnect after backoff, standby retry */
	struct event *pass_ev;		/* run a pass from the loop (activations coalesce) */
	struct event *sweep_ev;		/* the periodic backstop pass */
	struct event *later_ev;		/* a pass a role asked for (worker_pass_after) */
	int64_t later_at_ms;		/* when later_ev fires (monotonic), 0: not set */
	int64_t pass_started_ms;	/* when the last pass started (monotonic) */
	struct event *db_ev;		/* the session's socket, while ACTIVE */
	sigset_t stop_sigs;		/* SIGTERM, SIGINT: blocked while a pass runs */
	int64_t backoff_ms;
	int64_t standby_lock;		/* the lock last logged as held elsewhere, or 0 */
	int ready_sent;
	int no_work_logged;
	int parent_gone;
};

static void worker_step_cb(evutil_socket_t fd, short what, void *arg);
static void worker_pass_cb(evutil_socket_t fd, short what, void *arg);
static void worker_sweep_cb(evutil_socket_t fd, short what, void *arg);
static void worker_db_cb(evutil_socket_t fd, short what, void *arg);
static void worker_session_lost(struct worker_ctx *ctx);
static void worker_notified(struct worker_ctx *ctx);

/* ---- options ------------------------------------------------------------------------- */

static void
worker_usage(FILE *out, const struct worker_role *role)
{
	fprintf(out,
	    "usage: s3mux-%s [-fhv] [-c FILE] [--once]\n"
	    "  -c, --config FILE  configuration file (default %s/s3mux.yaml)\n"
	    "  -f, --foreground   log to standard error instead of syslog\n"
	    "      --once         run one full pass and exit (0 done, 1 failed, 3 lock held)\n"
	    "  -v, --verbose      log debug messages\n"
	    "  -h, --help         show this help\n", role->name, S3MUX_SYSCONFDIR);
}

/* Returns -1 to go on, or the exit status to leave with. */
static int
worker_options(struct worker_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "once", no_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = S3MUX_SYSCONFDIR "/s3mux.yaml";
	int ch;
	while ((ch = getopt_long(argc, argv, "c:fvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'f': ctx->foreground = 1; break;
		case 'o': ctx->once = 1; break;
		case 'v': ctx->verbose = 1; break;
		case 'h': worker_usage(stdout, ctx->role); return WORKER_EXIT_OK;
		default: worker_usage(stderr, ctx->role); return WORKER_EXIT_CONFIG;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "s3mux-%s: unexpected argument '%s'\n", ctx->role->name,
		    argv[optind]);
		worker_usage(stderr, ctx->role);
		return WORKER_EXIT_CONFIG;
	}
	ctx->internal->config_path = xstrdup(path);
	ctx->config_path = ctx->internal->config_path;
	return -1;
}

/* ---- configuration and logging ------------------------------------------------------- */

static int
worker_log_level(const char *name, enum log_level *level)
{
	static const struct { const char *name; enum log_level level; } levels[] = {
		{ "error", LOG_LEVEL_ERROR }, { "warning", LOG_LEVEL_WARN },
		{ "warn", LOG_LEVEL_WARN }, { "info", LOG_LEVEL_INFO }, { "debug", LOG_LEVEL_DEBUG },
	};
	for (size_t i = 0; i < nitems(levels); i++) {
		if (strcasecmp(name, levels[i].name) == 0) {
			*level = levels[i].level;
			return 0;
		}
	}
	return -1;
}

/*
 * As s3muxd does: in the foreground (-f) standard error; detached, daemon.log_file when it
 * is set, else syslog with daemon.syslog_facility.  daemon.log_level, unless -v.
 */
static void
worker_apply_log(struct worker_ctx *ctx)
{
	const struct s3mux_config *cfg = ctx->cfg;
	const char *fac = cfg->daemon.syslog_facility;
	if (fac != NULL && log_set_facility(fac) == -1)
		log_warnx("unknown syslog facility '%s': keeping the current one", fac);
	if (!ctx->foreground && cfg->daemon.log_file != NULL) {
		if (log_set_file(cfg->daemon.log_file) == -1)
			log_warn("cannot open the log file %s", cfg->daemon.log_file);
	} else {
		log_init(ctx->role->name, ctx->foreground ? LOG_DEST_STDERR : LOG_DEST_SYSLOG,
		    ctx->verbose);
	}
	enum log_level level = LOG_LEVEL_INFO;
	if (ctx->verbose)
		level = LOG_LEVEL_DEBUG;
	else if (cfg->daemon.log_level != NULL &&
	    worker_log_level(cfg->daemon.log_level, &level) == -1)
		log_warnx("unknown log level '%s': using info", cfg->daemon.log_level);
	log_set_level(level);
}

static struct s3mux_config *
worker_load_config(struct worker_ctx *ctx, char *err, size_t errlen)
{
	return config_load(ctx->config_path, err, errlen);
}

static const struct cfg_role *
worker_role_cfg(const struct worker_ctx *ctx)
{
	return &ctx->cfg->roles[ctx->role->id];
}

static int64_t
worker_standby_retry_ms(const struct worker_ctx *ctx)
{
	int64_t ms = worker_role_cfg(ctx)->standby_retry_ms;
	return ms > 0 ? ms : WORKER_STANDBY_RETRY_DEFAULT_MS;
}

/* "1002, 1008" */
static const char *
worker_lock_list(const struct worker_role *role, char *buf, size_t len)
{
	buf[0] = '\0';
	size_t used = 0;
	for (size_t i = 0; i < role->nlocks && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%" PRId64, i ? ", " : "",
		    role->locks[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return buf;
}

/* ---- timers and small helpers --------------------------------------------------------- */

static void
worker_timer_add(struct event *ev, int64_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	event_add(ev, &tv);
}

static void
worker_ready(struct worker_ctx *ctx)
{
	if (ctx->internal->ready_sent)
		return;
	child_link_ready(&ctx->internal->link);
	ctx->internal->ready_sent = 1;
}

static void
worker_want_pass(struct worker_ctx *ctx)
{
	event_active(ctx->internal->pass_ev, EV_TIMEOUT, 0);
}

static void
worker_stop_loop(struct worker_ctx *ctx)
{
	ctx->stopping = 1;
	event_base_loopbreak(ctx->base);
}

/*
 * Read what the session's socket has and drop the notifications queued so far; our own
 * NOTIFYs (a pass announcing work to itself) do not count.  Returns how many came from
 * others, or -1 when the session is broken.
 */
static int
worker_drain_notifies(struct worker_ctx *ctx)
{
	PGconn *conn = ctx->internal->conn;
	if (PQconsumeInput(conn) == 0 || PQstatus(conn) == CONNECTION_BAD)
		return -1;
	int self = PQbackendPID(conn), n = 0;
	PGnotify *note;
	while ((note = PQnotifies(conn)) != NULL) {
		if (note->be_pid != self)
			n++;
		PQfreemem(note);
	}
	return n;
}

/* ---- the session: connect, lock, listen, lose ------------------------------------------ */

/* Server notices ("FATAL: terminating connection ...") go to our log, not to stderr. */
static void
worker_notice_cb(void *arg, const char *message)
{
	char line[512];
	snprintf(line, sizeof(line), "%s", message);
	line[strcspn(line, "\n")] = '\0';
	log_info("database: %s", line);
}

static PGconn *
worker_session_open(struct worker_ctx *ctx, char *err, size_t errlen)
{
	PGconn *conn = db_connect(ctx->cfg->database.url, ctx->role->name,
	    ctx->cfg->database.connect_timeout_ms, err, errlen);
	if (conn != NULL)
		PQsetNoticeProcessor(conn, worker_notice_cb, NULL);
	return conn;
}

/*
 * Take every lock of the role on conn.  Returns 1 when all are held, 0 when one is held by
 * another session (*busy names it, and the locks taken here are given back), -1 on error.
 */
static int
worker_take_locks(const struct worker_role *role, PGconn *conn, int64_t *busy)
{
	size_t taken = 0;
	int rc = 1;
	for (; taken < role->nlocks; taken++) {
		int got = db_try_advisory_lock(conn, role->locks[taken]);
		if (got == 1)
			continue;
		rc = got;
		*busy = role->locks[taken];
		break;
	}
	if (rc == 1)
		return 1;
	for (size_t i = 0; i < taken; i++) {
		if (db_advisory_unlock(conn, role->locks[i]) == -1)
			return -1;
	}
	return rc;
}

static void
worker_release_locks(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	if (in->state != WORKER_ACTIVE || in->conn == NULL || PQstatus(in->conn) != CONNECTION_OK)
		return;
	char list[WORKER_LOCKLIST_MAX];
	for (size_t i = 0; i < ctx->role->nlocks; i++)
		db_advisory_unlock(in->conn, ctx->role->locks[i]);
	log_info("released lock(s) %s", worker_lock_list(ctx->role, list, sizeof(list)));
}

static void
worker_disconnect(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	if (in->db_ev != NULL)
		event_free(in->db_ev);
	in->db_ev = NULL;
	if (in->sweep_ev != NULL)
		event_del(in->sweep_ev);
	if (in->later_ev != NULL)
		event_del(in->later_ev);
	in->later_at_ms = 0;
	if (in->step_ev != NULL)
		event_del(in->step_ev);
	if (in->conn != NULL)
		PQfinish(in->conn);
	in->conn = NULL;
	ctx->db = NULL;
	in->state = WORKER_DISCONNECTED;
	in->standby_lock = 0;
}

static void
worker_schedule_reconnect(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	worker_timer_add(in->step_ev, in->backoff_ms);
	in->backoff_ms *= 2;
	if (in->backoff_ms > WORKER_BACKOFF_MAX_MS)
		in->backoff_ms = WORKER_BACKOFF_MAX_MS;
}

static void
worker_session_lost(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	if (in->conn != NULL) {
		char why[256];
		snprintf(why, sizeof(why), "%s", PQerrorMessage(in->conn));
		why[strcspn(why, "\n")] = '\0';
		if (why[0] != '\0')
			log_warnx("database: %s", why);
	}
	log_warnx("lost database session: stopping work, reconnecting");
	worker_disconnect(ctx);
	worker_schedule_reconnect(ctx);
}

static int
worker_listen(struct worker_ctx *ctx)
{
	PGconn *conn = ctx->internal->conn;
	char *ident = PQescapeIdentifier(conn, ctx->role->channel, strlen(ctx->role->channel));
	if (ident == NULL) {
		log_warnx("cannot quote the channel name %s", ctx->role->channel);
		return -1;
	}
	char *sql = xasprintf("LISTEN %s", ident);
	PQfreemem(ident);
	int rc = db_exec(conn, sql);
	free(sql);
	return rc;
}

static void
worker_standby(struct worker_ctx *ctx, int64_t busy)
{
	struct worker_internal *in = ctx->internal;
	in->state = WORKER_STANDBY;
	if (in->standby_lock != busy)
		log_info("standing by: lock %" PRId64 " held by another instance", busy);
	else
		log_debug("standby: lock %" PRId64 " still held elsewhere", busy);
	in->standby_lock = busy;
	worker_ready(ctx);
	worker_timer_add(in->step_ev, worker_standby_retry_ms(ctx));
}

static void
worker_sweep_start(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	event_del(in->sweep_ev);
	int64_t ms = worker_role_cfg(ctx)->sweep_interval_ms;
	if (in->state == WORKER_ACTIVE && ms > 0)
		worker_timer_add(in->sweep_ev, ms);
}

static void
worker_activate(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	const struct worker_role *role = ctx->role;
	if (role->channel != NULL && worker_listen(ctx) == -1) {
		worker_session_lost(ctx);
		return;
	}
	in->db_ev = event_new(ctx->base, PQsocket(in->conn), EV_READ | EV_PERSIST,
	    worker_db_cb, ctx);
	if (in->db_ev == NULL || event_add(in->db_ev, NULL) == -1)
		fatalx("cannot watch the database socket");
	in->state = WORKER_ACTIVE;
	in->standby_lock = 0;
	ctx->db = in->conn;
	char list[WORKER_LOCKLIST_MAX];
	log_info("active: holding lock(s) %s", worker_lock_list(role, list, sizeof(list)));
	log_info("database session pid %d (the backend pid in pg_locks)", PQbackendPID(in->conn));
	worker_ready(ctx);
	if (role->no_work_yet && !in->no_work_logged) {
		log_info("%s: this role does no work yet; it holds its lock and waits", role->name);
		in->no_work_logged = 1;
	}
	worker_sweep_start(ctx);
	worker_want_pass(ctx);
}

/* With a session: take the locks and become ACTIVE, or stand by. */
static void
worker_acquire(struct worker_ctx *ctx)
{
	int64_t busy = 0;
	switch (worker_take_locks(ctx->role, ctx->internal->conn, &busy)) {
	case 1:
		worker_activate(ctx);
		break;
	case 0:
		worker_standby(ctx, busy);
		break;
	default:
		worker_session_lost(ctx);
		break;
	}
}

static void
worker_connect(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	char err[512];
	in->conn = worker_session_open(ctx, err, sizeof(err));
	if (in->conn == NULL) {
		log_warnx("cannot connect to the database: %s; retrying in %" PRId64 " ms", err,
		    in->backoff_ms);
		worker_schedule_reconnect(ctx);
		return;
	}
	log_debug("connected to the database");
	in->backoff_ms = WORKER_BACKOFF_MIN_MS;
	worker_acquire(ctx);
}

static void
worker_step_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_ctx *ctx = arg;
	if (ctx->stopping)
		return;
	if (ctx->internal->state == WORKER_DISCONNECTED)
		worker_connect(ctx);
	else if (ctx->internal->state == WORKER_STANDBY)
		worker_acquire(ctx);
}

/* ---- passes --------------------------------------------------------------------------- */

static int
worker_call_pass(struct worker_ctx *ctx)
{
	if (ctx->role->no_work_yet || ctx->role->pass == NULL)
		return 0;
	return ctx->role->pass(ctx);
}

/* One pass with SIGTERM/SIGINT held back, timed and logged.  Returns what the pass did. */
static int
worker_timed_pass(struct worker_ctx *ctx)
{
	sigset_t saved;
	sigprocmask(SIG_BLOCK, &ctx->internal->stop_sigs, &saved);
	int64_t start = clock_mono_ms();
	ctx->internal->pass_started_ms = start;
	int rc = worker_call_pass(ctx);
	int64_t took = clock_mono_ms() - start;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	ctx->passes++;
	if (rc == 0) {
		log_info("pass %" PRIu64 " done in %" PRId64 " ms", ctx->passes, took);
	} else {
		ctx->passes_failed++;
		log_warnx("pass failed (pass %" PRIu64 ", %" PRId64 " ms, %" PRIu64
		    " failed so far)", ctx->passes, took, ctx->passes_failed);
	}
	return rc;
}

static void
worker_run_pass(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	if (!db_alive(in->conn) || worker_drain_notifies(ctx) == -1) {
		worker_session_lost(ctx);
		return;
	}
	int rc = worker_timed_pass(ctx);
	if (ctx->stopping) {
		event_base_loopbreak(ctx->base);
		return;
	}
	if (rc == -1 && !db_alive(in->conn)) {
		worker_session_lost(ctx);
		return;
	}
	int more = worker_drain_notifies(ctx);
	if (more == -1)
		worker_session_lost(ctx);
	else if (more > 0)
		worker_notified(ctx);
}

/*
 * Notifications ask for a pass: at once, unless the last pass started less than
 * WORKER_NOTIFY_GAP_MS ago, when it runs at the end of that gap.  Under a stream of commits
 * a role then wakes a few times a second and takes their events in batches, instead of
 * running a pass (and committing its cursor) for every commit.
 */
static void
worker_notified(struct worker_ctx *ctx)
{
	int64_t since = clock_mono_ms() - ctx->internal->pass_started_ms;
	if (since >= WORKER_NOTIFY_GAP_MS)
		worker_want_pass(ctx);
	else
		worker_pass_after(ctx, WORKER_NOTIFY_GAP_MS - since);
}

static void
worker_pass_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_ctx *ctx = arg;
	if (ctx->stopping || ctx->internal->state != WORKER_ACTIVE)
		return;
	worker_run_pass(ctx);
}

static void
worker_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_ctx *ctx = arg;
	ctx->internal->later_at_ms = 0;
	worker_want_pass(ctx);
}

void
worker_pass_after(struct worker_ctx *ctx, int64_t ms)
{
	struct worker_internal *in = ctx->internal;
	if (ctx->once || in->later_ev == NULL || in->state != WORKER_ACTIVE)
		return;
	if (ms < 0)
		ms = 0;
	int64_t at = clock_mono_ms() + ms;
	if (in->later_at_ms != 0 && in->later_at_ms <= at)
		return;
	in->later_at_ms = at;
	worker_timer_add(in->later_ev, ms);
	log_debug("next pass in %" PRId64 " ms", ms);
}

static void
worker_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_ctx *ctx = arg;
	log_debug("sweep");
	worker_want_pass(ctx);
}

static void
worker_db_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_ctx *ctx = arg;
	int n = worker_drain_notifies(ctx);
	if (n == -1) {
		worker_session_lost(ctx);
		return;
	}
	if (n > 0) {
		log_debug("woken by %d notification(s)", n);
		worker_notified(ctx);
	}
}

/* ---- signals, reload, the supervisor --------------------------------------------------- */

static void
worker_reload(struct worker_ctx *ctx)
{
	char err[1024];
	struct s3mux_config *fresh = worker_load_config(ctx, err, sizeof(err));
	if (fresh == NULL) {
		log_warnx("not reloading: %s", err);
		return;
	}
	if (fresh->database.url == NULL) {
		config_free(fresh);
		log_warnx("not reloading: %s: database.url is not set", ctx->config_path);
		return;
	}
	struct s3mux_config *old = ctx->cfg;
	ctx->cfg = fresh;
	if (ctx->role->configure != NULL && ctx->role->configure(ctx) == -1) {
		ctx->cfg = old;
		config_free(fresh);
		log_warnx("not reloading: the %s role cannot use the new configuration",
		    ctx->role->name);
		return;
	}
	int url_changed = strcmp(old->database.url, fresh->database.url) != 0;
	config_free(old);
	worker_apply_log(ctx);
	log_info("configuration reloaded from %s", ctx->config_path);
	if (!worker_role_cfg(ctx)->enabled) {
		log_info("disabled by the new configuration (roles.%s.enabled): stopping",
		    ctx->role->name);
		worker_stop_loop(ctx);
		return;
	}
	worker_sweep_start(ctx);
	if (url_changed && ctx->internal->state != WORKER_DISCONNECTED) {
		log_info("database.url changed: reconnecting");
		worker_release_locks(ctx);
		worker_disconnect(ctx);
		ctx->internal->backoff_ms = WORKER_BACKOFF_MIN_MS;
		worker_timer_add(ctx->internal->step_ev, 0);
	}
}

static void
worker_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct worker_ctx *ctx = arg;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		worker_stop_loop(ctx);
		break;
	case SIGHUP:
		worker_reload(ctx);
		break;
	case SIGUSR1:
		log_reopen();
		log_info("log file reopened");
		break;
	}
}

static void
worker_parent_gone(void *arg)
{
	struct worker_ctx *ctx = arg;
	log_warnx("supervisor gone: exiting");
	ctx->internal->parent_gone = 1;
	worker_stop_loop(ctx);
}

/* Without the loop: has the supervisor's end closed? */
static int
worker_parent_closed(struct worker_ctx *ctx)
{
	int fd = ctx->internal->link.parent_fd;
	if (fd == -1)
		return 0;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
		return 1;
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0;
}

int
worker_should_stop(struct worker_ctx *ctx)
{
	if (ctx->stopping)
		return 1;
	struct worker_internal *in = ctx->internal;
	sigset_t pending;
	if (sigpending(&pending) == 0 &&
	    (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1)) {
		log_info("stop requested: finishing the current item");
		ctx->stopping = 1;
		return 1;
	}
	if (worker_parent_closed(ctx)) {
		log_warnx("supervisor gone: stopping the pass");
		in->parent_gone = 1;
		ctx->stopping = 1;
		return 1;
	}
	return ctx->db != NULL && PQstatus(ctx->db) == CONNECTION_BAD;
}

/* ---- set-up and tear-down --------------------------------------------------------------- */

static int
worker_events_init(struct worker_ctx *ctx)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct worker_internal *in = ctx->internal;
	ctx->base = event_base_new();
	if (ctx->base == NULL) {
		log_warnx("cannot create the event loop");
		return -1;
	}
	for (size_t i = 0; i < nitems(sigs); i++) {
		in->sig_ev[i] = evsignal_new(ctx->base, sigs[i], worker_signal_cb, ctx);
		if (in->sig_ev[i] == NULL || event_add(in->sig_ev[i], NULL) == -1) {
			log_warnx("cannot watch signal %d", sigs[i]);
			return -1;
		}
	}
	in->step_ev = evtimer_new(ctx->base, worker_step_cb, ctx);
	in->pass_ev = event_new(ctx->base, -1, 0, worker_pass_cb, ctx);
	in->sweep_ev = event_new(ctx->base, -1, EV_PERSIST, worker_sweep_cb, ctx);
	in->later_ev = evtimer_new(ctx->base, worker_later_cb, ctx);
	if (in->step_ev == NULL || in->pass_ev == NULL || in->sweep_ev == NULL ||
	    in->later_ev == NULL) {
		log_warnx("cannot create the worker's events");
		return -1;
	}
	sigemptyset(&in->stop_sigs);
	sigaddset(&in->stop_sigs, SIGTERM);
	sigaddset(&in->stop_sigs, SIGINT);
	return 0;
}

static void
worker_cleanup(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	if (ctx->role->teardown != NULL)
		ctx->role->teardown(ctx);
	worker_disconnect(ctx);
	child_link_close(&in->link);
	for (size_t i = 0; i < nitems(in->sig_ev); i++) {
		if (in->sig_ev[i] != NULL)
			event_free(in->sig_ev[i]);
	}
	if (in->step_ev != NULL)
		event_free(in->step_ev);
	if (in->pass_ev != NULL)
		event_free(in->pass_ev);
	if (in->sweep_ev != NULL)
		event_free(in->sweep_ev);
	if (in->later_ev != NULL)
		event_free(in->later_ev);
	if (ctx->base != NULL)
		event_base_free(ctx->base);
	ctx->base = NULL;
	if (ctx->cfg != NULL)
		config_free(ctx->cfg);
	ctx->cfg = NULL;
	free(in->config_path);
	in->config_path = NULL;
	libevent_global_shutdown();
}

/* Options done: logging, title, configuration.  Returns -1 to go on, or an exit status. */
static int
worker_prepare(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	log_init(ctx->role->name, ctx->foreground ? LOG_DEST_STDERR : LOG_DEST_SYSLOG,
	    ctx->verbose);
	proctitle_set(&in->title, "s3muxd: %s", ctx->role->name);
	char err[1024];
	ctx->cfg = worker_load_config(ctx, err, sizeof(err));
	if (ctx->cfg == NULL) {
		log_warnx("configuration error: %s", err);
		return WORKER_EXIT_CONFIG;
	}
	worker_apply_log(ctx);
	if (ctx->cfg->database.url == NULL) {
		log_warnx("configuration error: %s: database.url is not set", ctx->config_path);
		return WORKER_EXIT_CONFIG;
	}
	if (!worker_role_cfg(ctx)->enabled) {
		log_info("disabled in the configuration (roles.%s.enabled is false): exiting",
		    ctx->role->name);
		return WORKER_EXIT_OK;
	}
	if (ctx->role->configure != NULL && ctx->role->configure(ctx) == -1)
		return WORKER_EXIT_CONFIG;
	return -1;
}

/* ---- the two ways to run ---------------------------------------------------------------- */

static int
worker_once(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	sigprocmask(SIG_BLOCK, &in->stop_sigs, NULL);
	char err[512], list[WORKER_LOCKLIST_MAX];
	in->conn = worker_session_open(ctx, err, sizeof(err));
	if (in->conn == NULL) {
		log_warnx("cannot connect to the database: %s", err);
		return WORKER_EXIT_FAILED;
	}
	int64_t busy = 0;
	int got = worker_take_locks(ctx->role, in->conn, &busy);
	if (got == 0)
		log_warnx("--once: lock %" PRId64 " held by another instance; nothing done", busy);
	if (got != 1)
		return got == 0 ? WORKER_EXIT_LOCKED : WORKER_EXIT_FAILED;
	in->state = WORKER_ACTIVE;
	ctx->db = in->conn;
	log_info("active: holding lock(s) %s", worker_lock_list(ctx->role, list, sizeof(list)));
	if (ctx->role->no_work_yet)
		log_info("%s: this role does no work yet; it holds its lock and waits",
		    ctx->role->name);
	if (worker_should_stop(ctx)) {
		log_info("stopped before the pass");
		return WORKER_EXIT_FAILED;
	}
	int rc = worker_timed_pass(ctx);
	worker_release_locks(ctx);
	return rc == 0 ? WORKER_EXIT_OK : WORKER_EXIT_FAILED;
}

static int
worker_loop(struct worker_ctx *ctx)
{
	struct worker_internal *in = ctx->internal;
	in->backoff_ms = WORKER_BACKOFF_MIN_MS;
	in->state = WORKER_DISCONNECTED;
	log_info("starting (configuration %s)", ctx->config_path);
	worker_timer_add(in->step_ev, 0);
	if (event_base_dispatch(ctx->base) == -1) {
		log_warnx("event loop failed");
		return WORKER_EXIT_FAILED;
	}
	if (!in->parent_gone)
		worker_release_locks(ctx);
	log_info("stopped after %" PRIu64 " pass(es), %" PRIu64 " failed", ctx->passes,
	    ctx->passes_failed);
	return WORKER_EXIT_OK;
}

int
worker_main(int argc, char **argv, const struct worker_role *role)
{
	struct worker_internal in;
	struct worker_ctx ctx;
	memset(&in, 0, sizeof(in));
	memset(&ctx, 0, sizeof(ctx));
	in.link.parent_fd = -1;
	ctx.role = role;
	ctx.internal = &in;
	proctitle_init(&in.title, argc, argv);
	signal(SIGPIPE, SIG_IGN);

	int rc = worker_options(&ctx, argc, argv);
	if (rc == -1)
		rc = worker_prepare(&ctx);
	if (rc == -1 && worker_events_init(&ctx) == -1)
		rc = WORKER_EXIT_FAILED;
	if (rc == -1 && child_link_init(&in.link, ctx.base, worker_parent_gone, &ctx) == -1)
		rc = WORKER_EXIT_FAILED;
	if (rc == -1)
		rc = ctx.once ? worker_once(&ctx) : worker_loop(&ctx);
	worker_cleanup(&ctx);
	return rc;
}
