/*
 * fe_object.c: GetObject and HeadObject (ranges, conditionals, response-* overrides, user
 * metadata) and DeleteObject (catalogue first, then the backend copies, whose failures are
 * left in cleanup_queue for the cleanup role).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "checksum.h"
#include "fe.h"
#include "log.h"
#include "s3xml.h"

/*
 * Parse "bytes=a-b", "bytes=a-" or "bytes=-n" against size.  Returns 0 (range set, or not
 * present when the header is absent or not one we honour), or -1 when unsatisfiable.
 */
int
fe_parse_range(const char *value, uint64_t size, struct fe_range *range)
{
	range->present = 0;
	if (value == NULL || strncmp(value, "bytes=", 6) != 0 || strchr(value, ',') != NULL)
		return 0;
	const char *spec = value + 6;
	char *end;
	if (*spec == '-') {
		uint64_t n = strtoull(spec + 1, &end, 10);
		if (end == spec + 1 || *end != '\0')
			return 0;
		if (n == 0 || size == 0)
			return -1;
		range->first = n >= size ? 0 : size - n;
		range->last = size - 1;
	} else {
		uint64_t a = strtoull(spec, &end, 10);
		if (end == spec || *end != '-')
			return 0;
		const char *b = end + 1;
		uint64_t last = size ? size - 1 : 0;
		if (*b != '\0') {
			last = strtoull(b, &end, 10);
			if (*end != '\0' || last < a)
				return 0;
		}
		if (a >= size)
			return -1;
		range->first = a;
		range->last = last >= size ? size - 1 : last;
	}
	range->present = 1;
	return 0;
}

/* ETag lists as in If-Match: "a", "b" or *; 1 when etag is among them. */
static int
fe_etag_matches(const char *list, const char *etag)
{
	if (strcmp(list, "*") == 0)
		return 1;
	const char *p = list;
	size_t elen = strlen(etag);
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		int quoted = *p == '"';
		if (quoted)
			p++;
		size_t len = strcspn(p, quoted ? "\"" : ", ");
		if (len == elen && strncmp(p, etag, elen) == 0)
			return 1;
		p += len;
		if (*p == '"')
			p++;
	}
	return 0;
}

/*
 * RFC 7232 order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since; prefix ""
 * for the request's own conditions, "x-amz-copy-source-" for a copy's source.
 */
int
fe_conditionals(const struct fe_req *r, const char *prefix, const char *etag, time_t mtime)
{
	char name[64];
	snprintf(name, sizeof(name), "%sif-match", prefix);
	const char *im = http_header(r->http, name);
	snprintf(name, sizeof(name), "%sif-none-match", prefix);
	const char *inm = http_header(r->http, name);
	snprintf(name, sizeof(name), "%sif-modified-since", prefix);
	const char *ims = http_header(r->http, name);
	snprintf(name, sizeof(name), "%sif-unmodified-since", prefix);
	const char *ius = http_header(r->http, name);
	if (im != NULL && !fe_etag_matches(im, etag))
		return 412;
	if (im == NULL && ius != NULL) {
		time_t t = s3_time_parse_http(ius);
		if (t != -1 && mtime > t)
			return 412;
	}
	if (inm != NULL && fe_etag_matches(inm, etag))
		return 304;
	if (inm == NULL && ims != NULL) {
		time_t t = s3_time_parse_http(ims);
		if (t != -1 && mtime <= t)
			return 304;
	}
	return 0;
}

/* Response headers as NULL-terminated name, value pairs; every string is owned. */
struct fe_headers {
	char *v[65];
	size_t n;
};

static void
fe_hdr(struct fe_headers *h, const char *name, const char *value)
{
	if (h->n + 3 > nitems(h->v) || value == NULL)
		return;
	h->v[h->n++] = xstrdup(name);
	h->v[h->n++] = xstrdup(value);
	h->v[h->n] = NULL;
}

static void
fe_hdr_free(struct fe_headers *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i]);
	h->n = 0;
}

