/*
 * sigv4.h: AWS Signature Version 4 for S3, as pure functions over strings and bytes: no I/O,
 * no clock (the time is always passed in), no event loop, no global mutable state.
 *
 * Used three ways:
 *  - the front end verifies client requests: sigv4_parse_authorization() or
 *    sigv4_parse_presigned(), sigv4_auth_set_date() for header auth, sigv4_check_time(),
 *    sigv4_signing_key() from the secret of auth.access_key, then sigv4_verify(); a streamed
 *    body (Content-Encoding: aws-chunked) goes through a struct sigv4_chunked decoder;
 *  - the s3 backend driver and the benchmark sign outgoing requests with sigv4_sign() or
 *    sigv4_presign(), and aws-chunked bodies with sigv4_chunk_signature();
 *  - the lower-level pieces (canonical request, string to sign, key, signature) are public
 *    for tests and for error messages (SignatureDoesNotMatch carries the string to sign).
 *
 * S3's canonical URI is the path URI-encoded once with "/" kept: unlike the other services, S3
 * neither double-encodes nor normalizes ("//", "/./", "/../" stay as they are).
 *
 * Errors are an enum sigv4_err, which the front end maps to S3 error codes.  Strings are
 * NUL-terminated; anything returned in a struct strbuf or as a char * is the caller's.
 */
#ifndef S3MUX_SIGV4_H
#define S3MUX_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define SIGV4_ALGORITHM		"AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR	"aws4_request"
#define SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD	"UNSIGNED-PAYLOAD"
#define SIGV4_STREAMING_PAYLOAD	"STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
#define SIGV4_STREAMING_PAYLOAD_TRAILER "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
#define SIGV4_STREAMING_UNSIGNED_TRAILER "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

#define SIGV4_KEY_LEN		32	/* a signing key (HMAC-SHA256 output) */
#define SIGV4_HEX_BUF		65	/* 64 lowercase hex digits and the NUL */
#define SIGV4_AMZ_DATE_BUF	17	/* "20130524T000000Z" and the NUL */
#define SIGV4_DATE_BUF		9	/* "20130524" and the NUL */
#define SIGV4_SCOPE_BUF		128	/* "20130524/us-east-1/s3/aws4_request" and the NUL */

/* Limits of what the parsers accept. */
#define SIGV4_ACCESS_KEY_MAX	128
#define SIGV4_REGION_MAX	63
#define SIGV4_SERVICE_MAX	31
#define SIGV4_SIGNED_HEADERS_MAX 4095	/* the SignedHeaders list, in bytes */
#define SIGV4_MAX_SKEW		900	/* seconds between the request's time and ours */
#define SIGV4_EXPIRES_MAX	604800	/* X-Amz-Expires: 7 days */

enum sigv4_err {
	SIGV4_OK = 0,
	SIGV4_ERR_ABSENT,		/* no SigV4 parameters in the query: not presigned */
	SIGV4_ERR_MALFORMED,		/* Authorization header or presigned query malformed */
	SIGV4_ERR_ALGORITHM,		/* an algorithm other than AWS4-HMAC-SHA256 */
	SIGV4_ERR_CREDENTIAL,		/* bad Credential scope, or its date is not the request's */
	SIGV4_ERR_DATE,			/* X-Amz-Date (or Date) missing or unparseable */
	SIGV4_ERR_EXPIRES,		/* X-Amz-Expires not a number in 1..604800 */
	SIGV4_ERR_SKEW,			/* header auth: more than 15 minutes from now */
	SIGV4_ERR_NOT_YET_VALID,	/* presigned: X-Amz-Date more than 15 minutes ahead */
	SIGV4_ERR_EXPIRED,		/* presigned: past X-Amz-Date + X-Amz-Expires */
	SIGV4_ERR_MISSING_HEADER,	/* a signed header is not in the request */
	SIGV4_ERR_URI,			/* bad percent-encoding in the path or the query */
	SIGV4_ERR_MISMATCH,		/* the signature does not match */
	SIGV4_ERR_CHUNK,		/* aws-chunked body: bad framing */
	SIGV4_ERR_LIMIT,		/* aws-chunked body: a line or a chunk too long */
	SIGV4_ERR_TRUNCATED,		/* aws-chunked body: ended before its end */
	SIGV4_ERR_TRAILER,		/* aws-chunked body: bad or unexpected trailer */
};

const char *sigv4_strerror(enum sigv4_err err);

/* A request header (or a trailer): name in any case, value as received. */
struct sigv4_header {
	const char *name;
	const char *value;
};

