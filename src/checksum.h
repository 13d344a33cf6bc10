/*
 * checksum.h: the payload checksums S3 clients send and expect back: CRC32 (IEEE, as zlib),
 * CRC32C (Castagnoli), CRC64NVME, SHA-1, SHA-256 and MD5, behind one incremental interface.
 *
 * A value travels in an x-amz-checksum-<algo> header (or trailer) as the base64 of the
 * big-endian bytes of the CRC or of the digest; MD5 travels as Content-MD5 in the same form.
 * Everything here is pure computation: no I/O, no global mutable state.  The CRC tables are
 * built by the compiler; CRC32C uses the SSE4.2 crc32 instruction when the CPU has it.
 *
 *	struct checksum st;
 *	char b64[CHECKSUM_B64_BUF];
 *
 *	checksum_init(&st, CHECKSUM_CRC32C);
 *	checksum_update(&st, data, len);	(any number of times)
 *	checksum_final(&st, b64);		("4waSgw==" for "123456789")
 *
 * checksum_final*() release the state; checksum_free() releases one that is abandoned (it is
 * safe to call after a final, and twice).
 */
#ifndef S3MUX_CHECKSUM_H
#define S3MUX_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

enum checksum_algo {
	CHECKSUM_NONE = 0,
	CHECKSUM_CRC32,
	CHECKSUM_CRC32C,
	CHECKSUM_CRC64NVME,
	CHECKSUM_SHA1,
	CHECKSUM_SHA256,
	CHECKSUM_MD5,
};

#define CHECKSUM_DIGEST_MAX	32	/* bytes of the longest value (SHA-256) */
#define CHECKSUM_B64_BUF	45	/* base64 of 32 bytes, and the NUL */
#define CHECKSUM_HEX_BUF	65	/* hex of 32 bytes, and the NUL */

struct checksum {
	enum checksum_algo algo;
	uint64_t crc;		/* CRC algorithms: the running value (zlib convention) */
	void *md;		/* digest algorithms: an EVP_MD_CTX */
};

/* Start a checksum; returns 0, or -1 for CHECKSUM_NONE, an unknown value or an OpenSSL error. */
int checksum_init(struct checksum *st, enum checksum_algo algo);
void checksum_update(struct checksum *st, const void *data, size_t len);
/* Finish: the base64 value as S3 sends it, NUL-terminated; returns its length (0 on error). */
size_t checksum_final(struct checksum *st, char out[CHECKSUM_B64_BUF]);
/* Finish: the raw big-endian bytes; returns how many (4, 8, 16, 20 or 32; 0 on error). */
size_t checksum_final_raw(struct checksum *st, uint8_t out[CHECKSUM_DIGEST_MAX]);
/* Finish: lowercase hex of the raw bytes (an ETag for MD5, x-amz-content-sha256 for SHA-256). */
size_t checksum_final_hex(struct checksum *st, char out[CHECKSUM_HEX_BUF]);
/* Release an unfinished state. */
void checksum_free(struct checksum *st);

/* Bytes of an algorithm's value (4 for CRC32), 0 for CHECKSUM_NONE. */
size_t checksum_size(enum checksum_algo algo);

/*
 * Names: "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "MD5", in any case (as in
 * x-amz-checksum-algorithm and x-amz-sdk-checksum-algorithm); CHECKSUM_NONE when unknown.
 */
enum checksum_algo checksum_algo_parse(const char *name);
/* The canonical (upper-case) name; "NONE" for CHECKSUM_NONE. */
const char *checksum_algo_name(enum checksum_algo algo);
/* The header or trailer carrying the value: "x-amz-checksum-crc32", ..., "content-md5". */
const char *checksum_header_name(enum checksum_algo algo);
/* The algorithm of such a header name (any case); CHECKSUM_NONE when it is not one. */
enum checksum_algo checksum_algo_from_header(const char *header);

/* 1 when text is the base64 of a value of the right size for algo, else 0. */
int checksum_value_valid(enum checksum_algo algo, const char *text);

/* Standard base64 (with padding) of len bytes into out (4 * ((len + 2) / 3) + 1 bytes). */
size_t checksum_base64(const uint8_t *in, size_t len, char *out);

/*
 * One-shot and running CRCs in the zlib convention: start from 0 and feed the previous result
 * back in, e.g. c = checksum_crc32(0, a, n); c = checksum_crc32(c, b, m).
 */
uint32_t checksum_crc32(uint32_t crc, const void *data, size_t len);
uint32_t checksum_crc32c(uint32_t crc, const void *data, size_t len);
uint64_t checksum_crc64nvme(uint64_t crc, const void *data, size_t len);
/* CRC32C without the SSE4.2 instruction (what checksum_crc32c() falls back to); for tests. */
uint32_t checksum_crc32c_portable(uint32_t crc, const void *data, size_t len);

#endif
