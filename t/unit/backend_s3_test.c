/*
 * backend_s3_test.c: the s3 driver (src/backend_s3.c) through the backend interface, printing
 * TAP.  Run by t/backend-s3-driver.t, which starts the servers:
 *
 *	backend_s3_test S3RVER_ENDPOINT BUCKET SCRIPTED_ENDPOINT DEAD_ENDPOINT [TLS_ENDPOINT CA]
 *
 * Against s3rver: streamed PUT with backpressure, stat, GET whole / ranged / empty range /
 * missing, a reader that pauses after every slice (no slice may come before the resume), an
 * abort from inside on_data, an abort right after the start, remove (twice), the blocking
 * forms, misuse (unknown size, too many bytes, too few), and destroy with transfers under way
 * (ASan checks that nothing leaks).  Against the scripted server (see the .t): retries on 503
 * and 429, a PUT retried when no body byte was taken, a 500 that stays, an S3 error code in
 * the message, a server that ignores Range.  Against a port nobody listens on: bounded
 * failure.  Against s3rver over HTTPS with a self-signed certificate: refused without the CA,
 * trusted with ca_file, taken with tls_verify off.  Every callback must come from the loop,
 * never inside the call.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "backend.h"
#include "log.h"
#include "tap.h"
#include "util.h"

static struct tap T;
static int in_call;		/* set around every backend call: callbacks must not see it */
static int sync_callbacks;	/* callbacks that came from inside a call */

#define CALL(stmt) do { in_call = 1; stmt; in_call = 0; } while (0)

static void
seen_callback(void)
{
	if (in_call)
		sync_callbacks++;
}

static uint8_t
pattern(uint64_t i)
{
	return (uint8_t)((i * 131) ^ (i >> 12));
}

static uint8_t *
pattern_buf(size_t size)
{
	uint8_t *p = xmalloc(size ? size : 1);
	for (size_t i = 0; i < size; i++)
		p[i] = pattern(i);
	return p;
}

/* Run the loop until *flag is set or seconds pass; 0, or -1 on time-out. */
static int
run_until(struct event_base *base, const int *flag, int seconds)
{
	int64_t deadline = clock_mono_ms() + seconds * 1000;
	while (!*flag) {
		if (clock_mono_ms() > deadline)
			return -1;
		struct timeval tv = { 0, 50 * 1000 };
		event_base_loopexit(base, &tv);
		event_base_loop(base, EVLOOP_ONCE);
	}
	return 0;
}

static void
run_for(struct event_base *base, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* --- PUT ------------------------------------------------------------------------------- */

struct put_ctx {
	int writable;
	int done;
	int err;
	char msg[256];
};

static void
put_writable(void *arg)
{
	struct put_ctx *p = arg;
	seen_callback();
	p->writable = 1;
}

static void
put_done(void *arg, int err, const char *message)
{
	struct put_ctx *p = arg;
	seen_callback();
	p->done = 1;
	p->err = err;
	snprintf(p->msg, sizeof(p->msg), "%s", message ? message : "");
}

static const struct backend_put_cbs put_cbs = { put_writable, put_done };

/* Write data in 64 KiB slices, waiting for on_writable after each BACKEND_FULL. */
static int
put_object(struct backend *be, const char *name, const uint8_t *data, size_t size, int *fulls,
    struct put_ctx *p)
{
	struct backend_put *bp;
	memset(p, 0, sizeof(*p));
	CALL(bp = backend_put_start(be, name, (int64_t)size, &put_cbs, p));
	if (bp == NULL)
		return -1;
	for (size_t off = 0; off < size;) {
		size_t n = size - off < 65536 ? size - off : 65536;
		int rc;
		CALL(rc = backend_put_write(bp, data + off, n));
		off += n;
		if (rc == -1) {
			CALL(backend_put_abort(bp));
			return -1;
		}
		if (rc == BACKEND_FULL) {
			(*fulls)++;
			p->writable = 0;
			if (run_until(be->base, &p->writable, 30) == -1) {
				CALL(backend_put_abort(bp));
				return -1;
			}
		}
	}
	CALL(backend_put_finish(bp));
	if (run_until(be->base, &p->done, 30) == -1)
		return -1;
	return p->err;
}

/* --- GET ------------------------------------------------------------------------------- */

struct get_ctx {
	struct backend *be;
	struct backend_get *get;
	int pause;			/* say BACKEND_FULL after every slice */
	size_t abort_after;		/* abort inside on_data once this many bytes came */
	struct event *resume;
	int paused;
	int early;			/* slices that came while paused */
	int fulls;
	int started;
	int data_before_start;
	int done;
	int err;
	char msg[256];
	struct backend_stat st;
	uint8_t *buf;
	size_t len;
	size_t cap;
	int after_end;			/* callbacks after on_done or an abort */
};

static void
get_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct get_ctx *g = arg;
	g->paused = 0;
	if (!g->done)
		CALL(backend_get_resume(g->get));
}

