/*
 * s3xml.h: S3's XML: the error table (code → HTTP status), error bodies, escaping, time
 * formats.  Responses are small documents built into a strbuf with escaped values.
 */
#ifndef S3MUX_S3XML_H
#define S3MUX_S3XML_H

#include <stdint.h>
#include <time.h>

#include "util.h"

#define S3XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3XML_NS "http://s3.amazonaws.com/doc/2006-03-01/"

struct s3_error_def {
	const char *code;
	int status;
	const char *message;		/* the default message */
};

/* The entry for an S3 error code; InternalError for an unknown code. */
const struct s3_error_def *s3_error_find(const char *code);

/* <Error><Code>…</Code><Message>…</Message><Resource>…</Resource><RequestId>…</RequestId></Error> */
void s3xml_error(struct strbuf *out, const char *code, const char *message,
    const char *resource, const char *request_id);

/* Append s with &, <, >, ", ' escaped. */
void s3xml_escape(struct strbuf *out, const char *s);
/* Append <name>escaped value</name>. */
void s3xml_elem(struct strbuf *out, const char *name, const char *value);
void s3xml_elem_u64(struct strbuf *out, const char *name, uint64_t value);

/* "2026-11-22T10:57:00.000Z" */
void s3_time_iso8601(time_t t, char *buf, size_t size);
/* "Sun, 22 Nov 2026 10:57:00 GMT" */
void s3_time_http(time_t t, char *buf, size_t size);
/* Parse an HTTP date (RFC 1123, also RFC 850 and asctime forms); -1 when it is not one. */
time_t s3_time_parse_http(const char *s);

#endif