/* How the path of a struct sigv4_request is turned into the canonical URI. */
enum sigv4_path_mode {
	SIGV4_PATH_REENCODE = 0,	/* the wire form: %XX-decode, then encode once (the
					   front end's choice: what S3 itself does) */
	SIGV4_PATH_ENCODE,		/* decoded (a key as stored): encode once */
	SIGV4_PATH_AS_IS,		/* already canonical (a URL built with sigv4_uri_encode) */
};

struct sigv4_request {
	const char *method;		/* "GET", "PUT", ... */
	const char *path;		/* "/bucket/key"; "" is taken as "/" */
	enum sigv4_path_mode path_mode;
	const char *query;		/* the raw query string without '?'; NULL or "" for none */
	const struct sigv4_header *headers;	/* the request's headers, duplicates allowed */
	size_t nheaders;
	const char *payload_hash;	/* hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-... value */
};

/* What an Authorization header or a presigned query says. */
struct sigv4_auth {
	int presigned;
	char access_key[SIGV4_ACCESS_KEY_MAX + 1];
	char date[SIGV4_DATE_BUF];		/* the credential scope's date, YYYYMMDD */
	char region[SIGV4_REGION_MAX + 1];
	char service[SIGV4_SERVICE_MAX + 1];
	char signed_headers[SIGV4_SIGNED_HEADERS_MAX + 1];	/* "host;range;x-amz-date" */
	char signature[SIGV4_HEX_BUF];		/* lowercase */
	char amz_date[SIGV4_AMZ_DATE_BUF];	/* the request time, ISO 8601 basic */
	int64_t time;				/* the same, seconds since the epoch */
	int64_t expires;			/* presigned: X-Amz-Expires; else 0 */
};

/*
 * Parse "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,
 * SignedHeaders=host;range;x-amz-date, Signature=<64 hex>".  The three parts come in any
 * order, with optional blanks around the commas; each exactly once.  SignedHeaders must be
 * lowercase header names separated by ';', none twice, at most 256 of them and
 * SIGV4_SIGNED_HEADERS_MAX bytes.  The signature is 64 hex digits (kept lowercase).  amz_date
 * and time stay empty: call sigv4_auth_set_date() with the request's X-Amz-Date and Date.
 */
enum sigv4_err sigv4_parse_authorization(const char *value, struct sigv4_auth *auth);

/*
 * Parse a presigned URL's raw query string: X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
 * X-Amz-Expires (1..604800), X-Amz-SignedHeaders, X-Amz-Signature, each once.  Returns
 * SIGV4_ERR_ABSENT when none of them is there (an anonymous request).
 */
enum sigv4_err sigv4_parse_presigned(const char *query, struct sigv4_auth *auth);

/*
 * Header auth: the request time comes from X-Amz-Date, or when it is absent (NULL) from Date
 * (RFC 7231 IMF-fixdate).  Sets auth->amz_date and auth->time.
 */
enum sigv4_err sigv4_auth_set_date(struct sigv4_auth *auth, const char *x_amz_date,
    const char *http_date);

/*
 * Check the request time against now (seconds since the epoch): the credential's date must be
 * the request's day; header auth must be within SIGV4_MAX_SKEW of now; a presigned URL must not
 * start more than SIGV4_MAX_SKEW ahead of now nor be used after time + expires.
 */
enum sigv4_err sigv4_check_time(const struct sigv4_auth *auth, int64_t now);

/* 1 when name (lowercase) is in the ';'-separated list signed_headers. */
int sigv4_signed_headers_has(const char *signed_headers, const char *name);

/* "YYYYMMDD'T'HHMMSS'Z'" to seconds since the epoch (years 1970..9999); 0, or -1. */
int sigv4_parse_amz_date(const char *text, int64_t *epoch);
/* "Fri, 24 May 2013 00:00:00 GMT" to seconds since the epoch; 0, or -1. */
int sigv4_parse_http_date(const char *text, int64_t *epoch);
/* Seconds since the epoch to "YYYYMMDDTHHMMSSZ"; -1 outside years 1970..9999. */
int sigv4_format_amz_date(int64_t epoch, char out[SIGV4_AMZ_DATE_BUF]);

/*
 * URI-encode per AWS: A-Z a-z 0-9 - _ . ~ stay, every other byte becomes %XX (upper case);
 * with keep_slash, '/' stays too (paths).  Appends to out.
 */