static void
get_on_start(void *arg, const struct backend_stat *st)
{
	struct get_ctx *g = arg;
	seen_callback();
	g->after_end += g->done;
	g->started = 1;
	g->st = *st;
}

static int
get_on_data(void *arg, const char *data, size_t len)
{
	struct get_ctx *g = arg;
	seen_callback();
	g->after_end += g->done;
	if (!g->started)
		g->data_before_start++;
	if (g->paused)
		g->early++;
	if (g->len + len > g->cap) {
		g->cap = (g->len + len) * 2;
		g->buf = xreallocarray(g->buf, g->cap, 1);
	}
	memcpy(g->buf + g->len, data, len);
	g->len += len;
	if (g->abort_after > 0 && g->len >= g->abort_after) {
		CALL(backend_get_abort(g->get));
		g->done = 1;		/* no more callbacks may come */
		return BACKEND_ACCEPTED;
	}
	if (!g->pause)
		return BACKEND_ACCEPTED;
	g->paused = 1;
	g->fulls++;
	struct timeval tv = { 0, 1000 };
	evtimer_add(g->resume, &tv);
	return BACKEND_FULL;
}

static void
get_on_done(void *arg, int err, const char *message)
{
	struct get_ctx *g = arg;
	seen_callback();
	g->after_end += g->done;
	g->done = 1;
	g->paused = 0;
	if (g->resume != NULL)
		evtimer_del(g->resume);
	g->err = err;
	snprintf(g->msg, sizeof(g->msg), "%s", message ? message : "");
}

static const struct backend_get_cbs get_cbs = { get_on_start, get_on_data, get_on_done };

static void
get_object(struct backend *be, const char *name, uint64_t offset, int64_t length,
    struct get_ctx *g)
{
	g->be = be;
	g->resume = evtimer_new(be->base, get_resume_cb, g);
	CALL(g->get = backend_get_start(be, name, offset, length, &get_cbs, g));
	if (run_until(be->base, &g->done, 30) == -1)
		g->err = ETIMEDOUT;
	run_for(be->base, 50);		/* nothing more may come */
	event_free(g->resume);
}

static void
get_free(struct get_ctx *g)
{
	free(g->buf);
}

/* --- stat, remove ---------------------------------------------------------------------- */

struct call_ctx {
	int done;
	int err;
	char msg[256];
	struct backend_stat st;
};

static void
stat_cb(void *arg, int err, const struct backend_stat *st)
{
	struct call_ctx *c = arg;
	seen_callback();
	c->done = 1;
	c->err = err;
	if (st != NULL)
		c->st = *st;
}

static void
done_cb(void *arg, int err, const char *message)
{
	struct call_ctx *c = arg;
	seen_callback();
	c->done = 1;
	c->err = err;
	snprintf(c->msg, sizeof(c->msg), "%s", message ? message : "");
}

