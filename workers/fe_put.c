/*
 * fe_put.c: PutObject, streamed.
 *
 *   begin_put (choose a backend, reserve quota, write the intent; "Busy" is retried briefly)
 *   → 100 Continue → body slices: aws-chunked decoding and chunk signatures, MD5 for the
 *     ETag, SHA-256 when the payload hash was signed, the x-amz-checksum-* algorithm; each
 *     slice written to the backend, the client paused while the backend is full
 *   → at the end: lengths, Content-MD5, payload hash and checksum verified
 *   → backend finish (the bytes replace the name atomically) → commit_put → 200 with ETag.
 *
 * Any failure before the backend finish discards the upload and calls abort_put, so the
 * previous version stays readable and no intent is left behind.  A client that goes away
 * mid-body is treated the same way; one that goes away later changes nothing (the write
 * completes and is committed, as a request cut after its last byte does on S3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "checksum.h"
#include "fe.h"
#include "log.h"

#define PUT_BUSY_TRIES 30
#define PUT_BUSY_DELAY_MS 100

enum put_phase {
	PUT_BEGIN = 0,		/* begin_put in flight, or waiting to retry it */
	PUT_BODY,		/* streaming the body to the backend */
	PUT_FINISH,		/* the backend is making the bytes durable */
	PUT_COMMIT,		/* commit_put in flight */
	PUT_FAILED,
};

struct fe_put {
	struct fe_req *r;
	enum put_phase phase;
	int client_gone;
	struct backend *be;
	struct backend_put *bp;
	char pending_id[24];
	uint64_t declared;
	uint64_t received;
	struct checksum md5;
	struct checksum sha256;		/* when the payload hash is a hex SHA-256 */
	int want_sha256;
	struct checksum extra;		/* the x-amz-checksum-* algorithm, if any */
	enum checksum_algo extra_algo;	/* its algorithm (extra's is cleared by the final) */
	const char *extra_value;	/* its expected value: header, or NULL for a trailer */
	uint8_t content_md5[16];
	int want_md5;
	int chunked;
	struct sigv4_chunked dec;
	struct fe_object_meta meta;
	struct fe_write_cond cond;
	int part;			/* UploadPart: the part number; 0 for PutObject */
	char backend_name[128];
	char *object_name;		/* UploadPart: where the part goes */
	int busy_tries;
	struct event *retry;
	char etag[CHECKSUM_HEX_BUF];
	char checksum_b64[CHECKSUM_B64_BUF];
};

static void put_begin(struct fe_put *put);

static void
put_free(struct fe_put *put)
{
	checksum_free(&put->md5);
	checksum_free(&put->sha256);
	checksum_free(&put->extra);
	if (put->chunked)
		sigv4_chunked_free(&put->dec);
	if (put->retry != NULL)
		event_free(put->retry);
	fe_object_meta_free(&put->meta);
	free(put->object_name);
	free(put);
}

static void
put_ignore(PGresult *res, const char *errmsg, void *arg)
{
	/* abort_put of an intent nobody waits for; a failure leaves it to the reaper */
}

/* Drop the intent: fire and forget. */
static void
put_abort_intent(struct fe_put *put)
{
	if (put->pending_id[0] == '\0')
		return;
	if (put->part) {
		char size[24];
		snprintf(size, sizeof(size), "%llu", (unsigned long long)put->declared);
		const char *params[] = { put->backend_name, size };
		pga_query(put->r->fe->db, "SELECT abort_part($1, $2::bigint)", 2, params, put_ignore,
		    NULL);
	} else {
		const char *params[] = { put->pending_id };
		pga_query(put->r->fe->db, "SELECT abort_put($1::bigint)", 1, params, put_ignore,
		    NULL);
	}
	put->pending_id[0] = '\0';
}

static void
put_done(struct fe_put *put)
{
	struct fe_req *r = put->r;
	r->op = NULL;
	r->on_abort = NULL;
	put_free(put);
	fe_finish(r);
}

/* Fail before the backend finish: discard the upload, drop the intent, answer. */
static void
put_fail(struct fe_put *put, const char *code, const char *message)
{
	struct fe_req *r = put->r;
	put->phase = PUT_FAILED;
	if (put->bp != NULL) {
		backend_put_abort(put->bp);
		put->bp = NULL;
	}
	put_abort_intent(put);
	r->op = NULL;
	r->on_abort = NULL;
	put_free(put);
	fe_error(r, code, message);
}

