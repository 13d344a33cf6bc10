/*
 * fe_request.c: one S3 request from head to finish: addressing (path-style and
 * virtual-host-style), query parameters, SigV4 authentication (header and presigned),
 * dispatch to the operation, S3 XML error replies, and the access log line.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "checksum.h"
#include "fe.h"
#include "log.h"
#include "s3xml.h"

/* --- replies --------------------------------------------------------------------------- */

static void
fe_req_free(struct fe_req *r)
{
	for (size_t i = 0; i < r->nparams; i++) {
		free(r->params[i].name);
		free(r->params[i].value);
	}
	free(r->params);
	free(r->bucket);
	free(r->key);
	strbuf_free(&r->body);
	free(r);
}

void
fe_finish(struct fe_req *r)
{
	struct http_request *http = r->http;
	if (r->finished)
		return;
	r->finished = 1;
	if (r->dbq != NULL) {
		pga_cancel(r->dbq);
		r->dbq = NULL;
	}
	if (r->retry != NULL) {
		event_free(r->retry);
		r->retry = NULL;
	}
	log_info("%s %s %s %d %llu/%llu %lldms %s%s", http->remote, http->method, http->target,
	    http->status, (unsigned long long)http->bytes_in, (unsigned long long)http->bytes_out,
	    (long long)(clock_mono_ms() - http->started_ms), http->request_id,
	    http->closed ? " (client gone)" : "");
	http->handler_data = NULL;
	http->on_abort = NULL;
	http->on_drain = NULL;
	http_request_finish(http);
	fe_req_free(r);
}

static char *
fe_resource(const struct fe_req *r)
{
	if (r->bucket == NULL)
		return xstrdup("/");
	return xasprintf("/%s%s%s", r->bucket, r->key ? "/" : "", r->key ? r->key : "");
}

void
fe_error_http(struct fe_req *r, const char *code, int status, const char *message)
{
	struct http_request *http = r->http;
	if (http->response_started) {
		/* too late for a status: cut the connection so the client sees the failure */
		log_warnx("%s: %s after the response began; closing", http->request_id, code);
		http->keep_alive = 0;
		http_response_end(http);
		fe_finish(r);
		return;
	}
	struct strbuf xml;
	strbuf_init(&xml);
	char *resource = fe_resource(r);
	s3xml_error(&xml, code, message, resource, http->request_id);
	free(resource);
	int head = strcmp(http->method, "HEAD") == 0;
	const char *headers[] = { "Content-Type", "application/xml", NULL };
	if (status >= 500 || status == 403 || status == 429)
		log_info("%s: %s: %s", http->request_id, code,
		    message ? message : s3_error_find(code)->message);
	http_response_start(http, status, head ? 0 : (int64_t)xml.len, headers);
	if (!head)
		http_response_write(http, xml.data, xml.len);
	http_response_end(http);
	strbuf_free(&xml);
	fe_finish(r);
}

void
fe_error(struct fe_req *r, const char *code, const char *message)
{
	fe_error_http(r, code, s3_error_find(code)->status, message);
}

int
fe_db_ok(struct fe_req *r, PGresult *res)
{
	if (res == NULL) {
		fe_error(r, "ServiceUnavailable", NULL);
		return 0;
	}
	const char *status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "OK") != 0) {
		fe_error_status(r, status);
		return 0;
	}
	return 1;
}

void
fe_error_no_backend(struct fe_req *r, const char *why)
{
	if (strcmp(why, "SlowDown") == 0)
		fe_error_http(r, "SlowDown", 429, "Every backend that could take this request is "
		    "over its monthly limits; retry later.");
	else
		fe_error(r, "ServiceUnavailable", "No backend can be reached; retry later.");
}

void
fe_error_status(struct fe_req *r, const char *status)
{
	if (strcmp(status, "Busy") == 0)
		fe_error(r, "SlowDown", "Another write of this key is in progress; retry.");
	else
		fe_error(r, status, NULL);
}

void
fe_reply_xml(struct fe_req *r, int status, struct strbuf *xml)
{
	const char *headers[] = { "Content-Type", "application/xml", NULL };
	http_response_start(r->http, status, (int64_t)xml->len, headers);
	http_response_write(r->http, xml->data, xml->len);
	http_response_end(r->http);
	strbuf_free(xml);
	fe_finish(r);
}