static int
stat_async(struct backend *be, const char *name, struct call_ctx *c)
{
	memset(c, 0, sizeof(*c));
	CALL(backend_stat(be, name, stat_cb, c));
	if (run_until(be->base, &c->done, 30) == -1)
		return ETIMEDOUT;
	return c->err;
}

static int
remove_async(struct backend *be, const char *name, struct call_ctx *c)
{
	memset(c, 0, sizeof(*c));
	CALL(backend_remove(be, name, done_cb, c));
	if (run_until(be->base, &c->done, 30) == -1)
		return ETIMEDOUT;
	return c->err;
}

/* --- the cases ------------------------------------------------------------------------- */

struct be_opts {
	int64_t timeout_ms;
	int vhost;
	const char *ca_file;
	int no_verify;
};

static struct backend *
make_backend_opts(struct event_base *base, const char *name, const char *endpoint,
    const char *bucket, const struct be_opts *o)
{
	struct cfg_backend conf = {
		.name = (char *)name,
		.driver = BACKEND_DRIVER_S3,
		.timeout_ms = o->timeout_ms,
		.s3 = {
			.endpoint = (char *)endpoint, .region = "us-east-1", .bucket = (char *)bucket,
			.prefix = "unit/", .path_style = !o->vhost, .access_key = "S3RVER",
			.secret_key = "S3RVER", .ca_file = (char *)o->ca_file,
			.tls_verify = !o->no_verify,
		},
	};
	char err[256];
	struct backend *be = backend_new(&conf, base, err, sizeof(err));
	if (be == NULL)
		printf("# %s\n", err);
	return be;
}

static struct backend *
make_backend(struct event_base *base, const char *name, const char *endpoint,
    const char *bucket, int64_t timeout_ms)
{
	const struct be_opts o = { .timeout_ms = timeout_ms };
	return make_backend_opts(base, name, endpoint, bucket, &o);
}

#define BIG (3 * 1024 * 1024 + 7)

static void
test_put_get(struct backend *be, const uint8_t *data)
{
	struct put_ctx p;
	int fulls = 0;
	int rc = put_object(be, "b/big", data, BIG, &fulls, &p);
	TAP_OK(&T, rc == 0, "PUT of %d bytes in slices: done with 0 (%d %s)", BIG, rc, p.msg);
	TAP_OK(&T, fulls > 0, "PUT: put_write said BACKEND_FULL (%d times), on_writable came",
	    fulls);

	struct call_ctx c;
	rc = stat_async(be, "b/big", &c);
	TAP_OK(&T, rc == 0 && c.st.size == BIG, "stat: size %llu",
	    (unsigned long long)c.st.size);
	TAP_OK(&T, c.st.mtime > 0 && labs((long)(c.st.mtime - clock_real_s())) < 300,
	    "stat: mtime is about now (%lld)", (long long)c.st.mtime);

	struct get_ctx g = { 0 };
	get_object(be, "b/big", 0, -1, &g);
	TAP_OK(&T, g.err == 0 && g.started && g.st.size == BIG, "GET whole: done, size %llu (%s)",
	    (unsigned long long)g.st.size, g.msg);
	TAP_OK(&T, g.len == BIG && memcmp(g.buf, data, BIG) == 0, "GET whole: the same bytes");
	TAP_OK(&T, g.data_before_start == 0 && g.after_end == 0,
	    "GET whole: on_start first, nothing after on_done");
	get_free(&g);

	struct get_ctx slow = { .pause = 1 };
	get_object(be, "b/big", 0, -1, &slow);
	TAP_OK(&T, slow.err == 0 && slow.len == BIG && memcmp(slow.buf, data, BIG) == 0,
	    "GET paused after every slice (%d pauses): the same bytes", slow.fulls);
	TAP_OK(&T, slow.early == 0, "GET paused: no slice before get_resume (%d)", slow.early);
	get_free(&slow);

	struct get_ctx range = { 0 };
	get_object(be, "b/big", 1000000, 250000, &range);
	TAP_OK(&T, range.err == 0 && range.len == 250000 &&
	    memcmp(range.buf, data + 1000000, 250000) == 0 && range.st.size == BIG,
	    "GET range 1000000+250000: those bytes, whole size in on_start");
	get_free(&range);

	struct get_ctx tail = { 0 };
	get_object(be, "b/big", BIG - 10, -1, &tail);
	TAP_OK(&T, tail.err == 0 && tail.len == 10 && memcmp(tail.buf, data + BIG - 10, 10) == 0,
	    "GET from an offset to the end");
	get_free(&tail);

	struct get_ctx none = { 0 };
	get_object(be, "b/big", 0, 0, &none);
	TAP_OK(&T, none.err == 0 && none.started && none.len == 0 && none.st.size == BIG,
	    "GET of 0 bytes: on_start with the size, no data, done");
	get_free(&none);
}