static void
put_client_gone(struct fe_req *r)
{
	struct fe_put *put = r->op;
	put->client_gone = 1;
	switch (put->phase) {
	case PUT_BODY:
		if (put->bp != NULL) {
			backend_put_abort(put->bp);
			put->bp = NULL;
		}
		put_abort_intent(put);
		put_done(put);
		break;
	case PUT_BEGIN:
		if (put->retry != NULL && evtimer_pending(put->retry, NULL)) {
			put_done(put);	/* no intent yet */
		}
		break;		/* else begin_put's answer settles it */
	default:
		break;		/* the write completes and is committed */
	}
}

/* --- commit ---------------------------------------------------------------------------- */

static void
put_committed(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	struct fe_put *put = r->op;
	const char *status = res ? PQgetvalue(res, 0, 0) : "";
	if (strcmp(status, "NoSuchUpload") == 0 || strcmp(status, "PreconditionFailed") == 0 ||
	    strcmp(status, "NoSuchKey") == 0) {
		put->pending_id[0] = '\0';	/* the catalogue queued the bytes for deletion */
		put->phase = PUT_FAILED;
		r->op = NULL;
		r->on_abort = NULL;
		put_free(put);
		fe_error(r, status, NULL);
		return;
	}
	if (res == NULL || strcmp(PQgetvalue(res, 0, 0), "OK") != 0) {
		log_warnx("%s: commit of %s/%s failed: %s; the intent is left for the reaper",
		    r->http->request_id, r->bucket, r->key, res ? PQgetvalue(res, 0, 0) : errmsg);
		put->pending_id[0] = '\0';
		put->phase = PUT_FAILED;
		r->op = NULL;
		r->on_abort = NULL;
		put_free(put);
		fe_error(r, "ServiceUnavailable", "The object could not be recorded; retry.");
		return;
	}
	char quoted[CHECKSUM_HEX_BUF + 2];
	snprintf(quoted, sizeof(quoted), "\"%s\"", put->etag);
	const char *headers[] = { "ETag", quoted,
		put->extra_algo != CHECKSUM_NONE ? checksum_header_name(put->extra_algo) : NULL,
		put->checksum_b64, NULL };
	http_response_start(r->http, 200, 0, headers);
	http_response_end(r->http);
	put_done(put);
}

static void
put_commit_part(struct fe_put *put)
{
	struct fe_req *r = put->r;
	char size[24], declared[24], part[16];
	snprintf(size, sizeof(size), "%llu", (unsigned long long)put->received);
	snprintf(declared, sizeof(declared), "%llu", (unsigned long long)put->declared);
	snprintf(part, sizeof(part), "%d", put->part);
	const char *params[] = { fe_param(r, "uploadId"), put->backend_name, r->bucket, r->key,
		part, declared, size, put->etag,
		put->extra_algo != CHECKSUM_NONE ? put->checksum_b64 : NULL, put->object_name };
	put->phase = PUT_COMMIT;
	fe_db(r, "SELECT commit_part($1, $2, $3, $4, $5::int, $6::bigint, $7::bigint, $8, $9, $10)",
	    10, params, put_committed);
}

static void
put_commit(struct fe_put *put)
{
	struct fe_req *r = put->r;
	if (put->part) {
		put_commit_part(put);
		return;
	}
	char size[24];
	snprintf(size, sizeof(size), "%llu", (unsigned long long)put->received);
	const char *algo = put->extra_algo != CHECKSUM_NONE ?
	    checksum_algo_name(put->extra_algo) : NULL;
	const char *params[] = {
		put->pending_id, size, put->etag, put->meta.content_type, put->meta.headers_json,
		put->meta.meta_json, put->meta.tags_json, algo, algo ? put->checksum_b64 : NULL,
		size, "none", NULL, "0", put->cond.if_none_match,
		put->cond.if_match[0] ? put->cond.if_match : NULL,
	};
	put->phase = PUT_COMMIT;
	fe_db(r, "SELECT status FROM commit_put($1::bigint, $2::bigint, $3, $4, $5::jsonb, "
	    "$6::jsonb, $7::jsonb, $8, $9, $10::bigint, $11, $12, $13::int, "
	    "'s3:ObjectCreated:Put', $14::boolean, $15)", 15, params, put_committed);
}

