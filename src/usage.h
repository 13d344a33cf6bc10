/*
 * usage.h: carry each process's counts of backend requests and bytes into the catalogue's
 * monthly totals (backend_usage), and bring the totals back for the limit checks.
 *
 * usage_flush_begin() moves every backend's pending counts to its flushing counts and builds
 * the parameters of one add_usage() call; after the call usage_flush_end() either takes the
 * returned totals (and drops the flushing counts, now in them) or, on failure, puts the
 * flushing counts back into pending, so nothing counted is lost.
 */
#ifndef S3MUX_USAGE_H
#define S3MUX_USAGE_H

#include <libpq-fe.h>

#include "backend.h"
#include "util.h"

#define USAGE_SQL "SELECT * FROM add_usage($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])"

struct usage_flush {
	struct strbuf names, requests, egress, ingress;
	const char *params[4];
};

void usage_flush_begin(struct usage_flush *f, struct backend **backends, size_t n);
/* res: add_usage()'s rows, or NULL when the call failed. */
void usage_flush_end(struct usage_flush *f, struct backend **backends, size_t n, PGresult *res);
/* Blocking: flush on conn now (at exit); 0, or -1 when the counts could not be written. */
int usage_flush_now(PGconn *conn, struct backend **backends, size_t n);

#endif
