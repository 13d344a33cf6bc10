/*
 * fe_bucket.c: the service and bucket operations: ListBuckets, CreateBucket, DeleteBucket,
 * HeadBucket, GetBucketLocation, ListObjects (v1) and ListObjectsV2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "log.h"
#include "s3xml.h"

static int
fe_db_failed(struct fe_req *r, PGresult *res, const char *errmsg)
{
	if (res != NULL)
		return 0;
	fe_error(r, "ServiceUnavailable", NULL);
	return 1;
}

/* --- ListBuckets ----------------------------------------------------------------------- */

static void
fe_owner_xml(struct strbuf *xml, const struct cfg_credential *cred)
{
	strbuf_puts(xml, "<Owner>");
	s3xml_elem(xml, "ID", cred->access_key);
	s3xml_elem(xml, "DisplayName", cred->display_name ? cred->display_name : cred->access_key);
	strbuf_puts(xml, "</Owner>");
}

static char *fe_token_encode(const char *next);
static char *fe_token_decode(const char *token);

static void
fe_list_buckets_done(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (fe_db_failed(r, res, errmsg))
		return;
	const char *max_param = fe_param(r, "max-buckets");
	long max = max_param ? strtol(max_param, NULL, 10) : 10000;
	const char *prefix = fe_param(r, "prefix");
	struct strbuf xml;
	strbuf_init(&xml);
	strbuf_puts(&xml, S3XML_DECL "<ListAllMyBucketsResult xmlns=\"" S3XML_NS "\">");
	fe_owner_xml(&xml, r->cred);
	strbuf_puts(&xml, "<Buckets>");
	long listed = 0;
	const char *last = NULL;
	int truncated = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0);
		if (!fe_bucket_allowed(r->cred, name))
			continue;
		if (listed == max) {
			truncated = 1;
			break;
		}
		char when[40];
		s3_time_iso8601((time_t)strtoll(PQgetvalue(res, i, 1), NULL, 10), when, sizeof(when));
		strbuf_puts(&xml, "<Bucket>");
		s3xml_elem(&xml, "Name", name);
		s3xml_elem(&xml, "CreationDate", when);
		strbuf_puts(&xml, "</Bucket>");
		listed++;
		last = name;
	}
	strbuf_puts(&xml, "</Buckets>");
	if (truncated && last != NULL) {
		char *token = fe_token_encode(last);
		s3xml_elem(&xml, "ContinuationToken", token);
		free(token);
	}
	if (prefix != NULL)
		s3xml_elem(&xml, "Prefix", prefix);
	strbuf_puts(&xml, "</ListAllMyBucketsResult>");
	fe_reply_xml(r, 200, &xml);
}

void
fe_list_buckets(struct fe_req *r)
{
	const char *max = fe_param(r, "max-buckets");
	const char *token = fe_param(r, "continuation-token");
	const char *prefix = fe_param(r, "prefix");
	char *end;
	if (max != NULL && (strtol(max, &end, 10) < 1 || strtol(max, NULL, 10) > 10000 ||
	    *end != '\0')) {
		fe_error(r, "InvalidArgument", "max-buckets must be an integer from 1 to 10000");
		return;
	}
	char *after = token ? fe_token_decode(token) : xstrdup("");
	if (after == NULL) {
		fe_error(r, "InvalidArgument", "The continuation token provided is incorrect");
		return;
	}
	const char *params[] = { after, prefix ? prefix : "" };
	fe_db(r, "SELECT name, extract(epoch FROM created_at)::bigint FROM buckets "
	    "WHERE name > $1 AND starts_with(name, $2) ORDER BY name", 2, params,
	    fe_list_buckets_done);
	free(after);
}

/* --- CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation ------------------------- */

static void
fe_bucket_status_done(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (!fe_db_ok(r, res))
		return;
	if (strcmp(r->http->method, "DELETE") == 0) {
		fe_reply_empty(r, 204, NULL);
		return;
	}
	char *location = xasprintf("/%s", r->bucket);
	const char *headers[] = { "Location", location, NULL };
	fe_reply_empty(r, 200, headers);
	free(location);
}

