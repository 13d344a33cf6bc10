/*
 * sigv4.c: AWS Signature Version 4 for S3: canonical requests, signing keys and signatures,
 * the Authorization header and presigned-URL parsers, request signing and presigning, chunk
 * and trailer signatures, and the incremental aws-chunked body decoder.
 *
 * Pure computation over strings and bytes (HMAC and SHA-256 from OpenSSL): no I/O, no clock,
 * no global mutable state.  See sigv4.h for the contract of each function.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "sigv4.h"
#include "util.h"

#define SIGV4_SIGNED_HEADERS_COUNT_MAX	256
#define CHUNK_SIG_EXT			";chunk-signature="
#define TRAILER_SIG_NAME		"x-amz-trailer-signature"

/* ---- small helpers ------------------------------------------------------------------------ */

static const char hexdigits[] = "0123456789abcdef";

static void
hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A token character of RFC 7230, lowercase letters only. */
static int
is_lower_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static int
is_tchar(char c)
{
	return (c >= 'A' && c <= 'Z') || is_lower_tchar(c);
}

static void
sb_putc(struct strbuf *sb, char c)
{
	strbuf_append(sb, &c, 1);
}

static const char *
sb_str(const struct strbuf *sb)
{
	return sb->data ? sb->data : "";
}

/* 1 when s[0..len) is exactly the string lit. */
static int
span_eq(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* Copy a 64-digit hex signature, lowercased; -1 unless exactly 64 hex digits. */
static int
parse_hex_signature(const char *s, size_t len, char out[SIGV4_HEX_BUF])
{
	if (len != 64)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (hex_value(s[i]) < 0)
			return -1;
		out[i] = ascii_lower(s[i]);
	}
	out[64] = '\0';
	return 0;
}

static void
sha256_raw(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
		fatalx("sigv4: SHA-256 failed");
}

static void
hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) == NULL)
		fatalx("sigv4: HMAC-SHA256 failed");
}

const char *
sigv4_strerror(enum sigv4_err err)
{
	switch (err) {
	case SIGV4_OK: return "ok";
	case SIGV4_ERR_ABSENT: return "no signature parameters";
	case SIGV4_ERR_MALFORMED: return "malformed authorization";
	case SIGV4_ERR_ALGORITHM: return "unsupported signature algorithm";
	case SIGV4_ERR_CREDENTIAL: return "malformed or mismatched credential scope";
	case SIGV4_ERR_DATE: return "missing or invalid request date";
	case SIGV4_ERR_EXPIRES: return "X-Amz-Expires must be between 1 and 604800 seconds";
	case SIGV4_ERR_SKEW: return "request time too skewed";
	case SIGV4_ERR_NOT_YET_VALID: return "request is not yet valid";
	case SIGV4_ERR_EXPIRED: return "request has expired";
	case SIGV4_ERR_MISSING_HEADER: return "a signed header is missing";
	case SIGV4_ERR_URI: return "invalid percent-encoding";
	case SIGV4_ERR_MISMATCH: return "signature does not match";
	case SIGV4_ERR_CHUNK: return "malformed aws-chunked body";
	case SIGV4_ERR_LIMIT: return "aws-chunked body exceeds a limit";
	case SIGV4_ERR_TRUNCATED: return "aws-chunked body truncated";
	case SIGV4_ERR_TRAILER: return "invalid aws-chunked trailer";
	}
	return "unknown error";
}

/* ---- dates -------------------------------------------------------------------------------- */

static int
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* n decimal digits at s; -1 if any is not a digit. */
static int
parse_digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
civil_valid(int y, int mo, int d, int h, int mi, int s)
{
	return y >= 1970 && mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo) &&
	    h <= 23 && mi <= 59 && s <= 59;
}

static int64_t
civil_to_epoch(int y, int mo, int d, int h, int mi, int s)
{
	return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

/* "YYYYMMDD" as a valid calendar date. */
static int
parse_date8(const char *s, size_t len)
{
	int y, mo, d;

	if (len != 8 || parse_digits(s, 4, &y) < 0 || parse_digits(s + 4, 2, &mo) < 0 ||
	    parse_digits(s + 6, 2, &d) < 0)
		return -1;
	return civil_valid(y, mo, d, 0, 0, 0) ? 0 : -1;
}

int
sigv4_parse_amz_date(const char *text, int64_t *epoch)
{
	int y, mo, d, h, mi, s;

	if (text == NULL || strlen(text) != 16 || text[8] != 'T' || text[15] != 'Z')
		return -1;
	if (parse_digits(text, 4, &y) < 0 || parse_digits(text + 4, 2, &mo) < 0 ||
	    parse_digits(text + 6, 2, &d) < 0 || parse_digits(text + 9, 2, &h) < 0 ||
	    parse_digits(text + 11, 2, &mi) < 0 || parse_digits(text + 13, 2, &s) < 0)
		return -1;
	if (!civil_valid(y, mo, d, h, mi, s))
		return -1;
	*epoch = civil_to_epoch(y, mo, d, h, mi, s);
	return 0;
}

static int
month_from_name(const char *s)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	for (int i = 0; i < 12; i++)
		if (memcmp(s, names + 3 * i, 3) == 0)
			return i + 1;
	return -1;
}

int
sigv4_parse_http_date(const char *text, int64_t *epoch)
{
	static const char days[] = "MonTueWedThuFriSatSun";
	int y, mo, d, h, mi, s, wd = -1;

	/* "Fri, 24 May 2013 00:00:00 GMT" */
	if (text == NULL || strlen(text) != 29 || memcmp(text + 3, ", ", 2) != 0 ||
	    text[7] != ' ' || text[11] != ' ' || text[16] != ' ' || text[19] != ':' ||
	    text[22] != ':' || memcmp(text + 25, " GMT", 4) != 0)
		return -1;
	for (int i = 0; i < 7; i++)
		if (memcmp(text, days + 3 * i, 3) == 0)
			wd = i;
	if (wd < 0 || (mo = month_from_name(text + 8)) < 0)
		return -1;
	if (parse_digits(text + 5, 2, &d) < 0 || parse_digits(text + 12, 4, &y) < 0 ||
	    parse_digits(text + 17, 2, &h) < 0 || parse_digits(text + 20, 2, &mi) < 0 ||
	    parse_digits(text + 23, 2, &s) < 0)
		return -1;
	if (!civil_valid(y, mo, d, h, mi, s))
		return -1;
	*epoch = civil_to_epoch(y, mo, d, h, mi, s);
	return 0;
}

static void
put_digits(char *out, int64_t v, int n)
{
	while (n-- > 0) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

int
sigv4_format_amz_date(int64_t epoch, char out[SIGV4_AMZ_DATE_BUF])
{
	int64_t y, secs;
	int m, d;

	if (epoch < 0 || epoch > INT64_C(253402300799))
		return -1;
	secs = epoch % 86400;
	civil_from_days(epoch / 86400, &y, &m, &d);
	put_digits(out, y, 4);
	put_digits(out + 4, m, 2);
	put_digits(out + 6, d, 2);
	out[8] = 'T';
	put_digits(out + 9, secs / 3600, 2);
	put_digits(out + 11, secs / 60 % 60, 2);
	put_digits(out + 13, secs % 60, 2);
	out[15] = 'Z';
	out[16] = '\0';
	return 0;
}

/* ---- URI encoding ------------------------------------------------------------------------- */

static int
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_' || c == '.' || c == '~';
}

