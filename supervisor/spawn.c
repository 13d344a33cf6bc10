/*
 * spawn.c: the supervisor's process table: slots, spawning, the ready handshake, reaping
 * and the respawn policy.
 *
 * A child is started with fork + execve of s3mux_libexecdir()/s3mux-<role> (or
 * s3mux-frontend), following src/child.h: argv[0] is the process title, then -c FILE and
 * -f / -v when the supervisor runs that way; our socketpair end is on fd 3, the listening
 * sockets of a front end on 4 (s3) and 5 (admin); every other descriptor is closed.  The
 * child also asks the kernel for SIGTERM when the supervisor dies (PR_SET_PDEATHSIG).
 *
 * When a slot's process dies the slot is started again after a delay that starts at 1 s
 * and doubles up to 60 s; it is back to 1 s once a child had been ready for 10 s.  A child
 * that dies before saying "ready", or within 2 s, "died before doing any work": the same
 * delay applies and the log says the slot is throttled.  Exit status 2 (CHILD_EXIT_CONFIG)
 * leaves the slot stopped until the next reload.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "sup.h"
#include "util.h"

#define SUP_FD_S3	4
#define SUP_FD_ADMIN	5
#define SUP_FD_SPARE	16	/* descriptors are moved above this before dup2 */

/* What the child needs between fork and exec, all prepared before the fork. */
struct sup_exec {
	const char *prog;
	char **argv;
	char **envp;
	int link_fd;
	int s3_fd;			/* -1 for roles and when not listening */
	int admin_fd;
	int first_free;			/* descriptors from here up are closed */
	pid_t parent;
};

static void sup_restart_cb(evutil_socket_t fd, short what, void *arg);
static void sup_proc_read_cb(evutil_socket_t fd, short what, void *arg);
static void sup_proc_kill_cb(evutil_socket_t fd, short what, void *arg);

int64_t
sup_stop_timeout_ms(const struct sup_ctx *ctx)
{
	int64_t ms = ctx->cfg ? ctx->cfg->daemon.stop_timeout_ms : 0;
	return ms > 0 ? ms : SUP_STOP_TIMEOUT_MS;
}

static struct timeval
sup_tv(int64_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	return tv;
}

/* --- slots ---------------------------------------------------------------------------- */

static void
sup_slot_init(struct sup_ctx *ctx, struct sup_slot *slot, enum sup_kind kind, int index)
{
	memset(slot, 0, sizeof(*slot));
	slot->ctx = ctx;
	slot->kind = kind;
	slot->index = index;
	if (kind == SUP_FRONTEND)
		snprintf(slot->name, sizeof(slot->name), "frontend %d", index);
	else
		snprintf(slot->name, sizeof(slot->name), "%s", role_name((enum role_id)index));
	slot->backoff_ms = SUP_BACKOFF_MIN_MS;
	slot->restart_ev = evtimer_new(ctx->base, sup_restart_cb, slot);
	if (slot->restart_ev == NULL)
		fatalx("%s: cannot allocate a timer", __func__);
}

void
sup_slots_init(struct sup_ctx *ctx)
{
	for (int r = 0; r < ROLE_COUNT; r++)
		sup_slot_init(ctx, &ctx->roles[r], SUP_ROLE, r);
}

void
sup_slots_free(struct sup_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nfrontends; i++) {
		if (ctx->frontends[i]->restart_ev)
			event_free(ctx->frontends[i]->restart_ev);
		free(ctx->frontends[i]);
	}
	free(ctx->frontends);
	ctx->frontends = NULL;
	ctx->nfrontends = 0;
	for (int r = 0; r < ROLE_COUNT; r++) {
		if (ctx->roles[r].restart_ev)
			event_free(ctx->roles[r].restart_ev);
		ctx->roles[r].restart_ev = NULL;
	}
}

void
sup_slot_cancel_restart(struct sup_slot *slot)
{
	if (slot->restart_ev)
		evtimer_del(slot->restart_ev);
}

static size_t
sup_frontends_wanted(const struct s3mux_config *cfg)
{
	if (cfg->frontend.workers > 0)
		return (size_t)cfg->frontend.workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (size_t)n : 1;
}