/* The LocationConstraint of a CreateBucketConfiguration body, or "" when absent. */
static char *
fe_location_constraint(const char *xml)
{
	const char *open = strstr(xml, "<LocationConstraint>");
	if (open == NULL)
		return xstrdup("");
	open += strlen("<LocationConstraint>");
	const char *close = strstr(open, "</LocationConstraint>");
	if (close == NULL)
		return NULL;
	return strndup(open, (size_t)(close - open));
}

static void
fe_create_bucket_body(struct fe_req *r)
{
	const char *xml = r->body.data ? r->body.data : "";
	if (r->body.len > 0 && strstr(xml, "CreateBucketConfiguration") == NULL) {
		fe_error(r, "MalformedXML", NULL);
		return;
	}
	char *region = fe_location_constraint(xml);
	if (region == NULL) {
		fe_error(r, "MalformedXML", NULL);
		return;
	}
	const char *params[] = { r->bucket, r->cred->access_key,
		region[0] ? region : "us-east-1" };
	fe_db(r, "SELECT create_bucket($1, $2, $3)", 3, params, fe_bucket_status_done);
	free(region);
}

void
fe_create_bucket(struct fe_req *r)
{
	if (!fe_bucket_name_valid(r->bucket)) {
		fe_error(r, "InvalidBucketName", NULL);
		return;
	}
	fe_read_small_body(r, 64 * 1024, fe_create_bucket_body);
}

void
fe_delete_bucket(struct fe_req *r)
{
	const char *params[] = { r->bucket };
	fe_db(r, "SELECT delete_bucket($1)", 1, params, fe_bucket_status_done);
}

static void
fe_head_bucket_done(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (fe_db_failed(r, res, errmsg))
		return;
	if (PQntuples(res) == 0) {
		fe_error(r, "NoSuchBucket", NULL);
		return;
	}
	const char *region = PQgetvalue(res, 0, 0);
	if (strcmp(r->http->method, "HEAD") == 0) {
		const char *headers[] = { "x-amz-bucket-region", region, NULL };
		fe_reply_empty(r, 200, headers);
		return;
	}
	struct strbuf xml;
	strbuf_init(&xml);
	strbuf_puts(&xml, S3XML_DECL "<LocationConstraint xmlns=\"" S3XML_NS "\">");
	if (strcmp(region, "us-east-1") != 0)
		s3xml_escape(&xml, region);
	strbuf_puts(&xml, "</LocationConstraint>");
	fe_reply_xml(r, 200, &xml);
}

void
fe_head_bucket(struct fe_req *r)
{
	const char *params[] = { r->bucket };
	fe_db(r, "SELECT region FROM buckets WHERE name = $1", 1, params, fe_head_bucket_done);
}

void
fe_get_bucket_location(struct fe_req *r)
{
	fe_head_bucket(r);
}

/* --- ListObjects, ListObjectsV2 -------------------------------------------------------- */

struct fe_list {
	struct fe_req *r;
	int v2;
	int versions;			/* ListObjectVersions */
	int url_encode;
	int fetch_owner;
	long max_keys;
	const char *prefix;
	const char *delimiter;
	const char *marker;		/* v1 marker, v2 start-after */
	const char *token;		/* v2 continuation-token as sent */
};

static const char *
fe_param_or(const struct fe_list *ls, const char *name)
{
	const char *v = fe_param(ls->r, name);
	return v ? v : "";
}

static void
fe_list_value(struct strbuf *xml, const struct fe_list *ls, const char *name, const char *value)
{
	if (!ls->url_encode) {
		s3xml_elem(xml, name, value);
		return;
	}
	struct strbuf enc;
	strbuf_init(&enc);
	sigv4_uri_encode(&enc, value, strlen(value), 1);
	s3xml_elem(xml, name, enc.data ? enc.data : "");
	strbuf_free(&enc);
}

