/*
 * backend_copy.c: a streamed copy from backend reads into one backend write.
 *
 * Each source is read with backend_get_*; its bytes go to the destination's
 * backend_put_write.  When the destination is full the read is paused (the get callback
 * answers BACKEND_FULL) and resumed from the destination's on_writable, so at most one
 * driver buffer is in flight.  After the last source the destination is finished.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend_copy.h"
#include "log.h"
#include "util.h"

struct backend_copy {
	struct backend_copy_source *sources;
	size_t nsources;
	size_t current;
	struct backend *dst;
	struct backend_put *put;
	struct backend_get *get;
	backend_copy_tap tap;
	backend_done_cb done;
	void *arg;
	uint64_t copied;
	int64_t total;
	int dst_full;
	int get_paused;
	int finishing;
	int aborted;			/* abort came while the destination was finishing */
	char tag[80];
};

static void copy_next_source(struct backend_copy *c);

static void
copy_free(struct backend_copy *c)
{
	for (size_t i = 0; i < c->nsources; i++)
		free((char *)c->sources[i].name);
	free(c->sources);
	free(c);
}

static void
copy_end(struct backend_copy *c, int err, const char *message)
{
	backend_done_cb done = c->done;
	void *arg = c->arg;
	int aborted = c->aborted;
	if (c->put != NULL && err != 0)
		backend_put_abort(c->put);
	copy_free(c);
	if (!aborted)
		done(arg, err, message);
}

static void
copy_get_start(void *arg, const struct backend_stat *st)
{
}

static int
copy_get_data(void *arg, const char *data, size_t len)
{
	struct backend_copy *c = arg;
	if (c->tap != NULL)
		c->tap(c->arg, data, len);
	c->copied += len;
	int rc = backend_put_write(c->put, data, len);
	if (rc == BACKEND_FULL) {
		c->dst_full = 1;
		c->get_paused = 1;
		return BACKEND_FULL;
	}
	return BACKEND_ACCEPTED;
}

static void
copy_put_done(void *arg, int err, const char *message)
{
	struct backend_copy *c = arg;
	c->put = NULL;		/* finished: the driver freed it */
	copy_end(c, err, message);
}

static void
copy_get_done(void *arg, int err, const char *message)
{
	struct backend_copy *c = arg;
	c->get = NULL;
	if (err != 0) {
		char why[320];
		snprintf(why, sizeof(why), "reading %s from %s: %s", c->sources[c->current].name,
		    c->sources[c->current].be->name, message ? message : strerror(err));
		copy_end(c, err, why);
		return;
	}
	c->current++;
	copy_next_source(c);
}

static void
copy_put_writable(void *arg)
{
	struct backend_copy *c = arg;
	c->dst_full = 0;
	if (c->get_paused && c->get != NULL) {
		c->get_paused = 0;
		backend_get_resume(c->get);
	}
}

static void
copy_start_failed(evutil_socket_t fd, short what, void *arg)
{
	copy_end(arg, EIO, "cannot start reading a source");
}

static void
copy_next_source(struct backend_copy *c)
{
	static const struct backend_get_cbs cbs = { copy_get_start, copy_get_data, copy_get_done };
	if (c->current == c->nsources) {
		if (c->total >= 0 && c->copied != (uint64_t)c->total) {
			copy_end(c, EIO, "the sources hold fewer bytes than expected");
			return;
		}
		c->finishing = 1;
		backend_put_tag(c->put, c->tag);
		backend_put_finish(c->put);
		return;
	}
	const struct backend_copy_source *s = &c->sources[c->current];
	c->get = backend_get_start(s->be, s->name, s->offset, s->length, &cbs, c);
	if (c->get == NULL)
		event_base_once(s->be->base, -1, EV_TIMEOUT, copy_start_failed, c, NULL);
}

struct backend_copy *
backend_copy_start(const struct backend_copy_source *sources, size_t n, struct backend *dst,
    const char *dst_name, int64_t total, backend_copy_tap tap, backend_done_cb done, void *arg)
{
	static const struct backend_put_cbs put_cbs = { copy_put_writable, copy_put_done };
	struct backend_copy *c = xcalloc(1, sizeof(*c));
	c->sources = xcalloc(n ? n : 1, sizeof(*c->sources));
	for (size_t i = 0; i < n; i++) {
		c->sources[i] = sources[i];
		c->sources[i].name = xstrdup(sources[i].name);
	}
	c->nsources = n;
	c->dst = dst;
	c->tap = tap;
	c->done = done;
	c->arg = arg;
	c->total = total;
	c->put = backend_put_start(dst, dst_name, total, &put_cbs, c);
	if (c->put == NULL) {
		copy_free(c);
		return NULL;
	}
	copy_next_source(c);
	return c;
}

void
backend_copy_abort(struct backend_copy *c)
{
	if (c->finishing) {
		c->aborted = 1;	/* the destination decides now; its callback frees the copy */
		return;
	}
	if (c->get != NULL)
		backend_get_abort(c->get);
	if (c->put != NULL)
		backend_put_abort(c->put);
	copy_free(c);
}

void
backend_copy_tag(struct backend_copy *c, const char *tag)
{
	snprintf(c->tag, sizeof(c->tag), "%s", tag ? tag : "");
}

uint64_t
backend_copy_progress(const struct backend_copy *c)
{
	return c->copied;
}