void sigv4_uri_encode(struct strbuf *out, const void *data, size_t len, int keep_slash);
/* Decode %XX (and '+' as a space when plus_is_space); -1 on a bad escape.  Appends to out. */
int sigv4_uri_decode(struct strbuf *out, const char *text, size_t len, int plus_is_space);

/* Flags of sigv4_canonical_request(). */
#define SIGV4_CANON_PRESIGNED	0x1	/* leave X-Amz-Signature out of the query */

/*
 * The canonical request, replacing out's contents:
 *	method \n canonical URI \n canonical query \n canonical headers \n
 *	signed headers \n payload hash
 * The query's parameters are decoded ('+' is a space), encoded per AWS and sorted by name,
 * then value; a parameter without '=' has an empty value.  The headers are those named in
 * signed_headers, in its order: name lowercase, value trimmed with inner runs of blanks made
 * one space, several headers of one name joined with ','.  Returns SIGV4_OK,
 * SIGV4_ERR_URI or SIGV4_ERR_MISSING_HEADER.
 */
enum sigv4_err sigv4_canonical_request(struct strbuf *out, const struct sigv4_request *req,
    const char *signed_headers, int flags);

/* The sorted, lowercase, ';'-joined names of headers (for signing), replacing out's contents. */
void sigv4_signed_headers_of(struct strbuf *out, const struct sigv4_header *headers, size_t n);

/* "date/region/service/aws4_request"; returns its length, or -1 if it does not fit. */
int sigv4_scope(char out[SIGV4_SCOPE_BUF], const char *date, const char *region,
    const char *service);

/* "AWS4-HMAC-SHA256\n" amz_date "\n" scope "\n" hex(SHA-256(canonical request)), into out. */
void sigv4_string_to_sign(struct strbuf *out, const char *amz_date, const char *scope,
    const char *creq, size_t creq_len);

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service), "aws4_request"). */
void sigv4_signing_key(uint8_t key[SIGV4_KEY_LEN], const char *secret, const char *date,
    const char *region, const char *service);

/* hex(HMAC-SHA256(key, data)) */
void sigv4_signature(const uint8_t key[SIGV4_KEY_LEN], const char *data, size_t len,
    char out[SIGV4_HEX_BUF]);

/* Constant-time comparison of two hex signatures; 1 when equal (and both 64 digits). */
int sigv4_signature_equal(const char *a, const char *b);

/*
 * Verify a request against auth with the signing key of auth's access key, date, region and
 * service.  On SIGV4_OK and on SIGV4_ERR_MISMATCH, computed holds the signature computed (the
 * seed of an aws-chunked body).  creq and sts, when not NULL, receive the canonical request and
 * the string to sign (for a SignatureDoesNotMatch body).  req->payload_hash is the request's
 * x-amz-content-sha256 (UNSIGNED-PAYLOAD for a presigned URL without one).
 */
enum sigv4_err sigv4_verify(const struct sigv4_auth *auth, const struct sigv4_request *req,
    const uint8_t key[SIGV4_KEY_LEN], char computed[SIGV4_HEX_BUF], struct strbuf *creq,
    struct strbuf *sts);

/* Credentials to sign outgoing requests with. */
struct sigv4_credentials {
	const char *access_key;
	const char *secret_key;
	const char *region;		/* "us-east-1" */
	const char *service;		/* "s3" */
	const char *session_token;	/* NULL, or sent as X-Amz-Security-Token */
};

/* The result of sigv4_sign(). */
struct sigv4_signed {
	char amz_date[SIGV4_AMZ_DATE_BUF];	/* send as X-Amz-Date */
	char signature[SIGV4_HEX_BUF];		/* the seed of an aws-chunked body */
	char scope[SIGV4_SCOPE_BUF];
	uint8_t key[SIGV4_KEY_LEN];		/* for sigv4_chunk_signature() */
	char *authorization;			/* send as Authorization */
};

/*
 * Sign a request to host at now.  Signed are: Host (host), X-Amz-Content-Sha256
 * (req->payload_hash), X-Amz-Date, X-Amz-Security-Token when there is a session token, and
 * every header of req->headers, which must not hold those four.  The caller sends these
 * headers with exactly these values, the path and query exactly as given (for
 * SIGV4_PATH_ENCODE: the path encoded with sigv4_uri_encode(..., 1)).  Returns 0, or -1 (a
 * bad URI, a reserved header in req->headers, or a time outside 1970..9999).  Free the result
 * with sigv4_signed_free().
 */
int sigv4_sign(const struct sigv4_credentials *cred, const struct sigv4_request *req,
    const char *host, int64_t now, struct sigv4_signed *out);
void sigv4_signed_free(struct sigv4_signed *out);

