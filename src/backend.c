/*
 * backend.c: backend instances, the calls that dispatch to their driver, deferred
 * completions, and the blocking forms the background roles use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend.h"
#include "log.h"
#include "util.h"

char *
backend_object_name(const char *bucket, const char *key)
{
	return xasprintf("%s/%s", bucket, key);
}

static const struct backend_ops *
backend_driver_ops(enum backend_driver driver)
{
	switch (driver) {
	case BACKEND_DRIVER_FS:
		return &backend_fs_ops;
	case BACKEND_DRIVER_S3:
		return &backend_s3_ops;
	}
	return NULL;
}

struct backend *
backend_new(const struct cfg_backend *conf, struct event_base *base, char *err, size_t errlen)
{
	const struct backend_ops *ops = backend_driver_ops(conf->driver);
	if (ops == NULL) {
		snprintf(err, errlen, "backend %s: driver not available in this build", conf->name);
		return NULL;
	}
	void *state = ops->create(conf, base, err, errlen);
	if (state == NULL)
		return NULL;
	struct backend *be = xcalloc(1, sizeof(*be));
	be->name = xstrdup(conf->name);
	be->ops = ops;
	be->state = state;
	be->base = base;
	be->limits = conf->limits;
	return be;
}

void
backend_free(struct backend *be)
{
	if (be == NULL)
		return;
	be->ops->destroy(be->state);
	free(be->name);
	free(be);
}

/*
 * Every operation goes through a shim that counts the request and its bytes for the monthly
 * limits and tells the circuit breaker how it went, then calls the caller's callback.
 */
struct backend_shim {
	struct backend *be;
	struct backend_put_cbs put_cbs;
	struct backend_get_cbs get_cbs;
	backend_done_cb done;
	backend_stat_cb stat_cb;
	void *arg;
};

static struct backend_shim *
backend_shim_new(struct backend *be, void *arg)
{
	struct backend_shim *shim = xcalloc(1, sizeof(*shim));
	shim->be = be;
	shim->arg = arg;
	backend_count(be, 1, 0, 0);
	return shim;
}

static void
backend_shim_writable(void *arg)
{
	struct backend_shim *shim = arg;
	shim->put_cbs.on_writable(shim->arg);
}

static void
backend_shim_put_done(void *arg, int err, const char *message)
{
	struct backend_shim *shim = arg;
	backend_note(shim->be, err == 0);
	struct backend_put_cbs cbs = shim->put_cbs;
	void *user = shim->arg;
	free(shim);
	cbs.on_done(user, err, message);
}

struct backend_put *
backend_put_start(struct backend *be, const char *name, int64_t size,
    const struct backend_put_cbs *cbs, void *arg)
{
	static const struct backend_put_cbs shim_cbs = { backend_shim_writable,
		backend_shim_put_done };
	struct backend_shim *shim = backend_shim_new(be, arg);
	shim->put_cbs = *cbs;
	struct backend_put *put = be->ops->put_start(be, name, size, &shim_cbs, shim);
	if (put == NULL) {
		backend_note(be, 0);
		free(shim);
		return NULL;
	}
	put->shim = shim;
	return put;
}

int
backend_put_write(struct backend_put *put, const void *data, size_t len)
{
	backend_count(put->be, 0, 0, len);
	return put->be->ops->put_write(put, data, len);
}

void
backend_put_finish(struct backend_put *put)
{
	put->be->ops->put_finish(put);
}

void
backend_put_tag(struct backend_put *put, const char *tag)
{
	snprintf(put->tag, sizeof(put->tag), "%s", tag ? tag : "");
}

void
backend_put_abort(struct backend_put *put)
{
	void *shim = put->shim;
	put->be->ops->put_abort(put);
	free(shim);
}

static void
backend_shim_get_start(void *arg, const struct backend_stat *st)
{
	struct backend_shim *shim = arg;
	backend_note(shim->be, 1);
	shim->get_cbs.on_start(shim->arg, st);
}

static int
backend_shim_get_data(void *arg, const char *data, size_t len)
{
	struct backend_shim *shim = arg;
	backend_count(shim->be, 0, len, 0);
	return shim->get_cbs.on_data(shim->arg, data, len);
}

static void
backend_shim_get_done(void *arg, int err, const char *message)
{
	struct backend_shim *shim = arg;
	if (err != 0 && err != ENOENT)
		backend_note(shim->be, 0);
	struct backend_get_cbs cbs = shim->get_cbs;
	void *user = shim->arg;
	free(shim);
	cbs.on_done(user, err, message);
}

struct backend_get *
backend_get_start(struct backend *be, const char *name, uint64_t offset, int64_t length,
    const struct backend_get_cbs *cbs, void *arg)
{
	static const struct backend_get_cbs shim_cbs = { backend_shim_get_start,
		backend_shim_get_data, backend_shim_get_done };
	struct backend_shim *shim = backend_shim_new(be, arg);
	shim->get_cbs = *cbs;
	struct backend_get *get = be->ops->get_start(be, name, offset, length, &shim_cbs, shim);
	if (get == NULL) {
		free(shim);
		return NULL;
	}
	get->shim = shim;
	return get;
}

void
backend_get_resume(struct backend_get *get)
{
	get->be->ops->get_resume(get);
}

void
backend_get_abort(struct backend_get *get)
{
	void *shim = get->shim;
	get->be->ops->get_abort(get);
	free(shim);
}

int
backend_open(struct backend *be, const char *name, struct backend_object *obj)
{
	if (be->ops->open == NULL) {
		errno = ENOTSUP;
		return -1;
	}
	int rc = be->ops->open(be, name, obj);
	backend_count(be, 1, 0, 0);
	backend_note(be, rc == 0 || errno == ENOENT);
	return rc;
}