static const char *
fe_list_root(const struct fe_list *ls)
{
	return ls->versions ? "ListVersionsResult" : "ListBucketResult";
}

static void
fe_list_header(struct strbuf *xml, const struct fe_list *ls, const char *bucket, int truncated,
    int count)
{
	strbuf_printf(xml, S3XML_DECL "<%s xmlns=\"" S3XML_NS "\">", fe_list_root(ls));
	s3xml_elem(xml, "Name", bucket);
	fe_list_value(xml, ls, "Prefix", ls->prefix);
	if (ls->versions) {
		fe_list_value(xml, ls, "KeyMarker", ls->marker);
		s3xml_elem(xml, "VersionIdMarker", fe_param_or(ls, "version-id-marker"));
	} else if (ls->v2) {
		if (ls->token != NULL)
			s3xml_elem(xml, "ContinuationToken", ls->token);
		if (ls->marker[0] != '\0')
			fe_list_value(xml, ls, "StartAfter", ls->marker);
		strbuf_printf(xml, "<KeyCount>%d</KeyCount>", count);
	} else {
		fe_list_value(xml, ls, "Marker", ls->marker);
	}
	strbuf_printf(xml, "<MaxKeys>%ld</MaxKeys>", ls->max_keys);
	if (ls->delimiter[0] != '\0')
		fe_list_value(xml, ls, "Delimiter", ls->delimiter);
	if (ls->url_encode)
		s3xml_elem(xml, "EncodingType", "url");
	strbuf_printf(xml, "<IsTruncated>%s</IsTruncated>", truncated ? "true" : "false");
}

static void
fe_list_entry(struct strbuf *xml, const struct fe_list *ls, const struct fe_req *r,
    PGresult *res, int row)
{
	if (strcmp(PQgetvalue(res, row, 0), "prefix") == 0) {
		strbuf_puts(xml, "<CommonPrefixes>");
		fe_list_value(xml, ls, "Prefix", PQgetvalue(res, row, 1));
		strbuf_puts(xml, "</CommonPrefixes>");
		return;
	}
	char when[40];
	s3_time_iso8601((time_t)strtoll(PQgetvalue(res, row, 4), NULL, 10), when, sizeof(when));
	strbuf_puts(xml, ls->versions ? "<Version>" : "<Contents>");
	fe_list_value(xml, ls, "Key", PQgetvalue(res, row, 1));
	if (ls->versions)
		strbuf_puts(xml, "<VersionId>null</VersionId><IsLatest>true</IsLatest>");
	s3xml_elem(xml, "LastModified", when);
	strbuf_printf(xml, "<ETag>&quot;%s&quot;</ETag>", PQgetvalue(res, row, 3));
	strbuf_printf(xml, "<Size>%s</Size>", PQgetvalue(res, row, 2));
	if (!ls->v2 || ls->fetch_owner)
		fe_owner_xml(xml, r->cred);
	strbuf_puts(xml, "<StorageClass>STANDARD</StorageClass>");
	strbuf_puts(xml, ls->versions ? "</Version>" : "</Contents>");
}

/* A continuation token is the position to continue after, base64-free: hex of its bytes. */
static char *
fe_token_encode(const char *next)
{
	struct strbuf sb;
	strbuf_init(&sb);
	for (const unsigned char *p = (const unsigned char *)next; *p; p++)
		strbuf_printf(&sb, "%02x", *p);
	return strbuf_detach(&sb);
}

static char *
fe_token_decode(const char *token)
{
	size_t len = strlen(token);
	if (len % 2 != 0)
		return NULL;
	char *out = xmalloc(len / 2 + 1);
	for (size_t i = 0; i < len / 2; i++) {
		unsigned int byte;
		if (sscanf(token + 2 * i, "%2x", &byte) != 1 || byte == 0) {
			free(out);
			return NULL;
		}
		out[i] = (char)byte;
	}
	out[len / 2] = '\0';
	return out;
}