void
sigv4_uri_encode(struct strbuf *out, const void *data, size_t len, int keep_slash)
{
	static const char upper[] = "0123456789ABCDEF";
	const unsigned char *p = data;
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		if (is_unreserved(p[i]) || (keep_slash && p[i] == '/')) {
			run++;
			continue;
		}
		strbuf_append(out, p + i - run, run);
		run = 0;
		char esc[3] = { '%', upper[p[i] >> 4], upper[p[i] & 0xf] };
		strbuf_append(out, esc, 3);
	}
	strbuf_append(out, p + len - run, run);
}

int
sigv4_uri_decode(struct strbuf *out, const char *text, size_t len, int plus_is_space)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] != '%' && !(plus_is_space && text[i] == '+')) {
			run++;
			continue;
		}
		strbuf_append(out, text + i - run, run);
		run = 0;
		if (text[i] == '+') {
			sb_putc(out, ' ');
			continue;
		}
		if (i + 2 >= len || hex_value(text[i + 1]) < 0 || hex_value(text[i + 2]) < 0)
			return -1;
		sb_putc(out, (char)(hex_value(text[i + 1]) << 4 | hex_value(text[i + 2])));
		i += 2;
	}
	strbuf_append(out, text + len - run, run);
	return 0;
}

/* Decode then encode (keeping nothing reserved): one query parameter's name or value. */
static int
reencode(struct strbuf *out, struct strbuf *tmp, const char *s, size_t len)
{
	strbuf_reset(tmp);
	if (sigv4_uri_decode(tmp, s, len, 1) < 0)
		return -1;
	sigv4_uri_encode(out, sb_str(tmp), tmp->len, 0);
	return 0;
}

/* ---- the canonical request ---------------------------------------------------------------- */

static enum sigv4_err
canonical_uri(struct strbuf *out, const char *path, enum sigv4_path_mode mode)
{
	size_t len = path ? strlen(path) : 0;
	struct strbuf dec;

	if (len == 0) {
		sb_putc(out, '/');
		return SIGV4_OK;
	}
	switch (mode) {
	case SIGV4_PATH_AS_IS:
		strbuf_append(out, path, len);
		return SIGV4_OK;
	case SIGV4_PATH_ENCODE:
		sigv4_uri_encode(out, path, len, 1);
		return SIGV4_OK;
	case SIGV4_PATH_REENCODE:
		break;
	}
	strbuf_init(&dec);
	if (sigv4_uri_decode(&dec, path, len, 0) < 0) {
		strbuf_free(&dec);
		return SIGV4_ERR_URI;
	}
	sigv4_uri_encode(out, sb_str(&dec), dec.len, 1);
	strbuf_free(&dec);
	return SIGV4_OK;
}

struct qparam {
	size_t ko, kl, vo, vl;		/* offsets into the text while it grows */
	const char *k, *v;		/* then pointers */
};

static int
span_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int
qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = span_cmp(x->k, x->kl, y->k, y->kl);

	return c != 0 ? c : span_cmp(x->v, x->vl, y->v, y->vl);
}

/* Split the query into re-encoded parameters in text; returns how many, or -1. */
static long
query_params(const char *query, int flags, struct strbuf *text, struct qparam **params)
{
	struct strbuf tmp;
	size_t n = 0, cap = 0;
	const char *p = query;

	strbuf_init(&tmp);
	while (*p != '\0') {
		size_t seg = strcspn(p, "&");
		const char *eq = memchr(p, '=', seg);
		size_t kl = eq ? (size_t)(eq - p) : seg;
		struct qparam q;

		if (seg == 0) {
			p++;
			continue;
		}
		q.ko = text->len;
		if (reencode(text, &tmp, p, kl) < 0)
			goto bad;
		q.kl = text->len - q.ko;
		if ((flags & SIGV4_CANON_PRESIGNED) &&
		    span_eq(sb_str(text) + q.ko, q.kl, "X-Amz-Signature")) {
			text->len = q.ko;
		} else {
			q.vo = text->len;
			if (eq && reencode(text, &tmp, eq + 1, seg - kl - 1) < 0)
				goto bad;
			q.vl = text->len - q.vo;
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				*params = xreallocarray(*params, cap, sizeof(**params));
			}
			(*params)[n++] = q;
		}
		p += seg;
		if (*p == '&')
			p++;
	}
	strbuf_free(&tmp);
	return (long)n;
bad:
	strbuf_free(&tmp);
	return -1;
}

static enum sigv4_err
canonical_query(struct strbuf *out, const char *query, int flags)
{
	struct strbuf text;
	struct qparam *params = NULL;
	long n;

	if (query == NULL || *query == '\0')
		return SIGV4_OK;
	strbuf_init(&text);
	if ((n = query_params(query, flags, &text, &params)) < 0) {
		strbuf_free(&text);
		free(params);
		return SIGV4_ERR_URI;
	}
	for (long i = 0; i < n; i++) {
		params[i].k = sb_str(&text) + params[i].ko;
		params[i].v = sb_str(&text) + params[i].vo;
	}
	if (n > 1)
		qsort(params, (size_t)n, sizeof(*params), qparam_cmp);
	for (long i = 0; i < n; i++) {
		if (i > 0)
			sb_putc(out, '&');
		strbuf_append(out, params[i].k, params[i].kl);
		sb_putc(out, '=');
		strbuf_append(out, params[i].v, params[i].vl);
	}
	strbuf_free(&text);
	free(params);
	return SIGV4_OK;
}

static int
header_name_is(const char *hname, const char *name, size_t nlen)
{
	for (size_t i = 0; i < nlen; i++)
		if (hname[i] == '\0' || ascii_lower(hname[i]) != name[i])
			return 0;
	return hname[nlen] == '\0';
}

/* The value trimmed, each inner run of white space made one space. */
static void
append_trimmed(struct strbuf *out, const char *v)
{
	int started = 0, space = 0;
	size_t run = 0;

	for (; *v != '\0'; v++) {
		if (!is_space(*v)) {
			if (space)
				sb_putc(out, ' ');
			space = 0;
			started = 1;
			run++;
			continue;
		}
		strbuf_append(out, v - run, run);
		run = 0;
		space = started;
	}
	strbuf_append(out, v - run, run);
}

static enum sigv4_err
canonical_headers(struct strbuf *out, const struct sigv4_request *req, const char *signed_headers)
{
	const char *s = signed_headers;

	while (*s != '\0') {
		size_t nlen = strcspn(s, ";");
		int found = 0;

		strbuf_append(out, s, nlen);
		sb_putc(out, ':');
		for (size_t i = 0; i < req->nheaders; i++) {
			if (req->headers[i].name == NULL ||
			    !header_name_is(req->headers[i].name, s, nlen))
				continue;
			if (found++)
				sb_putc(out, ',');
			append_trimmed(out, req->headers[i].value ? req->headers[i].value : "");
		}
		if (!found)
			return SIGV4_ERR_MISSING_HEADER;
		sb_putc(out, '\n');
		s += nlen;
		if (*s == ';')
			s++;
	}
	return SIGV4_OK;
}

