/*
 * fe_multipart.c: multipart uploads: CreateMultipartUpload, CompleteMultipartUpload,
 * AbortMultipartUpload, ListParts and ListMultipartUploads.  (UploadPart streams through
 * fe_put.c; UploadPartCopy is in fe_copy.c.)
 *
 * The upload's state lives in the catalogue (sql/004_multipart.sql), so any front end serves
 * any request of an upload.  Completion checks the part list in the catalogue, takes the
 * object's intent, streams the parts in order into the object on the upload's backend
 * (backend_copy), and commits it; the parts then go to cleanup_queue.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "backend_copy.h"
#include "checksum.h"
#include "fe.h"
#include "log.h"
#include "s3xml.h"
#include "xmlreq.h"

#define MPU_MIN_PART (5 * 1024 * 1024)
#define MPU_BODY_MAX (4 * 1024 * 1024)

/* --- CreateMultipartUpload ------------------------------------------------------------- */

static void
mpu_created(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (!fe_db_ok(r, res))
		return;
	struct strbuf xml;
	strbuf_init(&xml);
	strbuf_puts(&xml, S3XML_DECL "<InitiateMultipartUploadResult xmlns=\"" S3XML_NS "\">");
	s3xml_elem(&xml, "Bucket", r->bucket);
	s3xml_elem(&xml, "Key", r->key);
	s3xml_elem(&xml, "UploadId", PQgetvalue(res, 0, 1));
	strbuf_puts(&xml, "</InitiateMultipartUploadResult>");
	fe_reply_xml(r, 200, &xml);
}

void
fe_create_multipart(struct fe_req *r)
{
	struct fe_object_meta meta;
	const char *bad = fe_object_meta_parse(r, &meta);
	if (bad != NULL) {
		fe_object_meta_free(&meta);
		fe_error(r, bad, NULL);
		return;
	}
	const char *why;
	const char *candidates = fe_candidates(r->fe, &why);
	if (why != NULL) {
		fe_object_meta_free(&meta);
		fe_error_no_backend(r, why);
		return;
	}
	const char *params[] = { r->bucket, r->key, r->cred->access_key, candidates,
		fe_placement(r->fe), meta.content_type, meta.headers_json, meta.meta_json,
		meta.tags_json, meta.checksum_algo };
	fe_db(r, "SELECT status, upload_id FROM create_multipart($1, $2, $3, $4::text[], $5, $6, "
	    "$7::jsonb, $8::jsonb, $9::jsonb, $10)", 10, params, mpu_created);
	fe_object_meta_free(&meta);
}

/* --- CompleteMultipartUpload ----------------------------------------------------------- */

struct mpu_complete {
	struct fe_req *r;
	struct strbuf parts;		/* "{1,2,3}" */
	struct strbuf etags;		/* "{"a","b"}" */
	int nparts;
	int cur_part;
	char cur_etag[80];
	int bad;
	char pending_id[24];
	char etag[80];
	char *sizes;
	char *checksum_algo;		/* the upload's, or NULL */
	char checksum[CHECKSUM_B64_BUF + 12];	/* composite: over the parts' checksums, "-N" */
	uint64_t total;
	struct backend_copy *copy;
	struct fe_write_cond cond;
	int client_gone;
};

static void
mpu_complete_free(struct mpu_complete *c)
{
	strbuf_free(&c->parts);
	strbuf_free(&c->etags);
	free(c->sizes);
	free(c->checksum_algo);
	free(c);
}

static void
mpu_xml_open(void *arg, const char *path)
{
	struct mpu_complete *c = arg;
	if (strcmp(path, "CompleteMultipartUpload/Part") == 0) {
		c->cur_part = 0;
		c->cur_etag[0] = '\0';
	} else if (strchr(path, '/') == NULL && strcmp(path, "CompleteMultipartUpload") != 0) {
		c->bad = 1;
	}
}