static void
put_backend_done(void *arg, int err, const char *message)
{
	struct fe_put *put = arg;
	put->bp = NULL;			/* the driver freed it */
	if (err != 0) {
		/* the driver logged why; the client may retry (the previous version is intact) */
		if (put->client_gone) {
			put_abort_intent(put);
			put_done(put);
			return;
		}
		put_fail(put, "ServiceUnavailable", "The backend could not store the object; retry.");
		return;
	}
	put_commit(put);
}

/* --- the end of the body: verify everything ------------------------------------------- */

static int
put_verify_checksum(struct fe_put *put)
{
	if (put->extra_algo == CHECKSUM_NONE)
		return 0;
	checksum_final(&put->extra, put->checksum_b64);
	const char *expect = put->extra_value;
	if (expect == NULL && put->chunked) {
		const struct sigv4_trailer *t = sigv4_chunked_trailer(&put->dec,
		    checksum_header_name(put->extra_algo));
		expect = t ? t->value : NULL;
	}
	if (expect == NULL)
		return 0;		/* the SDK named an algorithm but sent no value */
	return strcmp(expect, put->checksum_b64) == 0 ? 0 : -1;
}

static void
put_body_end(struct http_request *http, void *arg)
{
	struct fe_req *r = arg;
	struct fe_put *put = r->op;
	if (put->phase != PUT_BODY)
		return;
	if (put->chunked && sigv4_chunked_finish(&put->dec) != SIGV4_CHUNKED_DONE) {
		put_fail(put, put->dec.err == SIGV4_ERR_TRUNCATED ? "IncompleteBody" :
		    "SignatureDoesNotMatch", put->dec.why);
		return;
	}
	if (put->received != put->declared) {
		put_fail(put, "IncompleteBody", NULL);
		return;
	}
	uint8_t md5[CHECKSUM_DIGEST_MAX];
	checksum_final_raw(&put->md5, md5);
	for (int i = 0; i < 16; i++)
		snprintf(put->etag + 2 * i, 3, "%02x", md5[i]);
	if (put->want_md5 && memcmp(md5, put->content_md5, 16) != 0) {
		put_fail(put, "BadDigest", NULL);
		return;
	}
	char sha[CHECKSUM_HEX_BUF];
	if (put->want_sha256 && (checksum_final_hex(&put->sha256, sha),
	    strcasecmp(sha, r->content_sha256) != 0)) {
		put_fail(put, "XAmzContentSHA256Mismatch", NULL);
		return;
	}
	if (put_verify_checksum(put) == -1) {
		char msg[128];
		snprintf(msg, sizeof(msg), "The %s you specified did not match the calculated "
		    "checksum.", checksum_algo_name(put->extra_algo));
		put_fail(put, "BadDigest", msg);
		return;
	}
	put->phase = PUT_FINISH;
	backend_put_tag(put->bp, put->part ? NULL : put->etag);
	backend_put_finish(put->bp);
}

/* --- the body: decode, hash, write ------------------------------------------------------ */

static int
put_payload(struct fe_put *put, const void *data, size_t len)
{
	put->received += len;
	if (put->received > put->declared) {
		put_fail(put, "InvalidRequest", "The body is longer than its declared length.");
		return -1;
	}
	checksum_update(&put->md5, data, len);
	if (put->want_sha256)
		checksum_update(&put->sha256, data, len);
	if (put->extra.algo != CHECKSUM_NONE)
		checksum_update(&put->extra, data, len);
	int rc = backend_put_write(put->bp, data, len);
	if (rc == -1) {
		/* the backend refused mid-body (the driver logged why): retryable, as at finish */
		put_fail(put, "ServiceUnavailable", "The backend could not store the object; retry.");
		return -1;
	}
	if (rc == BACKEND_FULL)
		http_body_pause(put->r->http);
	return 0;
}

static void
put_body_data(struct http_request *http, const char *data, size_t len, void *arg)
{
	struct fe_req *r = arg;
	struct fe_put *put = r->op;
	if (put == NULL || put->phase != PUT_BODY)
		return;
	if (!put->chunked) {
		put_payload(put, data, len);
		return;
	}
	while (len > 0) {
		size_t used, n;
		const uint8_t *span;
		enum sigv4_chunked_event ev = sigv4_chunked_feed(&put->dec, data, len, &used,
		    &span, &n);
		data += used;
		len -= used;
		if (ev == SIGV4_CHUNKED_DATA && put_payload(put, span, n) == -1)
			return;
		if (ev == SIGV4_CHUNKED_ERROR) {
			put_fail(put, put->dec.err == SIGV4_ERR_MISMATCH ? "SignatureDoesNotMatch" :
			    "InvalidRequest", put->dec.why);
			return;
		}
		if (ev == SIGV4_CHUNKED_NEED_MORE)
			break;
	}
}