/* Headers stored with the object (Content-Encoding, ...) and x-amz-meta-*, from JSON. */
static void
fe_stored_headers(struct fe_headers *h, const char *headers_json, const char *meta_json)
{
	json_t *headers = json_loads(headers_json, 0, NULL);
	json_t *meta = json_loads(meta_json, 0, NULL);
	const char *name;
	json_t *value;
	json_object_foreach(headers, name, value)
		fe_hdr(h, name, json_string_value(value));
	json_object_foreach(meta, name, value) {
		char *full = xasprintf("x-amz-meta-%s", name);
		fe_hdr(h, full, json_string_value(value));
		free(full);
	}
	json_decref(headers);
	json_decref(meta);
}

/* response-content-type=... and friends replace the stored values on GET. */
static void
fe_response_overrides(struct fe_req *r, struct fe_headers *h)
{
	static const char *const map[][2] = {
		{ "response-content-type", "Content-Type" },
		{ "response-content-language", "Content-Language" },
		{ "response-expires", "Expires" },
		{ "response-cache-control", "Cache-Control" },
		{ "response-content-disposition", "Content-Disposition" },
		{ "response-content-encoding", "Content-Encoding" },
	};
	for (size_t i = 0; i < nitems(map); i++) {
		const char *v = fe_param(r, map[i][0]);
		if (v == NULL)
			continue;
		int found = 0;
		for (size_t j = 0; j + 1 < h->n; j += 2) {
			if (strcasecmp(h->v[j], map[i][1]) == 0) {
				free(h->v[j + 1]);
				h->v[j + 1] = xstrdup(v);
				found = 1;
			}
		}
		if (!found)
			fe_hdr(h, map[i][1], v);
	}
}

/* A GET being served: the copies still to try, and the one streaming. */
struct fe_get {
	struct fe_req *r;
	char *etag;			/* the catalogue's, to match the file's tag; NULL: no check */
	struct fe_headers h;
	int status;
	uint64_t first, len;
	char *name;
	char *copies;			/* the backends left to try, as "{a,b}" */
	char *cursor;
	struct backend_get *get;
	int started;
	int over_limit;			/* a copy was passed over for its monthly limits */
	int unavailable;		/* a copy was passed over for its circuit breaker */
};

static void fe_get_try_next(struct fe_get *g);

static void
fe_get_free(struct fe_req *r, struct fe_get *g)
{
	fe_hdr_free(&g->h);
	free(g->etag);
	free(g->name);
	free(g->copies);
	free(g);
	r->op = NULL;
	r->on_abort = NULL;
	r->http->on_drain = NULL;
}

static void
fe_get_client_gone(struct fe_req *r)
{
	struct fe_get *g = r->op;
	if (g->get != NULL)
		backend_get_abort(g->get);
	fe_get_free(r, g);
	fe_finish(r);
}

static void
fe_get_drain(struct http_request *http, void *arg)
{
	struct fe_req *r = arg;
	struct fe_get *g = r->op;
	if (g != NULL && g->get != NULL)
		backend_get_resume(g->get);
}

static void
fe_get_on_start(void *arg, const struct backend_stat *st)
{
	struct fe_get *g = arg;
	g->started = 1;
	http_response_start(g->r->http, g->status, (int64_t)g->len, (const char *const *)g->h.v);
}

static int
fe_get_on_data(void *arg, const char *data, size_t len)
{
	struct fe_get *g = arg;
	http_response_write(g->r->http, data, len);
	if (http_response_pending(g->r->http) < HTTP_OUTPUT_HIGH_MARK)
		return BACKEND_ACCEPTED;
	g->r->http->on_drain = fe_get_drain;
	return BACKEND_FULL;
}

static void
fe_get_on_done(void *arg, int err, const char *message)
{
	struct fe_get *g = arg;
	struct fe_req *r = g->r;
	g->get = NULL;
	if (err != 0 && !g->started) {
		log_warnx("%s: copy of %s unreadable (%s); trying the next", r->http->request_id,
		    g->name, message);
		fe_get_try_next(g);
		return;
	}
	fe_get_free(r, g);
	if (err != 0) {
		fe_error(r, "InternalError", message);	/* cuts the connection mid-body */
		return;
	}
	http_response_end(r->http);
	fe_finish(r);
}

/* A local file: hand it to the connection (sendfile). */
static void
fe_get_send_file(struct fe_get *g, struct backend *be, struct backend_object *obj)
{
	struct fe_req *r = g->r;
	backend_count(be, 0, g->len, 0);
	http_response_start(r->http, g->status, (int64_t)g->len, (const char *const *)g->h.v);
	http_response_add_file(r->http, obj->fd, (off_t)g->first, (off_t)g->len);
	http_response_end(r->http);
	fe_get_free(r, g);
	fe_finish(r);
}