enum sigv4_err
sigv4_canonical_request(struct strbuf *out, const struct sigv4_request *req,
    const char *signed_headers, int flags)
{
	enum sigv4_err err;

	strbuf_reset(out);
	strbuf_puts(out, req->method);
	sb_putc(out, '\n');
	if ((err = canonical_uri(out, req->path, req->path_mode)) != SIGV4_OK)
		return err;
	sb_putc(out, '\n');
	if ((err = canonical_query(out, req->query, flags)) != SIGV4_OK)
		return err;
	sb_putc(out, '\n');
	if ((err = canonical_headers(out, req, signed_headers)) != SIGV4_OK)
		return err;
	sb_putc(out, '\n');
	strbuf_puts(out, signed_headers);
	sb_putc(out, '\n');
	strbuf_puts(out, req->payload_hash ? req->payload_hash : SIGV4_UNSIGNED_PAYLOAD);
	return SIGV4_OK;
}

static int
cmp_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
sigv4_signed_headers_of(struct strbuf *out, const struct sigv4_header *headers, size_t n)
{
	char **names = xcalloc(n ? n : 1, sizeof(*names));
	size_t m = 0;

	strbuf_reset(out);
	for (size_t i = 0; i < n; i++) {
		names[m] = xstrdup(headers[i].name);
		for (char *c = names[m]; *c != '\0'; c++)
			*c = ascii_lower(*c);
		m++;
	}
	if (m > 1)
		qsort(names, m, sizeof(*names), cmp_strings);
	for (size_t i = 0; i < m; i++) {
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0) {
			if (out->len > 0)
				sb_putc(out, ';');
			strbuf_puts(out, names[i]);
		}
	}
	for (size_t i = 0; i < m; i++)
		free(names[i]);
	free(names);
	strbuf_append(out, "", 0);
}

int
sigv4_signed_headers_has(const char *signed_headers, const char *name)
{
	size_t len = strlen(name);
	const char *s = signed_headers;

	while (*s != '\0') {
		size_t n = strcspn(s, ";");

		if (n == len && memcmp(s, name, len) == 0)
			return 1;
		s += n;
		if (*s == ';')
			s++;
	}
	return 0;
}

/* ---- keys, strings to sign, signatures ---------------------------------------------------- */

int
sigv4_scope(char out[SIGV4_SCOPE_BUF], const char *date, const char *region, const char *service)
{
	int n = snprintf(out, SIGV4_SCOPE_BUF, "%s/%s/%s/%s", date, region, service,
	    SIGV4_TERMINATOR);

	if (n < 0 || n >= SIGV4_SCOPE_BUF) {
		out[0] = '\0';
		return -1;
	}
	return n;
}

void
sigv4_string_to_sign(struct strbuf *out, const char *amz_date, const char *scope,
    const char *creq, size_t creq_len)
{
	uint8_t md[32];
	char hex[SIGV4_HEX_BUF];

	sha256_raw(creq, creq_len, md);
	hex_encode(md, 32, hex);
	strbuf_reset(out);
	strbuf_printf(out, "%s\n%s\n%s\n%s", SIGV4_ALGORITHM, amz_date, scope, hex);
}

void
sigv4_signing_key(uint8_t key[SIGV4_KEY_LEN], const char *secret, const char *date,
    const char *region, const char *service)
{
	size_t slen = strlen(secret);
	uint8_t *k0 = xmalloc(slen + 4), a[32], b[32];

	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, secret, slen);
	hmac_sha256(k0, slen + 4, date, strlen(date), a);
	hmac_sha256(a, 32, region, strlen(region), b);
	hmac_sha256(b, 32, service, strlen(service), a);
	hmac_sha256(a, 32, SIGV4_TERMINATOR, strlen(SIGV4_TERMINATOR), key);
	OPENSSL_cleanse(k0, slen + 4);
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	free(k0);
}

void
sigv4_signature(const uint8_t key[SIGV4_KEY_LEN], const char *data, size_t len,
    char out[SIGV4_HEX_BUF])
{
	uint8_t mac[32];

	hmac_sha256(key, SIGV4_KEY_LEN, data, len, mac);
	hex_encode(mac, 32, out);
}

int
sigv4_signature_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL || strlen(a) != 64 || strlen(b) != 64)
		return 0;
	return CRYPTO_memcmp(a, b, 64) == 0;
}

/* The signature of a streaming string to sign: prefix, date, scope, prev[, extra], hash. */
static void
stream_signature(const uint8_t key[SIGV4_KEY_LEN], const char *prefix, const char *amz_date,
    const char *scope, const char *prev, const char *extra, const uint8_t hash[32],
    char out[SIGV4_HEX_BUF])
{
	struct strbuf sts;
	char hex[SIGV4_HEX_BUF];

	hex_encode(hash, 32, hex);
	strbuf_init(&sts);
	strbuf_printf(&sts, "%s\n%s\n%s\n%s\n", prefix, amz_date, scope, prev);
	if (extra != NULL)
		strbuf_printf(&sts, "%s\n", extra);
	strbuf_puts(&sts, hex);
	sigv4_signature(key, sts.data, sts.len, out);
	strbuf_free(&sts);
}

void
sigv4_chunk_signature(const uint8_t key[SIGV4_KEY_LEN], const char *amz_date,
    const char *scope, const char *prev, const uint8_t chunk_sha256[32],
    char out[SIGV4_HEX_BUF])
{
	stream_signature(key, "AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev,
	    SIGV4_EMPTY_SHA256, chunk_sha256, out);
}

void
sigv4_trailer_signature(const uint8_t key[SIGV4_KEY_LEN], const char *amz_date,
    const char *scope, const char *prev, const uint8_t trailer_sha256[32],
    char out[SIGV4_HEX_BUF])
{
	stream_signature(key, "AWS4-HMAC-SHA256-TRAILER", amz_date, scope, prev, NULL,
	    trailer_sha256, out);
}

void
sigv4_trailers_sha256(const struct sigv4_header *trailers, size_t n, uint8_t out[32])
{
	struct strbuf text;

	strbuf_init(&text);
	for (size_t i = 0; i < n; i++) {
		for (const char *c = trailers[i].name; *c != '\0'; c++)
			sb_putc(&text, ascii_lower(*c));
		sb_putc(&text, ':');
		append_trimmed(&text, trailers[i].value ? trailers[i].value : "");
		sb_putc(&text, '\n');
	}
	sha256_raw(sb_str(&text), text.len, out);
	strbuf_free(&text);
}

/* ---- parsing the Authorization header and presigned queries ------------------------------- */

/* A region or service name: letters, digits, '-', '_', '.'. */
static int
scope_part_valid(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!(is_unreserved((unsigned char)s[i]) && s[i] != '~'))
			return 0;
	return 1;
}