static void
test_aborts(struct backend *be)
{
	struct get_ctx g = { .abort_after = 100000 };
	get_object(be, "b/big", 0, -1, &g);
	TAP_OK(&T, g.after_end == 0, "get_abort inside on_data: no callback after it");
	get_free(&g);

	struct get_ctx idle = { 0 };
	idle.resume = NULL;
	CALL(idle.get = backend_get_start(be, "b/big", 0, -1, &get_cbs, &idle));
	CALL(backend_get_abort(idle.get));
	run_for(be->base, 300);
	TAP_OK(&T, !idle.started && !idle.done && idle.len == 0,
	    "get_abort right after get_start: no callback at all");
}

/* The scripted server notes how much of the body arrived (the .t checks it is short). */
static void
test_put_abort(struct backend *be)
{
	struct put_ctx p = { 0 };
	struct backend_put *bp;
	uint8_t junk[1000] = { 0 };
	CALL(bp = backend_put_start(be, "b/put-abort", 100000, &put_cbs, &p));
	CALL(backend_put_write(bp, junk, sizeof(junk)));
	run_for(be->base, 300);
	CALL(backend_put_abort(bp));
	run_for(be->base, 300);
	TAP_OK(&T, !p.done && !p.writable, "put_abort: no callback");
}

static void
test_misuse(struct backend *be)
{
	struct put_ctx p = { 0 };
	struct backend_put *bp;
	CALL(bp = backend_put_start(be, "b/unknown", -1, &put_cbs, &p));
	TAP_OK(&T, bp == NULL, "put_start with an unknown size: NULL");

	uint8_t bytes[64] = { 0 };
	CALL(bp = backend_put_start(be, "b/short", 10, &put_cbs, &p));
	int rc;
	CALL(rc = backend_put_write(bp, bytes, sizeof(bytes)));
	TAP_OK(&T, rc == -1, "put_write past the declared size: -1");
	CALL(backend_put_abort(bp));

	memset(&p, 0, sizeof(p));
	CALL(bp = backend_put_start(be, "b/short", 10, &put_cbs, &p));
	CALL(backend_put_write(bp, bytes, 4));
	CALL(backend_put_finish(bp));
	run_until(be->base, &p.done, 10);
	TAP_OK(&T, p.done && p.err == EIO, "put_finish short of the size: on_done EIO (%s)",
	    p.msg);
	struct call_ctx c;
	TAP_OK(&T, stat_async(be, "b/short", &c) == ENOENT, "... and nothing was stored");

	int fulls = 0;
	TAP_OK(&T, put_object(be, "b/empty", bytes, 0, &fulls, &p) == 0,
	    "PUT of 0 bytes (%s)", p.msg);
	TAP_OK(&T, stat_async(be, "b/empty", &c) == 0 && c.st.size == 0, "stat: 0 bytes");
}

