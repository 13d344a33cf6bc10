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
		return NULL;
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

struct backend_put *
backend_put_start(struct backend *be, const char *name, int64_t size,
    const struct backend_put_cbs *cbs, void *arg)
{
	return be->ops->put_start(be, name, size, cbs, arg);
}

int
backend_put_write(struct backend_put *put, const void *data, size_t len)
{
	return put->be->ops->put_write(put, data, len);
}

void
backend_put_finish(struct backend_put *put)
{
	put->be->ops->put_finish(put);
}

void
backend_put_abort(struct backend_put *put)
{
	put->be->ops->put_abort(put);
}

struct backend_get *
backend_get_start(struct backend *be, const char *name, uint64_t offset, int64_t length,
    const struct backend_get_cbs *cbs, void *arg)
{
	return be->ops->get_start(be, name, offset, length, cbs, arg);
}

void
backend_get_resume(struct backend_get *get)
{
	get->be->ops->get_resume(get);
}

void
backend_get_abort(struct backend_get *get)
{
	get->be->ops->get_abort(get);
}

int
backend_open(struct backend *be, const char *name, struct backend_object *obj)
{
	if (be->ops->open == NULL) {
		errno = ENOTSUP;
		return -1;
	}
	return be->ops->open(be, name, obj);
}

void
backend_stat(struct backend *be, const char *name, backend_stat_cb cb, void *arg)
{
	be->ops->stat(be, name, cb, arg);
}

void
backend_remove(struct backend *be, const char *name, backend_done_cb cb, void *arg)
{
	be->ops->remove(be, name, cb, arg);
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
