/*
 * reload.c: SIGHUP: read the configuration again and restart the children in turn.
 *
 * The file is parsed into a new config; if that fails, or a changed listen address cannot
 * be bound, the supervisor logs "not reloading: <why>" and everything keeps running as it
 * was.  Otherwise the configs are swapped, the pool is adjusted (front ends added or
 * retired, roles enabled or disabled; a throttled or held slot starts again), and every
 * child still running with the old configuration is replaced one slot at a time: start the
 * replacement, wait for its "ready" (at most SUP_READY_TIMEOUT_MS), then SIGTERM the old
 * one, which finishes what it has in flight.  Front ends share the listening sockets, so no
 * connection is refused meanwhile.  A replacement that dies, or a front end replacement
 * that is not ready in time, is given up and the old process kept.  A second SIGHUP while
 * this goes on is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sup.h"
#include "util.h"

static void sup_reload_next(struct sup_ctx *ctx);

static int
sup_str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

void
sup_reload_cancel(struct sup_ctx *ctx)
{
	struct sup_reload *r = &ctx->reload;
	if (r->timer != NULL)
		evtimer_del(r->timer);
	free(r->queue);
	r->queue = NULL;
	r->nqueue = 0;
	r->pos = 0;
	r->inflight = NULL;
	r->active = 0;
}

static void
sup_reload_finish(struct sup_ctx *ctx)
{
	log_info("reload complete: %u restarted, %u kept their old process",
	    ctx->reload.replaced, ctx->reload.kept);
	sup_reload_cancel(ctx);
}

static void
sup_reload_retire_prev(struct sup_ctx *ctx, struct sup_slot *slot)
{
	if (slot->prev == NULL)
		return;
	log_info("%s: pid %ld replaces pid %ld; stopping the old one", slot->name,
	    slot->cur ? (long)slot->cur->pid : -1L, (long)slot->prev->pid);
	sup_proc_retire(ctx, slot->prev);
}

/* Start the replacement of one slot; -1 when it could not start (old process kept). */
static int
sup_reload_replace(struct sup_ctx *ctx, struct sup_slot *slot)
{
	struct sup_proc *old = slot->cur;

	slot->prev = old;
	slot->cur = NULL;
	if (sup_slot_start(ctx, slot) == NULL) {
		slot->cur = old;
		slot->prev = NULL;
		ctx->reload.kept++;
		log_warnx("%s: cannot start a replacement; keeping pid %ld", slot->name,
		    (long)old->pid);
		return -1;
	}
	ctx->reload.inflight = slot;
	struct timeval tv = { .tv_sec = SUP_READY_TIMEOUT_MS / 1000 };
	evtimer_add(ctx->reload.timer, &tv);
	return 0;
}

static void
sup_reload_next(struct sup_ctx *ctx)
{
	struct sup_reload *r = &ctx->reload;

	r->inflight = NULL;
	while (r->pos < r->nqueue) {
		struct sup_slot *slot = r->queue[r->pos++];
		if (!slot->wanted || slot->cur == NULL || slot->cur->generation == ctx->generation)
			continue;	/* gone, or already started with the new configuration */
		if (sup_reload_replace(ctx, slot) == 0)
			return;
	}
	sup_reload_finish(ctx);
}

void
sup_reload_proc_ready(struct sup_ctx *ctx, struct sup_proc *p)
{
	struct sup_slot *slot = ctx->reload.inflight;

	if (!ctx->reload.active || slot == NULL || slot->cur != p)
		return;
	evtimer_del(ctx->reload.timer);
	sup_reload_retire_prev(ctx, slot);
	ctx->reload.replaced++;
	sup_reload_next(ctx);
}

/*
 * The process serving a slot died.  Returns 1 when the reload dealt with it (a replacement
 * died before it was ready: the old process serves the slot again), 0 when the normal
 * respawn policy applies.
 */
int
sup_reload_proc_died(struct sup_ctx *ctx, struct sup_proc *p)
{
	struct sup_slot *slot = p->slot;
	int inflight = ctx->reload.active && ctx->reload.inflight == slot;
	int kept = 0;

	if (slot->prev != NULL) {
		slot->cur = slot->prev;
		slot->prev = NULL;
		ctx->reload.kept++;
		kept = 1;
		log_warnx("%s: replacement (pid %ld) died before it was ready; keeping the old "
		    "process (pid %ld)", slot->name, (long)p->pid, (long)slot->cur->pid);
	}
	if (inflight) {
		evtimer_del(ctx->reload.timer);
		sup_reload_next(ctx);
	}
	return kept;
}

/*
 * A replacement was not ready in time.  A front end's old process keeps serving (the new
 * configuration may be what stops the replacement); a role's old process is stopped
 * anyway, since the replacement may only be waiting for the role's lock.
 */
static void
sup_reload_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sup_ctx *ctx = arg;
	struct sup_slot *slot = ctx->reload.inflight;

	if (slot == NULL || slot->cur == NULL)
		return;
	struct sup_proc *fresh = slot->cur, *old = slot->prev;
	if (slot->kind == SUP_FRONTEND && old != NULL) {
		log_warnx("%s: replacement (pid %ld) not ready after %ds; keeping the old process "
		    "(pid %ld)", slot->name, (long)fresh->pid, SUP_READY_TIMEOUT_MS / 1000,
		    (long)old->pid);
		sup_proc_retire(ctx, fresh);
		slot->cur = old;
		slot->prev = NULL;
		ctx->reload.kept++;
	} else {
		log_warnx("%s: replacement (pid %ld) not ready after %ds; %s", slot->name,
		    (long)fresh->pid, SUP_READY_TIMEOUT_MS / 1000,
		    old != NULL ? "stopping the old process anyway" : "moving on");
		sup_reload_retire_prev(ctx, slot);
		ctx->reload.replaced++;
	}
	sup_reload_next(ctx);
}