static void
test_missing_and_remove(struct backend *be)
{
	struct get_ctx g = { 0 };
	get_object(be, "b/no-such-object", 0, -1, &g);
	TAP_OK(&T, g.err == ENOENT && !g.started, "GET of a missing object: ENOENT before on_start"
	    " (%s)", g.msg);
	get_free(&g);
	struct call_ctx c;
	TAP_OK(&T, stat_async(be, "b/no-such-object", &c) == ENOENT, "stat of it: ENOENT");

	TAP_OK(&T, remove_async(be, "b/big", &c) == 0, "remove: 0");
	TAP_OK(&T, stat_async(be, "b/big", &c) == ENOENT, "then stat: ENOENT");
	TAP_OK(&T, remove_async(be, "b/big", &c) == 0, "remove of a missing object: 0");
}

/* The blocking forms, on a base nothing else dispatches. */
static void
test_blocking(const char *endpoint, const char *bucket, const uint8_t *data)
{
	struct event_base *base = event_base_new();
	struct backend *be = make_backend(base, "blocking", endpoint, bucket, 5000);
	struct put_ctx p;
	int fulls = 0;
	put_object(be, "b/blocking", data, 5000, &fulls, &p);
	struct backend_stat st = { 0 };
	char err[256] = "";
	int rc = backend_stat_wait(be, "b/blocking", &st, err, sizeof(err));
	TAP_OK(&T, rc == 0 && st.size == 5000, "backend_stat_wait: 5000 bytes (%s)", err);
	rc = backend_remove_wait(be, "b/blocking", err, sizeof(err));
	TAP_OK(&T, rc == 0, "backend_remove_wait: 0 (%s)", err);
	rc = backend_stat_wait(be, "b/blocking", &st, err, sizeof(err));
	TAP_OK(&T, rc == -1 && errno == ENOENT, "backend_stat_wait after it: ENOENT");
	backend_free(be);
	event_base_free(base);
}

/* Free a backend with a paused GET and a PUT under way: no callback, no leak. */
static void
test_destroy_busy(const char *endpoint, const char *bucket, const uint8_t *data)
{
	struct event_base *base = event_base_new();
	struct backend *be = make_backend(base, "busy", endpoint, bucket, 5000);
	struct put_ctx p;
	int fulls = 0;
	put_object(be, "b/busy", data, BIG, &fulls, &p);
	/* the driver's own calls: backend.c's accounting shims are not freed by backend_free */
	struct get_ctx g = { .pause = 1, .be = be };
	g.resume = evtimer_new(base, get_resume_cb, &g);
	CALL(g.get = be->ops->get_start(be, "b/busy", 0, -1, &get_cbs, &g));
	struct put_ctx q = { 0 };
	struct backend_put *bp;
	CALL(bp = be->ops->put_start(be, "b/busy-put", BIG, &put_cbs, &q));
	CALL(be->ops->put_write(bp, data, 100000));
	run_until(base, &g.paused, 10);
	evtimer_del(g.resume);
	run_for(base, 100);
	backend_free(be);
	event_free(g.resume);
	TAP_OK(&T, g.started && !g.done && !q.done,
	    "backend_free with a paused GET and a PUT under way: no callback");
	get_free(&g);
	event_base_free(base);
}

