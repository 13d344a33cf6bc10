/*
 * signals.c: the supervisor's signals, as libevent signal events, and the graceful stop.
 *
 * No work is done in a signal handler: libevent turns each signal into an event and the
 * loop acts on it.
 *   SIGCHLD          reap every child that exited and apply the respawn policy
 *   SIGHUP           reload the configuration (reload.c)
 *   SIGTERM, SIGINT  stop: SIGTERM to every child, SIGKILL to what is left after
 *                    daemon.stop_timeout, then exit; the same signal again during the stop
 *                    kills the children at once
 *   SIGUSR1          reopen the log file and pass SIGUSR1 on to every child that is ready
 *   SIGPIPE          ignored
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>

#include "log.h"
#include "sup.h"
#include "util.h"

static const int sup_signals[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGUSR1 };

static const char *
sup_signal_name(int sig)
{
	switch (sig) {
	case SIGCHLD: return "SIGCHLD";
	case SIGHUP: return "SIGHUP";
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT";
	case SIGUSR1: return "SIGUSR1";
	}
	return "a signal";
}

/*
 * Only children that said "ready" get SIGUSR1: one still starting may not handle it yet
 * (the default action would kill it), and it opens its log file afresh anyway.
 */
static void
sup_reopen_logs(struct sup_ctx *ctx)
{
	log_info("SIGUSR1: reopening log files");
	log_reopen();
	for (struct sup_proc *p = ctx->procs; p != NULL; p = p->next)
		if (p->ready_ms != 0)
			sup_proc_signal(p, SIGUSR1);
}

static void
sup_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct sup_ctx *ctx = arg;

	switch (sig) {
	case SIGCHLD:
		sup_reap(ctx);
		break;
	case SIGHUP:
		sup_reload(ctx);
		break;
	case SIGTERM:
	case SIGINT:
		sup_stop(ctx, (int)sig);
		break;
	case SIGUSR1:
		sup_reopen_logs(ctx);
		break;
	}
}

static void
sup_kill_now(struct sup_ctx *ctx)
{
	ctx->stop_killed = 1;
	sup_signal_all(ctx, SIGKILL);
	struct timeval tv = { .tv_sec = SUP_KILL_WAIT_MS / 1000 };
	evtimer_add(ctx->stop_ev, &tv);
}

static void
sup_stop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sup_ctx *ctx = arg;

	if (!ctx->stop_killed) {
		log_warnx("children still running after %" PRId64 "s: killing them",
		    sup_stop_timeout_ms(ctx) / 1000);
		sup_kill_now(ctx);
		return;
	}
	log_warnx("children not reaped %ds after SIGKILL; exiting anyway", SUP_KILL_WAIT_MS / 1000);
	event_base_loopbreak(ctx->base);
}

static size_t
sup_procs_count(const struct sup_ctx *ctx)
{
	size_t n = 0;
	for (const struct sup_proc *p = ctx->procs; p != NULL; p = p->next)
		n++;
	return n;
}

static void
sup_slots_cancel_restarts(struct sup_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nfrontends; i++)
		sup_slot_cancel_restart(ctx->frontends[i]);
	for (int r = 0; r < ROLE_COUNT; r++)
		sup_slot_cancel_restart(&ctx->roles[r]);
}

void
sup_stop(struct sup_ctx *ctx, int signo)
{
	if (ctx->state == SUP_STOPPING) {
		log_warnx("%s again: killing the children now", sup_signal_name(signo));
		sup_kill_now(ctx);
		return;
	}
	ctx->state = SUP_STOPPING;
	sup_reload_cancel(ctx);
	if (ctx->db_ev != NULL)
		evtimer_del(ctx->db_ev);
	sup_slots_cancel_restarts(ctx);
	if (ctx->procs == NULL) {
		log_info("%s: stopping", sup_signal_name(signo));
		event_base_loopbreak(ctx->base);
		return;
	}
	int64_t ms = sup_stop_timeout_ms(ctx);
	log_info("%s: stopping %zu children (at most %" PRId64 "s)", sup_signal_name(signo),
	    sup_procs_count(ctx), ms / 1000);
	sup_signal_all(ctx, SIGTERM);
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	evtimer_add(ctx->stop_ev, &tv);
}

int
sup_signals_init(struct sup_ctx *ctx)
{
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < nitems(sup_signals); i++) {
		struct event *ev = evsignal_new(ctx->base, sup_signals[i], sup_signal_cb, ctx);
		if (ev == NULL || evsignal_add(ev, NULL) == -1) {
			log_warnx("cannot watch %s", sup_signal_name(sup_signals[i]));
			if (ev != NULL)
				event_free(ev);
			return -1;
		}
		ctx->sig_ev[ctx->nsig_ev++] = ev;
	}
	ctx->stop_ev = evtimer_new(ctx->base, sup_stop_timeout_cb, ctx);
	if (ctx->stop_ev == NULL) {
		log_warnx("cannot allocate the stop timer");
		return -1;
	}
	return 0;
}

void
sup_signals_free(struct sup_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nsig_ev; i++)
		event_free(ctx->sig_ev[i]);
	ctx->nsig_ev = 0;
	if (ctx->stop_ev != NULL)
		event_free(ctx->stop_ev);
	ctx->stop_ev = NULL;
}
