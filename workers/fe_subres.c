/*
 * fe_subres.c: the sub-resources real tools touch on any bucket or object: object tagging
 * (Put, Get, Delete), ACLs (Get answers the owner's FULL_CONTROL; Put accepts canned ACLs
 * without enforcing them) and GetBucketVersioning (never enabled: no Status).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fe.h"
#include "s3xml.h"
#include "xmlreq.h"

#define TAGS_MAX 10
#define TAGGING_BODY_MAX (64 * 1024)

/* --- tagging --------------------------------------------------------------------------- */

struct fe_tagset {
	struct fe_tag tags[TAGS_MAX];
	size_t n;
	char key[FE_MAX_KEY_BYTES + 1];
	char value[512];
	int have_key;
	int bad;
};

static void
tagset_free(struct fe_tagset *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->tags[i].key);
		free(t->tags[i].value);
	}
	free(t);
}

static void
tagset_open(void *arg, const char *path)
{
	struct fe_tagset *t = arg;
	if (strcmp(path, "Tagging/TagSet/Tag") == 0) {
		t->have_key = 0;
		t->value[0] = '\0';
	} else if (strchr(path, '/') == NULL && strcmp(path, "Tagging") != 0) {
		t->bad = 1;
	}
}

static void
tagset_close(void *arg, const char *path, const char *text)
{
	struct fe_tagset *t = arg;
	if (strcmp(path, "Tagging/TagSet/Tag/Key") == 0) {
		snprintf(t->key, sizeof(t->key), "%s", text);
		t->have_key = 1;
	} else if (strcmp(path, "Tagging/TagSet/Tag/Value") == 0) {
		snprintf(t->value, sizeof(t->value), "%s", text);
	} else if (strcmp(path, "Tagging/TagSet/Tag") == 0) {
		if (!t->have_key || t->n == TAGS_MAX || !fe_tag_valid(t->key, t->value)) {
			t->bad = 1;
			return;
		}
		for (size_t i = 0; i < t->n; i++)
			if (strcmp(t->tags[i].key, t->key) == 0)
				t->bad = 1;
		t->tags[t->n].key = xstrdup(t->key);
		t->tags[t->n].value = xstrdup(t->value);
		t->n++;
	}
}

static void
tagging_set(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (fe_db_ok(r, res))
		fe_reply_empty(r, strcmp(r->http->method, "DELETE") == 0 ? 204 : 200, NULL);
}

static void
tagging_body(struct fe_req *r)
{
	struct fe_tagset *t = xcalloc(1, sizeof(*t));
	const struct xmlreq_cbs cbs = { tagset_open, tagset_close };
	const char *why = NULL;
	int malformed = xmlreq_parse(r->body.data ? r->body.data : "", r->body.len, &cbs, t,
	    &why) == -1;
	if (malformed || t->bad) {
		tagset_free(t);
		fe_error(r, malformed ? "MalformedXML" : "InvalidTag", why);
		return;
	}
	char *json = fe_tags_json(t->tags, t->n);
	tagset_free(t);
	const char *params[] = { r->bucket, r->key, json };
	fe_db(r, "SELECT set_object_tags($1, $2, $3::jsonb)", 3, params, tagging_set);
	free(json);
}

void
fe_put_object_tagging(struct fe_req *r)
{
	fe_read_small_body(r, TAGGING_BODY_MAX, tagging_body);
}

void
fe_delete_object_tagging(struct fe_req *r)
{
	const char *params[] = { r->bucket, r->key, "{}" };
	fe_db(r, "SELECT set_object_tags($1, $2, $3::jsonb)", 3, params, tagging_set);
}

static void
tagging_got(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (!fe_db_ok(r, res))
		return;
	json_t *tags = json_loads(PQgetvalue(res, 0, GO_TAGS), 0, NULL);
	struct strbuf xml;
	strbuf_init(&xml);
	strbuf_puts(&xml, S3XML_DECL "<Tagging xmlns=\"" S3XML_NS "\"><TagSet>");
	const char *key;
	json_t *value;
	json_object_foreach(tags, key, value) {
		strbuf_puts(&xml, "<Tag>");
		s3xml_elem(&xml, "Key", key);
		s3xml_elem(&xml, "Value", json_string_value(value));
		strbuf_puts(&xml, "</Tag>");
	}
	strbuf_puts(&xml, "</TagSet></Tagging>");
	json_decref(tags);
	fe_reply_xml(r, 200, &xml);
}

void
fe_get_object_tagging(struct fe_req *r)
{
	const char *params[] = { r->bucket, r->key };
	fe_db(r, "SELECT * FROM get_object($1, $2)", 2, params, tagging_got);
}

/* --- ACLs ------------------------------------------------------------------------------ */

static void
acl_reply(struct fe_req *r)
{
	const char *id = r->cred->access_key;
	const char *name = r->cred->display_name ? r->cred->display_name : id;
	struct strbuf xml;
	strbuf_init(&xml);
	strbuf_puts(&xml, S3XML_DECL "<AccessControlPolicy xmlns=\"" S3XML_NS "\"><Owner>");
	s3xml_elem(&xml, "ID", id);
	s3xml_elem(&xml, "DisplayName", name);
	strbuf_puts(&xml, "</Owner><AccessControlList><Grant>"
	    "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	    "xsi:type=\"CanonicalUser\">");
	s3xml_elem(&xml, "ID", id);
	s3xml_elem(&xml, "DisplayName", name);
	strbuf_puts(&xml, "</Grantee><Permission>FULL_CONTROL</Permission></Grant>"
	    "</AccessControlList></AccessControlPolicy>");
	fe_reply_xml(r, 200, &xml);
}

static void
acl_checked(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (!fe_db_ok(r, res))
		return;
	if (strcmp(r->http->method, "GET") == 0)
		acl_reply(r);
	else
		fe_reply_empty(r, 200, NULL);
}

/* The bucket, or the object, must exist. */
static void
acl_check(struct fe_req *r)
{
	if (r->key != NULL) {
		const char *params[] = { r->bucket, r->key };
		fe_db(r, "SELECT status FROM get_object($1, $2)", 2, params, acl_checked);
		return;
	}
	const char *params[] = { r->bucket };
	fe_db(r, "SELECT CASE WHEN EXISTS (SELECT 1 FROM buckets WHERE name = $1) THEN 'OK' "
	    "ELSE 'NoSuchBucket' END", 1, params, acl_checked);
}

void
fe_get_acl(struct fe_req *r)
{
	acl_check(r);
}

static void
acl_body(struct fe_req *r)
{
	acl_check(r);
}

void
fe_put_acl(struct fe_req *r)
{
	fe_read_small_body(r, TAGGING_BODY_MAX, acl_body);
}

/* --- versioning ------------------------------------------------------------------------ */

static void
versioning_checked(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	if (!fe_db_ok(r, res))
		return;
	struct strbuf xml;
	strbuf_init(&xml);
	strbuf_puts(&xml, S3XML_DECL "<VersioningConfiguration xmlns=\"" S3XML_NS "\"/>");
	fe_reply_xml(r, 200, &xml);
}

void
fe_get_bucket_versioning(struct fe_req *r)
{
	const char *params[] = { r->bucket };
	fe_db(r, "SELECT CASE WHEN EXISTS (SELECT 1 FROM buckets WHERE name = $1) THEN 'OK' "
	    "ELSE 'NoSuchBucket' END", 1, params, versioning_checked);
}
