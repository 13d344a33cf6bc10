/*
 * fe_copy.c: CopyObject and UploadPartCopy.
 *
 * Both read the source's row (get_object), check the x-amz-copy-source-if-* conditions,
 * take the destination (an object intent with begin_put, or a part with begin_part), stream
 * the source's bytes (or a range of them, for a part) from one of its copies into the
 * destination on its backend while computing their MD5, and commit.  A copy of an object onto
 * itself with x-amz-metadata-directive: REPLACE only rewrites the metadata.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend_copy.h"
#include "checksum.h"
#include "fe.h"
#include "log.h"
#include "s3xml.h"

struct fe_copy {
	struct fe_req *r;
	int part;			/* UploadPartCopy: the part number; 0 for CopyObject */
	char *src_bucket;
	char *src_key;
	char *src_backends;		/* "{a,b}" */
	char *src_etag;
	uint64_t src_size;
	int64_t src_mtime;
	struct fe_range range;		/* UploadPartCopy's x-amz-copy-source-range */
	uint64_t len;
	int replace;			/* x-amz-metadata-directive: REPLACE */
	struct fe_object_meta meta;	/* the destination's metadata */
	char dst_backend[128];
	char *dst_name;
	char pending_id[24];		/* CopyObject: the destination's intent */
	struct checksum md5;
	char etag[CHECKSUM_HEX_BUF];
	struct backend_copy *copy;
	int client_gone;
};

static void
copy_free(struct fe_copy *c)
{
	free(c->src_bucket);
	free(c->src_key);
	free(c->src_backends);
	free(c->src_etag);
	free(c->dst_name);
	fe_object_meta_free(&c->meta);
	checksum_free(&c->md5);
	free(c);
}

static void
copy_ignore(PGresult *res, const char *errmsg, void *arg)
{
}

/* Release what the destination holds in the catalogue: fire and forget. */
static void
copy_release(struct fe_copy *c)
{
	struct fe_ctx *fe = c->r->fe;
	if (c->pending_id[0] == '\0')
		return;
	if (c->part) {
		char size[24];
		snprintf(size, sizeof(size), "%" PRIu64, c->len);
		const char *params[] = { c->dst_backend, size };
		pga_query(fe->db, "SELECT abort_part($1, $2::bigint)", 2, params, copy_ignore, NULL);
	} else {
		const char *params[] = { c->pending_id };
		pga_query(fe->db, "SELECT abort_put($1::bigint)", 1, params, copy_ignore, NULL);
	}
	c->pending_id[0] = '\0';
}

static void
copy_end(struct fe_copy *c, const char *code, const char *message)
{
	struct fe_req *r = c->r;
	int gone = c->client_gone;
	r->op = NULL;
	r->on_abort = NULL;
	copy_free(c);
	if (gone)
		fe_finish(r);
	else if (code != NULL)
		fe_error(r, code, message);
}

static void
copy_client_gone(struct fe_req *r)
{
	struct fe_copy *c = r->op;
	c->client_gone = 1;
	if (c->copy != NULL) {
		backend_copy_abort(c->copy);
		c->copy = NULL;
		copy_release(c);
		copy_end(c, NULL, NULL);
	}
	/* otherwise a catalogue call is in flight; its answer ends the request */
}

/* <CopyObjectResult> or <CopyPartResult> */
static void
copy_reply(struct fe_req *r, int part, const char *etag, time_t mtime)
{
	struct strbuf xml;
	char when[40];
	const char *root = part ? "CopyPartResult" : "CopyObjectResult";
	s3_time_iso8601(mtime, when, sizeof(when));
	strbuf_init(&xml);
	strbuf_printf(&xml, S3XML_DECL "<%s xmlns=\"" S3XML_NS "\">", root);
	s3xml_elem(&xml, "LastModified", when);
	strbuf_printf(&xml, "<ETag>&quot;%s&quot;</ETag></%s>", etag, root);
	fe_reply_xml(r, 200, &xml);
}