/* "AKID/YYYYMMDD/region/service/aws4_request" */
static enum sigv4_err
parse_credential(const char *s, size_t len, struct sigv4_auth *auth)
{
	const char *part[5];
	size_t plen[5], n = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '/')
			continue;
		if (n == 5)
			return SIGV4_ERR_CREDENTIAL;
		part[n] = s + start;
		plen[n++] = i - start;
		start = i + 1;
	}
	if (n != 5 || plen[0] == 0 || plen[0] > SIGV4_ACCESS_KEY_MAX)
		return SIGV4_ERR_CREDENTIAL;
	for (size_t i = 0; i < plen[0]; i++)
		if (part[0][i] <= ' ' || part[0][i] > '~')
			return SIGV4_ERR_CREDENTIAL;
	if (parse_date8(part[1], plen[1]) < 0 ||
	    !scope_part_valid(part[2], plen[2], SIGV4_REGION_MAX) ||
	    !scope_part_valid(part[3], plen[3], SIGV4_SERVICE_MAX) ||
	    !span_eq(part[4], plen[4], SIGV4_TERMINATOR))
		return SIGV4_ERR_CREDENTIAL;
	memcpy(auth->access_key, part[0], plen[0]);
	auth->access_key[plen[0]] = '\0';
	memcpy(auth->date, part[1], 8);
	auth->date[8] = '\0';
	memcpy(auth->region, part[2], plen[2]);
	auth->region[plen[2]] = '\0';
	memcpy(auth->service, part[3], plen[3]);
	auth->service[plen[3]] = '\0';
	return SIGV4_OK;
}

/* Is the name s[0..len) already among the first count names of list (';'-separated)? */
static int
signed_name_seen(const char *list, size_t upto, const char *s, size_t len)
{
	size_t i = 0;

	while (i < upto) {
		size_t n = strcspn(list + i, ";");

		if (n == len && memcmp(list + i, s, len) == 0)
			return 1;
		i += n + 1;
	}
	return 0;
}

/* "host;range;x-amz-date": lowercase names, no empty one, none twice. */
static enum sigv4_err
parse_signed_headers(const char *s, size_t len, struct sigv4_auth *auth)
{
	size_t start = 0, count = 0;

	if (len == 0 || len > SIGV4_SIGNED_HEADERS_MAX)
		return SIGV4_ERR_MALFORMED;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ';') {
			if (!is_lower_tchar(s[i]))
				return SIGV4_ERR_MALFORMED;
			continue;
		}
		if (i == start || ++count > SIGV4_SIGNED_HEADERS_COUNT_MAX ||
		    signed_name_seen(s, start, s + start, i - start))
			return SIGV4_ERR_MALFORMED;
		start = i + 1;
	}
	memcpy(auth->signed_headers, s, len);
	auth->signed_headers[len] = '\0';
	return SIGV4_OK;
}

enum { PART_CREDENTIAL = 1, PART_SIGNED_HEADERS = 2, PART_SIGNATURE = 4 };

static enum sigv4_err
auth_part(const char *key, size_t klen, const char *val, size_t vlen, int *seen,
    struct sigv4_auth *auth)
{
	int which;

	if (span_eq(key, klen, "Credential"))
		which = PART_CREDENTIAL;
	else if (span_eq(key, klen, "SignedHeaders"))
		which = PART_SIGNED_HEADERS;
	else if (span_eq(key, klen, "Signature"))
		which = PART_SIGNATURE;
	else
		return SIGV4_ERR_MALFORMED;
	if (*seen & which)
		return SIGV4_ERR_MALFORMED;
	*seen |= which;
	switch (which) {
	case PART_CREDENTIAL:
		return parse_credential(val, vlen, auth);
	case PART_SIGNED_HEADERS:
		return parse_signed_headers(val, vlen, auth);
	default:
		return parse_hex_signature(val, vlen, auth->signature) < 0 ?
		    SIGV4_ERR_MALFORMED : SIGV4_OK;
	}
}

enum sigv4_err
sigv4_parse_authorization(const char *value, struct sigv4_auth *auth)
{
	const char *p = value;
	size_t alen;
	int seen = 0;

	memset(auth, 0, sizeof(*auth));
	if (p == NULL)
		return SIGV4_ERR_MALFORMED;
	while (is_blank(*p))
		p++;
	alen = strcspn(p, " \t");
	if (!span_eq(p, alen, SIGV4_ALGORITHM))
		return SIGV4_ERR_ALGORITHM;
	p += alen;
	if (!is_blank(*p))
		return SIGV4_ERR_MALFORMED;
	for (;;) {
		while (is_blank(*p))
			p++;
		size_t klen = strcspn(p, "=, \t"), vlen;
		const char *val;
		enum sigv4_err err;

		if (klen == 0 || p[klen] != '=')
			return SIGV4_ERR_MALFORMED;
		val = p + klen + 1;
		vlen = strcspn(val, ", \t");
		if ((err = auth_part(p, klen, val, vlen, &seen, auth)) != SIGV4_OK)
			return err;
		p = val + vlen;
		while (is_blank(*p))
			p++;
		if (*p == '\0')
			break;
		if (*p++ != ',')
			return SIGV4_ERR_MALFORMED;
	}
	if (seen != (PART_CREDENTIAL | PART_SIGNED_HEADERS | PART_SIGNATURE))
		return SIGV4_ERR_MALFORMED;
	return SIGV4_OK;
}

enum {
	Q_ALGORITHM = 1, Q_CREDENTIAL = 2, Q_DATE = 4, Q_EXPIRES = 8, Q_SIGNED_HEADERS = 16,
	Q_SIGNATURE = 32, Q_ALL = 63,
};

static int
presign_param(const char *name, size_t len)
{
	static const char *const names[] = {
		"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
		"X-Amz-SignedHeaders", "X-Amz-Signature",
	};

	for (int i = 0; i < 6; i++)
		if (span_eq(name, len, names[i]))
			return 1 << i;
	return 0;
}

static enum sigv4_err
parse_expires(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (len == 0 || len > 7)
		return SIGV4_ERR_EXPIRES;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return SIGV4_ERR_EXPIRES;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > SIGV4_EXPIRES_MAX)
		return SIGV4_ERR_EXPIRES;
	*out = v;
	return SIGV4_OK;
}

static enum sigv4_err
presign_value(int which, const char *v, size_t len, struct sigv4_auth *auth)
{
	switch (which) {
	case Q_ALGORITHM:
		return span_eq(v, len, SIGV4_ALGORITHM) ? SIGV4_OK : SIGV4_ERR_ALGORITHM;
	case Q_CREDENTIAL:
		return parse_credential(v, len, auth);
	case Q_DATE:
		if (len != 16 || memchr(v, '\0', len) != NULL)
			return SIGV4_ERR_DATE;
		memcpy(auth->amz_date, v, 16);
		auth->amz_date[16] = '\0';
		return sigv4_parse_amz_date(auth->amz_date, &auth->time) < 0 ?
		    SIGV4_ERR_DATE : SIGV4_OK;
	case Q_EXPIRES:
		return parse_expires(v, len, &auth->expires);
	case Q_SIGNED_HEADERS:
		return parse_signed_headers(v, len, auth);
	default:
		return parse_hex_signature(v, len, auth->signature) < 0 ?
		    SIGV4_ERR_MALFORMED : SIGV4_OK;
	}
}