static void
test_scripted(struct event_base *base, const char *endpoint)
{
	struct backend *be = make_backend(base, "scripted", endpoint, "scripted", 5000);
	struct call_ctx c;
	int64_t t0 = clock_mono_ms();
	int rc = stat_async(be, "b/503-twice", &c);
	TAP_OK(&T, rc == 0 && c.st.size == 42, "stat: two 503 then 200: retried, size %llu",
	    (unsigned long long)c.st.size);
	TAP_OK(&T, clock_mono_ms() - t0 >= 50, "... after a backoff (%lld ms)",
	    (long long)(clock_mono_ms() - t0));

	t0 = clock_mono_ms();
	rc = remove_async(be, "b/500-always", &c);
	TAP_OK(&T, rc == EIO, "remove: 500 every time: EIO after the retries (%lld ms)",
	    (long long)(clock_mono_ms() - t0));
	TAP_STR_EQ(&T, c.msg, "InternalError: We encountered an internal error.",
	    "... the message is the S3 code and message");

	struct get_ctx g = { 0 };
	get_object(be, "b/denied", 0, -1, &g);
	TAP_OK(&T, g.err == EIO && !g.started, "GET 403: EIO before on_start");
	TAP_STR_EQ(&T, g.msg, "AccessDenied: Access Denied", "... with the S3 code and message");
	get_free(&g);

	struct get_ctx slow = { 0 };
	get_object(be, "b/429-once", 0, -1, &slow);
	TAP_OK(&T, slow.err == 0 && slow.len == 5 && memcmp(slow.buf, "hello", 5) == 0,
	    "GET: 429 SlowDown once, then the body");
	get_free(&slow);

	uint8_t *data = pattern_buf(10000);
	struct get_ctx nr = { 0 };
	get_object(be, "b/ignores-range", 2000, 3000, &nr);
	TAP_OK(&T, nr.err == 0 && nr.len == 3000 && memcmp(nr.buf, data + 2000, 3000) == 0 &&
	    nr.st.size == 10000, "GET range from a server that ignores Range: the right bytes");
	get_free(&nr);
	struct get_ctx nr2 = { .pause = 1 };
	get_object(be, "b/ignores-range", 9000, -1, &nr2);
	TAP_OK(&T, nr2.err == 0 && nr2.len == 1000 && memcmp(nr2.buf, data + 9000, 1000) == 0,
	    "... to the end, pausing: the right bytes");
	get_free(&nr2);

	struct get_ctx past = { 0 };
	get_object(be, "b/past-end", 100, -1, &past);
	TAP_OK(&T, past.err == 0 && past.started && past.len == 0 && past.st.size == 100,
	    "GET from the end of a 100-byte object (416): an empty read of size 100 (%s)",
	    past.msg);
	get_free(&past);

	struct put_ctx p;
	int fulls = 0;
	rc = put_object(be, "b/put-503-first", data, 0, &fulls, &p);
	TAP_OK(&T, rc == 0, "PUT of 0 bytes: 503 then 200: retried (%s)", p.msg);
	uint8_t *big = pattern_buf(2 * 1024 * 1024);
	rc = put_object(be, "b/put-expect-503-first", big, 2 * 1024 * 1024, &fulls, &p);
	TAP_OK(&T, rc == 0, "PUT of 2 MiB refused before its body (Expect: 100-continue): "
	    "retried (%s)", p.msg);
	rc = put_object(be, "b/put-403", data, 10000, &fulls, &p);
	TAP_OK(&T, rc == EIO, "PUT answered 403: EIO (%s)", p.msg);
	test_put_abort(be);
	free(big);
	free(data);
	backend_free(be);
}

/* Virtual-host style: "scripted-vhost.localhost" (libcurl resolves *.localhost itself). */
static void
test_vhost(struct event_base *base, const char *endpoint)
{
	char *local = xasprintf("http://localhost:%s", strrchr(endpoint, ':') + 1);
	const struct be_opts o = { .timeout_ms = 5000, .vhost = 1 };
	struct backend *be = make_backend_opts(base, "vhost", local, "scripted-vhost", &o);
	struct get_ctx g = { 0 };
	get_object(be, "b/vhost", 0, -1, &g);
	TAP_OK(&T, g.err == 0 && g.len == 8 && memcmp(g.buf, "vhost ok", 8) == 0,
	    "virtual-host style: Host is bucket.host, the path has no bucket (%s)", g.msg);
	get_free(&g);
	backend_free(be);
	free(local);
}