void
fe_reply_empty(struct fe_req *r, int status, const char *const *headers)
{
	http_response_start(r->http, status, 0, headers);
	http_response_end(r->http);
	fe_finish(r);
}

/* --- catalogue calls ------------------------------------------------------------------- */

struct fe_db_call {
	struct fe_req *r;
	pga_cb cb;
};

static void
fe_db_done(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_db_call *call = arg;
	struct fe_req *r = call->r;
	pga_cb cb = call->cb;
	free(call);
	r->dbq = NULL;
	cb(res, errmsg, r);
}

void
fe_db(struct fe_req *r, const char *sql, int nparams, const char *const *values, pga_cb cb)
{
	struct fe_db_call *call = xmalloc(sizeof(*call));
	call->r = r;
	call->cb = cb;
	r->dbq = pga_query(r->fe->db, sql, nparams, values, fe_db_done, call);
}

/* --- small bodies ---------------------------------------------------------------------- */

struct fe_small_body {
	size_t limit;
	int chunked;
	int too_big;
	struct sigv4_chunked dec;
};

static void
fe_small_body_data(struct http_request *http, const char *data, size_t len, void *arg)
{
	struct fe_req *r = arg;
	struct fe_small_body *sb = r->op;
	if (sb->too_big)
		return;
	if (!sb->chunked) {
		strbuf_append(&r->body, data, len);
	} else {
		while (len > 0 && sb->dec.err == SIGV4_OK) {
			size_t used, n;
			const uint8_t *span;
			enum sigv4_chunked_event ev = sigv4_chunked_feed(&sb->dec, data, len, &used,
			    &span, &n);
			data += used;
			len -= used;
			if (ev == SIGV4_CHUNKED_DATA)
				strbuf_append(&r->body, span, n);
			if (ev == SIGV4_CHUNKED_NEED_MORE || ev == SIGV4_CHUNKED_ERROR)
				break;
		}
	}
	if (r->body.len > sb->limit)
		sb->too_big = 1;
}

/* Content-MD5, when the client sent one (DeleteObjects requires it on AWS). */
static int
fe_small_body_md5_ok(const struct fe_req *r)
{
	const char *b64 = http_header(r->http, "content-md5");
	if (b64 == NULL)
		return 1;
	struct checksum md5;
	char got[CHECKSUM_B64_BUF];
	checksum_init(&md5, CHECKSUM_MD5);
	checksum_update(&md5, r->body.data ? r->body.data : "", r->body.len);
	checksum_final(&md5, got);
	checksum_free(&md5);
	return strcmp(got, b64) == 0;
}

static void
fe_small_body_end(struct http_request *http, void *arg)
{
	struct fe_req *r = arg;
	struct fe_small_body *sb = r->op;
	int chunk_error = sb->chunked &&
	    (sb->dec.err != SIGV4_OK || sigv4_chunked_finish(&sb->dec) != SIGV4_CHUNKED_DONE);
	int too_big = sb->too_big;
	if (sb->chunked)
		sigv4_chunked_free(&sb->dec);
	free(sb);
	r->op = NULL;
	if (too_big)
		fe_error(r, "MaxMessageLengthExceeded", NULL);
	else if (chunk_error)
		fe_error(r, "SignatureDoesNotMatch", "The streamed body's chunk signatures do not verify.");
	else if (!fe_small_body_md5_ok(r))
		fe_error(r, "BadDigest", NULL);
	else
		r->on_body(r);
}

void
fe_read_small_body(struct fe_req *r, size_t limit, fe_req_cb cb)
{
	struct fe_small_body *sb = xcalloc(1, sizeof(*sb));
	enum sigv4_chunked_mode mode;
	sb->limit = limit;
	if (!r->http->chunked && r->http->content_length > limit) {
		free(sb);
		fe_error(r, "MaxMessageLengthExceeded", NULL);
		return;
	}
	if (sigv4_chunked_mode_parse(r->content_sha256, &mode) == 0) {
		sb->chunked = 1;
		sigv4_chunked_init(&sb->dec, mode);
		if (mode != SIGV4_CHUNKED_UNSIGNED_TRAILER)
			sigv4_chunked_set_verify(&sb->dec, r->signing_key, r->auth.amz_date,
			    r->scope, r->seed_signature);
	}
	r->op = sb;
	r->on_body = cb;
	const struct http_body_cbs cbs = { fe_small_body_data, fe_small_body_end };
	http_body_read(r->http, &cbs, r);
}