/* One "name=value" of the query; *seen collects the SigV4 parameters met. */
static enum sigv4_err
presign_pair(const char *p, size_t seg, struct strbuf *tmp, int *seen, struct sigv4_auth *auth)
{
	const char *eq = memchr(p, '=', seg);
	size_t kl = eq ? (size_t)(eq - p) : seg;
	int which;

	strbuf_reset(tmp);
	if (sigv4_uri_decode(tmp, p, kl, 1) < 0)
		return SIGV4_ERR_URI;
	if ((which = presign_param(sb_str(tmp), tmp->len)) == 0)
		return SIGV4_OK;
	if (*seen & which)
		return SIGV4_ERR_MALFORMED;
	*seen |= which;
	strbuf_reset(tmp);
	if (eq && sigv4_uri_decode(tmp, eq + 1, seg - kl - 1, 1) < 0)
		return SIGV4_ERR_URI;
	return presign_value(which, sb_str(tmp), tmp->len, auth);
}

enum sigv4_err
sigv4_parse_presigned(const char *query, struct sigv4_auth *auth)
{
	struct strbuf tmp;
	const char *p = query ? query : "";
	enum sigv4_err err = SIGV4_OK;
	int seen = 0;

	memset(auth, 0, sizeof(*auth));
	strbuf_init(&tmp);
	while (*p != '\0' && err == SIGV4_OK) {
		size_t seg = strcspn(p, "&");

		if (seg > 0)
			err = presign_pair(p, seg, &tmp, &seen, auth);
		p += seg;
		if (*p == '&')
			p++;
	}
	strbuf_free(&tmp);
	if (err != SIGV4_OK)
		return err;
	if (seen == 0)
		return SIGV4_ERR_ABSENT;
	if (seen != Q_ALL)
		return SIGV4_ERR_MALFORMED;
	auth->presigned = 1;
	return SIGV4_OK;
}

enum sigv4_err
sigv4_auth_set_date(struct sigv4_auth *auth, const char *x_amz_date, const char *http_date)
{
	int64_t t;

	auth->amz_date[0] = '\0';
	if (x_amz_date != NULL) {
		if (sigv4_parse_amz_date(x_amz_date, &t) < 0)
			return SIGV4_ERR_DATE;
	} else if (http_date == NULL || sigv4_parse_http_date(http_date, &t) < 0) {
		return SIGV4_ERR_DATE;
	}
	if (sigv4_format_amz_date(t, auth->amz_date) < 0)
		return SIGV4_ERR_DATE;
	auth->time = t;
	return SIGV4_OK;
}

enum sigv4_err
sigv4_check_time(const struct sigv4_auth *auth, int64_t now)
{
	if (auth->amz_date[0] == '\0')
		return SIGV4_ERR_DATE;
	if (memcmp(auth->date, auth->amz_date, 8) != 0)
		return SIGV4_ERR_CREDENTIAL;
	if (auth->presigned) {
		if (auth->time - now > SIGV4_MAX_SKEW)
			return SIGV4_ERR_NOT_YET_VALID;
		if (now - auth->time > auth->expires)
			return SIGV4_ERR_EXPIRED;
		return SIGV4_OK;
	}
	if (auth->time - now > SIGV4_MAX_SKEW || now - auth->time > SIGV4_MAX_SKEW)
		return SIGV4_ERR_SKEW;
	return SIGV4_OK;
}

/* ---- verifying and signing ---------------------------------------------------------------- */

enum sigv4_err
sigv4_verify(const struct sigv4_auth *auth, const struct sigv4_request *req,
    const uint8_t key[SIGV4_KEY_LEN], char computed[SIGV4_HEX_BUF], struct strbuf *creq,
    struct strbuf *sts)
{
	struct strbuf creq_own, sts_own;
	char scope[SIGV4_SCOPE_BUF];
	enum sigv4_err err;

	computed[0] = '\0';
	strbuf_init(&creq_own);
	strbuf_init(&sts_own);
	if (creq == NULL)
		creq = &creq_own;
	if (sts == NULL)
		sts = &sts_own;
	err = sigv4_canonical_request(creq, req, auth->signed_headers,
	    auth->presigned ? SIGV4_CANON_PRESIGNED : 0);
	if (err == SIGV4_OK && sigv4_scope(scope, auth->date, auth->region, auth->service) < 0)
		err = SIGV4_ERR_CREDENTIAL;
	if (err == SIGV4_OK) {
		sigv4_string_to_sign(sts, auth->amz_date, scope, sb_str(creq), creq->len);
		sigv4_signature(key, sts->data, sts->len, computed);
		if (!sigv4_signature_equal(computed, auth->signature))
			err = SIGV4_ERR_MISMATCH;
	}
	strbuf_free(&creq_own);
	strbuf_free(&sts_own);
	return err;
}

static int
reserved_header(const char *name)
{
	static const char *const reserved[] = {
		"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
		"authorization",
	};

	for (size_t i = 0; i < nitems(reserved); i++)
		if (header_name_is(name, reserved[i], strlen(reserved[i])))
			return 1;
	return 0;
}

/* req's headers after the given ones, in a new array; NULL if req holds a reserved one. */
static struct sigv4_header *
headers_with(const struct sigv4_request *req, const struct sigv4_header *first, size_t nfirst,
    size_t *n)
{
	struct sigv4_header *all;

	for (size_t i = 0; i < req->nheaders; i++)
		if (req->headers[i].name == NULL || reserved_header(req->headers[i].name))
			return NULL;
	all = xcalloc(nfirst + req->nheaders, sizeof(*all));
	memcpy(all, first, nfirst * sizeof(*all));
	if (req->nheaders > 0)
		memcpy(all + nfirst, req->headers, req->nheaders * sizeof(*all));
	*n = nfirst + req->nheaders;
	return all;
}

/* Canonical request, string to sign and signature of r with the given signed headers. */
static int
sign_common(const struct sigv4_credentials *cred, const struct sigv4_request *r,
    const char *signed_headers, int flags, const char *amz_date, char scope[SIGV4_SCOPE_BUF],
    uint8_t key[SIGV4_KEY_LEN], char sig[SIGV4_HEX_BUF])
{
	struct strbuf creq, sts;
	char date[SIGV4_DATE_BUF];
	int rc = -1;

	memcpy(date, amz_date, 8);
	date[8] = '\0';
	strbuf_init(&creq);
	strbuf_init(&sts);
	if (sigv4_scope(scope, date, cred->region, cred->service) >= 0 &&
	    sigv4_canonical_request(&creq, r, signed_headers, flags) == SIGV4_OK) {
		sigv4_string_to_sign(&sts, amz_date, scope, sb_str(&creq), creq.len);
		sigv4_signing_key(key, cred->secret_key, date, cred->region, cred->service);
		sigv4_signature(key, sts.data, sts.len, sig);
		rc = 0;
	}
	strbuf_free(&creq);
	strbuf_free(&sts);
	return rc;
}

