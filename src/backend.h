/*
 * backend.h: the storage backend interface and its drivers.
 *
 * A backend stores bytes under names derived from (bucket, key) only, so that an object can
 * be found on a backend without the catalogue.  Writes stream: the caller pushes body slices
 * (backend_put_write) and is told to pause when the driver's buffer is full and to resume
 * when it has room; backend_put_finish makes the bytes visible under the final name
 * atomically (the fs driver: temp file, fsync, rename, fsync of the directory).  Reads give
 * either an open file (sent with sendfile) or a stream of slices.
 *
 * Drivers: fs (a directory on local disk, backend_fs.c) and s3 (a bucket of any S3 service
 * through libcurl, backend_s3.c).
 */
#ifndef S3MUX_BACKEND_H
#define S3MUX_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <event2/event.h>

#include "config.h"

struct backend;

/* A transfer in progress; each driver's own put and get structs begin with these. */
struct backend_put {
	struct backend *be;
	void *shim;			/* backend.c's accounting for it */
	char tag[80];			/* stored with the bytes when the driver can (the ETag) */
};

struct backend_get {
	struct backend *be;
	void *shim;
};

/* Completion: err 0 on success, else an errno value (ENOENT: no such object) and a message. */
typedef void (*backend_done_cb)(void *arg, int err, const char *message);

#define BACKEND_ACCEPTED 0
#define BACKEND_FULL 1			/* accepted, but pause until told there is room */

struct backend_put_cbs {
	void (*on_writable)(void *arg);	/* room again after a write returned BACKEND_FULL */
	backend_done_cb on_done;	/* after backend_put_finish */
};

/* What the backend knows of a stored object. */
struct backend_stat {
	uint64_t size;
	int64_t mtime;			/* seconds since the epoch */
};

typedef void (*backend_stat_cb)(void *arg, int err, const struct backend_stat *st);

struct backend_get_cbs {
	/* The object is there; st->size is the whole object's size, whatever the range. */
	void (*on_start)(void *arg, const struct backend_stat *st);
	/* Bytes of the range, in order.  Return BACKEND_FULL to pause until backend_get_resume. */
	int (*on_data)(void *arg, const char *data, size_t len);
	/* The end: err 0 when every byte of the range was delivered.  A missing object ends
	 * with ENOENT before on_start. */
	backend_done_cb on_done;
};

/* A local file: what open() gives drivers that have one (the fs driver). */
struct backend_object {
	uint64_t size;
	int64_t mtime;
	int fd;				/* the caller owns it */
	char tag[80];			/* the tag stored with the bytes; "" when none */
};

/*
 * A driver.  Every call that takes a callback answers from the event loop, never from inside
 * the call itself.  open is optional (NULL when the driver has no local files); the rest
 * are required.
 */
struct backend_ops {
	const char *driver;
	void *(*create)(const struct cfg_backend *conf, struct event_base *base, char *err,
	    size_t errlen);
	void (*destroy)(void *state);

	/* Write name: size bytes (-1: unknown).  The bytes replace name only at put_finish;
	 * put_abort (or a failure) leaves whatever was there before. */
	struct backend_put *(*put_start)(struct backend *be, const char *name, int64_t size,
	    const struct backend_put_cbs *cbs, void *arg);
	int (*put_write)(struct backend_put *put, const void *data, size_t len);
	void (*put_finish)(struct backend_put *put);	/* on_done follows; frees put */
	void (*put_abort)(struct backend_put *put);	/* no callback; frees put */

	/* Read length bytes from offset (-1: to the end). */
	struct backend_get *(*get_start)(struct backend *be, const char *name, uint64_t offset,
	    int64_t length, const struct backend_get_cbs *cbs, void *arg);
	void (*get_resume)(struct backend_get *get);
	void (*get_abort)(struct backend_get *get);	/* no callback; frees get */

	/* Open the local file holding name: 0, or -1 with errno. */
	int (*open)(struct backend *be, const char *name, struct backend_object *obj);
	void (*stat)(struct backend *be, const char *name, backend_stat_cb cb, void *arg);
	/* Delete; a missing object is not an error. */
	void (*remove)(struct backend *be, const char *name, backend_done_cb cb, void *arg);
};