/* ETags are accepted quoted and unquoted. */
static void
mpu_xml_close(void *arg, const char *path, const char *text)
{
	struct mpu_complete *c = arg;
	if (strcmp(path, "CompleteMultipartUpload/Part/PartNumber") == 0) {
		char *end;
		long n = strtol(text, &end, 10);
		c->cur_part = *end == '\0' && n >= 1 && n <= FE_MAX_PARTS ? (int)n : -1;
	} else if (strcmp(path, "CompleteMultipartUpload/Part/ETag") == 0) {
		size_t len = strlen(text);
		if (len >= 2 && text[0] == '"' && text[len - 1] == '"') {
			text++;
			len -= 2;
		}
		snprintf(c->cur_etag, sizeof(c->cur_etag), "%.*s", (int)len, text);
	} else if (strcmp(path, "CompleteMultipartUpload/Part") == 0) {
		if (c->cur_part <= 0 || c->cur_etag[0] == '\0' || ++c->nparts > FE_MAX_PARTS) {
			c->bad = 1;
			return;
		}
		strbuf_printf(&c->parts, "%s%d", c->parts.len > 1 ? "," : "", c->cur_part);
		strbuf_printf(&c->etags, "%s\"", c->etags.len > 1 ? "," : "");
		for (const char *p = c->cur_etag; *p; p++)
			if (*p != '"' && *p != '\\' && *p != ',' && *p != '{' && *p != '}')
				strbuf_append(&c->etags, p, 1);
		strbuf_puts(&c->etags, "\"");
	}
}

static void
mpu_complete_reply(struct fe_req *r, const char *etag, const char *algo, const char *checksum)
{
	struct strbuf xml;
	strbuf_init(&xml);
	char *location = xasprintf("/%s/%s", r->bucket, r->key);
	strbuf_puts(&xml, S3XML_DECL "<CompleteMultipartUploadResult xmlns=\"" S3XML_NS "\">");
	s3xml_elem(&xml, "Location", location);
	s3xml_elem(&xml, "Bucket", r->bucket);
	s3xml_elem(&xml, "Key", r->key);
	strbuf_printf(&xml, "<ETag>&quot;%s&quot;</ETag>", etag);
	if (algo != NULL && checksum != NULL && *checksum != '\0') {
		char name[32];
		snprintf(name, sizeof(name), "Checksum%s", algo);
		s3xml_elem(&xml, name, checksum);
		s3xml_elem(&xml, "ChecksumType", "COMPOSITE");
	}
	strbuf_puts(&xml, "</CompleteMultipartUploadResult>");
	free(location);
	fe_reply_xml(r, 200, &xml);
}

static void
mpu_ignore(PGresult *res, const char *errmsg, void *arg)
{
}

static void
mpu_complete_done(struct mpu_complete *c)
{
	struct fe_req *r = c->r;
	r->op = NULL;
	r->on_abort = NULL;
	mpu_complete_free(c);
	if (r->http->closed)
		fe_finish(r);
}

static void
mpu_committed(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	struct mpu_complete *c = r->op;
	char etag[80], algo[16] = "", checksum[sizeof(c->checksum)];
	snprintf(etag, sizeof(etag), "%s", c->etag);
	snprintf(checksum, sizeof(checksum), "%s", c->checksum);
	if (c->checksum_algo != NULL)
		snprintf(algo, sizeof(algo), "%s", c->checksum_algo);
	int ok = res != NULL && strcmp(PQgetvalue(res, 0, 0), "OK") == 0;
	int failed_condition = res != NULL && (strcmp(PQgetvalue(res, 0, 0),
	    "PreconditionFailed") == 0 || strcmp(PQgetvalue(res, 0, 0), "NoSuchKey") == 0);
	char status[32];
	snprintf(status, sizeof(status), "%s", res ? PQgetvalue(res, 0, 0) : "");
	if (ok)
		fe_delete_copies(r->fe, PQgetvalue(res, 0, 1));	/* the parts */
	mpu_complete_done(c);
	if (r->http->closed)
		return;
	if (failed_condition) {
		fe_error(r, status, NULL);
		return;
	}
	if (!ok) {
		log_warnx("%s: completing %s/%s: %s", r->http->request_id, r->bucket, r->key,
		    res ? PQgetvalue(res, 0, 0) : errmsg);
		fe_error(r, "ServiceUnavailable", "The upload could not be recorded; retry.");
		return;
	}
	mpu_complete_reply(r, etag, algo, checksum);
}

