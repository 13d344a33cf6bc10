/*
 * fe_meta.c: what a request says about the object it creates: Content-Type, the stored
 * headers (Content-Encoding, Content-Disposition, Content-Language, Cache-Control,
 * Expires), user metadata (x-amz-meta-*), tags (x-amz-tagging) and the checksum algorithm,
 * as the JSON the catalogue keeps.  Shared by PutObject, CreateMultipartUpload and
 * CopyObject (with REPLACE).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "checksum.h"
#include "fe.h"

#define FE_MAX_TAGS 10
#define FE_MAX_TAG_KEY 128
#define FE_MAX_TAG_VALUE 256

const char *
fe_placement(const struct fe_ctx *fe)
{
	return fe->cfg->placement == PLACEMENT_PACK ? "pack" : "spread";
}

static char *
fe_meta_json_headers(const struct http_request *http)
{
	static const char *const stored[][2] = {
		{ "content-encoding", "Content-Encoding" },
		{ "content-disposition", "Content-Disposition" },
		{ "content-language", "Content-Language" },
		{ "cache-control", "Cache-Control" },
		{ "expires", "Expires" },
	};
	json_t *obj = json_object();
	for (size_t i = 0; i < nitems(stored); i++) {
		const char *v = http_header(http, stored[i][0]);
		if (v == NULL)
			continue;
		if (i == 0 && strncmp(v, "aws-chunked", 11) == 0) {
			v += 11;	/* the transfer coding is not the object's */
			while (*v == ',' || *v == ' ')
				v++;
			if (*v == '\0')
				continue;
		}
		json_object_set_new(obj, stored[i][1], json_string(v));
	}
	char *s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	return s;
}

/* x-amz-meta-* as a JSON object; NULL when larger than S3 allows. */
static char *
fe_meta_json_user(const struct http_request *http)
{
	json_t *obj = json_object();
	size_t bytes = 0;
	for (size_t i = 0; i < http->nheaders; i++) {
		const char *name = http->headers[i].name;
		if (strncmp(name, "x-amz-meta-", 11) != 0)
			continue;
		bytes += strlen(name + 11) + strlen(http->headers[i].value);
		json_object_set_new(obj, name + 11, json_string(http->headers[i].value));
	}
	char *s = bytes <= FE_MAX_META_BYTES ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	return s;
}

char *
fe_tags_json(const struct fe_tag *tags, size_t n)
{
	json_t *obj = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new(obj, tags[i].key, json_string(tags[i].value));
	char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(obj);
	return s;
}

int
fe_tag_valid(const char *key, const char *value)
{
	return key[0] != '\0' && strlen(key) <= FE_MAX_TAG_KEY && strlen(value) <= FE_MAX_TAG_VALUE &&
	    strncmp(key, "aws:", 4) != 0;
}

/* "k1=v1&k2=v2", URL-encoded, as x-amz-tagging carries it. */
static char *
fe_meta_json_tags(const char *header, int *bad)
{
	struct fe_tag tags[FE_MAX_TAGS];
	size_t n = 0;
	*bad = 0;
	const char *p = header ? header : "";
	char *key, *value;
	int rc;
	while (!*bad && (rc = fe_next_pair(&p, &key, &value)) != 0) {
		if (rc == -1 || n == FE_MAX_TAGS) {	/* a bad escape, or more tags than S3 allows */
			if (rc == 1) {
				free(key);
				free(value);
			}
			*bad = 1;
			break;
		}
		tags[n].key = key;
		tags[n].value = value;
		*bad = !fe_tag_valid(key, value);
		for (size_t i = 0; i < n && !*bad; i++)
			*bad = strcmp(tags[i].key, key) == 0;
		n++;
	}
	char *json = *bad ? NULL : fe_tags_json(tags, n);
	for (size_t i = 0; i < n; i++) {
		free(tags[i].key);
		free(tags[i].value);
	}
	return json;
}

static const char *
fe_meta_checksum_algo(const struct http_request *http)
{
	for (size_t i = 0; i < http->nheaders; i++) {
		enum checksum_algo a = checksum_algo_from_header(http->headers[i].name);
		if (a != CHECKSUM_NONE && a != CHECKSUM_MD5)
			return checksum_algo_name(a);
	}
	const char *sdk = http_header(http, "x-amz-sdk-checksum-algorithm");
	enum checksum_algo a = sdk ? checksum_algo_parse(sdk) : CHECKSUM_NONE;
	if (a == CHECKSUM_NONE) {
		const char *alt = http_header(http, "x-amz-checksum-algorithm");
		a = alt ? checksum_algo_parse(alt) : CHECKSUM_NONE;
	}
	return a != CHECKSUM_NONE && a != CHECKSUM_MD5 ? checksum_algo_name(a) : NULL;
}

const char *
fe_object_meta_parse(const struct fe_req *r, struct fe_object_meta *m)
{
	memset(m, 0, sizeof(*m));
	const char *ctype = http_header(r->http, "content-type");
	m->content_type = ctype ? xstrdup(ctype) : NULL;
	m->headers_json = fe_meta_json_headers(r->http);
	m->meta_json = fe_meta_json_user(r->http);
	if (m->meta_json == NULL)
		return "MetadataTooLarge";
	int bad;
	m->tags_json = fe_meta_json_tags(http_header(r->http, "x-amz-tagging"), &bad);
	if (bad)
		return "InvalidTag";
	m->checksum_algo = fe_meta_checksum_algo(r->http);
	return NULL;
}

void
fe_object_meta_free(struct fe_object_meta *m)
{
	free(m->content_type);
	free(m->headers_json);
	free(m->meta_json);
	free(m->tags_json);
	memset(m, 0, sizeof(*m));
}

int
fe_write_conditions(const struct fe_req *r, struct fe_write_cond *wc)
{
	const char *inm = http_header(r->http, "if-none-match");
	const char *im = http_header(r->http, "if-match");
	wc->if_none_match = inm != NULL ? "true" : "false";
	wc->if_match[0] = '\0';
	if (inm != NULL && strcmp(inm, "*") != 0)
		return -1;	/* S3 takes only * here */
	if (im == NULL)
		return 0;
	size_t len = strlen(im);
	if (len >= 2 && im[0] == '"' && im[len - 1] == '"') {
		im++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(wc->if_match))
		return -1;
	memcpy(wc->if_match, im, len);
	wc->if_match[len] = '\0';
	return 0;
}