static void
put_backend_writable(void *arg)
{
	struct fe_put *put = arg;
	http_body_resume(put->r->http);
}

/* --- begin ----------------------------------------------------------------------------- */

static void
put_start_body(struct fe_put *put, const char *backend_name)
{
	struct fe_req *r = put->r;
	put->be = fe_backend(r->fe, backend_name);
	snprintf(put->backend_name, sizeof(put->backend_name), "%s", backend_name);
	char *name = put->part ? xstrdup(put->object_name) : xasprintf("%s/%s", r->bucket, r->key);
	const struct backend_put_cbs cbs = { put_backend_writable, put_backend_done };
	put->bp = put->be ? backend_put_start(put->be, name, (int64_t)put->declared, &cbs, put) :
	    NULL;
	free(name);
	if (put->bp == NULL) {
		put_fail(put, "ServiceUnavailable", "The backend could not start the upload; retry.");
		return;
	}
	put->phase = PUT_BODY;
	const struct http_body_cbs body = { put_body_data, put_body_end };
	http_body_read(r->http, &body, r);
}

static void
put_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	put_begin(arg);
}

static void
put_begun(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	struct fe_put *put = r->op;
	if (res == NULL) {
		if (put->client_gone) {
			put_done(put);
			return;
		}
		put_fail(put, "ServiceUnavailable", NULL);
		return;
	}
	const char *status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "OK") == 0 && put->part) {
		/* a part holds no intent; its reservation is what abort_part releases */
		snprintf(put->pending_id, sizeof(put->pending_id), "part");
		put->object_name = xstrdup(PQgetvalue(res, 0, 2));
	} else if (strcmp(status, "OK") == 0) {
		snprintf(put->pending_id, sizeof(put->pending_id), "%s", PQgetvalue(res, 0, 2));
	}
	if (put->client_gone) {
		put_abort_intent(put);
		put_done(put);
		return;
	}
	if (strcmp(status, "Busy") == 0 && ++put->busy_tries < PUT_BUSY_TRIES) {
		struct timeval tv = { 0, PUT_BUSY_DELAY_MS * 1000 };
		if (put->retry == NULL)
			put->retry = evtimer_new(r->fe->base, put_retry_cb, put);
		evtimer_add(put->retry, &tv);
		return;
	}
	if (strcmp(status, "OK") != 0) {
		r->op = NULL;
		r->on_abort = NULL;
		put_free(put);
		fe_error_status(r, status);
		return;
	}
	put_start_body(put, PQgetvalue(res, 0, 1));
}

const char *
fe_take_destination(struct fe_req *r, int part, uint64_t size,
    const struct fe_write_cond *cond, pga_cb cb)
{
	char bytes[24];
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)size);
	if (part) {
		char number[16];
		snprintf(number, sizeof(number), "%d", part);
		const char *params[] = { r->bucket, r->key, fe_param(r, "uploadId"), number, bytes };
		fe_db(r, "SELECT status, backend, object_name FROM begin_part($1, $2, $3, $4::int, "
		    "$5::bigint)", 5, params, cb);
		return NULL;
	}
	const char *why;
	const char *candidates = fe_candidates(r->fe, &why);
	if (why != NULL)
		return why;
	const char *params[] = { r->bucket, r->key, bytes, r->fe->owner, candidates,
		fe_placement(r->fe), cond ? cond->if_none_match : "false",
		cond && cond->if_match[0] ? cond->if_match : NULL };
	fe_db(r, "SELECT status, backend, pending_id FROM begin_put($1, $2, $3::bigint, $4, "
	    "$5::text[], $6, 'put', $7::boolean, $8)", 8, params, cb);
	return NULL;
}

static void
put_begin(struct fe_put *put)
{
	struct fe_req *r = put->r;
	put->phase = PUT_BEGIN;
	const char *why = fe_take_destination(r, put->part, put->declared, &put->cond, put_begun);
	if (why != NULL) {
		r->op = NULL;
		r->on_abort = NULL;
		put_free(put);
		fe_error_no_backend(r, why);
	}
}