static void
mpu_assembled(void *arg, int err, const char *message)
{
	struct mpu_complete *c = arg;
	struct fe_req *r = c->r;
	c->copy = NULL;
	const char *upload_id = fe_param(r, "uploadId");
	if (err != 0) {
		log_warnx("%s: assembling %s/%s failed: %s", r->http->request_id, r->bucket, r->key,
		    message);
		const char *params[] = { upload_id, c->pending_id };
		pga_query(r->fe->db, "SELECT complete_failed($1, $2::bigint)", 2, params,
		    mpu_ignore, NULL);
		mpu_complete_done(c);
		if (!r->http->closed)
			fe_error(r, "InternalError", "The parts could not be assembled; retry.");
		return;
	}
	char total[24];
	snprintf(total, sizeof(total), "%" PRIu64, c->total);
	const char *params[] = { upload_id, c->pending_id, c->etag, total, c->sizes,
		c->cond.if_none_match, c->cond.if_match[0] ? c->cond.if_match : NULL,
		c->checksum[0] ? c->checksum : NULL };
	fe_db(r, "SELECT status, cleanup_ids FROM complete_commit($1, $2::bigint, $3, $4::bigint, "
	    "$5::bigint[], $6::boolean, $7, $8)", 8, params, mpu_committed);
}

/*
 * The checksum of a multipart object, as S3 computes it: the upload's algorithm over the
 * concatenated binary checksums of the parts, then "-N".  Nothing when a part has none.
 */
static void
mpu_composite_checksum(struct mpu_complete *c, const char *array)
{
	enum checksum_algo algo = checksum_algo_parse(c->checksum_algo);
	struct checksum st;
	if (algo == CHECKSUM_NONE || strstr(array, "NULL") != NULL || checksum_init(&st, algo))
		return;
	char *list = xstrdup(array), *save = NULL;
	int n = 0;
	for (char *b64 = strtok_r(list, "{},\"", &save); b64 != NULL;
	    b64 = strtok_r(NULL, "{},\"", &save)) {
		uint8_t raw[CHECKSUM_B64_BUF];
		size_t len = strlen(b64);
		int got = len < sizeof(raw) ? EVP_DecodeBlock(raw, (const unsigned char *)b64,
		    (int)len) : -1;
		if (got < 0)
			break;
		got -= (len > 0 && b64[len - 1] == '=') + (len > 1 && b64[len - 2] == '=');
		checksum_update(&st, raw, (size_t)got);
		n++;
	}
	free(list);
	char value[CHECKSUM_B64_BUF];
	checksum_final(&st, value);
	checksum_free(&st);
	if (n == c->nparts)
		snprintf(c->checksum, sizeof(c->checksum), "%s-%d", value, n);
}

