/*
 * fe_batch.c: DeleteObjects: up to 1000 keys in one catalogue transaction, Quiet mode,
 * per-key results; the copies are deleted afterwards in the background.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fe.h"
#include "s3xml.h"
#include "xmlreq.h"

#define BATCH_MAX_KEYS 1000
#define BATCH_BODY_MAX (2 * 1024 * 1024)

struct fe_batch {
	char **keys;
	size_t nkeys;
	int quiet;
	int in_object;
	int bad;
};

void
fe_pg_array(struct strbuf *out, char *const *items, size_t n)
{
	strbuf_puts(out, "{");
	for (size_t i = 0; i < n; i++) {
		strbuf_puts(out, i ? ",\"" : "\"");
		for (const char *p = items[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				strbuf_append(out, "\\", 1);
			strbuf_append(out, p, 1);
		}
		strbuf_puts(out, "\"");
	}
	strbuf_puts(out, "}");
}

static void
batch_free(struct fe_batch *b)
{
	for (size_t i = 0; i < b->nkeys; i++)
		free(b->keys[i]);
	free(b->keys);
	free(b);
}

static void
batch_xml_open(void *arg, const char *path)
{
	struct fe_batch *b = arg;
	if (strcmp(path, "Delete/Object") == 0)
		b->in_object = 1;
	else if (strchr(path, '/') == NULL && strcmp(path, "Delete") != 0)
		b->bad = 1;
}

static void
batch_xml_close(void *arg, const char *path, const char *text)
{
	struct fe_batch *b = arg;
	if (strcmp(path, "Delete/Quiet") == 0) {
		b->quiet = strcasecmp(text, "true") == 0;
	} else if (strcmp(path, "Delete/Object/Key") == 0) {
		if (b->nkeys >= BATCH_MAX_KEYS || *text == '\0' || strlen(text) > FE_MAX_KEY_BYTES) {
			b->bad = 1;
			return;
		}
		b->keys = xreallocarray(b->keys, b->nkeys + 1, sizeof(*b->keys));
		b->keys[b->nkeys++] = xstrdup(text);
	}
}

static void
batch_deleted(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_req *r = arg;
	struct fe_batch *b = r->op;
	r->op = NULL;
	int quiet = b->quiet;
	batch_free(b);
	if (res == NULL) {
		fe_error(r, "ServiceUnavailable", NULL);
		return;
	}
	if (PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 1), "NoSuchBucket") == 0) {
		fe_error(r, "NoSuchBucket", NULL);
		return;
	}
	struct strbuf xml;
	strbuf_init(&xml);
	strbuf_puts(&xml, S3XML_DECL "<DeleteResult xmlns=\"" S3XML_NS "\">");
	for (int i = 0; i < PQntuples(res); i++) {
		if (!PQgetisnull(res, i, 2))
			fe_delete_copies(r->fe, PQgetvalue(res, i, 2));
		if (quiet)
			continue;
		strbuf_puts(&xml, "<Deleted>");
		s3xml_elem(&xml, "Key", PQgetvalue(res, i, 0));
		strbuf_puts(&xml, "</Deleted>");
	}
	strbuf_puts(&xml, "</DeleteResult>");
	fe_reply_xml(r, 200, &xml);
}

static void
batch_body(struct fe_req *r)
{
	struct fe_batch *b = xcalloc(1, sizeof(*b));
	const struct xmlreq_cbs cbs = { batch_xml_open, batch_xml_close };
	const char *why = NULL;
	if (xmlreq_parse(r->body.data ? r->body.data : "", r->body.len, &cbs, b, &why) == -1 ||
	    b->bad || b->nkeys == 0) {
		batch_free(b);
		fe_error(r, "MalformedXML", why);
		return;
	}
	struct strbuf keys;
	strbuf_init(&keys);
	fe_pg_array(&keys, b->keys, b->nkeys);
	r->op = b;
	const char *params[] = { r->bucket, keys.data };
	fe_db(r, "SELECT key, status, cleanup_ids FROM delete_objects($1, $2::text[])", 2, params,
	    batch_deleted);
	strbuf_free(&keys);
}

void
fe_delete_objects(struct fe_req *r)
{
	fe_read_small_body(r, BATCH_BODY_MAX, batch_body);
}