/*
 * The file holds another write than the catalogue names: an overwrite renamed its bytes into
 * place and its commit has not landed yet (or a commit failed, and the reaper will settle
 * it).  Look the object up again shortly; after FE_GET_LOOKUPS tries answer 503 SlowDown.
 */
#define FE_GET_LOOKUPS 10
#define FE_GET_LOOKUP_DELAY_MS 20

static int
fe_get_stale(const struct fe_get *g, const struct backend_object *obj)
{
	return g->etag != NULL && obj->tag[0] != '\0' && strcmp(obj->tag, g->etag) != 0;
}

static void
fe_get_lookup_cb(evutil_socket_t fd, short what, void *arg)
{
	fe_get_object(arg);
}

static void
fe_get_again(struct fe_get *g)
{
	struct fe_req *r = g->r;
	fe_get_free(r, g);
	if (r->lookups >= FE_GET_LOOKUPS) {
		fe_error(r, "SlowDown", "The object is being overwritten; retry.");
		return;
	}
	if (r->retry == NULL)
		r->retry = evtimer_new(r->fe->base, fe_get_lookup_cb, r);
	struct timeval tv = { 0, FE_GET_LOOKUP_DELAY_MS * 1000 * r->lookups };
	evtimer_add(r->retry, &tv);
}

static void
fe_get_try_next(struct fe_get *g)
{
	struct fe_req *r = g->r;
	static const struct backend_get_cbs cbs = { fe_get_on_start, fe_get_on_data,
		fe_get_on_done };
	char *be_name;
	while ((be_name = strtok_r(g->cursor ? NULL : g->copies, "{},\"", &g->cursor)) != NULL) {
		struct backend *be = fe_backend(r->fe, be_name);
		if (be == NULL)
			continue;
		if (backend_over_limit(be, 0)) {
			g->over_limit = 1;
			continue;
		}
		if (!backend_available(be)) {
			g->unavailable = 1;
			continue;
		}
		struct backend_object obj = { .fd = -1 };
		if (backend_open(be, g->name, &obj) == 0 && fe_get_stale(g, &obj)) {
			close(obj.fd);
			fe_get_again(g);
			return;
		}
		if (obj.fd != -1) {
			fe_get_send_file(g, be, &obj);
			return;
		}
		if (errno == ENOTSUP) {
			g->get = backend_get_start(be, g->name, g->first, (int64_t)g->len, &cbs, g);
			return;
		}
		log_warn("%s: backend %s has no copy of %s", r->http->request_id, be_name, g->name);
	}
	int over_limit = g->over_limit, unavailable = g->unavailable;
	fe_get_free(r, g);
	if (over_limit || unavailable)
		fe_error_no_backend(r, over_limit ? "SlowDown" : "ServiceUnavailable");
	else
		fe_error(r, "InternalError", "No backend holding this object could serve it.");
}

/*
 * ?partNumber=N: the byte range of part N of a multipart object (a single-part object has
 * one part, all of it).  Returns 0, -1 for a part number out of range, -2 when malformed.
 */
static int
fe_part_range(const struct fe_req *r, PGresult *res, uint64_t size, struct fe_range *range)
{
	long part = fe_part_number(r);
	if (part == 0)
		return -2;
	int parts = atoi(PQgetvalue(res, 0, GO_PARTS));
	range->present = 1;
	range->first = 0;
	range->last = size ? size - 1 : 0;
	if (parts == 0)
		return part == 1 && size > 0 ? 0 : -1;
	if (part > parts)
		return -1;
	const char *p = PQgetvalue(res, 0, GO_PART_SIZES);
	uint64_t offset = 0, len = 0;
	char *end;
	for (long i = 1; i <= part && *p != '\0'; i++) {
		p += strspn(p, "{,");
		len = strtoull(p, &end, 10);
		p = end;
		if (i < part)
			offset += len;
	}
	range->first = offset;
	range->last = offset + len - 1;
	return len > 0 ? 0 : -1;
}

