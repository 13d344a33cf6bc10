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
 * Drivers: fs (a directory on local disk).  The s3 driver comes with the backends work.
 */
#ifndef S3MUX_BACKEND_H
#define S3MUX_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <event2/event.h>

#include "config.h"

struct backend;

/* A write in progress; each driver's own put struct begins with this. */
struct backend_put {
	struct backend *be;
};

/* Completion of a write: err 0 on success, else an errno value with a message. */
typedef void (*backend_done_cb)(void *arg, int err, const char *message);

struct backend_put_cbs {
	void (*on_writable)(void *arg);	/* room again after a write returned BACKEND_FULL */
	backend_done_cb on_done;	/* after backend_put_finish */
};

#define BACKEND_ACCEPTED 0
#define BACKEND_FULL 1			/* accepted, but pause until on_writable */

/* What a read found. */
struct backend_object {
	uint64_t size;
	int64_t mtime;			/* seconds since the epoch */
	int fd;				/* fs: an open descriptor the caller now owns; else -1 */
};

struct backend_ops {
	const char *driver;
	void *(*create)(const struct cfg_backend *conf, struct event_base *base, char *err,
	    size_t errlen);
	void (*destroy)(void *state);
	struct backend_put *(*put_start)(struct backend *be, const char *name, int64_t size,
	    const struct backend_put_cbs *cbs, void *arg);
	int (*put_write)(struct backend_put *put, const void *data, size_t len);
	void (*put_finish)(struct backend_put *put);
	void (*put_abort)(struct backend_put *put);
	/* Open for reading; -1 with errno (ENOENT: no such object). */
	int (*open)(struct backend *be, const char *name, struct backend_object *obj);
	/* Delete; 0 also when it was not there; -1 with errno. */
	int (*remove)(struct backend *be, const char *name);
};

struct backend {
	char *name;
	const struct backend_ops *ops;
	void *state;
};

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
int backend_open(struct backend *be, const char *name, struct backend_object *obj);
int backend_remove(struct backend *be, const char *name);

extern const struct backend_ops backend_fs_ops;

/* fs driver: the path (relative to the backend root) an object name is stored at. */
char *backend_fs_relpath(const char *name);

#endif
