/*
 * backend.c: backend instances and the calls that dispatch to their driver.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int
backend_open(struct backend *be, const char *name, struct backend_object *obj)
{
	return be->ops->open(be, name, obj);
}

int
backend_remove(struct backend *be, const char *name)
{
	return be->ops->remove(be, name);
}