static void
test_dead(struct event_base *base, const char *endpoint)
{
	struct backend *be = make_backend(base, "dead", endpoint, "b", 2000);
	struct call_ctx c;
	int64_t t0 = clock_mono_ms();
	int rc = stat_async(be, "b/k", &c);
	int64_t took = clock_mono_ms() - t0;
	TAP_OK(&T, rc == EIO && took < 10000, "stat with nothing listening: EIO in %lld ms",
	    (long long)took);
	struct get_ctx g = { 0 };
	get_object(be, "b/k", 0, -1, &g);
	TAP_OK(&T, g.err == EIO && !g.started, "GET with nothing listening: EIO (%s)", g.msg);
	get_free(&g);
	struct put_ctx p;
	int fulls = 0;
	uint8_t *big = pattern_buf(3 * 1024 * 1024);
	rc = put_object(be, "b/k", big, 3 * 1024 * 1024, &fulls, &p);
	TAP_OK(&T, rc != 0, "PUT of 3 MiB with nothing listening: fails (put_write -1 after "
	    "on_writable, or on_done EIO)");
	free(big);
	backend_free(be);
}

/* HTTPS: a certificate nobody vouches for is refused at once (no retry); with ca_file it
 * is trusted; tls_verify off takes it (and says so in the log). */
static void
test_tls(struct event_base *base, const char *endpoint, const char *bucket, const char *ca)
{
	struct call_ctx c;
	const struct be_opts plain = { .timeout_ms = 5000 };
	struct backend *be = make_backend_opts(base, "tls-system-cas", endpoint, bucket, &plain);
	int64_t t0 = clock_mono_ms();
	int rc = stat_async(be, "b/tls", &c);
	TAP_OK(&T, rc == EIO && clock_mono_ms() - t0 < 2000,
	    "HTTPS, a self-signed certificate, the system's CAs: EIO at once (%lld ms)",
	    (long long)(clock_mono_ms() - t0));
	backend_free(be);

	const struct be_opts trusted = { .timeout_ms = 5000, .ca_file = ca };
	be = make_backend_opts(base, "tls-ca-file", endpoint, bucket, &trusted);
	struct put_ctx p;
	int fulls = 0;
	rc = put_object(be, "b/tls", (const uint8_t *)"over tls", 8, &fulls, &p);
	TAP_OK(&T, rc == 0 && stat_async(be, "b/tls", &c) == 0 && c.st.size == 8,
	    "HTTPS with ca_file: PUT and stat work (%s)", p.msg);
	backend_free(be);

	const struct be_opts loose = { .timeout_ms = 5000, .no_verify = 1 };
	be = make_backend_opts(base, "tls-no-verify", endpoint, bucket, &loose);
	TAP_OK(&T, stat_async(be, "b/tls", &c) == 0 && c.st.size == 8,
	    "HTTPS with tls_verify off: stat works");
	backend_free(be);
}

int
main(int argc, char **argv)
{
	if (argc != 5 && argc != 7) {
		fprintf(stderr, "usage: %s S3RVER_ENDPOINT BUCKET SCRIPTED_ENDPOINT "
		    "DEAD_ENDPOINT [TLS_ENDPOINT CA_FILE]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);	/* a sanitizer's exit must not lose the TAP */
	log_init("backend_s3_test", LOG_DEST_STDERR, getenv("S3MUX_TEST_DEBUG") != NULL);
	struct event_base *base = event_base_new();
	uint8_t *data = pattern_buf(BIG);
	struct backend *be = make_backend(base, "s3rver", argv[1], argv[2], 10000);
	TAP_OK(&T, be != NULL, "backend_new: driver s3");
	if (be == NULL)
		return TAP_DONE(&T);
	test_put_get(be, data);
	test_aborts(be);
	test_misuse(be);
	test_missing_and_remove(be);
	backend_free(be);
	test_blocking(argv[1], argv[2], data);
	test_destroy_busy(argv[1], argv[2], data);
	test_scripted(base, argv[3]);
	test_vhost(base, argv[3]);
	test_dead(base, argv[4]);
	if (argc == 7)
		test_tls(base, argv[5], argv[2], argv[6]);
	TAP_OK(&T, sync_callbacks == 0, "no callback came from inside a call (%d)",
	    sync_callbacks);
	free(data);
	event_base_free(base);
	return TAP_DONE(&T);
}
