/*
 * usage.c: flushing usage counts into backend_usage.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "usage.h"

void
usage_flush_begin(struct usage_flush *f, struct backend **backends, size_t n)
{
	struct strbuf *lists[] = { &f->names, &f->requests, &f->egress, &f->ingress };
	for (size_t i = 0; i < 4; i++) {
		strbuf_init(lists[i]);
		strbuf_puts(lists[i], "{");
	}
	for (size_t i = 0; i < n; i++) {
		struct backend *be = backends[i];
		be->flushing.requests += be->pending.requests;
		be->flushing.egress += be->pending.egress;
		be->flushing.ingress += be->pending.ingress;
		memset(&be->pending, 0, sizeof(be->pending));
		const char *sep = i ? "," : "";
		strbuf_printf(&f->names, "%s\"%s\"", sep, be->name);
		strbuf_printf(&f->requests, "%s%" PRIu64, sep, be->flushing.requests);
		strbuf_printf(&f->egress, "%s%" PRIu64, sep, be->flushing.egress);
		strbuf_printf(&f->ingress, "%s%" PRIu64, sep, be->flushing.ingress);
	}
	for (size_t i = 0; i < 4; i++) {
		strbuf_puts(lists[i], "}");
		f->params[i] = lists[i]->data;
	}
}

static struct backend *
usage_find(struct backend **backends, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

void
usage_flush_end(struct usage_flush *f, struct backend **backends, size_t n, PGresult *res)
{
	for (size_t i = 0; i < n; i++) {
		struct backend *be = backends[i];
		if (res == NULL) {
			be->pending.requests += be->flushing.requests;
			be->pending.egress += be->flushing.egress;
			be->pending.ingress += be->flushing.ingress;
		}
		memset(&be->flushing, 0, sizeof(be->flushing));
	}
	for (int row = 0; res != NULL && row < PQntuples(res); row++) {
		struct backend *be = usage_find(backends, n, PQgetvalue(res, row, 0));
		if (be == NULL)
			continue;
		be->month.requests = strtoull(PQgetvalue(res, row, 1), NULL, 10);
		be->month.egress = strtoull(PQgetvalue(res, row, 2), NULL, 10);
		be->month.ingress = strtoull(PQgetvalue(res, row, 3), NULL, 10);
	}
	strbuf_free(&f->names);
	strbuf_free(&f->requests);
	strbuf_free(&f->egress);
	strbuf_free(&f->ingress);
}

int
usage_flush_now(PGconn *conn, struct backend **backends, size_t n)
{
	struct usage_flush f;
	usage_flush_begin(&f, backends, n);
	PGresult *res = conn ? db_query(conn, USAGE_SQL, 4, f.params) : NULL;
	usage_flush_end(&f, backends, n, res);
	int rc = res != NULL ? 0 : -1;
	PQclear(res);
	return rc;
}