/* Requests and bytes moved, for the monthly limits (cfg_limits). */
struct backend_usage {
	uint64_t requests;
	uint64_t egress;		/* bytes read from the backend */
	uint64_t ingress;		/* bytes written to it */
};

struct backend {
	char *name;
	const struct backend_ops *ops;
	void *state;
	struct event_base *base;
	struct cfg_limits limits;
	struct backend_usage pending;	/* counted here, not yet added to the catalogue */
	struct backend_usage flushing;	/* in a flush under way */
	struct backend_usage month;	/* this month's totals at the last flush */
	int failures;			/* consecutive, for the circuit breaker */
	int64_t open_until_ms;		/* breaker open until then (monotonic); 0: closed */
	int64_t probe_ms;		/* half-open: when the probing request went out; 0: none */
};

/* The circuit breaker: this many failures in a row open it for BACKEND_BREAKER_OPEN_MS. */
#define BACKEND_BREAKER_FAILURES 3
#define BACKEND_BREAKER_OPEN_MS 5000

/* Count a request and bytes moved. */
void backend_count(struct backend *be, uint64_t requests, uint64_t egress, uint64_t ingress);
/* 1 when this month's usage (flushed and not) has reached a limit: reads look at requests
 * and egress, writes at requests and ingress. */
int backend_over_limit(const struct backend *be, int for_write);
/* Tell the breaker how a request went (a missing object is not a failure). */
void backend_note(struct backend *be, int ok);
/* 1 when requests may go to the backend: breaker closed, or half-open and no probe out. */
int backend_available(struct backend *be);
const char *backend_breaker_state(const struct backend *be);

/*
 * The backend object name of (bucket, key): "<bucket>/<key>".  Drivers map it to their own
 * namespace (the fs driver encodes it into a safe path).  Returns a new string.
 */
char *backend_object_name(const char *bucket, const char *key);

struct backend *backend_new(const struct cfg_backend *conf, struct event_base *base,
    char *err, size_t errlen);
void backend_free(struct backend *be);

struct backend_put *backend_put_start(struct backend *be, const char *name, int64_t size,
    const struct backend_put_cbs *cbs, void *arg);
int backend_put_write(struct backend_put *put, const void *data, size_t len);
void backend_put_finish(struct backend_put *put);
void backend_put_abort(struct backend_put *put);
/* Tag the bytes (before finish): a reader can then tell which write it opened. */
void backend_put_tag(struct backend_put *put, const char *tag);
struct backend_get *backend_get_start(struct backend *be, const char *name, uint64_t offset,
    int64_t length, const struct backend_get_cbs *cbs, void *arg);
void backend_get_resume(struct backend_get *get);
void backend_get_abort(struct backend_get *get);
/* -1 with errno ENOTSUP when the driver has no local files. */
int backend_open(struct backend *be, const char *name, struct backend_object *obj);
void backend_stat(struct backend *be, const char *name, backend_stat_cb cb, void *arg);
void backend_remove(struct backend *be, const char *name, backend_done_cb cb, void *arg);

/*
 * Blocking forms for the background roles, which run a pass outside any event loop: they
 * run the backend's own event base until the call completes.  The base given to
 * backend_new() must then be one that nothing else is dispatching.
 */
int backend_remove_wait(struct backend *be, const char *name, char *err, size_t errlen);
int backend_stat_wait(struct backend *be, const char *name, struct backend_stat *st,
    char *err, size_t errlen);

/* Call cb(arg, err, message) from the loop soon: for drivers that finish synchronously. */
void backend_defer_done(struct event_base *base, backend_done_cb cb, void *arg, int err,
    const char *message);

extern const struct backend_ops backend_fs_ops;
extern const struct backend_ops backend_s3_ops;

/* fs driver: the path (relative to the backend root) an object name is stored at. */
char *backend_fs_relpath(const char *name);

#endif