/*
 * A presigned URL's query string: req->query (if any) followed by the X-Amz-* parameters and
 * X-Amz-Signature.  Signed headers: Host and req->headers.  The payload hash is
 * req->payload_hash, UNSIGNED-PAYLOAD when NULL.  expires is in 1..604800.  NULL on error.
 */
char *sigv4_presign(const struct sigv4_credentials *cred, const struct sigv4_request *req,
    const char *host, int64_t now, int64_t expires);

/*
 * Streaming signatures (Content-Encoding: aws-chunked).  prev is the seed signature for the
 * first chunk, then the previous chunk's signature:
 *   chunk:   "AWS4-HMAC-SHA256-PAYLOAD\n" amz_date "\n" scope "\n" prev "\n"
 *            hex(SHA-256("")) "\n" hex(chunk_sha256)
 *   trailer: "AWS4-HMAC-SHA256-TRAILER\n" amz_date "\n" scope "\n" prev "\n"
 *            hex(trailer_sha256), prev being the final (empty) chunk's signature, and the
 *            hash over the trailers as "name:value\n" lines (sigv4_trailers_sha256()).
 */
void sigv4_chunk_signature(const uint8_t key[SIGV4_KEY_LEN], const char *amz_date,
    const char *scope, const char *prev, const uint8_t chunk_sha256[32],
    char out[SIGV4_HEX_BUF]);
void sigv4_trailer_signature(const uint8_t key[SIGV4_KEY_LEN], const char *amz_date,
    const char *scope, const char *prev, const uint8_t trailer_sha256[32],
    char out[SIGV4_HEX_BUF]);
/* SHA-256 of the trailers' canonical form: "name:value\n" each, name lowercase, value trimmed. */
void sigv4_trailers_sha256(const struct sigv4_header *trailers, size_t n, uint8_t out[32]);

/*
 * The aws-chunked body, and its decoder.
 *
 *   signed:   hex-size ";chunk-signature=" sig CRLF data CRLF ... "0;chunk-signature=" sig CRLF
 *   unsigned: hex-size CRLF data CRLF ... "0" CRLF
 * then, for the -TRAILER variants, trailer lines "name:value" CRLF (the signed variant ending
 * with "x-amz-trailer-signature:" sig CRLF), and a final CRLF.  AWS's documented example puts
 * an empty line between the final chunk and the trailers and omits the final CRLF: that form is
 * accepted too (sigv4_chunked_finish() settles it at the end of the body).
 *
 * Limits: a chunk header or trailer line at most SIGV4_CHUNK_LINE_MAX bytes with its CRLF; a
 * chunk at most SIGV4_CHUNK_SIZE_MAX bytes (the SDKs send 64 KiB to 1 MiB; S3 asks for at least
 * 8 KiB but that is not enforced); at most SIGV4_TRAILERS_MAX trailers besides the signature,
 * names of at most SIGV4_TRAILER_NAME_MAX and values of SIGV4_TRAILER_VALUE_MAX bytes, no name
 * twice.  The size is hex digits only (no blanks, no other extensions).
 */
#define SIGV4_CHUNK_LINE_MAX	4096
#define SIGV4_CHUNK_SIZE_MAX	(16u * 1024 * 1024)
#define SIGV4_TRAILERS_MAX	8
#define SIGV4_TRAILER_NAME_MAX	63
#define SIGV4_TRAILER_VALUE_MAX	255