/* Slots are never freed while running: a retired process keeps pointing at its slot. */
static void
sup_frontends_grow(struct sup_ctx *ctx, size_t want)
{
	if (want <= ctx->nfrontends)
		return;
	ctx->frontends = xreallocarray(ctx->frontends, want, sizeof(*ctx->frontends));
	for (size_t i = ctx->nfrontends; i < want; i++) {
		ctx->frontends[i] = xmalloc(sizeof(*ctx->frontends[i]));
		sup_slot_init(ctx, ctx->frontends[i], SUP_FRONTEND, (int)i);
	}
	ctx->nfrontends = want;
}

/* Put the respawn of a slot on its timer, doubling the next delay. */
static void
sup_slot_schedule(struct sup_slot *slot, const char *why)
{
	int64_t delay = slot->backoff_ms;
	slot->backoff_ms = delay * 2 > SUP_BACKOFF_MAX_MS ? SUP_BACKOFF_MAX_MS : delay * 2;
	log_warnx("%s: %s, next start in %" PRId64 "s", slot->name, why, delay / 1000);
	struct timeval tv = sup_tv(delay);
	evtimer_add(slot->restart_ev, &tv);
}

static void
sup_slot_launch(struct sup_ctx *ctx, struct sup_slot *slot)
{
	if (sup_slot_start(ctx, slot) == NULL)
		sup_slot_schedule(slot, "could not start; throttling");
}

static void
sup_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sup_slot *slot = arg;
	struct sup_ctx *ctx = slot->ctx;

	if (ctx->state != SUP_RUNNING || !slot->wanted || slot->held || slot->cur != NULL)
		return;
	sup_slot_launch(ctx, slot);
}

/*
 * Make a slot match the configuration: stop what is no longer wanted; start what is wanted
 * and not running (a reload also lifts a throttle or a hold: the file may be fixed).
 */
static void
sup_slot_want(struct sup_ctx *ctx, struct sup_slot *slot, int wanted)
{
	slot->wanted = wanted;
	if (!wanted) {
		sup_slot_cancel_restart(slot);
		slot->held = 0;
		if (slot->prev != NULL)
			sup_proc_retire(ctx, slot->prev);
		if (slot->cur != NULL) {
			log_info("%s: no longer configured; stopping pid %ld", slot->name,
			    (long)slot->cur->pid);
			sup_proc_retire(ctx, slot->cur);
		}
		return;
	}
	if (slot->cur != NULL)
		return;
	sup_slot_cancel_restart(slot);
	slot->held = 0;
	slot->backoff_ms = SUP_BACKOFF_MIN_MS;
	sup_slot_launch(ctx, slot);
}

void
sup_pool_apply(struct sup_ctx *ctx)
{
	size_t want = sup_frontends_wanted(ctx->cfg);

	sup_frontends_grow(ctx, want);
	for (size_t i = 0; i < ctx->nfrontends; i++)
		sup_slot_want(ctx, ctx->frontends[i], i < want);
	for (int r = 0; r < ROLE_COUNT; r++)
		sup_slot_want(ctx, &ctx->roles[r], ctx->cfg->roles[r].enabled);
}

void
sup_pool_start(struct sup_ctx *ctx)
{
	int nroles = 0;
	for (int r = 0; r < ROLE_COUNT; r++)
		nroles += ctx->cfg->roles[r].enabled != 0;
	log_info("starting %zu front ends and %d roles", sup_frontends_wanted(ctx->cfg), nroles);
	ctx->state = SUP_RUNNING;
	sup_pool_apply(ctx);
}

/* --- spawning ------------------------------------------------------------------------- */

static void
sup_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static char **
sup_child_argv(const struct sup_ctx *ctx, const struct sup_slot *slot)
{
	char **argv = xcalloc(6, sizeof(*argv));
	size_t n = 0;
	argv[n++] = xasprintf("s3muxd: %s", slot->name);
	argv[n++] = xstrdup("-c");
	argv[n++] = xstrdup(ctx->config_path);
	if (ctx->foreground)
		argv[n++] = xstrdup("-f");
	if (ctx->verbose)
		argv[n++] = xstrdup("-v");
	argv[n] = NULL;
	return argv;
}