/* The range to send: partNumber, else the Range header.  On error the reply is sent. */
static int
fe_choose_range(struct fe_req *r, PGresult *res, uint64_t size, struct fe_range *range)
{
	if (fe_has_param(r, "partNumber")) {
		int rc = fe_part_range(r, res, size, range);
		if (rc == -2)
			fe_error_part_number(r);
		else if (rc == -1)
			fe_error(r, "InvalidPartNumber", NULL);
		return rc == 0 ? 0 : -1;
	}
	if (fe_parse_range(http_header(r->http, "range"), size, range) == -1) {
		fe_error(r, "InvalidRange", NULL);
		return -1;
	}
	return 0;
}

/* Serve the object (or range) from the first of copies ("{a,b}") that can. */
static void
fe_serve(struct fe_req *r, struct fe_headers *h, uint64_t size, struct fe_range range,
    const char *copies, const char *etag)
{
	struct fe_get *g = xcalloc(1, sizeof(*g));
	g->r = r;
	g->etag = etag ? xstrdup(etag) : NULL;
	g->h = *h;
	g->status = range.present ? 206 : 200;
	g->first = range.present ? range.first : 0;
	g->len = range.present ? range.last - range.first + 1 : size;
	if (range.present) {
		char *cr = xasprintf("bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, range.first,
		    range.last, size);
		fe_hdr(&g->h, "Content-Range", cr);
		free(cr);
	}
	r->op = g;
	r->on_abort = fe_get_client_gone;
	if (strcmp(r->http->method, "HEAD") == 0 || g->len == 0) {
		http_response_start(r->http, g->status, (int64_t)g->len, (const char *const *)g->h.v);
		http_response_end(r->http);
		fe_get_free(r, g);
		fe_finish(r);
		return;
	}
	g->name = xasprintf("%s/%s", r->bucket, r->key);
	g->copies = xstrdup(copies);
	fe_get_try_next(g);
}

static void
fe_send_object(struct fe_req *r, PGresult *res, struct fe_headers *h, uint64_t size)
{
	struct fe_range range;
	if (fe_choose_range(r, res, size, &range) == -1) {
		fe_hdr_free(h);
		return;
	}
	fe_serve(r, h, size, range, PQgetvalue(res, 0, GO_BACKENDS), PQgetvalue(res, 0, GO_ETAG));
}

/* --- reads while the catalogue is down ------------------------------------------------- */

/*
 * Without the catalogue, every backend is asked for the object's name at once (it derives
 * from bucket and key); the first that has it serves it, without the metadata only the
 * catalogue holds (ETag, Content-Type, user metadata).
 */
struct fe_fallback {
	struct fe_req *r;
	size_t outstanding;
	struct backend *found;
	struct backend_stat st;
	int errors;
	int client_gone;
};

static void
fe_fallback_answer(struct fe_fallback *fb)
{
	struct fe_req *r = fb->r;
	r->op = NULL;
	r->on_abort = NULL;
	if (fb->client_gone) {
		free(fb);
		fe_finish(r);
		return;
	}
	if (fb->found == NULL) {
		int errors = fb->errors;
		free(fb);
		fe_error(r, errors ? "ServiceUnavailable" : "NoSuchKey", errors ?
		    "The catalogue and some backends are unavailable; retry." : NULL);
		return;
	}
	struct fe_headers h = { .n = 0 };
	char lastmod[64];
	s3_time_http((time_t)fb->st.mtime, lastmod, sizeof(lastmod));
	fe_hdr(&h, "Last-Modified", lastmod);
	fe_hdr(&h, "Content-Type", "binary/octet-stream");
	fe_hdr(&h, "Accept-Ranges", "bytes");
	fe_hdr(&h, "x-s3mux-catalogue", "unavailable");
	struct fe_range range;
	char *copies = xasprintf("{\"%s\"}", fb->found->name);
	uint64_t size = fb->st.size;
	free(fb);
	if (fe_parse_range(http_header(r->http, "range"), size, &range) == -1) {
		fe_hdr_free(&h);
		fe_error(r, "InvalidRange", NULL);
	} else {
		fe_serve(r, &h, size, range, copies, NULL);
	}
	free(copies);
}

/* One backend's answer. */
struct fe_fallback_ask {
	struct fe_fallback *fb;
	struct backend *be;
};