int
sigv4_sign(const struct sigv4_credentials *cred, const struct sigv4_request *req,
    const char *host, int64_t now, struct sigv4_signed *out)
{
	struct sigv4_header first[4], *all;
	struct sigv4_request r = *req;
	struct strbuf sh;
	size_t nfirst = 3, n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (sigv4_format_amz_date(now, out->amz_date) < 0)
		return -1;
	if (r.payload_hash == NULL)
		r.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
	first[0] = (struct sigv4_header){ "host", host };
	first[1] = (struct sigv4_header){ "x-amz-content-sha256", r.payload_hash };
	first[2] = (struct sigv4_header){ "x-amz-date", out->amz_date };
	if (cred->session_token != NULL)
		first[nfirst++] = (struct sigv4_header){ "x-amz-security-token", cred->session_token };
	if ((all = headers_with(req, first, nfirst, &n)) == NULL)
		return -1;
	r.headers = all;
	r.nheaders = n;
	strbuf_init(&sh);
	sigv4_signed_headers_of(&sh, all, n);
	rc = sign_common(cred, &r, sb_str(&sh), 0, out->amz_date, out->scope, out->key,
	    out->signature);
	if (rc == 0)
		out->authorization = xasprintf("%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		    SIGV4_ALGORITHM, cred->access_key, out->scope, sb_str(&sh), out->signature);
	strbuf_free(&sh);
	free(all);
	return rc;
}

void
sigv4_signed_free(struct sigv4_signed *out)
{
	free(out->authorization);
	out->authorization = NULL;
	OPENSSL_cleanse(out->key, sizeof(out->key));
}

/* The X-Amz-* parameters of a presigned URL, X-Amz-Signature excepted, appended to q. */
static void
presign_params(struct strbuf *q, const struct sigv4_credentials *cred, const char *amz_date,
    const char *scope, int64_t expires, const char *signed_headers)
{
	struct strbuf cred_scope;

	strbuf_init(&cred_scope);
	strbuf_printf(&cred_scope, "%s/%s", cred->access_key, scope);
	strbuf_puts(q, "X-Amz-Algorithm=" SIGV4_ALGORITHM "&X-Amz-Credential=");
	sigv4_uri_encode(q, cred_scope.data, cred_scope.len, 0);
	strbuf_printf(q, "&X-Amz-Date=%s&X-Amz-Expires=%lld&X-Amz-SignedHeaders=", amz_date,
	    (long long)expires);
	sigv4_uri_encode(q, signed_headers, strlen(signed_headers), 0);
	if (cred->session_token != NULL) {
		strbuf_puts(q, "&X-Amz-Security-Token=");
		sigv4_uri_encode(q, cred->session_token, strlen(cred->session_token), 0);
	}
	strbuf_free(&cred_scope);
}

char *
sigv4_presign(const struct sigv4_credentials *cred, const struct sigv4_request *req,
    const char *host, int64_t now, int64_t expires)
{
	struct sigv4_header first = { "host", host }, *all;
	struct sigv4_request r = *req;
	struct strbuf q, sh;
	char amz_date[SIGV4_AMZ_DATE_BUF], date[SIGV4_DATE_BUF], scope[SIGV4_SCOPE_BUF];
	char sig[SIGV4_HEX_BUF];
	uint8_t key[SIGV4_KEY_LEN];
	size_t n;
	int rc;

	if (expires < 1 || expires > SIGV4_EXPIRES_MAX || sigv4_format_amz_date(now, amz_date) < 0)
		return NULL;
	if ((all = headers_with(req, &first, 1, &n)) == NULL)
		return NULL;
	memcpy(date, amz_date, 8);
	date[8] = '\0';
	strbuf_init(&q);
	strbuf_init(&sh);
	sigv4_signed_headers_of(&sh, all, n);
	if (req->query != NULL && *req->query != '\0')
		strbuf_printf(&q, "%s&", req->query);
	if (sigv4_scope(scope, date, cred->region, cred->service) >= 0)
		presign_params(&q, cred, amz_date, scope, expires, sb_str(&sh));
	r.headers = all;
	r.nheaders = n;
	r.query = sb_str(&q);
	rc = sign_common(cred, &r, sb_str(&sh), SIGV4_CANON_PRESIGNED, amz_date, scope, key, sig);
	OPENSSL_cleanse(key, sizeof(key));
	strbuf_free(&sh);
	free(all);
	if (rc < 0) {
		strbuf_free(&q);
		return NULL;
	}
	strbuf_printf(&q, "&X-Amz-Signature=%s", sig);
	return strbuf_detach(&q);
}

/* ---- aws-chunked bodies ------------------------------------------------------------------- */

int
sigv4_chunked_mode_parse(const char *content_sha256, enum sigv4_chunked_mode *mode)
{
	if (content_sha256 == NULL)
		return -1;
	if (strcmp(content_sha256, SIGV4_STREAMING_PAYLOAD) == 0)
		*mode = SIGV4_CHUNKED_SIGNED;
	else if (strcmp(content_sha256, SIGV4_STREAMING_PAYLOAD_TRAILER) == 0)
		*mode = SIGV4_CHUNKED_SIGNED_TRAILER;
	else if (strcmp(content_sha256, SIGV4_STREAMING_UNSIGNED_TRAILER) == 0)
		*mode = SIGV4_CHUNKED_UNSIGNED_TRAILER;
	else
		return -1;
	return 0;
}

static uint64_t
hex_length(uint64_t v)
{
	uint64_t n = 1;

	while (v >= 16) {
		v /= 16;
		n++;
	}
	return n;
}

uint64_t
sigv4_chunked_encoded_length(enum sigv4_chunked_mode mode, uint64_t payload_len,
    uint64_t chunk_size, uint64_t trailer_len)
{
	uint64_t ext = mode == SIGV4_CHUNKED_UNSIGNED_TRAILER ? 0 : strlen(CHUNK_SIG_EXT) + 64;
	uint64_t full, rest, total;

	if (chunk_size == 0)
		return 0;
	full = payload_len / chunk_size;
	rest = payload_len % chunk_size;
	total = full * (hex_length(chunk_size) + ext + 2 + chunk_size + 2);
	if (rest > 0)
		total += hex_length(rest) + ext + 2 + rest + 2;
	total += 1 + ext + 2;
	if (mode != SIGV4_CHUNKED_SIGNED)
		total += trailer_len;
	if (mode == SIGV4_CHUNKED_SIGNED_TRAILER)
		total += strlen(TRAILER_SIG_NAME) + 1 + 64 + 2;
	return total + 2;
}

int
sigv4_chunk_header(char *buf, size_t cap, uint64_t size, const char *sig)
{
	int n;

	if (sig != NULL)
		n = snprintf(buf, cap, "%llx" CHUNK_SIG_EXT "%s\r\n", (unsigned long long)size, sig);
	else
		n = snprintf(buf, cap, "%llx\r\n", (unsigned long long)size);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

enum {
	CK_HEADER = 0,		/* reading a chunk header line */
	CK_DATA,		/* passing chunk data on */
	CK_DATA_CR,		/* the CR after the data */
	CK_DATA_LF,		/* the LF after the data */
	CK_TRAILER,		/* reading trailer lines */
	CK_END_OR_TRAILER,	/* "0" CRLF CRLF seen: the end, unless trailers follow */
	CK_DONE,
	CK_ERROR,
};

static int
chunked_signed(const struct sigv4_chunked *d)
{
	return d->mode != SIGV4_CHUNKED_UNSIGNED_TRAILER;
}

int
sigv4_chunked_init(struct sigv4_chunked *d, enum sigv4_chunked_mode mode)
{
	memset(d, 0, sizeof(*d));
	d->mode = mode;
	d->state = CK_HEADER;
	if (chunked_signed(d) && (d->sha = EVP_MD_CTX_new()) == NULL)
		return -1;
	return 0;
}

void
sigv4_chunked_free(struct sigv4_chunked *d)
{
	EVP_MD_CTX_free(d->sha);
	d->sha = NULL;
	OPENSSL_cleanse(d->key, sizeof(d->key));
}

void
sigv4_chunked_set_verify(struct sigv4_chunked *d, const uint8_t key[SIGV4_KEY_LEN],
    const char *amz_date, const char *scope, const char *seed)
{
	memcpy(d->key, key, SIGV4_KEY_LEN);
	snprintf(d->amz_date, sizeof(d->amz_date), "%s", amz_date);
	snprintf(d->scope, sizeof(d->scope), "%s", scope);
	snprintf(d->prev, sizeof(d->prev), "%s", seed);
	d->verify = chunked_signed(d);
}

static enum sigv4_chunked_event
chunked_fail(struct sigv4_chunked *d, enum sigv4_err err, const char *why)
{
	d->state = CK_ERROR;
	d->err = err;
	d->why = why;
	return SIGV4_CHUNKED_ERROR;
}

/*
 * Take bytes of a line into d->line up to its LF; *used says how many.  Returns 1 with the
 * line (its CR removed, NUL-terminated) when complete, 0 when more is needed, -1 on error.
 */
static int
chunked_take_line(struct sigv4_chunked *d, const uint8_t *p, size_t len, size_t *used)
{
	const uint8_t *lf = memchr(p, '\n', len);
	size_t n = lf ? (size_t)(lf - p) : len;

	*used = lf ? n + 1 : n;
	if (d->line_len + n > SIGV4_CHUNK_LINE_MAX - 1) {
		chunked_fail(d, SIGV4_ERR_LIMIT, "line too long");
		return -1;
	}
	memcpy(d->line + d->line_len, p, n);
	d->line_len += n;
	if (lf == NULL)
		return 0;
	if (d->line_len == 0 || d->line[d->line_len - 1] != '\r') {
		chunked_fail(d, SIGV4_ERR_CHUNK, "line not ended by CRLF");
		return -1;
	}
	d->line[--d->line_len] = '\0';
	return 1;
}

/* A chunk (the final one included) is complete: check its signature, then report it. */
static enum sigv4_chunked_event
chunked_chunk_end(struct sigv4_chunked *d)
{
	char expected[SIGV4_HEX_BUF];
	unsigned int n = 32;

	d->nchunks++;
	if (!chunked_signed(d))
		return SIGV4_CHUNKED_CHUNK;
	if (EVP_DigestFinal_ex(d->sha, d->chunk_sha256, &n) != 1)
		return chunked_fail(d, SIGV4_ERR_CHUNK, "SHA-256 failed");
	if (d->verify) {
		sigv4_chunk_signature(d->key, d->amz_date, d->scope, d->prev, d->chunk_sha256,
		    expected);
		if (!sigv4_signature_equal(expected, d->chunk_signature))
			return chunked_fail(d, SIGV4_ERR_MISMATCH, "chunk signature mismatch");
	}
	memcpy(d->prev, d->chunk_signature, SIGV4_HEX_BUF);
	return SIGV4_CHUNKED_CHUNK;
}

/* "hex-size[;chunk-signature=sig]" */
static enum sigv4_chunked_event
chunked_header_line(struct sigv4_chunked *d)
{
	const char *s = d->line;
	size_t len = d->line_len, i = 0, extlen = strlen(CHUNK_SIG_EXT);
	uint64_t size = 0;

	for (; i < len && hex_value(s[i]) >= 0; i++) {
		size = size * 16 + (uint64_t)hex_value(s[i]);
		if (size > SIGV4_CHUNK_SIZE_MAX)
			return chunked_fail(d, SIGV4_ERR_LIMIT, "chunk too large");
	}
	if (i == 0)
		return chunked_fail(d, SIGV4_ERR_CHUNK, "bad chunk size");
	d->chunk_signature[0] = '\0';
	if (chunked_signed(d)) {
		if (len - i != extlen + 64 || memcmp(s + i, CHUNK_SIG_EXT, extlen) != 0 ||
		    parse_hex_signature(s + i + extlen, 64, d->chunk_signature) < 0)
			return chunked_fail(d, SIGV4_ERR_CHUNK, "bad chunk signature");
		if (EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL) != 1)
			return chunked_fail(d, SIGV4_ERR_CHUNK, "SHA-256 failed");
	} else if (i != len) {
		return chunked_fail(d, SIGV4_ERR_CHUNK, "bad chunk size");
	}
	d->chunk_size = size;
	d->line_len = 0;
	if (size > 0) {
		d->left = size;
		d->state = CK_DATA;
		return SIGV4_CHUNKED_NEED_MORE;
	}
	d->state = CK_TRAILER;
	return chunked_chunk_end(d);
}

/* The trailers are complete: check the trailer signature. */
static enum sigv4_chunked_event
chunked_trailers_end(struct sigv4_chunked *d)
{
	struct sigv4_header h[SIGV4_TRAILERS_MAX];
	uint8_t hash[32];
	char expected[SIGV4_HEX_BUF];

	if (d->mode == SIGV4_CHUNKED_SIGNED_TRAILER) {
		if (d->trailer_signature[0] == '\0')
			return chunked_fail(d, SIGV4_ERR_TRAILER, "no x-amz-trailer-signature");
		if (d->verify) {
			for (size_t i = 0; i < d->ntrailers; i++)
				h[i] = (struct sigv4_header){ d->trailers[i].name,
				    d->trailers[i].value };
			sigv4_trailers_sha256(h, d->ntrailers, hash);
			sigv4_trailer_signature(d->key, d->amz_date, d->scope, d->prev, hash,
			    expected);
			if (!sigv4_signature_equal(expected, d->trailer_signature))
				return chunked_fail(d, SIGV4_ERR_MISMATCH,
				    "trailer signature mismatch");
		}
	}
	d->state = CK_DONE;
	return SIGV4_CHUNKED_DONE;
}

/* Store one "name:value" trailer line. */
static enum sigv4_chunked_event
chunked_trailer(struct sigv4_chunked *d, const char *s, size_t len)
{
	size_t nlen = 0, vstart, vend;
	struct sigv4_trailer *t;

	while (nlen < len && is_tchar(s[nlen]))
		nlen++;
	if (nlen == 0 || nlen == len || s[nlen] != ':' || nlen > SIGV4_TRAILER_NAME_MAX)
		return chunked_fail(d, SIGV4_ERR_TRAILER, "bad trailer name");
	for (vstart = nlen + 1; vstart < len && is_blank(s[vstart]); vstart++)
		;
	for (vend = len; vend > vstart && is_blank(s[vend - 1]); vend--)
		;
	for (size_t i = vstart; i < vend; i++)
		if ((s[i] < ' ' && s[i] != '\t') || s[i] > '~')
			return chunked_fail(d, SIGV4_ERR_TRAILER, "bad trailer value");
	if (vend - vstart > SIGV4_TRAILER_VALUE_MAX)
		return chunked_fail(d, SIGV4_ERR_LIMIT, "trailer value too long");
	if (d->ntrailers == SIGV4_TRAILERS_MAX)
		return chunked_fail(d, SIGV4_ERR_LIMIT, "too many trailers");
	t = &d->trailers[d->ntrailers];
	for (size_t i = 0; i < nlen; i++)
		t->name[i] = ascii_lower(s[i]);
	t->name[nlen] = '\0';
	memcpy(t->value, s + vstart, vend - vstart);
	t->value[vend - vstart] = '\0';
	if (strcmp(t->name, TRAILER_SIG_NAME) == 0) {
		if (d->mode != SIGV4_CHUNKED_SIGNED_TRAILER ||
		    parse_hex_signature(t->value, vend - vstart, d->trailer_signature) < 0)
			return chunked_fail(d, SIGV4_ERR_TRAILER, "bad x-amz-trailer-signature");
		return SIGV4_CHUNKED_NEED_MORE;
	}
	if (sigv4_chunked_trailer(d, t->name) != NULL)
		return chunked_fail(d, SIGV4_ERR_TRAILER, "duplicate trailer");
	d->ntrailers++;
	return SIGV4_CHUNKED_NEED_MORE;
}

static enum sigv4_chunked_event
chunked_trailer_line(struct sigv4_chunked *d)
{
	size_t len = d->line_len;

	d->line_len = 0;
	if (len > 0) {
		if (d->mode == SIGV4_CHUNKED_SIGNED)
			return chunked_fail(d, SIGV4_ERR_TRAILER, "trailer in a body without");
		if (d->trailer_signature[0] != '\0')
			return chunked_fail(d, SIGV4_ERR_TRAILER, "trailer after the signature");
		return chunked_trailer(d, d->line, len);
	}
	if (d->mode != SIGV4_CHUNKED_SIGNED && !d->blank_first && d->ntrailers == 0 &&
	    d->trailer_signature[0] == '\0') {
		/* Right after the final chunk: the end, or AWS's example form. */
		d->blank_first = 1;
		if (d->mode == SIGV4_CHUNKED_UNSIGNED_TRAILER)
			d->state = CK_END_OR_TRAILER;
		return SIGV4_CHUNKED_NEED_MORE;
	}
	return chunked_trailers_end(d);
}

static enum sigv4_chunked_event
chunked_data(struct sigv4_chunked *d, const uint8_t *p, size_t len, size_t *used,
    const uint8_t **data, size_t *data_len)
{
	size_t n = len < d->left ? len : (size_t)d->left;

	if (chunked_signed(d) && EVP_DigestUpdate(d->sha, p, n) != 1)
		return chunked_fail(d, SIGV4_ERR_CHUNK, "SHA-256 failed");
	*data = p;
	*data_len = n;
	*used = n;
	d->left -= n;
	d->total += n;
	if (d->left == 0)
		d->state = CK_DATA_CR;
	return SIGV4_CHUNKED_DATA;
}

/* One step on the input; returns an event, or NEED_MORE to go on with the rest. */
static enum sigv4_chunked_event
chunked_step(struct sigv4_chunked *d, const uint8_t *p, size_t len, size_t *used,
    const uint8_t **data, size_t *data_len)
{
	int r;

	*used = 1;
	switch (d->state) {
	case CK_DATA:
		return chunked_data(d, p, len, used, data, data_len);
	case CK_DATA_CR:
		if (*p != '\r')
			return chunked_fail(d, SIGV4_ERR_CHUNK, "chunk data longer than its size");
		d->state = CK_DATA_LF;
		return SIGV4_CHUNKED_NEED_MORE;
	case CK_DATA_LF:
		if (*p != '\n')
			return chunked_fail(d, SIGV4_ERR_CHUNK, "chunk data not ended by CRLF");
		d->state = CK_HEADER;
		return chunked_chunk_end(d);
	case CK_END_OR_TRAILER:
		*used = 0;
		d->state = CK_TRAILER;
		return SIGV4_CHUNKED_NEED_MORE;
	case CK_HEADER:
	case CK_TRAILER:
		if ((r = chunked_take_line(d, p, len, used)) <= 0)
			return r < 0 ? SIGV4_CHUNKED_ERROR : SIGV4_CHUNKED_NEED_MORE;
		return d->state == CK_HEADER ? chunked_header_line(d) : chunked_trailer_line(d);
	case CK_DONE:
		return chunked_fail(d, SIGV4_ERR_CHUNK, "data after the end of the body");
	default:
		*used = 0;
		return SIGV4_CHUNKED_ERROR;
	}
}

enum sigv4_chunked_event
sigv4_chunked_feed(struct sigv4_chunked *d, const void *buf, size_t len, size_t *used,
    const uint8_t **data, size_t *data_len)
{
	const uint8_t *p = buf;
	enum sigv4_chunked_event ev;
	size_t n;

	*used = 0;
	*data = NULL;
	*data_len = 0;
	if (d->state == CK_ERROR)
		return SIGV4_CHUNKED_ERROR;
	if (d->state == CK_DONE && len == 0)
		return SIGV4_CHUNKED_DONE;
	while (*used < len) {
		ev = chunked_step(d, p + *used, len - *used, &n, data, data_len);
		if (ev != SIGV4_CHUNKED_ERROR)
			*used += n;
		if (ev != SIGV4_CHUNKED_NEED_MORE)
			return ev;
	}
	return SIGV4_CHUNKED_NEED_MORE;
}

enum sigv4_chunked_event
sigv4_chunked_finish(struct sigv4_chunked *d)
{
	enum sigv4_chunked_event ev;

	switch (d->state) {
	case CK_DONE:
		return SIGV4_CHUNKED_DONE;
	case CK_ERROR:
		return SIGV4_CHUNKED_ERROR;
	case CK_END_OR_TRAILER:
		return chunked_trailers_end(d);
	case CK_TRAILER:
		if (!d->blank_first)
			break;
		/* AWS's example form: the last trailer line may lack its CRLF. */
		if (d->line_len > 0 && d->line[d->line_len - 1] == '\r')
			d->line_len--;
		if (d->line_len > 0) {
			d->line[d->line_len] = '\0';
			if ((ev = chunked_trailer_line(d)) == SIGV4_CHUNKED_ERROR)
				return ev;
		}
		if (d->ntrailers > 0 || d->trailer_signature[0] != '\0')
			return chunked_trailers_end(d);
		break;
	default:
		break;
	}
	return chunked_fail(d, SIGV4_ERR_TRUNCATED, "body ended early");
}

int
sigv4_chunked_decode(struct sigv4_chunked *d, uint8_t *buf, size_t len, size_t *out_len)
{
	size_t off = 0, used, n;
	const uint8_t *data;

	*out_len = 0;
	for (;;) {
		switch (sigv4_chunked_feed(d, buf + off, len - off, &used, &data, &n)) {
		case SIGV4_CHUNKED_DATA:
			memmove(buf + *out_len, data, n);
			*out_len += n;
			break;
		case SIGV4_CHUNKED_CHUNK:
			break;
		case SIGV4_CHUNKED_DONE:
			if (off + used == len)
				return 1;
			break;
		case SIGV4_CHUNKED_NEED_MORE:
			return 0;
		case SIGV4_CHUNKED_ERROR:
			return -1;
		}
		off += used;
	}
}

const struct sigv4_trailer *
sigv4_chunked_trailer(const struct sigv4_chunked *d, const char *name)
{
	for (size_t i = 0; i < d->ntrailers; i++)
		if (strcmp(d->trailers[i].name, name) == 0)
			return &d->trailers[i];
	return NULL;
}