static void
copy_committed(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	struct fe_copy *c = r->op;
	int ok = res != NULL && strcmp(PQgetvalue(res, 0, 0), "OK") == 0;
	char etag[CHECKSUM_HEX_BUF];
	int part = c->part;
	snprintf(etag, sizeof(etag), "%s", c->etag);
	c->pending_id[0] = '\0';
	if (c->client_gone || !ok) {
		const char *code = res && strcmp(PQgetvalue(res, 0, 0), "NoSuchUpload") == 0 ?
		    "NoSuchUpload" : "ServiceUnavailable";
		copy_end(c, code, NULL);
		return;
	}
	r->op = NULL;
	r->on_abort = NULL;
	copy_free(c);
	copy_reply(r, part, etag, (time_t)clock_real_s());
}

static void
copy_commit(struct fe_copy *c)
{
	struct fe_req *r = c->r;
	char size[24];
	snprintf(size, sizeof(size), "%" PRIu64, c->len);
	if (c->part) {
		char part[16];
		snprintf(part, sizeof(part), "%d", c->part);
		const char *params[] = { fe_param(r, "uploadId"), c->dst_backend, r->bucket, r->key,
			part, size, size, c->etag, NULL, c->dst_name };
		fe_db(r, "SELECT commit_part($1, $2, $3, $4, $5::int, $6::bigint, $7::bigint, $8, "
		    "$9, $10)", 10, params, copy_committed);
		return;
	}
	const char *params[] = { c->pending_id, size, c->etag, c->meta.content_type,
		c->meta.headers_json, c->meta.meta_json, c->meta.tags_json, size };
	fe_db(r, "SELECT status FROM commit_put($1::bigint, $2::bigint, $3, $4, $5::jsonb, "
	    "$6::jsonb, $7::jsonb, NULL, NULL, $8::bigint, 'none', NULL, 0, "
	    "'s3:ObjectCreated:Copy')", 8, params, copy_committed);
}

static void
copy_tap(void *arg, const void *data, size_t len)
{
	struct fe_copy *c = arg;
	checksum_update(&c->md5, data, len);
}

static void
copy_done(void *arg, int err, const char *message)
{
	struct fe_copy *c = arg;
	c->copy = NULL;
	if (err != 0) {
		log_warnx("%s: copy from %s/%s failed: %s", c->r->http->request_id, c->src_bucket,
		    c->src_key, message);
		copy_release(c);
		copy_end(c, "InternalError", "The source could not be copied; retry.");
		return;
	}
	checksum_final_hex(&c->md5, c->etag);
	copy_commit(c);
}

/* The destination is taken: stream the bytes from the first source copy that opens. */
static void
copy_stream(struct fe_copy *c)
{
	struct fe_req *r = c->r;
	struct backend *dst = fe_backend(r->fe, c->dst_backend);
	char *list = xstrdup(c->src_backends), *save = NULL;
	char *first = strtok_r(list, "{},\"", &save);
	struct backend *src_be = first ? fe_backend(r->fe, first) : NULL;
	free(list);
	if (dst == NULL || src_be == NULL) {
		copy_release(c);
		copy_end(c, "InternalError", "The source or destination backend is not configured.");
		return;
	}
	char *src_name = xasprintf("%s/%s", c->src_bucket, c->src_key);
	const struct backend_copy_source src = { src_be, src_name, c->range.first,
		(int64_t)c->len };
	checksum_init(&c->md5, CHECKSUM_MD5);
	c->copy = backend_copy_start(&src, 1, dst, c->dst_name, (int64_t)c->len, copy_tap,
	    copy_done, c);
	free(src_name);
	/* a whole single-part source copies to the same MD5, so to the same ETag */
	if (c->copy != NULL && !c->part && strchr(c->src_etag, '-') == NULL)
		backend_copy_tag(c->copy, c->src_etag);
	if (c->copy == NULL) {
		copy_release(c);
		copy_end(c, "InternalError", "The copy could not start.");
	}
}