static void
fe_list_objects_done(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	struct fe_list *ls = r->op;
	if (fe_db_failed(r, res, errmsg)) {
		free(ls);
		return;
	}
	const char *status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "OK") != 0) {
		free(ls);
		r->op = NULL;
		fe_error_status(r, status);
		return;
	}
	int rows = PQntuples(res) - 1;
	int truncated = rows > ls->max_keys;
	int count = truncated ? (int)ls->max_keys : rows;
	struct strbuf xml;
	strbuf_init(&xml);
	fe_list_header(&xml, ls, r->bucket, truncated, count);
	for (int i = 1; i <= count; i++)
		fe_list_entry(&xml, ls, r, res, i);
	if (truncated && count > 0) {
		const char *next = PQgetvalue(res, count, 5);
		if (ls->versions) {
			fe_list_value(&xml, ls, "NextKeyMarker", PQgetvalue(res, count, 1));
			s3xml_elem(&xml, "NextVersionIdMarker", "null");
		} else if (ls->v2) {
			char *token = fe_token_encode(next);
			s3xml_elem(&xml, "NextContinuationToken", token);
			free(token);
		} else if (ls->delimiter[0] != '\0') {
			fe_list_value(&xml, ls, "NextMarker", PQgetvalue(res, count, 1));
		}
	}
	strbuf_printf(&xml, "</%s>", fe_list_root(ls));
	free(ls);
	r->op = NULL;
	fe_reply_xml(r, 200, &xml);
}

static int
fe_list_params(struct fe_req *r, struct fe_list *ls)
{
	const char *list_type = fe_param(r, "list-type");
	const char *max = fe_param(r, "max-keys");
	const char *enc = fe_param(r, "encoding-type");
	ls->r = r;
	ls->versions = fe_has_param(r, "versions");
	ls->v2 = !ls->versions && list_type != NULL && strcmp(list_type, "2") == 0;
	ls->prefix = fe_param(r, "prefix") ? fe_param(r, "prefix") : "";
	ls->delimiter = fe_param(r, "delimiter") ? fe_param(r, "delimiter") : "";
	ls->marker = fe_param(r, ls->versions ? "key-marker" : ls->v2 ? "start-after" : "marker");
	ls->marker = ls->marker ? ls->marker : "";
	ls->token = ls->v2 ? fe_param(r, "continuation-token") : NULL;
	ls->fetch_owner = fe_param(r, "fetch-owner") && strcmp(fe_param(r, "fetch-owner"), "true") == 0;
	ls->max_keys = 1000;
	if (enc != NULL && strcmp(enc, "url") != 0) {
		fe_error(r, "InvalidArgument", "Invalid Encoding Method specified in Request");
		return -1;
	}
	ls->url_encode = enc != NULL;
	if (max != NULL) {
		char *end;
		long v = strtol(max, &end, 10);
		if (*max == '\0' || *end != '\0' || v < 0) {
			fe_error(r, "InvalidArgument", "Provided max-keys not an integer or within "
			    "integer range");
			return -1;
		}
		ls->max_keys = v > 1000 ? 1000 : v;
	}
	return 0;
}

void
fe_list_objects(struct fe_req *r)
{
	struct fe_list *ls = xcalloc(1, sizeof(*ls));
	if (fe_list_params(r, ls) == -1) {
		free(ls);
		return;
	}
	char *after = NULL;
	if (ls->token != NULL && (after = fe_token_decode(ls->token)) == NULL) {
		free(ls);
		fe_error(r, "InvalidArgument", "The continuation token provided is incorrect");
		return;
	}
	char max[24];
	snprintf(max, sizeof(max), "%ld", ls->max_keys);
	const char *params[] = { r->bucket, ls->prefix, ls->delimiter,
		after ? after : ls->marker, max };
	r->op = ls;
	fe_db(r, "SELECT kind, key, size, etag, mtime, next FROM list_objects($1, $2, $3, $4, $5::int)",
	    5, params, fe_list_objects_done);
	free(after);
}