enum sigv4_chunked_mode {
	SIGV4_CHUNKED_SIGNED = 0,	/* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
	SIGV4_CHUNKED_SIGNED_TRAILER,	/* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
	SIGV4_CHUNKED_UNSIGNED_TRAILER,	/* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

/* The mode of an x-amz-content-sha256 value; 0, or -1 when it is not a streaming one. */
int sigv4_chunked_mode_parse(const char *content_sha256, enum sigv4_chunked_mode *mode);

/* The length on the wire of payload_len bytes sent in chunks of chunk_size (the last one
 * shorter), for Content-Length; trailer_len counts the trailer lines ("name:value\r\n"), the
 * x-amz-trailer-signature line excluded (it is added for SIGNED_TRAILER). */
uint64_t sigv4_chunked_encoded_length(enum sigv4_chunked_mode mode, uint64_t payload_len,
    uint64_t chunk_size, uint64_t trailer_len);
/* Format a chunk header ("400;chunk-signature=<sig>\r\n", or "400\r\n" when sig is NULL);
 * returns its length, or -1 if cap is too small. */
int sigv4_chunk_header(char *buf, size_t cap, uint64_t size, const char *sig);

struct sigv4_trailer {
	char name[SIGV4_TRAILER_NAME_MAX + 1];	/* lowercase */
	char value[SIGV4_TRAILER_VALUE_MAX + 1];	/* trimmed */
};

enum sigv4_chunked_event {
	SIGV4_CHUNKED_NEED_MORE = 0,	/* the input is used up: feed more (or finish) */
	SIGV4_CHUNKED_DATA,		/* payload bytes: a span of the input */
	SIGV4_CHUNKED_CHUNK,		/* a chunk is complete: chunk_size, chunk_signature... */
	SIGV4_CHUNKED_DONE,		/* the body is complete; trailers are there */
	SIGV4_CHUNKED_ERROR,		/* err says why; the decoder stays in error */
};

struct sigv4_chunked {
	/* Read-only for the caller. */
	enum sigv4_chunked_mode mode;
	enum sigv4_err err;			/* with SIGV4_CHUNKED_ERROR */
	const char *why;			/* a short text about err */
	uint64_t total;				/* payload bytes so far */
	uint64_t nchunks;			/* chunks completed, the final one included */
	uint64_t chunk_size;			/* of the chunk just completed */
	char chunk_signature[SIGV4_HEX_BUF];	/* from its header; "" unsigned */
	uint8_t chunk_sha256[32];		/* of its data (signed modes only) */
	struct sigv4_trailer trailers[SIGV4_TRAILERS_MAX];
	size_t ntrailers;
	char trailer_signature[SIGV4_HEX_BUF];	/* "" unless SIGNED_TRAILER */

	/* Private. */
	int state;
	int verify;
	int blank_first;			/* an empty line right after the final chunk */
	uint64_t left;				/* data bytes left in this chunk */
	void *sha;				/* EVP_MD_CTX of the chunk's data */
	uint8_t key[SIGV4_KEY_LEN];
	char amz_date[SIGV4_AMZ_DATE_BUF];
	char scope[SIGV4_SCOPE_BUF];
	char prev[SIGV4_HEX_BUF];
	size_t line_len;
	char line[SIGV4_CHUNK_LINE_MAX];
};

/* Start decoding a body; 0, or -1 if OpenSSL cannot allocate. */
int sigv4_chunked_init(struct sigv4_chunked *d, enum sigv4_chunked_mode mode);
/*
 * Signed modes: have the decoder check every chunk signature (and the trailer signature)
 * itself, starting from seed (the request's signature, from sigv4_verify()).  Without this,
 * the caller checks each SIGV4_CHUNKED_CHUNK with sigv4_chunk_signature().  Either way, a
 * chunk's data is handed out before its signature can be checked: commit nothing before DONE.
 */
void sigv4_chunked_set_verify(struct sigv4_chunked *d, const uint8_t key[SIGV4_KEY_LEN],
    const char *amz_date, const char *scope, const char *seed);
/*
 * Feed body bytes: uses *used bytes of buf (maybe all, maybe none) and says what happened.
 * For SIGV4_CHUNKED_DATA, *data and *data_len give the payload bytes, which lie in buf.  Call
 * again with the rest of buf until NEED_MORE.  Bytes after DONE are an error.
 *
 *	while (len > 0) {
 *		ev = sigv4_chunked_feed(&d, p, len, &used, &data, &n);
 *		p += used, len -= used;
 *		... DATA: pass data[0..n) on; CHUNK, DONE: note; ERROR: fail ...
 *	}
 */
enum sigv4_chunked_event sigv4_chunked_feed(struct sigv4_chunked *d, const void *buf,
    size_t len, size_t *used, const uint8_t **data, size_t *data_len);
/* The body has ended: DONE if it was complete, else ERROR (SIGV4_ERR_TRUNCATED...). */
enum sigv4_chunked_event sigv4_chunked_finish(struct sigv4_chunked *d);
/*
 * Decode in place: the payload bytes of buf[0..len) are moved to its front and *out_len says
 * how many.  Signed modes need sigv4_chunked_set_verify().  Returns 0 (feed more), 1 (done;
 * all of buf was the body) or -1 (error, see d->err).
 */
int sigv4_chunked_decode(struct sigv4_chunked *d, uint8_t *buf, size_t len, size_t *out_len);
/* A trailer by name (lowercase), or NULL. */
const struct sigv4_trailer *sigv4_chunked_trailer(const struct sigv4_chunked *d,
    const char *name);
void sigv4_chunked_free(struct sigv4_chunked *d);

#endif