/* --- addressing ------------------------------------------------------------------------ */

const char *
fe_param(const struct fe_req *r, const char *name)
{
	for (size_t i = 0; i < r->nparams; i++)
		if (strcmp(r->params[i].name, name) == 0)
			return r->params[i].value;
	return NULL;
}

int
fe_has_param(const struct fe_req *r, const char *name)
{
	return fe_param(r, name) != NULL;
}

int
fe_part_number(const struct fe_req *r)
{
	const char *param = fe_param(r, "partNumber");
	if (param == NULL)
		return 0;
	char *end;
	long n = strtol(param, &end, 10);
	return *param != '\0' && *end == '\0' && n >= 1 && n <= FE_MAX_PARTS ? (int)n : 0;
}

void
fe_error_part_number(struct fe_req *r)
{
	fe_error(r, "InvalidArgument", "Part number must be an integer between 1 and 10000, "
	    "inclusive");
}

int
fe_next_pair(const char **p, char **name, char **value)
{
	if (**p == '\0')
		return 0;
	size_t len = strcspn(*p, "&");
	const char *eq = memchr(*p, '=', len);
	size_t nlen = eq ? (size_t)(eq - *p) : len;
	struct strbuf n, v;
	strbuf_init(&n);
	strbuf_init(&v);
	if (sigv4_uri_decode(&n, *p, nlen, 1) == -1 ||
	    (eq && sigv4_uri_decode(&v, eq + 1, len - nlen - 1, 1) == -1)) {
		strbuf_free(&n);
		strbuf_free(&v);
		return -1;
	}
	*name = strbuf_detach(&n);
	*value = strbuf_detach(&v);
	*p += len;
	if (**p == '&')
		(*p)++;
	return 1;
}

static int
fe_parse_query(struct fe_req *r, const char *query)
{
	const char *p = query;
	char *name, *value;
	int rc;
	while ((rc = fe_next_pair(&p, &name, &value)) == 1) {
		if (name[0] == '\0') {
			free(name);
			free(value);
			continue;
		}
		r->params = xreallocarray(r->params, r->nparams + 1, sizeof(*r->params));
		r->params[r->nparams].name = name;
		r->params[r->nparams].value = value;
		r->nparams++;
	}
	return rc;
}

int
fe_bucket_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len < 3 || len > 63)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' || c == '.'))
			return 0;
		if (c == '.' && (name[i + 1] == '.' || name[i + 1] == '-' || (i > 0 && name[i - 1] == '-')))
			return 0;
	}
	if (!isalnum((unsigned char)name[0]) || !isalnum((unsigned char)name[len - 1]))
		return 0;
	int dots = 0, digits_only = 1;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '.')
			dots++;
		else if (!isdigit((unsigned char)name[i]))
			digits_only = 0;
	}
	return !(dots == 3 && digits_only);	/* not an IP address */
}

/* The bucket from a virtual-host-style Host ("bucket.localhost:9000"), or NULL. */
static char *
fe_host_bucket(const struct fe_req *r)
{
	const char *host = http_header(r->http, "host");
	if (host == NULL)
		return NULL;
	size_t hlen = strcspn(host, ":");
	static const char *const domains[] = { "localhost", "s3.localhost" };
	for (size_t i = 0; i < nitems(domains); i++) {
		size_t dlen = strlen(domains[i]);
		if (hlen > dlen + 1 && host[hlen - dlen - 1] == '.' &&
		    strncasecmp(host + hlen - dlen, domains[i], dlen) == 0) {
			char *bucket = xmalloc(hlen - dlen);
			memcpy(bucket, host, hlen - dlen - 1);
			bucket[hlen - dlen - 1] = '\0';
			if (strcmp(bucket, "s3") != 0)
				return bucket;
			free(bucket);
		}
	}
	return NULL;
}