/* --- request headers ------------------------------------------------------------------- */

static int
put_parse_length(struct fe_put *put)
{
	struct fe_req *r = put->r;
	const char *decoded = http_header(r->http, "x-amz-decoded-content-length");
	if (put->chunked) {
		char *end;
		if (decoded == NULL || *decoded == '\0')
			return -1;
		put->declared = strtoull(decoded, &end, 10);
		return *end == '\0' ? 0 : -1;
	}
	if (r->http->chunked)
		return -1;	/* plain HTTP chunked without a declared length */
	put->declared = r->http->content_length;
	return 0;
}

static int
put_parse_md5(struct fe_put *put)
{
	const char *b64 = http_header(put->r->http, "content-md5");
	if (b64 == NULL)
		return 0;
	uint8_t out[24];
	int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)strlen(b64));
	if (strlen(b64) != 24 || n != 18)
		return -1;
	memcpy(put->content_md5, out, 16);
	put->want_md5 = 1;
	return 0;
}

/* x-amz-checksum-<algo> (a value to verify) or x-amz-sdk-checksum-algorithm / x-amz-trailer. */
static int
put_parse_checksum(struct fe_put *put)
{
	struct http_request *http = put->r->http;
	enum checksum_algo algo = CHECKSUM_NONE;
	for (size_t i = 0; i < http->nheaders; i++) {
		enum checksum_algo a = checksum_algo_from_header(http->headers[i].name);
		if (a == CHECKSUM_NONE || a == CHECKSUM_MD5)
			continue;
		if (algo != CHECKSUM_NONE || !checksum_value_valid(a, http->headers[i].value))
			return -1;
		algo = a;
		put->extra_value = http->headers[i].value;
	}
	const char *trailer = http_header(http, "x-amz-trailer");
	if (algo == CHECKSUM_NONE && trailer != NULL)
		algo = checksum_algo_from_header(trailer);
	const char *sdk = http_header(http, "x-amz-sdk-checksum-algorithm");
	if (algo == CHECKSUM_NONE && sdk != NULL)
		algo = checksum_algo_parse(sdk);
	if (algo == CHECKSUM_NONE || algo == CHECKSUM_MD5)
		return 0;
	put->extra_algo = algo;
	return checksum_init(&put->extra, algo);
}

static const char *
put_check_headers(struct fe_put *put)
{
	struct fe_req *r = put->r;
	enum sigv4_chunked_mode mode;
	if (sigv4_chunked_mode_parse(r->content_sha256, &mode) == 0) {
		put->chunked = 1;
		sigv4_chunked_init(&put->dec, mode);
		if (mode != SIGV4_CHUNKED_UNSIGNED_TRAILER)
			sigv4_chunked_set_verify(&put->dec, r->signing_key, r->auth.amz_date,
			    r->scope, r->seed_signature);
	} else if (strcmp(r->content_sha256, SIGV4_UNSIGNED_PAYLOAD) != 0) {
		if (strlen(r->content_sha256) != 64)
			return "InvalidArgument";
		put->want_sha256 = 1;
		checksum_init(&put->sha256, CHECKSUM_SHA256);
	}
	if (put_parse_length(put) == -1)
		return "MissingContentLength";
	if (put->declared > r->fe->cfg->frontend.max_object_bytes)
		return "EntityTooLarge";
	if (put_parse_md5(put) == -1)
		return "InvalidDigest";
	if (put_parse_checksum(put) == -1)
		return "InvalidArgument";
	if (!put->part && fe_write_conditions(r, &put->cond) == -1)
		return "NotImplemented";
	return put->part ? NULL : fe_object_meta_parse(r, &put->meta);
}

static void
put_start(struct fe_req *r, int part)
{
	struct fe_put *put = xcalloc(1, sizeof(*put));
	put->r = r;
	put->part = part;
	checksum_init(&put->md5, CHECKSUM_MD5);
	const char *bad = put_check_headers(put);
	if (bad != NULL) {
		put_free(put);
		fe_error(r, bad, NULL);
		return;
	}
	r->op = put;
	r->on_abort = put_client_gone;
	put_begin(put);
}

void
fe_put_object(struct fe_req *r)
{
	put_start(r, 0);
}

void
fe_upload_part(struct fe_req *r)
{
	int n = fe_part_number(r);
	if (n == 0) {
		fe_error_part_number(r);
		return;
	}
	put_start(r, n);
}
