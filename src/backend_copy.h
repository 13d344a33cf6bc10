/*
 * backend_copy.h: stream one or more source objects (or ranges of them), in order, into one
 * destination object, possibly on another backend, through a bounded buffer.
 *
 * Used to assemble a multipart upload from its parts, for CopyObject and UploadPartCopy, and
 * by the roles that move copies between backends.  The destination is written with
 * backend_put_*, so it replaces its name only when every source byte arrived; a failure
 * leaves the destination as it was.  An optional tap sees every byte (to compute an MD5).
 */
#ifndef S3MUX_BACKEND_COPY_H
#define S3MUX_BACKEND_COPY_H

#include "backend.h"

struct backend_copy_source {
	struct backend *be;
	const char *name;
	uint64_t offset;
	int64_t length;			/* -1: to the end */
};

struct backend_copy;

typedef void (*backend_copy_tap)(void *arg, const void *data, size_t len);

/*
 * Copy sources[0..n) into dst/dst_name, whose total size must be `total` (-1: unknown; not
 * every driver accepts that).  done(arg, err, message) follows, from the loop.  The sources
 * array and names are copied.
 */
struct backend_copy *backend_copy_start(const struct backend_copy_source *sources, size_t n,
    struct backend *dst, const char *dst_name, int64_t total, backend_copy_tap tap,
    backend_done_cb done, void *arg);
/* Tag the destination's bytes (backend_put_tag) when they are finished. */
void backend_copy_tag(struct backend_copy *copy, const char *tag);
/* Stop now: no callback; the destination is left as it was. */
void backend_copy_abort(struct backend_copy *copy);
/* Bytes copied so far. */
uint64_t backend_copy_progress(const struct backend_copy *copy);

#endif
