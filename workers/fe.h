/*
 * fe.h: the S3 front end's process context and per-request state, shared by the front
 * end's modules: frontend.c (the program: loop, signals, supervisor link), fe_request.c
 * (addressing, authentication, dispatch, replies), fe_bucket.c (service and bucket
 * operations), fe_object.c (GET, HEAD, DELETE) and fe_put.c (the streamed PUT).
 */
#ifndef S3MUX_FE_H
#define S3MUX_FE_H

#include <stdint.h>
#include <time.h>
#include <event2/event.h>

#include "backend.h"
#include "child.h"
#include "config.h"
#include "http.h"
#include "pgasync.h"
#include "proctitle.h"
#include "sigv4.h"
#include "util.h"

#define FE_MAX_KEY_BYTES 1024
#define FE_MAX_META_BYTES 2048		/* user metadata, as S3 counts it */
#define FE_MAX_SMALL_BODY (1024 * 1024)	/* XML request bodies */
#define FE_MAX_PARTS 10000		/* part numbers run from 1 to this */
#define FE_DB_CONNS 4
#define FE_USAGE_FLUSH_MS 2000
#define FE_KEY_CACHE 8			/* SigV4 signing keys kept (fe_request.c) */

/* A signing key derived for a credential, a day, a region and a service. */
struct fe_signing_key {
	const struct cfg_credential *cred;	/* NULL: an empty slot */
	char date[SIGV4_DATE_BUF];
	char region[SIGV4_REGION_MAX + 1];
	char service[SIGV4_SERVICE_MAX + 1];
	uint8_t key[SIGV4_KEY_LEN];
};

struct fe_ctx {
	struct event_base *base;
	struct s3mux_config *cfg;
	const char *config_path;
	struct proctitle title;
	struct child_link link;
	struct http_server *s3;
	struct http_server *admin;	/* NULL without listen.admin */
	struct pga_pool *db;
	struct backend **backends;	/* in configuration order */
	size_t nbackends;
	struct strbuf candidates;	/* "{a,b}": the backends a write may go to now */
	struct event *usage_timer;	/* flushes usage counts every FE_USAGE_FLUSH_MS */
	int usage_flushing;
	char owner[96];			/* "frontend:<host>:<pid>" for pending intents */
	struct fe_signing_key keys[FE_KEY_CACHE];
	unsigned next_key;		/* the slot the next new key takes */
	int index;
	int stopping;
	struct event *signals[5];
	size_t nsignals;
};

struct fe_param {
	char *name;
	char *value;			/* "" when the parameter had no '=' */
};

struct fe_req;
typedef void (*fe_req_cb)(struct fe_req *r);

struct fe_req {
	struct fe_ctx *fe;
	struct http_request *http;
	char *bucket;			/* decoded; NULL at the service level */
	char *key;			/* decoded; NULL at the bucket level */
	struct fe_param *params;
	size_t nparams;
	const struct cfg_credential *cred;
	struct sigv4_auth auth;
	uint8_t signing_key[SIGV4_KEY_LEN];
	char seed_signature[SIGV4_HEX_BUF];
	char scope[SIGV4_SCOPE_BUF];
	const char *content_sha256;	/* x-amz-content-sha256, or UNSIGNED-PAYLOAD */
	struct pga_query *dbq;		/* the catalogue call in flight */
	fe_req_cb on_abort;		/* the connection went away */
	void *op;			/* the operation's own state */
	struct strbuf body;		/* a small request body (XML) */
	fe_req_cb on_body;
	int lookups;			/* GET: catalogue look-ups so far (see fe_object.c) */
	struct event *retry;		/* a look-up again, soon */
	int finished;
};

/* frontend.c */
struct backend *fe_backend(struct fe_ctx *fe, const char *name);
/*
 * The backends a write may go to now ("{a,b}", valid until the next call): available and
 * under their monthly limits.  When none is, *why is the S3 error code to answer.
 */
const char *fe_candidates(struct fe_ctx *fe, const char **why);

/* fe_request.c */
void fe_request(struct http_request *http, void *arg);
const char *fe_param(const struct fe_req *r, const char *name);
int fe_has_param(const struct fe_req *r, const char *name);
/* The next pair of a URL-encoded "a=1&b=2" list, decoded (the caller frees *name and *value)
   and *p moved past it: 1, 0 at the end, -1 on a bad escape. */
int fe_next_pair(const char **p, char **name, char **value);
/* partNumber, 1 to FE_MAX_PARTS; 0 when missing or anything else (fe_error_part_number). */
int fe_part_number(const struct fe_req *r);
void fe_error_part_number(struct fe_req *r);
/* Send an S3 error (message NULL: the code's default) and finish the request. */
void fe_error(struct fe_req *r, const char *code, const char *message);
/* Send 200 with an XML body (the strbuf is consumed) and finish. */
void fe_reply_xml(struct fe_req *r, int status, struct strbuf *xml);
/* Send a bodiless status with extra headers (NULL-terminated pairs) and finish. */
void fe_reply_empty(struct fe_req *r, int status, const char *const *headers);
void fe_finish(struct fe_req *r);
/* Catalogue call: cb gets the result or errmsg; on a lost connection cb is not called. */
void fe_db(struct fe_req *r, const char *sql, int nparams, const char *const *values,
    pga_cb cb);