static void
fe_fallback_stat_at(void *arg, int err, const struct backend_stat *st)
{
	struct fe_fallback_ask *ask = arg;
	struct fe_fallback *fb = ask->fb;
	struct backend *be = ask->be;
	free(ask);
	fb->outstanding--;
	if (err == 0 && fb->found == NULL && st != NULL) {
		fb->st = *st;
		fb->found = be;
	} else if (err != 0 && err != ENOENT) {
		fb->errors++;
	}
	if (fb->outstanding == 0)
		fe_fallback_answer(fb);
}

static void
fe_fallback_gone(struct fe_req *r)
{
	struct fe_fallback *fb = r->op;
	fb->client_gone = 1;	/* the answers still to come end the request */
}

static void
fe_get_fallback(struct fe_req *r)
{
	struct fe_ctx *fe = r->fe;
	struct fe_fallback *fb = xcalloc(1, sizeof(*fb));
	fb->r = r;
	r->op = fb;
	r->on_abort = fe_fallback_gone;
	char *name = xasprintf("%s/%s", r->bucket, r->key);
	fb->outstanding = fe->nbackends;
	log_info("%s: catalogue unavailable; asking %zu backend(s) for %s", r->http->request_id,
	    fe->nbackends, name);
	for (size_t i = 0; i < fe->nbackends; i++) {
		struct fe_fallback_ask *ask = xcalloc(1, sizeof(*ask));
		ask->fb = fb;
		ask->be = fe->backends[i];
		backend_stat(fe->backends[i], name, fe_fallback_stat_at, ask);
	}
	free(name);
}

/* Tag count, part count, and the stored checksum when the client asks for it. */
static void
fe_extra_headers(const struct fe_req *r, PGresult *res, struct fe_headers *h)
{
	json_t *tags = json_loads(PQgetvalue(res, 0, GO_TAGS), 0, NULL);
	if (json_object_size(tags) > 0) {
		char count[16];
		snprintf(count, sizeof(count), "%zu", json_object_size(tags));
		fe_hdr(h, "x-amz-tagging-count", count);
	}
	json_decref(tags);
	if (atoi(PQgetvalue(res, 0, GO_PARTS)) > 0 && fe_has_param(r, "partNumber"))
		fe_hdr(h, "x-amz-mp-parts-count", PQgetvalue(res, 0, GO_PARTS));
	const char *mode = http_header(r->http, "x-amz-checksum-mode");
	if (mode == NULL || strcasecmp(mode, "ENABLED") != 0 || PQgetisnull(res, 0, GO_CK) ||
	    fe_has_param(r, "partNumber") || http_header(r->http, "range") != NULL)
		return;
	enum checksum_algo algo = checksum_algo_parse(PQgetvalue(res, 0, GO_CKALGO));
	if (algo == CHECKSUM_NONE)
		return;
	const char *value = PQgetvalue(res, 0, GO_CK);
	fe_hdr(h, checksum_header_name(algo), value);
	fe_hdr(h, "x-amz-checksum-type", strchr(value, '-') ? "COMPOSITE" : "FULL_OBJECT");
}

static void
fe_get_object_done(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (res == NULL) {
		fe_get_fallback(r);
		return;
	}
	const char *status = PQgetvalue(res, 0, GO_STATUS);
	if (strcmp(status, "OK") != 0) {
		fe_error_status(r, status);
		return;
	}
	const char *etag = PQgetvalue(res, 0, GO_ETAG);
	time_t mtime = (time_t)strtoll(PQgetvalue(res, 0, GO_MTIME), NULL, 10);
	uint64_t size = strtoull(PQgetvalue(res, 0, GO_SIZE), NULL, 10);
	char lastmod[64];
	s3_time_http(mtime, lastmod, sizeof(lastmod));
	struct fe_headers h = { .n = 0 };
	char *quoted = xasprintf("\"%s\"", etag);
	fe_hdr(&h, "ETag", quoted);
	free(quoted);
	fe_hdr(&h, "Last-Modified", lastmod);
	int cond = fe_conditionals(r, "", etag, mtime);
	if (cond == 304) {
		fe_reply_empty(r, 304, (const char *const *)h.v);
		fe_hdr_free(&h);
		return;
	}
	if (cond == 412) {
		fe_hdr_free(&h);
		fe_error(r, "PreconditionFailed", NULL);
		return;
	}
	const char *ctype = PQgetisnull(res, 0, GO_CTYPE) ? "binary/octet-stream" :
	    PQgetvalue(res, 0, GO_CTYPE);
	fe_hdr(&h, "Content-Type", ctype);
	fe_hdr(&h, "Accept-Ranges", "bytes");
	fe_stored_headers(&h, PQgetvalue(res, 0, GO_HEADERS), PQgetvalue(res, 0, GO_META));
	fe_extra_headers(r, res, &h);
	if (strcmp(r->http->method, "GET") == 0)
		fe_response_overrides(r, &h);
	fe_send_object(r, res, &h, size);
}

