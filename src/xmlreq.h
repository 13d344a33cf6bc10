/*
 * xmlreq.h: read S3 request bodies (CompleteMultipartUpload, Delete, Tagging,
 * CreateBucketConfiguration) with expat, as a stream of elements.
 *
 * For every element the callbacks get its path from the root ("Delete/Object/Key") on open
 * and, on close, with its text (trimmed, at most XMLREQ_TEXT_MAX bytes).  Namespaces are
 * ignored, a document deeper than XMLREQ_DEPTH_MAX is refused, and so are DTDs and entity
 * declarations (no entity expansion at all).
 */
#ifndef S3MUX_XMLREQ_H
#define S3MUX_XMLREQ_H

#include <stddef.h>

#define XMLREQ_DEPTH_MAX 8
#define XMLREQ_TEXT_MAX 4096

struct xmlreq_cbs {
	void (*on_open)(void *arg, const char *path);
	void (*on_close)(void *arg, const char *path, const char *text);
};

/* 0 when the document is well formed and within the limits; -1 otherwise (why set). */
int xmlreq_parse(const char *xml, size_t len, const struct xmlreq_cbs *cbs, void *arg,
    const char **why);

#endif