/* Split the decoded path into bucket and key.  Returns 0, or -1 for a bad escape. */
static int
fe_parse_target(struct fe_req *r)
{
	struct strbuf path;
	strbuf_init(&path);
	const char *raw = r->http->path;
	if (sigv4_uri_decode(&path, raw, strlen(raw), 0) == -1 || memchr(path.data ? path.data : "",
	    '\0', path.len) != NULL) {
		strbuf_free(&path);
		return -1;
	}
	const char *p = path.data ? path.data : "/";
	if (*p == '/')
		p++;
	char *vhost = fe_host_bucket(r);
	if (vhost != NULL) {
		r->bucket = vhost;
		if (*p != '\0')
			r->key = xstrdup(p);
	} else if (*p != '\0') {
		const char *slash = strchr(p, '/');
		r->bucket = slash ? strndup(p, (size_t)(slash - p)) : xstrdup(p);
		if (slash != NULL && slash[1] != '\0')
			r->key = xstrdup(slash + 1);
	}
	strbuf_free(&path);
	return 0;
}

/* --- authentication -------------------------------------------------------------------- */

int
fe_bucket_allowed(const struct cfg_credential *cred, const char *bucket)
{
	for (size_t i = 0; i < cred->nbuckets; i++)
		if (strcmp(cred->buckets[i], "*") == 0 || strcmp(cred->buckets[i], bucket) == 0)
			return 1;
	return 0;
}

static const char *
fe_auth_error_code(enum sigv4_err err, int presigned)
{
	switch (err) {
	case SIGV4_ERR_SKEW: return "RequestTimeTooSkewed";
	case SIGV4_ERR_EXPIRED: case SIGV4_ERR_NOT_YET_VALID: return "AccessDenied";
	case SIGV4_ERR_MISMATCH: return "SignatureDoesNotMatch";
	case SIGV4_ERR_MISSING_HEADER: return "AccessDenied";
	case SIGV4_ERR_URI: return "InvalidRequest";
	default:
		return presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed";
	}
}

static void
fe_auth_headers(const struct fe_req *r, struct sigv4_header *out)
{
	for (size_t i = 0; i < r->http->nheaders; i++) {
		out[i].name = r->http->headers[i].name;
		out[i].value = r->http->headers[i].value;
	}
}

/*
 * The request's signing key.  Deriving one takes four HMACs, a tenth of the front end's
 * time for a small GET, and one key serves a credential for a whole day: the last
 * FE_KEY_CACHE keys are kept (the credentials live as long as the process: a new
 * configuration means new front ends).
 */
static void
fe_signing_key(struct fe_req *r)
{
	struct fe_ctx *fe = r->fe;
	const struct sigv4_auth *a = &r->auth;
	for (size_t i = 0; i < FE_KEY_CACHE; i++) {
		const struct fe_signing_key *k = &fe->keys[i];
		if (k->cred == r->cred && strcmp(k->date, a->date) == 0 &&
		    strcmp(k->region, a->region) == 0 && strcmp(k->service, a->service) == 0) {
			memcpy(r->signing_key, k->key, SIGV4_KEY_LEN);
			return;
		}
	}
	sigv4_signing_key(r->signing_key, r->cred->secret_key, a->date, a->region, a->service);
	struct fe_signing_key *k = &fe->keys[fe->next_key++ % FE_KEY_CACHE];
	k->cred = r->cred;
	snprintf(k->date, sizeof(k->date), "%s", a->date);
	snprintf(k->region, sizeof(k->region), "%s", a->region);
	snprintf(k->service, sizeof(k->service), "%s", a->service);
	memcpy(k->key, r->signing_key, SIGV4_KEY_LEN);
}

