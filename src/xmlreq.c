/*
 * xmlreq.c: a small expat reader for S3 request documents.
 */
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "util.h"
#include "xmlreq.h"

struct xmlreq {
	XML_Parser parser;
	const struct xmlreq_cbs *cbs;
	void *arg;
	int depth;
	size_t path_len[XMLREQ_DEPTH_MAX + 1];
	char path[XMLREQ_DEPTH_MAX * 128];
	char text[XMLREQ_TEXT_MAX + 1];
	size_t text_len;
	int failed;
	const char *why;
};

static void
xmlreq_fail(struct xmlreq *x, const char *why)
{
	if (!x->failed) {
		x->failed = 1;
		x->why = why;
	}
	XML_StopParser(x->parser, XML_FALSE);
}

static void XMLCALL
xmlreq_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
	struct xmlreq *x = data;
	const char *local = strrchr(name, ' ');	/* "namespace localname" */
	local = local ? local + 1 : name;
	size_t len = x->path_len[x->depth];
	size_t nlen = strlen(local);
	if (x->depth >= XMLREQ_DEPTH_MAX || len + nlen + 2 > sizeof(x->path)) {
		xmlreq_fail(x, "the document is nested too deeply");
		return;
	}
	if (len > 0)
		x->path[len++] = '/';
	memcpy(x->path + len, local, nlen + 1);
	x->path_len[++x->depth] = len + nlen;
	x->text_len = 0;
	if (x->cbs->on_open != NULL)
		x->cbs->on_open(x->arg, x->path);
}

static void XMLCALL
xmlreq_end(void *data, const XML_Char *name)
{
	struct xmlreq *x = data;
	size_t start = 0, end = x->text_len;
	while (start < end && (x->text[start] == ' ' || x->text[start] == '\n' ||
	    x->text[start] == '\t' || x->text[start] == '\r'))
		start++;
	while (end > start && (x->text[end - 1] == ' ' || x->text[end - 1] == '\n' ||
	    x->text[end - 1] == '\t' || x->text[end - 1] == '\r'))
		end--;
	x->text[end] = '\0';
	if (x->cbs->on_close != NULL)
		x->cbs->on_close(x->arg, x->path, x->text + start);
	x->path[x->path_len[--x->depth]] = '\0';
	x->text_len = 0;
}

static void XMLCALL
xmlreq_chars(void *data, const XML_Char *s, int len)
{
	struct xmlreq *x = data;
	if (x->text_len + (size_t)len > XMLREQ_TEXT_MAX) {
		xmlreq_fail(x, "an element's text is too long");
		return;
	}
	memcpy(x->text + x->text_len, s, (size_t)len);
	x->text_len += (size_t)len;
}

static void XMLCALL
xmlreq_no_entities(void *data, const XML_Char *name, int is_param, const XML_Char *value,
    int value_len, const XML_Char *base, const XML_Char *system_id, const XML_Char *public_id,
    const XML_Char *notation)
{
	xmlreq_fail(data, "entity declarations are not accepted");
}

static void XMLCALL
xmlreq_no_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal_subset)
{
	xmlreq_fail(data, "a document type declaration is not accepted");
}

int
xmlreq_parse(const char *xml, size_t len, const struct xmlreq_cbs *cbs, void *arg,
    const char **why)
{
	struct xmlreq *x = xcalloc(1, sizeof(*x));
	x->parser = XML_ParserCreateNS("UTF-8", ' ');
	x->cbs = cbs;
	x->arg = arg;
	XML_SetUserData(x->parser, x);
	XML_SetElementHandler(x->parser, xmlreq_start, xmlreq_end);
	XML_SetCharacterDataHandler(x->parser, xmlreq_chars);
	XML_SetEntityDeclHandler(x->parser, xmlreq_no_entities);
	XML_SetStartDoctypeDeclHandler(x->parser, xmlreq_no_doctype);
	int ok = XML_Parse(x->parser, xml, (int)len, XML_TRUE) == XML_STATUS_OK && !x->failed;
	if (!ok && why != NULL)
		*why = x->failed ? x->why : XML_ErrorString(XML_GetErrorCode(x->parser));
	XML_ParserFree(x->parser);
	free(x);
	return ok ? 0 : -1;
}