static int
sup_env_is_ours(const char *entry)
{
	static const char *const ours[] = {
		"S3MUX_PARENT_FD=", "S3MUX_LISTEN_FDS=", "S3MUX_WORKER_INDEX=",
	};
	for (size_t i = 0; i < nitems(ours); i++)
		if (strncmp(entry, ours[i], strlen(ours[i])) == 0)
			return 1;
	return 0;
}

static char *
sup_listen_fds_env(const struct sup_ctx *ctx)
{
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_puts(&sb, "S3MUX_LISTEN_FDS=");
	if (ctx->s3.fd != -1)
		strbuf_printf(&sb, "s3=%d", SUP_FD_S3);
	if (ctx->admin.fd != -1)
		strbuf_printf(&sb, "%sadmin=%d", ctx->s3.fd != -1 ? "," : "", SUP_FD_ADMIN);
	return strbuf_detach(&sb);
}

static char **
sup_child_env(const struct sup_ctx *ctx, const struct sup_slot *slot)
{
	extern char **environ;
	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	char **envp = xcalloc(n + 4, sizeof(*envp));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!sup_env_is_ours(environ[i]))
			envp[k++] = xstrdup(environ[i]);
	envp[k++] = xasprintf("S3MUX_PARENT_FD=%d", CHILD_PARENT_FD);
	if (slot->kind == SUP_FRONTEND) {
		envp[k++] = sup_listen_fds_env(ctx);
		envp[k++] = xasprintf("S3MUX_WORKER_INDEX=%d", slot->index);
	}
	envp[k] = NULL;
	return envp;
}

static noreturn void
sup_child_fail(const struct sup_exec *ex, const char *what)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "s3muxd: %s: %s %s: %s\n", ex->argv[0], what,
	    ex->prog, strerror(errno));
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg));
	_exit(127);
}

/* A copy of fd above the numbers the child uses, so that dup2 cannot clobber a source. */
static int
sup_fd_lift(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, SUP_FD_SPARE);
}

/* In the child: descriptors, signals, parent-death signal, then the program. */
static noreturn void
sup_child_exec(const struct sup_exec *ex)
{
	static const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGPIPE };
	for (size_t i = 0; i < nitems(sigs); i++)
		signal(sigs[i], SIG_DFL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != ex->parent)
		_exit(1);

	int link = sup_fd_lift(ex->link_fd);
	int s3 = sup_fd_lift(ex->s3_fd);
	int admin = sup_fd_lift(ex->admin_fd);
	if (link == -1 || (ex->s3_fd >= 0 && s3 == -1) || (ex->admin_fd >= 0 && admin == -1))
		sup_child_fail(ex, "cannot set up descriptors for");
	if (dup2(link, CHILD_PARENT_FD) == -1 ||
	    (s3 >= 0 && dup2(s3, SUP_FD_S3) == -1) ||
	    (admin >= 0 && dup2(admin, SUP_FD_ADMIN) == -1))
		sup_child_fail(ex, "cannot set up descriptors for");
	closefrom(ex->first_free);

	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(ex->prog, ex->argv, ex->envp);
	sup_child_fail(ex, "cannot execute");
}

/* Fork with every signal blocked, so that no handler of ours runs in the child. */
static pid_t
sup_fork_exec(const struct sup_exec *ex)
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid == 0)
		sup_child_exec(ex);
	int saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return pid;
}

static struct sup_proc *
sup_proc_new(struct sup_ctx *ctx, struct sup_slot *slot, pid_t pid, int fd)
{
	struct sup_proc *p = xcalloc(1, sizeof(*p));
	p->ctx = ctx;
	p->slot = slot;
	p->pid = pid;
	p->fd = fd;
	p->started_ms = clock_mono_ms();
	p->generation = ctx->generation;
	if (fd_set_nonblock(fd) == -1)
		log_warn("%s: cannot make the link non-blocking", slot->name);
	p->read_ev = event_new(ctx->base, fd, EV_READ | EV_PERSIST, sup_proc_read_cb, p);
	p->kill_ev = evtimer_new(ctx->base, sup_proc_kill_cb, p);
	if (p->read_ev == NULL || p->kill_ev == NULL || event_add(p->read_ev, NULL) == -1)
		fatalx("%s: cannot set up events for %s", __func__, slot->name);
	p->next = ctx->procs;
	ctx->procs = p;
	return p;
}