/* The catalogue said the part list is good: stream the parts into the object. */
static void
mpu_assemble(struct mpu_complete *c, PGresult *res)
{
	struct fe_req *r = c->r;
	struct backend *be = fe_backend(r->fe, PQgetvalue(res, 0, 1));
	snprintf(c->pending_id, sizeof(c->pending_id), "%s", PQgetvalue(res, 0, 2));
	snprintf(c->etag, sizeof(c->etag), "%s", PQgetvalue(res, 0, 6));
	c->sizes = xstrdup(PQgetvalue(res, 0, 4));
	if (!PQgetisnull(res, 0, 8)) {
		c->checksum_algo = xstrdup(PQgetvalue(res, 0, 8));
		mpu_composite_checksum(c, PQgetvalue(res, 0, 9));
	}
	c->total = strtoull(PQgetvalue(res, 0, 5), NULL, 10);
	char *names = xstrdup(PQgetvalue(res, 0, 3));
	struct backend_copy_source *src = xcalloc((size_t)c->nparts + 1, sizeof(*src));
	size_t n = 0;
	char *save = NULL;
	for (char *name = strtok_r(names, "{},\"", &save); name != NULL && be != NULL;
	    name = strtok_r(NULL, "{},\"", &save)) {
		src[n].be = be;
		src[n].name = name;
		src[n].length = -1;
		n++;
	}
	char *dst = xasprintf("%s/%s", r->bucket, r->key);
	c->copy = be ? backend_copy_start(src, n, be, dst, (int64_t)c->total, NULL,
	    mpu_assembled, c) : NULL;
	free(dst);
	free(src);
	free(names);
	if (c->copy != NULL)
		backend_copy_tag(c->copy, c->etag);
	if (c->copy == NULL)
		backend_defer_done(r->fe->base, mpu_assembled, c, EIO, "cannot start assembling");
}

static void
mpu_complete_checked(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	struct mpu_complete *c = r->op;
	if (res == NULL) {
		mpu_complete_done(c);
		fe_error(r, "ServiceUnavailable", NULL);
		return;
	}
	const char *status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "OK") == 0) {
		mpu_assemble(c, res);
		return;
	}
	char etag[80];
	snprintf(etag, sizeof(etag), "%s", PQgetvalue(res, 0, 6));
	mpu_complete_done(c);
	if (strcmp(status, "Completed") == 0)
		mpu_complete_reply(r, etag, NULL, NULL);	/* a repeat answers the same again */
	else
		fe_error_status(r, status);
}

static void
mpu_complete_gone(struct fe_req *r)
{
	struct mpu_complete *c = r->op;
	c->client_gone = 1;	/* the completion goes on; nobody gets the answer */
}

static void
mpu_complete_body(struct fe_req *r)
{
	struct mpu_complete *c = xcalloc(1, sizeof(*c));
	c->r = r;
	strbuf_init(&c->parts);
	strbuf_init(&c->etags);
	strbuf_puts(&c->parts, "{");
	strbuf_puts(&c->etags, "{");
	const struct xmlreq_cbs cbs = { mpu_xml_open, mpu_xml_close };
	const char *why = NULL;
	if (xmlreq_parse(r->body.data ? r->body.data : "", r->body.len, &cbs, c, &why) == -1 ||
	    c->bad || c->nparts == 0) {
		mpu_complete_free(c);
		fe_error(r, "MalformedXML", why);
		return;
	}
	strbuf_puts(&c->parts, "}");
	strbuf_puts(&c->etags, "}");
	if (fe_write_conditions(r, &c->cond) == -1) {
		mpu_complete_free(c);
		fe_error(r, "NotImplemented", "A header you provided implies functionality that is "
		    "not implemented: If-None-Match takes only *.");
		return;
	}
	r->op = c;
	r->on_abort = mpu_complete_gone;
	char min_part[24];
	snprintf(min_part, sizeof(min_part), "%d", MPU_MIN_PART);
	const char *params[] = { r->bucket, r->key, fe_param(r, "uploadId"), c->parts.data,
		c->etags.data, r->fe->owner, min_part, c->cond.if_none_match,
		c->cond.if_match[0] ? c->cond.if_match : NULL };
	fe_db(r, "SELECT status, backend, pending_id, names, sizes, total, etag, bad_part, "
	    "checksum_algo, checksums "
	    "FROM complete_begin($1, $2, $3, $4::int[], $5::text[], $6, $7::bigint, $8::boolean, "
	    "$9)", 9, params, mpu_complete_checked);
}

void
fe_complete_multipart(struct fe_req *r)
{
	fe_read_small_body(r, MPU_BODY_MAX, mpu_complete_body);
}

/* --- AbortMultipartUpload -------------------------------------------------------------- */