void
fe_get_object(struct fe_req *r)
{
	r->lookups++;
	const char *params[] = { r->bucket, r->key };
	fe_db(r, "SELECT * FROM get_object($1, $2)", 2, params, fe_get_object_done);
}

/* --- DeleteObject ---------------------------------------------------------------------- */

/* The copies of a deleted object, deleted now; what fails is left for the cleanup role. */
struct fe_cleanup {
	struct fe_ctx *fe;
	char id[24];
	char token[24];			/* the claim's fencing token */
	char *name;
	char *backend;
};

static void
fe_cleanup_settled(PGresult *res, const char *errmsg, void *arg)
{
	/* nothing waits on this: a row not settled stays for the cleanup role */
}

static void
fe_cleanup_removed(void *arg, int err, const char *message)
{
	struct fe_cleanup *c = arg;
	if (err == 0) {
		const char *params[] = { c->id, c->token };
		pga_query(c->fe->db, "SELECT finish_cleanup($1::bigint, $2::bigint)", 2, params,
		    fe_cleanup_settled, NULL);
	} else {
		log_warnx("delete of %s on %s failed (%s); left for the cleanup role", c->name,
		    c->backend, message);
		const char *params[] = { c->id, c->token, message };
		pga_query(c->fe->db, "SELECT release_cleanup($1::bigint, $2::bigint, $3, "
		    "interval '10 seconds')", 3, params, fe_cleanup_settled, NULL);
	}
	free(c->name);
	free(c->backend);
	free(c);
}

static void
fe_cleanup_claimed(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_ctx *fe = arg;
	if (res == NULL)
		return;
	for (int i = 0; i < PQntuples(res); i++) {
		struct fe_cleanup *c = xcalloc(1, sizeof(*c));
		c->fe = fe;
		snprintf(c->id, sizeof(c->id), "%s", PQgetvalue(res, i, 0));
		snprintf(c->token, sizeof(c->token), "%s", PQgetvalue(res, i, 5));
		c->backend = xstrdup(PQgetvalue(res, i, 1));
		c->name = PQgetisnull(res, i, 4) ?
		    xasprintf("%s/%s", PQgetvalue(res, i, 2), PQgetvalue(res, i, 3)) :
		    xstrdup(PQgetvalue(res, i, 4));
		struct backend *be = fe_backend(fe, c->backend);
		if (be != NULL)
			backend_remove(be, c->name, fe_cleanup_removed, c);
		else
			fe_cleanup_removed(c, ENOENT, "backend not configured");
	}
}

void
fe_delete_copies(struct fe_ctx *fe, const char *ids_array)
{
	if (ids_array == NULL || *ids_array == '\0')
		return;
	const char *params[] = { ids_array, fe->owner };
	pga_query(fe->db, "SELECT * FROM claim_cleanup_ids($1::bigint[], $2)", 2, params,
	    fe_cleanup_claimed, fe);
}

static void
fe_delete_object_done(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (res == NULL) {
		fe_error(r, "ServiceUnavailable", NULL);
		return;
	}
	const char *status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "NoSuchBucket") == 0) {
		fe_error(r, status, NULL);
		return;
	}
	if (strcmp(status, "OK") == 0)
		fe_delete_copies(r->fe, PQgetvalue(res, 0, 1));
	fe_reply_empty(r, 204, NULL);
}

void
fe_delete_object(struct fe_req *r)
{
	const char *params[] = { r->bucket, r->key };
	fe_db(r, "SELECT status, cleanup_ids FROM delete_object($1, $2)", 2, params,
	    fe_delete_object_done);
}