/* Read a small body (at most limit bytes, aws-chunked decoded) into r->body, then cb. */
void fe_read_small_body(struct fe_req *r, size_t limit, fe_req_cb cb);
int fe_bucket_allowed(const struct cfg_credential *cred, const char *bucket);
int fe_bucket_name_valid(const char *name);
/* An S3 error with a status other than the code's usual one (SlowDown as 429). */
void fe_error_http(struct fe_req *r, const char *code, int status, const char *message);
/* No backend may take the request: why is "SlowDown" (limits) or "ServiceUnavailable". */
void fe_error_no_backend(struct fe_req *r, const char *why);
/*
 * For a catalogue call's callback: 1 when it answered with "OK" in its first column; else
 * the matching error (503 when it did not answer) is sent and 0 returned.
 */
int fe_db_ok(struct fe_req *r, PGresult *res);
/* The catalogue said status: answer with the matching S3 error. */
void fe_error_status(struct fe_req *r, const char *status);

/* fe_bucket.c */
void fe_list_buckets(struct fe_req *r);
void fe_create_bucket(struct fe_req *r);
void fe_delete_bucket(struct fe_req *r);
void fe_head_bucket(struct fe_req *r);
void fe_get_bucket_location(struct fe_req *r);
void fe_list_objects(struct fe_req *r);

/* fe_object.c */
/* The columns of get_object(), in order. */
enum { GO_STATUS, GO_VERSION, GO_SIZE, GO_ETAG, GO_CTYPE, GO_HEADERS, GO_META, GO_TAGS,
	GO_CKALGO, GO_CK, GO_PARTS, GO_MTIME, GO_BACKENDS, GO_PART_SIZES };

struct fe_range {
	int present;
	uint64_t first, last;		/* inclusive */
};

/* A Range value against an object of size: 0 (set, or not present), -1 unsatisfiable. */
int fe_parse_range(const char *value, uint64_t size, struct fe_range *range);
/* 0 when the conditions hold, else 304 or 412 (see fe_object.c). */
int fe_conditionals(const struct fe_req *r, const char *prefix, const char *etag,
    time_t mtime);
void fe_get_object(struct fe_req *r);
void fe_delete_object(struct fe_req *r);
/* Delete now the copies queued as cleanup rows ids_array ("{1,2}"), in the background. */
void fe_delete_copies(struct fe_ctx *fe, const char *ids_array);

/* fe_copy.c */
void fe_copy_object(struct fe_req *r);
void fe_upload_part_copy(struct fe_req *r);

/* fe_batch.c */
void fe_delete_objects(struct fe_req *r);
/* Append strings as a PostgreSQL array literal ("{"a","b"}"). */
void fe_pg_array(struct strbuf *out, char *const *items, size_t n);

/* fe_subres.c: tagging, ACLs, versioning */
void fe_put_object_tagging(struct fe_req *r);
void fe_get_object_tagging(struct fe_req *r);
void fe_delete_object_tagging(struct fe_req *r);
void fe_get_acl(struct fe_req *r);
void fe_put_acl(struct fe_req *r);
void fe_get_bucket_versioning(struct fe_req *r);

/* fe_meta.c: what a request says about the object it creates */
struct fe_object_meta {
	char *content_type;
	char *headers_json;		/* Content-Encoding, Cache-Control, ... */
	char *meta_json;		/* x-amz-meta-* */
	char *tags_json;		/* x-amz-tagging */
	const char *checksum_algo;	/* "CRC32", ...; NULL for none */
};

struct fe_tag {
	char *key;
	char *value;
};

/* NULL, or the S3 error code of what is wrong; free m in either case. */
const char *fe_object_meta_parse(const struct fe_req *r, struct fe_object_meta *m);
void fe_object_meta_free(struct fe_object_meta *m);
char *fe_tags_json(const struct fe_tag *tags, size_t n);
int fe_tag_valid(const char *key, const char *value);
const char *fe_placement(const struct fe_ctx *fe);

/* If-None-Match: * and If-Match on a write, as catalogue parameters. */
struct fe_write_cond {
	const char *if_none_match;	/* "true" or "false" */
	char if_match[80];		/* an ETag, unquoted; "" for none */
};
/* 0, or -1 for a condition S3 does not take on writes (If-None-Match other than *). */
int fe_write_conditions(const struct fe_req *r, struct fe_write_cond *wc);

/* fe_put.c */
void fe_put_object(struct fe_req *r);
/* UploadPart: the body streams into a part of the upload. */
void fe_upload_part(struct fe_req *r);
/*
 * Take where a write of size bytes goes: the object's intent (begin_put, with cond) or, for
 * part > 0, the upload's part (begin_part).  cb gets (status, backend, pending id or part
 * name).  Returns NULL when asked, or why no backend may take it (fe_error_no_backend).
 */
const char *fe_take_destination(struct fe_req *r, int part, uint64_t size,
    const struct fe_write_cond *cond, pga_cb cb);

/* fe_multipart.c */
void fe_create_multipart(struct fe_req *r);
void fe_complete_multipart(struct fe_req *r);
void fe_abort_multipart(struct fe_req *r);
void fe_list_parts(struct fe_req *r);
void fe_list_multipart(struct fe_req *r);

#endif