static void
mpu_aborted(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (!fe_db_ok(r, res))
		return;
	fe_delete_copies(r->fe, PQgetvalue(res, 0, 1));
	fe_reply_empty(r, 204, NULL);
}

void
fe_abort_multipart(struct fe_req *r)
{
	const char *params[] = { r->bucket, r->key, fe_param(r, "uploadId") };
	fe_db(r, "SELECT status, cleanup_ids FROM abort_multipart($1, $2, $3)", 3, params,
	    mpu_aborted);
}

/* --- ListParts ------------------------------------------------------------------------- */

static long
mpu_int_param(struct fe_req *r, const char *name, long dflt, long max)
{
	const char *v = fe_param(r, name);
	if (v == NULL || *v == '\0')
		return dflt;
	char *end;
	long n = strtol(v, &end, 10);
	if (*end != '\0' || n < 0)
		return -1;
	return n > max ? max : n;
}

static void
mpu_parts_listed(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (res == NULL) {
		fe_error(r, "ServiceUnavailable", NULL);
		return;
	}
	if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "OK") != 0) {
		fe_error(r, "NoSuchUpload", NULL);
		return;
	}
	long max = mpu_int_param(r, "max-parts", 1000, 1000);
	int rows = PQntuples(res) - 1;
	int truncated = rows > max;
	int count = truncated ? (int)max : rows;
	struct strbuf xml;
	strbuf_init(&xml);
	strbuf_puts(&xml, S3XML_DECL "<ListPartsResult xmlns=\"" S3XML_NS "\">");
	s3xml_elem(&xml, "Bucket", r->bucket);
	s3xml_elem(&xml, "Key", r->key);
	s3xml_elem(&xml, "UploadId", fe_param(r, "uploadId"));
	const char *marker = fe_param(r, "part-number-marker");
	strbuf_printf(&xml, "<PartNumberMarker>%s</PartNumberMarker>", marker ? marker : "0");
	if (count > 0)
		strbuf_printf(&xml, "<NextPartNumberMarker>%s</NextPartNumberMarker>",
		    PQgetvalue(res, count, 1));
	strbuf_printf(&xml, "<MaxParts>%ld</MaxParts><IsTruncated>%s</IsTruncated>", max,
	    truncated ? "true" : "false");
	strbuf_puts(&xml, "<StorageClass>STANDARD</StorageClass>");
	for (int i = 1; i <= count; i++) {
		char when[40];
		s3_time_iso8601((time_t)strtoll(PQgetvalue(res, i, 4), NULL, 10), when, sizeof(when));
		strbuf_printf(&xml, "<Part><PartNumber>%s</PartNumber>", PQgetvalue(res, i, 1));
		s3xml_elem(&xml, "LastModified", when);
		strbuf_printf(&xml, "<ETag>&quot;%s&quot;</ETag><Size>%s</Size></Part>",
		    PQgetvalue(res, i, 3), PQgetvalue(res, i, 2));
	}
	strbuf_puts(&xml, "</ListPartsResult>");
	fe_reply_xml(r, 200, &xml);
}

void
fe_list_parts(struct fe_req *r)
{
	long max = mpu_int_param(r, "max-parts", 1000, 1000);
	long marker = mpu_int_param(r, "part-number-marker", 0, FE_MAX_PARTS);
	if (max < 0 || marker < 0) {
		fe_error(r, "InvalidArgument", NULL);
		return;
	}
	char smax[24], smarker[24];
	snprintf(smax, sizeof(smax), "%ld", max);
	snprintf(smarker, sizeof(smarker), "%ld", marker);
	const char *params[] = { r->bucket, r->key, fe_param(r, "uploadId"), smarker, smax };
	/* the first row says whether the upload exists; the parts follow */
	fe_db(r, "SELECT 'OK', 0, 0, '', 0 FROM multipart_uploads WHERE upload_id = $3 "
	    "AND bucket = $1 AND key = $2 AND state = 'open' "
	    "UNION ALL (SELECT 'part', part_number, size, etag, "
	    "extract(epoch FROM created_at)::bigint FROM multipart_parts "
	    "WHERE upload_id = $3 AND part_number > $4::int AND EXISTS (SELECT 1 FROM "
	    "multipart_uploads WHERE upload_id = $3 AND bucket = $1 AND key = $2) "
	    "ORDER BY part_number LIMIT $5::int + 1)", 5, params, mpu_parts_listed);
}