/*
 * Start the program of a slot; the new process becomes slot->cur.  NULL when it could not
 * be started (logged); the caller decides when to try again.
 */
struct sup_proc *
sup_slot_start(struct sup_ctx *ctx, struct sup_slot *slot)
{
	char prog[PATH_MAX];
	snprintf(prog, sizeof(prog), "%s/s3mux-%s", s3mux_libexecdir(),
	    slot->kind == SUP_FRONTEND ? "frontend" : role_name((enum role_id)slot->index));
	if (access(prog, X_OK) == -1) {
		log_warn("%s: cannot execute %s", slot->name, prog);
		return NULL;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair", slot->name);
		return NULL;
	}
	int fe = slot->kind == SUP_FRONTEND;
	struct sup_exec ex = {
		.prog = prog,
		.argv = sup_child_argv(ctx, slot),
		.envp = sup_child_env(ctx, slot),
		.link_fd = sv[1],
		.s3_fd = fe ? ctx->s3.fd : -1,
		.admin_fd = fe ? ctx->admin.fd : -1,
		.parent = getpid(),
	};
	ex.first_free = ex.admin_fd >= 0 ? SUP_FD_ADMIN + 1 : ex.s3_fd >= 0 ? SUP_FD_S3 + 1 :
	    CHILD_PARENT_FD + 1;
	pid_t pid = sup_fork_exec(&ex);
	if (pid == -1)
		log_warn("%s: fork", slot->name);
	sup_strv_free(ex.argv);
	sup_strv_free(ex.envp);
	close(sv[1]);
	if (pid == -1) {
		close(sv[0]);
		return NULL;
	}
	slot->cur = sup_proc_new(ctx, slot, pid, sv[0]);
	log_info("%s started (pid %ld)", slot->name, (long)pid);
	return slot->cur;
}

/* --- the link: "ready" and end-of-file ------------------------------------------------ */

static void
sup_proc_close_link(struct sup_proc *p)
{
	if (p->read_ev != NULL) {
		event_free(p->read_ev);
		p->read_ev = NULL;
	}
	if (p->fd != -1) {
		close(p->fd);
		p->fd = -1;
	}
}

static void
sup_proc_ready(struct sup_proc *p)
{
	if (p->ready_ms != 0)
		return;
	p->ready_ms = clock_mono_ms();
	log_debug("%s (pid %ld) is ready", p->slot->name, (long)p->pid);
	sup_reload_proc_ready(p->ctx, p);
}

static void
sup_proc_lines(struct sup_proc *p)
{
	char *nl;
	while ((nl = memchr(p->buf, '\n', p->buflen)) != NULL) {
		*nl = '\0';
		if (strcmp(p->buf, "ready") == 0)
			sup_proc_ready(p);
		else
			log_debug("%s (pid %ld): unexpected message \"%s\"", p->slot->name,
			    (long)p->pid, p->buf);
		size_t used = (size_t)(nl - p->buf) + 1;
		memmove(p->buf, nl + 1, p->buflen - used);
		p->buflen -= used;
	}
	if (p->buflen == sizeof(p->buf))
		p->buflen = 0;	/* a line longer than any message: drop it */
}

static void
sup_proc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sup_proc *p = arg;
	ssize_t n = read(fd, p->buf + p->buflen, sizeof(p->buf) - p->buflen);

	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1)
			log_warn("%s (pid %ld): reading its link", p->slot->name, (long)p->pid);
		else
			log_debug("%s (pid %ld) closed its link: going away", p->slot->name,
			    (long)p->pid);
		sup_proc_close_link(p);
		return;
	}
	p->buflen += (size_t)n;
	sup_proc_lines(p);
}

/* --- signalling and retiring ------------------------------------------------------------ */

void
sup_proc_signal(const struct sup_proc *p, int sig)
{
	if (kill(p->pid, sig) == -1 && errno != ESRCH)
		log_warn("%s: kill %ld with signal %d", p->slot->name, (long)p->pid, sig);
}

void
sup_signal_all(struct sup_ctx *ctx, int sig)
{
	for (struct sup_proc *p = ctx->procs; p != NULL; p = p->next)
		sup_proc_signal(p, sig);
}