static void
copy_dest_taken(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	struct fe_copy *c = r->op;
	const char *status = res ? PQgetvalue(res, 0, 0) : "ServiceUnavailable";
	if (res != NULL && strcmp(status, "OK") == 0) {
		snprintf(c->dst_backend, sizeof(c->dst_backend), "%s", PQgetvalue(res, 0, 1));
		if (c->part) {
			snprintf(c->pending_id, sizeof(c->pending_id), "part");
			c->dst_name = xstrdup(PQgetvalue(res, 0, 2));
		} else {
			snprintf(c->pending_id, sizeof(c->pending_id), "%s", PQgetvalue(res, 0, 2));
			c->dst_name = xasprintf("%s/%s", r->bucket, r->key);
		}
	}
	if (c->client_gone) {
		copy_release(c);
		copy_end(c, NULL, NULL);
		return;
	}
	if (res == NULL || strcmp(status, "OK") != 0) {
		copy_end(c, strcmp(status, "Busy") == 0 ? "SlowDown" : status, NULL);
		return;
	}
	copy_stream(c);
}

static void
copy_take_dest(struct fe_copy *c)
{
	struct fe_req *r = c->r;
	const char *why = fe_take_destination(r, c->part, c->len, NULL, copy_dest_taken);
	if (why != NULL) {
		r->op = NULL;
		r->on_abort = NULL;
		copy_free(c);
		fe_error_no_backend(r, why);
	}
}

/* --- the source ------------------------------------------------------------------------ */

static void
copy_meta_updated(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	struct fe_copy *c = r->op;
	const char *status = res ? PQgetvalue(res, 0, 0) : "ServiceUnavailable";
	if (res == NULL || strcmp(status, "OK") != 0) {
		copy_end(c, status, NULL);
		return;
	}
	char etag[CHECKSUM_HEX_BUF + 8];
	snprintf(etag, sizeof(etag), "%s", PQgetvalue(res, 0, 1));
	r->op = NULL;
	r->on_abort = NULL;
	copy_free(c);
	copy_reply(r, 0, etag, (time_t)clock_real_s());
}

/* Keep the source's metadata (COPY) or take the request's (REPLACE). */
/*
 * The destination's metadata: the source's (x-amz-metadata-directive COPY, the default) or
 * the request's (REPLACE); its tags likewise by x-amz-tagging-directive, COPY by default
 * whatever the metadata directive says.
 */
static const char *
copy_dest_meta(struct fe_copy *c, PGresult *res)
{
	struct fe_object_meta req;
	const char *bad = fe_object_meta_parse(c->r, &req);
	if (bad != NULL) {
		fe_object_meta_free(&req);
		return bad;
	}
	const char *tagging = http_header(c->r->http, "x-amz-tagging-directive");
	int replace_tags = tagging != NULL && strcasecmp(tagging, "REPLACE") == 0;
	if (c->replace) {
		c->meta = req;
	} else {
		memset(&c->meta, 0, sizeof(c->meta));
		if (!PQgetisnull(res, 0, GO_CTYPE))
			c->meta.content_type = xstrdup(PQgetvalue(res, 0, GO_CTYPE));
		c->meta.headers_json = xstrdup(PQgetvalue(res, 0, GO_HEADERS));
		c->meta.meta_json = xstrdup(PQgetvalue(res, 0, GO_META));
		c->meta.tags_json = req.tags_json;
		req.tags_json = NULL;
		fe_object_meta_free(&req);
	}
	if (!replace_tags) {
		free(c->meta.tags_json);
		c->meta.tags_json = xstrdup(PQgetvalue(res, 0, GO_TAGS));
	}
	return NULL;
}

static const char *
copy_check_source(struct fe_copy *c, PGresult *res)
{
	struct fe_req *r = c->r;
	c->src_etag = xstrdup(PQgetvalue(res, 0, GO_ETAG));
	c->src_size = strtoull(PQgetvalue(res, 0, GO_SIZE), NULL, 10);
	c->src_mtime = strtoll(PQgetvalue(res, 0, GO_MTIME), NULL, 10);
	c->src_backends = xstrdup(PQgetvalue(res, 0, GO_BACKENDS));
	if (fe_conditionals(r, "x-amz-copy-source-", c->src_etag, (time_t)c->src_mtime) != 0)
		return "PreconditionFailed";
	const char *range = http_header(r->http, "x-amz-copy-source-range");
	if (c->part && range != NULL) {
		if (fe_parse_range(range, c->src_size, &c->range) == -1 || !c->range.present)
			return "InvalidRange";
	}
	c->len = c->range.present ? c->range.last - c->range.first + 1 : c->src_size;
	return c->part ? NULL : copy_dest_meta(c, res);
}

