/*
 * s3xml.c: S3 error codes, XML escaping and element helpers, S3 time formats.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "s3xml.h"

static const struct s3_error_def s3_errors[] = {
	{ "AccessDenied", 403, "Access Denied" },
	{ "AuthorizationHeaderMalformed", 400, "The authorization header is malformed." },
	{ "AuthorizationQueryParametersError", 400, "The presigned URL's query parameters are malformed." },
	{ "BadDigest", 400, "The Content-MD5 or checksum you specified did not match what we received." },
	{ "BucketAlreadyExists", 409, "The requested bucket name is not available." },
	{ "BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded and you already own it." },
	{ "BucketNotEmpty", 409, "The bucket you tried to delete is not empty." },
	{ "EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size." },
	{ "EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size." },
	{ "IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header." },
	{ "InsufficientStorage", 507, "No backend has room for this object." },
	{ "InternalError", 500, "We encountered an internal error. Please try again." },
	{ "InvalidAccessKeyId", 403, "The AWS access key Id you provided does not exist in our records." },
	{ "InvalidArgument", 400, "Invalid Argument" },
	{ "InvalidBucketName", 400, "The specified bucket is not valid." },
	{ "InvalidDigest", 400, "The Content-MD5 you specified is not valid." },
	{ "InvalidPart", 400, "One or more of the specified parts could not be found." },
	{ "InvalidPartOrder", 400, "The list of parts was not in ascending order." },
	{ "InvalidPartNumber", 416, "The requested partnumber is not satisfiable" },
	{ "InvalidRange", 416, "The requested range is not satisfiable" },
	{ "InvalidRequest", 400, "Invalid Request" },
	{ "InvalidLocationConstraint", 400, "The specified location constraint is not valid." },
	{ "InvalidURI", 400, "Couldn't parse the specified URI." },
	{ "InvalidTag", 400, "The tag provided was not a valid tag." },
	{ "KeyTooLongError", 400, "Your key is too long" },
	{ "MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema." },
	{ "MaxMessageLengthExceeded", 400, "Your request was too big." },
	{ "MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size." },
	{ "MethodNotAllowed", 405, "The specified method is not allowed against this resource." },
	{ "MissingContentLength", 411, "You must provide the Content-Length HTTP header." },
	{ "NoSuchBucket", 404, "The specified bucket does not exist" },
	{ "NoSuchKey", 404, "The specified key does not exist." },
	{ "NoSuchTagSet", 404, "The TagSet does not exist" },
	{ "NoSuchUpload", 404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed." },
	{ "NotImplemented", 501, "A header you provided implies functionality that is not implemented." },
	{ "NotModified", 304, "Not Modified" },
	{ "PreconditionFailed", 412, "At least one of the preconditions you specified did not hold." },
	{ "RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large." },
	{ "RequestTimeout", 400, "Your socket connection to the server was not read from or written to within the timeout period." },
	{ "ServiceUnavailable", 503, "The catalogue is unavailable; please retry." },
	{ "SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method." },
	{ "SlowDown", 503, "Please reduce your request rate." },
	{ "XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed." },
	{ "InvalidObjectState", 403, "The operation is not valid for the current state of the object." },
	{ "MissingSecurityHeader", 400, "Your request is missing a required header." },
	{ "TooManyBuckets", 400, "You have attempted to create more buckets than allowed." },
};

const struct s3_error_def *
s3_error_find(const char *code)
{
	for (size_t i = 0; i < nitems(s3_errors); i++)
		if (strcmp(s3_errors[i].code, code) == 0)
			return &s3_errors[i];
	return s3_error_find("InternalError");
}

void
s3xml_escape(struct strbuf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': strbuf_puts(out, "&amp;"); break;
		case '<': strbuf_puts(out, "&lt;"); break;
		case '>': strbuf_puts(out, "&gt;"); break;
		case '"': strbuf_puts(out, "&quot;"); break;
		case '\'': strbuf_puts(out, "&apos;"); break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
				strbuf_printf(out, "&#x%X;", (unsigned char)*s);
			else
				strbuf_append(out, s, 1);
		}
	}
}

void
s3xml_elem(struct strbuf *out, const char *name, const char *value)
{
	strbuf_printf(out, "<%s>", name);
	s3xml_escape(out, value ? value : "");
	strbuf_printf(out, "</%s>", name);
}

void
s3xml_elem_u64(struct strbuf *out, const char *name, uint64_t value)
{
	strbuf_printf(out, "<%s>%llu</%s>", name, (unsigned long long)value, name);
}

void
s3xml_error(struct strbuf *out, const char *code, const char *message, const char *resource,
    const char *request_id)
{
	const struct s3_error_def *def = s3_error_find(code);
	strbuf_puts(out, S3XML_DECL "<Error>");
	s3xml_elem(out, "Code", code);
	s3xml_elem(out, "Message", message ? message : def->message);
	if (resource != NULL)
		s3xml_elem(out, "Resource", resource);
	s3xml_elem(out, "RequestId", request_id);
	strbuf_puts(out, "</Error>");
}

void
s3_time_iso8601(time_t t, char *buf, size_t size)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

void
s3_time_http(time_t t, char *buf, size_t size)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

time_t
s3_time_parse_http(const char *s)
{
	static const char *const formats[] = {
		"%a, %d %b %Y %H:%M:%S GMT",	/* RFC 1123 */
		"%A, %d-%b-%y %H:%M:%S GMT",	/* RFC 850 */
		"%a %b %e %H:%M:%S %Y",		/* asctime */
		"%Y-%m-%dT%H:%M:%SZ",		/* ISO 8601, as some clients send */
		"%Y-%m-%dT%H:%M:%S.000Z",
	};
	for (size_t i = 0; i < nitems(formats); i++) {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		const char *end = strptime(s, formats[i], &tm);
		if (end != NULL && *end == '\0')
			return timegm(&tm);
	}
	return -1;
}