/* --- ListMultipartUploads -------------------------------------------------------------- */

static void
mpu_uploads_listed(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (res == NULL) {
		fe_error(r, "ServiceUnavailable", NULL);
		return;
	}
	long max = mpu_int_param(r, "max-uploads", 1000, 1000);
	int rows = PQntuples(res);
	int truncated = rows > max;
	int count = truncated ? (int)max : rows;
	const char *key_marker = fe_param(r, "key-marker");
	const char *upload_marker = fe_param(r, "upload-id-marker");
	const char *prefix = fe_param(r, "prefix");
	struct strbuf xml;
	strbuf_init(&xml);
	strbuf_puts(&xml, S3XML_DECL "<ListMultipartUploadsResult xmlns=\"" S3XML_NS "\">");
	s3xml_elem(&xml, "Bucket", r->bucket);
	s3xml_elem(&xml, "KeyMarker", key_marker ? key_marker : "");
	s3xml_elem(&xml, "UploadIdMarker", upload_marker ? upload_marker : "");
	if (truncated && count > 0) {
		s3xml_elem(&xml, "NextKeyMarker", PQgetvalue(res, count - 1, 0));
		s3xml_elem(&xml, "NextUploadIdMarker", PQgetvalue(res, count - 1, 1));
	}
	s3xml_elem(&xml, "Prefix", prefix ? prefix : "");
	strbuf_printf(&xml, "<MaxUploads>%ld</MaxUploads><IsTruncated>%s</IsTruncated>", max,
	    truncated ? "true" : "false");
	for (int i = 0; i < count; i++) {
		char when[40];
		s3_time_iso8601((time_t)strtoll(PQgetvalue(res, i, 3), NULL, 10), when, sizeof(when));
		strbuf_puts(&xml, "<Upload>");
		s3xml_elem(&xml, "Key", PQgetvalue(res, i, 0));
		s3xml_elem(&xml, "UploadId", PQgetvalue(res, i, 1));
		strbuf_puts(&xml, "<Initiator>");
		s3xml_elem(&xml, "ID", PQgetvalue(res, i, 2));
		s3xml_elem(&xml, "DisplayName", PQgetvalue(res, i, 2));
		strbuf_puts(&xml, "</Initiator><Owner>");
		s3xml_elem(&xml, "ID", PQgetvalue(res, i, 2));
		s3xml_elem(&xml, "DisplayName", PQgetvalue(res, i, 2));
		strbuf_puts(&xml, "</Owner><StorageClass>STANDARD</StorageClass>");
		s3xml_elem(&xml, "Initiated", when);
		strbuf_puts(&xml, "</Upload>");
	}
	strbuf_puts(&xml, "</ListMultipartUploadsResult>");
	fe_reply_xml(r, 200, &xml);
}

void
fe_list_multipart(struct fe_req *r)
{
	long max = mpu_int_param(r, "max-uploads", 1000, 1000);
	if (max < 0) {
		fe_error(r, "InvalidArgument", NULL);
		return;
	}
	char smax[24];
	snprintf(smax, sizeof(smax), "%ld", max);
	const char *prefix = fe_param(r, "prefix");
	const char *key_marker = fe_param(r, "key-marker");
	const char *upload_marker = fe_param(r, "upload-id-marker");
	const char *params[] = { r->bucket, prefix ? prefix : "", key_marker ? key_marker : "",
		upload_marker ? upload_marker : "", smax };
	fe_db(r, "SELECT * FROM list_multipart($1, $2, $3, $4, $5::int)", 5, params,
	    mpu_uploads_listed);
}