static void
backend_shim_stat(void *arg, int err, const struct backend_stat *st)
{
	struct backend_shim *shim = arg;
	backend_note(shim->be, err == 0 || err == ENOENT);
	backend_stat_cb cb = shim->stat_cb;
	void *user = shim->arg;
	free(shim);
	cb(user, err, st);
}

void
backend_stat(struct backend *be, const char *name, backend_stat_cb cb, void *arg)
{
	struct backend_shim *shim = backend_shim_new(be, arg);
	shim->stat_cb = cb;
	be->ops->stat(be, name, backend_shim_stat, shim);
}

static void
backend_shim_removed(void *arg, int err, const char *message)
{
	struct backend_shim *shim = arg;
	backend_note(shim->be, err == 0);
	backend_done_cb cb = shim->done;
	void *user = shim->arg;
	free(shim);
	cb(user, err, message);
}

void
backend_remove(struct backend *be, const char *name, backend_done_cb cb, void *arg)
{
	struct backend_shim *shim = backend_shim_new(be, arg);
	shim->done = cb;
	be->ops->remove(be, name, backend_shim_removed, shim);
}

/* --- deferred completion --------------------------------------------------------------- */

struct backend_deferred {
	backend_done_cb cb;
	void *arg;
	int err;
	char message[256];
};

static void
backend_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct backend_deferred *d = arg;
	d->cb(d->arg, d->err, d->err ? d->message : NULL);
	free(d);
}

void
backend_defer_done(struct event_base *base, backend_done_cb cb, void *arg, int err,
    const char *message)
{
	struct backend_deferred *d = xcalloc(1, sizeof(*d));
	d->cb = cb;
	d->arg = arg;
	d->err = err;
	snprintf(d->message, sizeof(d->message), "%s", message ? message : strerror(err));
	event_base_once(base, -1, EV_TIMEOUT, backend_deferred_cb, d, NULL);
}

/* --- blocking forms -------------------------------------------------------------------- */

struct backend_waiter {
	int done;
	int err;
	char message[256];
	struct backend_stat st;
};

static void
backend_waiter_done(void *arg, int err, const char *message)
{
	struct backend_waiter *w = arg;
	w->done = 1;
	w->err = err;
	snprintf(w->message, sizeof(w->message), "%s", message ? message : "");
}

static void
backend_waiter_stat(void *arg, int err, const struct backend_stat *st)
{
	struct backend_waiter *w = arg;
	if (st != NULL)
		w->st = *st;
	backend_waiter_done(arg, err, err ? strerror(err) : NULL);
}

static int
backend_wait(struct backend *be, struct backend_waiter *w, char *err, size_t errlen)
{
	while (!w->done)
		event_base_loop(be->base, EVLOOP_ONCE);
	if (w->err != 0 && err != NULL)
		snprintf(err, errlen, "%s", w->message);
	errno = w->err;
	return w->err ? -1 : 0;
}

int
backend_remove_wait(struct backend *be, const char *name, char *err, size_t errlen)
{
	struct backend_waiter w = { 0 };
	backend_remove(be, name, backend_waiter_done, &w);
	return backend_wait(be, &w, err, errlen);
}

int
backend_stat_wait(struct backend *be, const char *name, struct backend_stat *st, char *err,
    size_t errlen)
{
	struct backend_waiter w = { 0 };
	backend_stat(be, name, backend_waiter_stat, &w);
	int rc = backend_wait(be, &w, err, errlen);
	if (rc == 0)
		*st = w.st;
	return rc;
}

/* --- usage and health ------------------------------------------------------------------ */

void
backend_count(struct backend *be, uint64_t requests, uint64_t egress, uint64_t ingress)
{
	be->pending.requests += requests;
	be->pending.egress += egress;
	be->pending.ingress += ingress;
}

static int
backend_reached(uint64_t limit, uint64_t month, uint64_t flushing, uint64_t pending)
{
	return limit != 0 && month + flushing + pending >= limit;
}

int
backend_over_limit(const struct backend *be, int for_write)
{
	const struct cfg_limits *l = &be->limits;
	if (backend_reached(l->requests_per_month, be->month.requests, be->flushing.requests,
	    be->pending.requests))
		return 1;
	if (for_write)
		return backend_reached(l->ingress_per_month, be->month.ingress,
		    be->flushing.ingress, be->pending.ingress);
	return backend_reached(l->egress_per_month, be->month.egress, be->flushing.egress,
	    be->pending.egress);
}

void
backend_note(struct backend *be, int ok)
{
	be->probe_ms = 0;
	if (ok) {
		if (be->open_until_ms != 0)
			log_info("backend %s: circuit breaker closed; the backend answers again",
			    be->name);
		be->failures = 0;
		be->open_until_ms = 0;
		return;
	}
	if (++be->failures >= BACKEND_BREAKER_FAILURES) {
		if (be->open_until_ms == 0)
			log_warnx("backend %s: circuit breaker open after %d failures in a row",
			    be->name, be->failures);
		be->open_until_ms = clock_mono_ms() + BACKEND_BREAKER_OPEN_MS;
	}
}

int
backend_available(struct backend *be)
{
	if (be->open_until_ms == 0)
		return 1;
	int64_t now = clock_mono_ms();
	if (now < be->open_until_ms)
		return 0;
	if (be->probe_ms != 0 && now - be->probe_ms < BACKEND_BREAKER_OPEN_MS)
		return 0;		/* a probe is out; a lost one is replaced after a while */
	be->probe_ms = now;		/* half-open: this request is the probe */
	return 1;
}

const char *
backend_breaker_state(const struct backend *be)
{
	if (be->open_until_ms == 0)
		return "closed";
	return clock_mono_ms() < be->open_until_ms ? "open" : "half-open";
}