static void
sup_proc_kill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sup_proc *p = arg;
	log_warnx("%s (pid %ld) did not stop within %" PRId64 "s; killing it", p->slot->name,
	    (long)p->pid, sup_stop_timeout_ms(p->ctx) / 1000);
	sup_proc_signal(p, SIGKILL);
}

/*
 * Tell a process to finish what it is doing and exit; it leaves its slot (it will not be
 * respawned) and is killed if it is still there after daemon.stop_timeout.
 */
void
sup_proc_retire(struct sup_ctx *ctx, struct sup_proc *p)
{
	if (p->slot->cur == p)
		p->slot->cur = NULL;
	if (p->slot->prev == p)
		p->slot->prev = NULL;
	if (p->retiring)
		return;
	p->retiring = 1;
	sup_proc_signal(p, SIGTERM);
	struct timeval tv = sup_tv(sup_stop_timeout_ms(ctx));
	evtimer_add(p->kill_ev, &tv);
}

/* --- reaping -------------------------------------------------------------------------- */

static void
sup_proc_free(struct sup_proc *p)
{
	sup_proc_close_link(p);
	if (p->kill_ev != NULL)
		event_free(p->kill_ev);
	free(p);
}

void
sup_procs_free(struct sup_ctx *ctx)
{
	while (ctx->procs != NULL) {
		struct sup_proc *p = ctx->procs;
		ctx->procs = p->next;
		sup_proc_free(p);
	}
}

static struct sup_proc *
sup_proc_unlink(struct sup_ctx *ctx, pid_t pid)
{
	for (struct sup_proc **pp = &ctx->procs; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->pid == pid) {
			struct sup_proc *p = *pp;
			*pp = p->next;
			return p;
		}
	}
	return NULL;
}

static void
sup_log_exit(const struct sup_ctx *ctx, const struct sup_proc *p, int status)
{
	char what[128];
	if (WIFEXITED(status))
		snprintf(what, sizeof(what), "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(what, sizeof(what), "killed by signal %d (%s)%s", WTERMSIG(status),
		    strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(what, sizeof(what), "ended with wait status %#x", (unsigned)status);
	if (p->retiring || ctx->state == SUP_STOPPING)
		log_info("%s (pid %ld) %s", p->slot->name, (long)p->pid, what);
	else
		log_warnx("%s (pid %ld) %s", p->slot->name, (long)p->pid, what);
}

/* The process serving a slot is gone: decide when the slot starts again, if at all. */
static void
sup_slot_after_exit(struct sup_ctx *ctx, struct sup_slot *slot, const struct sup_proc *p,
    int status)
{
	if (ctx->state != SUP_RUNNING || !slot->wanted)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_EXIT_CONFIG) {
		slot->held = 1;
		log_warnx("%s: exited with configuration error; not respawning", slot->name);
		return;
	}
	int64_t now = clock_mono_ms();
	int no_work = p->ready_ms == 0 || now - p->started_ms < SUP_EARLY_DEATH_MS;
	if (p->ready_ms != 0 && now - p->ready_ms >= SUP_BACKOFF_RESET_MS)
		slot->backoff_ms = SUP_BACKOFF_MIN_MS;
	sup_slot_schedule(slot, no_work ? "died before doing any work; throttling" :
	    "respawning");
}

static void
sup_proc_exited(struct sup_ctx *ctx, struct sup_proc *p, int status)
{
	struct sup_slot *slot = p->slot;

	sup_log_exit(ctx, p, status);
	if (slot->prev == p) {
		slot->prev = NULL;
	} else if (slot->cur == p) {
		slot->cur = NULL;
		if (!sup_reload_proc_died(ctx, p))
			sup_slot_after_exit(ctx, slot, p, status);
	}
	sup_proc_free(p);
}

void
sup_reap(struct sup_ctx *ctx)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid == -1 && errno != ECHILD)
			log_warn("waitpid");
		if (pid <= 0)
			break;
		struct sup_proc *p = sup_proc_unlink(ctx, pid);
		if (p == NULL)
			log_debug("reaped pid %ld, which is not one of our children", (long)pid);
		else
			sup_proc_exited(ctx, p, status);
	}
	if (ctx->state == SUP_STOPPING && ctx->procs == NULL)
		event_base_loopbreak(ctx->base);
}