/* Authenticate; on failure the error is sent and -1 returned. */
static int
fe_authenticate(struct fe_req *r)
{
	struct http_request *http = r->http;
	const char *authz = http_header(http, "authorization");
	enum sigv4_err err;
	if (authz != NULL && strncmp(authz, "AWS ", 4) == 0) {
		fe_error(r, "InvalidRequest", "The authorization mechanism you have provided is not "
		    "supported. Please use AWS4-HMAC-SHA256.");
		return -1;
	}
	if (authz != NULL) {
		err = sigv4_parse_authorization(authz, &r->auth);
		if (err == SIGV4_OK)
			err = sigv4_auth_set_date(&r->auth, http_header(http, "x-amz-date"),
			    http_header(http, "date"));
		r->content_sha256 = http_header(http, "x-amz-content-sha256");
		if (err == SIGV4_OK && r->content_sha256 == NULL) {
			fe_error(r, "InvalidRequest", "Missing required header for this request: "
			    "x-amz-content-sha256");
			return -1;
		}
	} else {
		err = sigv4_parse_presigned(http->query, &r->auth);
		if (err == SIGV4_ERR_ABSENT) {
			fe_error(r, "AccessDenied", "Anonymous access is not allowed; sign the request.");
			return -1;
		}
		r->content_sha256 = http_header(http, "x-amz-content-sha256");
		if (r->content_sha256 == NULL)
			r->content_sha256 = SIGV4_UNSIGNED_PAYLOAD;
	}
	if (err == SIGV4_OK && !sigv4_signed_headers_has(r->auth.signed_headers, "host"))
		err = SIGV4_ERR_MALFORMED;
	if (err != SIGV4_OK) {
		fe_error(r, fe_auth_error_code(err, r->auth.presigned), sigv4_strerror(err));
		return -1;
	}
	r->cred = config_credential(r->fe->cfg, r->auth.access_key);
	if (r->cred == NULL) {
		fe_error(r, "InvalidAccessKeyId", NULL);
		return -1;
	}
	err = sigv4_check_time(&r->auth, clock_real_s());
	if (err != SIGV4_OK) {
		fe_error(r, fe_auth_error_code(err, r->auth.presigned),
		    err == SIGV4_ERR_EXPIRED ? "Request has expired" : sigv4_strerror(err));
		return -1;
	}
	fe_signing_key(r);
	sigv4_scope(r->scope, r->auth.date, r->auth.region, r->auth.service);
	struct sigv4_header *headers = xcalloc(http->nheaders + 1, sizeof(*headers));
	fe_auth_headers(r, headers);
	const struct sigv4_request sreq = {
		.method = http->method, .path = http->path, .path_mode = SIGV4_PATH_REENCODE,
		.query = http->query, .headers = headers, .nheaders = http->nheaders,
		.payload_hash = r->content_sha256,
	};
	err = sigv4_verify(&r->auth, &sreq, r->signing_key, r->seed_signature, NULL, NULL);
	free(headers);
	if (err != SIGV4_OK) {
		fe_error(r, fe_auth_error_code(err, r->auth.presigned), NULL);
		return -1;
	}
	return 0;
}

/* --- dispatch -------------------------------------------------------------------------- */

static void
fe_http_abort(struct http_request *http, void *arg)
{
	struct fe_req *r = arg;
	if (r->on_abort != NULL) {
		r->on_abort(r);
		return;
	}
	fe_finish(r);
}

static void
fe_dispatch_service(struct fe_req *r, const char *method)
{
	if (strcmp(method, "GET") == 0)
		fe_list_buckets(r);
	else
		fe_error(r, "MethodNotAllowed", NULL);
}

static int
fe_is(const char *method, const char *want)
{
	return strcmp(method, want) == 0;
}

static void
fe_dispatch_bucket(struct fe_req *r, const char *m)
{
	if (fe_is(m, "GET") && fe_has_param(r, "location"))
		fe_get_bucket_location(r);
	else if (fe_is(m, "GET") && fe_has_param(r, "uploads"))
		fe_list_multipart(r);
	else if (fe_is(m, "GET") && fe_has_param(r, "versioning"))
		fe_get_bucket_versioning(r);
	else if (fe_is(m, "GET") && fe_has_param(r, "acl"))
		fe_get_acl(r);
	else if (fe_is(m, "PUT") && fe_has_param(r, "acl"))
		fe_put_acl(r);
	else if (fe_is(m, "POST") && fe_has_param(r, "delete"))
		fe_delete_objects(r);
	else if (fe_is(m, "GET") && (r->nparams == 0 || fe_has_param(r, "versions") ||
	    fe_has_param(r, "list-type") || fe_has_param(r, "prefix") ||
	    fe_has_param(r, "delimiter") || fe_has_param(r, "marker") ||
	    fe_has_param(r, "max-keys") || fe_has_param(r, "encoding-type") ||
	    fe_has_param(r, "start-after") || fe_has_param(r, "continuation-token") ||
	    fe_has_param(r, "fetch-owner") || fe_has_param(r, "key-marker")))
		fe_list_objects(r);
	else if (fe_is(m, "PUT") && r->nparams == 0)
		fe_create_bucket(r);
	else if (fe_is(m, "DELETE") && r->nparams == 0)
		fe_delete_bucket(r);
	else if (fe_is(m, "HEAD"))
		fe_head_bucket(r);
	else if (fe_is(m, "GET") || fe_is(m, "PUT") || fe_is(m, "DELETE") || fe_is(m, "POST"))
		fe_error(r, "NotImplemented", "This bucket operation is not implemented.");
	else
		fe_error(r, "MethodNotAllowed", NULL);
}