int
sup_reload_init(struct sup_ctx *ctx)
{
	ctx->reload.timer = evtimer_new(ctx->base, sup_reload_timeout_cb, ctx);
	if (ctx->reload.timer == NULL) {
		log_warnx("cannot allocate the reload timer");
		return -1;
	}
	return 0;
}

/* Open a listener whose address changed; unchanged or removed ones need nothing. */
static int
sup_reload_listener(const struct sup_listener *old, struct sup_listener *fresh,
    const char *addr, char *err, size_t errlen)
{
	sup_listener_init(fresh, old->key);
	if (addr == NULL || !sup_str_differs(old->addr, addr))
		return 0;
	return sup_listener_open(fresh, addr, err, errlen);
}

static void
sup_reload_listener_swap(struct sup_listener *l, struct sup_listener *fresh, const char *addr)
{
	if (fresh->fd != -1) {
		sup_listener_close(l);
		*l = *fresh;
		log_info("listening on %s (listen.%s)", l->addr, l->key);
	} else if (addr == NULL && l->fd != -1) {
		log_info("no longer listening on %s (listen.%s)", l->addr, l->key);
		sup_listener_close(l);
	}
}

/* Everything that can still refuse the new configuration; -1 with the reason in err. */
static int
sup_reload_prepare(struct sup_ctx *ctx, const struct s3mux_config *cfg,
    struct sup_listener *s3, struct sup_listener *admin, char *err, size_t errlen)
{
	if (sup_reload_listener(&ctx->s3, s3, cfg->listen.s3, err, errlen) == -1)
		return -1;
	if (sup_reload_listener(&ctx->admin, admin, cfg->listen.admin, err, errlen) == -1)
		goto fail;
	if (ctx->state == SUP_RUNNING) {
		/* a new database must be reachable and migrated; for the same one, a failure to
		 * bring the backends' quotas up to date is reported but does not stop the reload */
		char why[512];
		int url_changed = sup_str_differs(ctx->cfg->database.url, cfg->database.url);
		if (sup_schema_apply(cfg, why, sizeof(why)) == -1) {
			if (url_changed) {
				snprintf(err, errlen, "new database.url: %s", why);
				goto fail;
			}
			log_warnx("reload: database: %s; backend quotas not updated", why);
		}
	}
	return 0;
fail:
	sup_listener_close(s3);
	sup_listener_close(admin);
	return -1;
}

static void
sup_reload_swap(struct sup_ctx *ctx, struct s3mux_config *cfg, struct sup_listener *s3,
    struct sup_listener *admin)
{
	if (sup_str_differs(ctx->cfg->daemon.pid_file, cfg->daemon.pid_file))
		log_warnx("daemon.pid_file changed: it takes effect when s3muxd is restarted");
	sup_reload_listener_swap(&ctx->s3, s3, cfg->listen.s3);
	sup_reload_listener_swap(&ctx->admin, admin, cfg->listen.admin);
	config_free(ctx->cfg);
	ctx->cfg = cfg;
	ctx->generation++;
	if (sup_log_configure(ctx, NULL, 0) == -1)
		log_warnx("keeping the previous log destination");
}

/* Queue every running slot, adjust the pool, and start replacing the first one. */
static void
sup_reload_begin(struct sup_ctx *ctx)
{
	struct sup_reload *r = &ctx->reload;

	r->queue = xcalloc(ctx->nfrontends + ROLE_COUNT, sizeof(*r->queue));
	r->nqueue = 0;
	r->pos = 0;
	r->replaced = 0;
	r->kept = 0;
	for (size_t i = 0; i < ctx->nfrontends; i++)
		if (ctx->frontends[i]->cur != NULL)
			r->queue[r->nqueue++] = ctx->frontends[i];
	for (int i = 0; i < ROLE_COUNT; i++)
		if (ctx->roles[i].cur != NULL)
			r->queue[r->nqueue++] = &ctx->roles[i];
	r->active = 1;
	sup_pool_apply(ctx);
	log_info("restarting the running children one at a time");
	sup_reload_next(ctx);
}

void
sup_reload(struct sup_ctx *ctx)
{
	char err[1024];

	if (ctx->state == SUP_STOPPING) {
		log_info("SIGHUP: stopping, not reloading");
		return;
	}
	if (ctx->reload.active) {
		log_warnx("SIGHUP: reload already in progress");
		return;
	}
	log_info("SIGHUP: reloading configuration from %s", ctx->config_path);
	struct s3mux_config *cfg = config_load(ctx->config_path, err, sizeof(err));
	if (cfg == NULL) {
		log_warnx("not reloading: %s", err);
		return;
	}
	struct sup_listener s3, admin;
	if (sup_reload_prepare(ctx, cfg, &s3, &admin, err, sizeof(err)) == -1) {
		log_warnx("not reloading: %s", err);
		config_free(cfg);
		return;
	}
	sup_reload_swap(ctx, cfg, &s3, &admin);
	log_info("reloaded configuration from %s", ctx->config_path);
	if (ctx->state == SUP_RUNNING)
		sup_reload_begin(ctx);
}