static void
copy_source_found(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	struct fe_copy *c = r->op;
	const char *status = res ? PQgetvalue(res, 0, GO_STATUS) : "ServiceUnavailable";
	if (res == NULL || strcmp(status, "OK") != 0) {
		copy_end(c, status, NULL);
		return;
	}
	const char *bad = copy_check_source(c, res);
	if (bad != NULL || c->client_gone) {
		copy_end(c, bad, NULL);
		return;
	}
	int self = !c->part && strcmp(c->src_bucket, r->bucket) == 0 &&
	    strcmp(c->src_key, r->key) == 0;
	if (self && !c->replace) {
		copy_end(c, "InvalidRequest", "This copy request is illegal because it is trying to "
		    "copy an object to itself without changing the object's metadata, storage "
		    "class, website redirect location or encryption attributes.");
		return;
	}
	if (self) {
		const char *params[] = { r->bucket, r->key, PQgetvalue(res, 0, GO_VERSION),
			c->meta.content_type, c->meta.headers_json, c->meta.meta_json,
			c->meta.tags_json };
		fe_db(r, "SELECT status, etag FROM update_object_meta($1, $2, $3::bigint, $4, "
		    "$5::jsonb, $6::jsonb, $7::jsonb)", 7, params, copy_meta_updated);
		return;
	}
	copy_take_dest(c);
}

/* x-amz-copy-source: "[/]bucket/key[?versionId=null]", URL-encoded. */
static int
copy_parse_source(struct fe_copy *c, const char *value)
{
	struct strbuf sb;
	strbuf_init(&sb);
	size_t len = strcspn(value, "?");
	if (sigv4_uri_decode(&sb, value, len, 0) == -1 || sb.data == NULL) {
		strbuf_free(&sb);
		return -1;
	}
	const char *p = sb.data[0] == '/' ? sb.data + 1 : sb.data;
	const char *slash = strchr(p, '/');
	if (slash == NULL || slash == p || slash[1] == '\0') {
		strbuf_free(&sb);
		return -1;
	}
	c->src_bucket = strndup(p, (size_t)(slash - p));
	c->src_key = xstrdup(slash + 1);
	strbuf_free(&sb);
	const char *version = strstr(value + len, "versionId=");
	return version == NULL || strcmp(version + 10, "null") == 0 ? 0 : -1;
}

static void
copy_start(struct fe_req *r, int part)
{
	struct fe_copy *c = xcalloc(1, sizeof(*c));
	c->r = r;
	c->part = part;
	const char *directive = http_header(r->http, "x-amz-metadata-directive");
	c->replace = directive != NULL && strcasecmp(directive, "REPLACE") == 0;
	r->op = c;
	r->on_abort = copy_client_gone;
	if (directive != NULL && !c->replace && strcasecmp(directive, "COPY") != 0) {
		copy_end(c, "InvalidArgument", "Unknown metadata directive.");
		return;
	}
	if (copy_parse_source(c, http_header(r->http, "x-amz-copy-source")) == -1) {
		copy_end(c, "InvalidArgument", "Copy Source must mention the source bucket and key: "
		    "sourcebucket/sourcekey");
		return;
	}
	if (!fe_bucket_allowed(r->cred, c->src_bucket)) {
		copy_end(c, "AccessDenied", NULL);
		return;
	}
	const char *params[] = { c->src_bucket, c->src_key };
	fe_db(r, "SELECT * FROM get_object($1, $2)", 2, params, copy_source_found);
}

void
fe_copy_object(struct fe_req *r)
{
	copy_start(r, 0);
}

void
fe_upload_part_copy(struct fe_req *r)
{
	int n = fe_part_number(r);
	if (n == 0) {
		fe_error_part_number(r);
		return;
	}
	copy_start(r, n);
}