/* ?uploads, ?uploadId=...: the multipart operations. */
static int
fe_dispatch_multipart(struct fe_req *r, const char *m)
{
	int upload = fe_has_param(r, "uploadId");
	int copy = http_header(r->http, "x-amz-copy-source") != NULL;
	if (fe_is(m, "POST") && fe_has_param(r, "uploads"))
		fe_create_multipart(r);
	else if (fe_is(m, "POST") && upload)
		fe_complete_multipart(r);
	else if (fe_is(m, "PUT") && upload && copy)
		fe_upload_part_copy(r);
	else if (fe_is(m, "PUT") && upload)
		fe_upload_part(r);
	else if (fe_is(m, "DELETE") && upload)
		fe_abort_multipart(r);
	else if (fe_is(m, "GET") && upload)
		fe_list_parts(r);
	else
		return 0;
	return 1;
}

static int
fe_dispatch_subresource(struct fe_req *r, const char *m)
{
	if (fe_has_param(r, "tagging")) {
		if (fe_is(m, "PUT"))
			fe_put_object_tagging(r);
		else if (fe_is(m, "GET"))
			fe_get_object_tagging(r);
		else if (fe_is(m, "DELETE"))
			fe_delete_object_tagging(r);
		else
			fe_error(r, "MethodNotAllowed", NULL);
		return 1;
	}
	if (fe_has_param(r, "acl")) {
		if (fe_is(m, "PUT"))
			fe_put_acl(r);
		else if (fe_is(m, "GET"))
			fe_get_acl(r);
		else
			fe_error(r, "MethodNotAllowed", NULL);
		return 1;
	}
	if (fe_has_param(r, "retention") || fe_has_param(r, "legal-hold") ||
	    fe_has_param(r, "restore") || fe_has_param(r, "attributes") ||
	    fe_has_param(r, "torrent")) {
		fe_error(r, "NotImplemented", "This object operation is not implemented.");
		return 1;
	}
	return 0;
}

static void
fe_dispatch_object(struct fe_req *r, const char *m)
{
	if (strlen(r->key) > FE_MAX_KEY_BYTES) {
		fe_error(r, "KeyTooLongError", NULL);
		return;
	}
	if (fe_dispatch_multipart(r, m) || fe_dispatch_subresource(r, m))
		return;
	if (fe_is(m, "GET") || fe_is(m, "HEAD"))
		fe_get_object(r);
	else if (fe_is(m, "PUT") && http_header(r->http, "x-amz-copy-source") != NULL)
		fe_copy_object(r);
	else if (fe_is(m, "PUT"))
		fe_put_object(r);
	else if (fe_is(m, "DELETE"))
		fe_delete_object(r);
	else
		fe_error(r, "MethodNotAllowed", NULL);
}

void
fe_request(struct http_request *http, void *arg)
{
	struct fe_ctx *fe = arg;
	struct fe_req *r = xcalloc(1, sizeof(*r));
	r->fe = fe;
	r->http = http;
	strbuf_init(&r->body);
	http->handler_data = r;
	http->on_abort = fe_http_abort;
	http->cb_arg = r;
	if (fe_parse_target(r) == -1 || fe_parse_query(r, http->query) == -1) {
		fe_error(r, "InvalidURI", "Couldn't parse the specified URI.");
		return;
	}
	if (fe_authenticate(r) == -1)
		return;
	if (r->bucket != NULL && !fe_bucket_allowed(r->cred, r->bucket)) {
		fe_error(r, "AccessDenied", NULL);
		return;
	}
	if (r->bucket == NULL)
		fe_dispatch_service(r, http->method);
	else if (r->key == NULL)
		fe_dispatch_bucket(r, http->method);
	else
		fe_dispatch_object(r, http->method);
}
