/*
 * checksum_test.c: CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256 and MD5 through the checksum
 * interface: check values of "123456789", the base64 forms S3 sends, empty input, incremental
 * against one-shot on random data split at random points, the SSE4.2 and table CRC32C against
 * each other, names and header names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "tap.h"
#include "util.h"

static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct vector {
	enum checksum_algo algo;
	const char *check_b64;		/* of "123456789" */
	const char *check_hex;
	const char *empty_b64;
};

static const struct vector vectors[] = {
	{ CHECKSUM_CRC32, "y/Q5Jg==", "cbf43926", "AAAAAA==" },
	{ CHECKSUM_CRC32C, "4waSgw==", "e3069283", "AAAAAA==" },
	{ CHECKSUM_CRC64NVME, "rosUhgp5mIg=", "ae8b14860a799888", "AAAAAAAAAAA=" },
	{ CHECKSUM_SHA1, "98O8HYCOBHMq32eZZczDTKeuNEE=", "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
	  "2jmj7l5rSw0yVb/vlWAYkK/YBwk=" },
	{ CHECKSUM_SHA256, "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=",
	  "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
	  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
	{ CHECKSUM_MD5, "JfnnlDI7RTiF9RgfG2JNCw==", "25f9e794323b453885f5181f1b624d0b",
	  "1B2M2Y8AsgTpgAmY7PhCfg==" },
};

static void
one_shot(enum checksum_algo algo, const void *data, size_t len, char b64[CHECKSUM_B64_BUF])
{
	struct checksum st;

	checksum_init(&st, algo);
	checksum_update(&st, data, len);
	checksum_final(&st, b64);
}

static void
test_vectors(struct tap *t)
{
	struct checksum st;
	char b64[CHECKSUM_B64_BUF], hex[CHECKSUM_HEX_BUF];

	for (size_t i = 0; i < nitems(vectors); i++) {
		const struct vector *v = &vectors[i];
		const char *name = checksum_algo_name(v->algo);

		one_shot(v->algo, "123456789", 9, b64);
		TAP_STR_EQ(t, b64, v->check_b64, "%s of \"123456789\" (base64)", name);
		checksum_init(&st, v->algo);
		checksum_update(&st, "123456789", 9);
		TAP_OK(t, checksum_final_hex(&st, hex) == 2 * checksum_size(v->algo),
		    "%s: hex length", name);
		TAP_STR_EQ(t, hex, v->check_hex, "%s of \"123456789\" (hex)", name);
		one_shot(v->algo, "", 0, b64);
		TAP_STR_EQ(t, b64, v->empty_b64, "%s of nothing", name);
		TAP_OK(t, checksum_value_valid(v->algo, v->check_b64) &&
		    checksum_value_valid(v->algo, v->empty_b64), "%s: values are valid", name);
	}
	TAP_OK(t, checksum_crc32(0, "123456789", 9) == 0xCBF43926u, "checksum_crc32");
	TAP_OK(t, checksum_crc32c(0, "123456789", 9) == 0xE3069283u, "checksum_crc32c");
	TAP_OK(t, checksum_crc32c_portable(0, "123456789", 9) == 0xE3069283u,
	    "checksum_crc32c_portable");
	TAP_OK(t, checksum_crc64nvme(0, "123456789", 9) == UINT64_C(0xAE8B14860A799888),
	    "checksum_crc64nvme");
	TAP_OK(t, checksum_crc32(0, "", 0) == 0 && checksum_crc32c(0, NULL, 0) == 0 &&
	    checksum_crc64nvme(0, NULL, 0) == 0, "CRCs of nothing are 0");
	TAP_OK(t, checksum_crc32(checksum_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u &&
	    checksum_crc64nvme(checksum_crc64nvme(0, "12345678", 8), "9", 1) ==
	    UINT64_C(0xAE8B14860A799888), "running CRCs in the zlib convention");
}

/* Every algorithm, incremental over random cuts against one update of everything. */
static void
test_incremental(struct tap *t, uint64_t *rng)
{
	size_t len = 1 << 20;
	uint8_t *data = xmalloc(len);
	char whole[CHECKSUM_B64_BUF], parts[CHECKSUM_B64_BUF];

	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)rng_next(rng);
	for (size_t i = 0; i < nitems(vectors); i++) {
		enum checksum_algo algo = vectors[i].algo;
		int same = 1;

		one_shot(algo, data, len, whole);
		for (int round = 0; round < 8; round++) {
			struct checksum st;
			size_t off = 0, max = round < 4 ? 17 : 100000;

			checksum_init(&st, algo);
			while (off < len) {
				size_t n = rng_next(rng) % max;

				if (n > len - off)
					n = len - off;
				checksum_update(&st, data + off, n);
				off += n;
			}
			checksum_final(&st, parts);
			same &= strcmp(whole, parts) == 0;
		}
		TAP_OK(t, same, "%s: incremental equals one-shot over random cuts",
		    checksum_algo_name(algo));
	}

	/* The SSE4.2 path (where the CPU has it) against the tables, at every alignment. */
	int agree = 1;
	for (size_t off = 0; off < 16; off++)
		for (size_t n = 0; n < 300; n += 1 + n / 8)
			agree &= checksum_crc32c(7, data + off, n) ==
			    checksum_crc32c_portable(7, data + off, n);
	agree &= checksum_crc32c(0, data, len) == checksum_crc32c_portable(0, data, len);
	TAP_OK(t, agree, "CRC32C: hardware and table agree");
	free(data);
}

/* A bit-at-a-time reference for each CRC, against the tables on random data. */
static uint64_t
crc_bitwise(uint64_t poly, int bits, const uint8_t *p, size_t n)
{
	uint64_t mask = bits == 64 ? ~UINT64_C(0) : (UINT64_C(1) << bits) - 1, c = mask;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
	}
	return c ^ mask;
}

static void
test_bitwise(struct tap *t, uint64_t *rng)
{
	uint8_t buf[1000];
	int ok32 = 1, ok32c = 1, ok64 = 1;

	for (int round = 0; round < 50; round++) {
		size_t n = rng_next(rng) % sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rng_next(rng);
		ok32 &= checksum_crc32(0, buf, n) == crc_bitwise(0xEDB88320u, 32, buf, n);
		ok32c &= checksum_crc32c_portable(0, buf, n) ==
		    crc_bitwise(0x82F63B78u, 32, buf, n);
		ok64 &= checksum_crc64nvme(0, buf, n) ==
		    crc_bitwise(UINT64_C(0x9A6C9329AC4BC9B5), 64, buf, n);
	}
	TAP_OK(t, ok32, "CRC32 tables match the bitwise definition");
	TAP_OK(t, ok32c, "CRC32C tables match the bitwise definition");
	TAP_OK(t, ok64, "CRC64NVME tables match the bitwise definition");
}

static void
test_names(struct tap *t)
{
	struct checksum st;
	uint8_t raw[CHECKSUM_DIGEST_MAX];
	char out[CHECKSUM_B64_BUF];

	TAP_OK(t, checksum_algo_parse("CRC32") == CHECKSUM_CRC32 &&
	    checksum_algo_parse("crc32c") == CHECKSUM_CRC32C &&
	    checksum_algo_parse("CRC64NVME") == CHECKSUM_CRC64NVME &&
	    checksum_algo_parse("Sha1") == CHECKSUM_SHA1 &&
	    checksum_algo_parse("SHA256") == CHECKSUM_SHA256 &&
	    checksum_algo_parse("md5") == CHECKSUM_MD5, "names, any case");
	TAP_OK(t, checksum_algo_parse("CRC64") == CHECKSUM_NONE &&
	    checksum_algo_parse("") == CHECKSUM_NONE && checksum_algo_parse(NULL) == CHECKSUM_NONE &&
	    checksum_algo_parse("SHA-256") == CHECKSUM_NONE, "unknown names");
	TAP_STR_EQ(t, checksum_header_name(CHECKSUM_CRC32), "x-amz-checksum-crc32", "crc32 header");
	TAP_STR_EQ(t, checksum_header_name(CHECKSUM_CRC64NVME), "x-amz-checksum-crc64nvme",
	    "crc64nvme header");
	TAP_STR_EQ(t, checksum_header_name(CHECKSUM_MD5), "content-md5", "md5 header");
	TAP_OK(t, checksum_header_name(CHECKSUM_NONE) == NULL, "no header for NONE");
	TAP_OK(t, checksum_algo_from_header("X-Amz-Checksum-CRC32C") == CHECKSUM_CRC32C &&
	    checksum_algo_from_header("x-amz-checksum-sha256") == CHECKSUM_SHA256 &&
	    checksum_algo_from_header("x-amz-checksum-algorithm") == CHECKSUM_NONE &&
	    checksum_algo_from_header("x-amz-checksum-") == CHECKSUM_NONE,
	    "header names to algorithms");
	TAP_STR_EQ(t, checksum_algo_name(CHECKSUM_CRC64NVME), "CRC64NVME", "canonical name");
	TAP_OK(t, checksum_size(CHECKSUM_CRC32) == 4 && checksum_size(CHECKSUM_CRC64NVME) == 8 &&
	    checksum_size(CHECKSUM_SHA1) == 20 && checksum_size(CHECKSUM_SHA256) == 32 &&
	    checksum_size(CHECKSUM_MD5) == 16 && checksum_size(CHECKSUM_NONE) == 0, "sizes");
	TAP_OK(t, checksum_init(&st, CHECKSUM_NONE) < 0 &&
	    checksum_init(&st, (enum checksum_algo)99) < 0, "init refuses NONE and nonsense");
	TAP_OK(t, !checksum_value_valid(CHECKSUM_CRC32, "y/Q5Jg=") &&
	    !checksum_value_valid(CHECKSUM_CRC32, "y/Q5Jg=A") &&
	    !checksum_value_valid(CHECKSUM_CRC32, "y/Q5J*==") &&
	    !checksum_value_valid(CHECKSUM_CRC32, "rosUhgp5mIg=") &&
	    !checksum_value_valid(CHECKSUM_CRC32, NULL) &&
	    !checksum_value_valid(CHECKSUM_NONE, ""), "invalid values");

	checksum_init(&st, CHECKSUM_CRC32C);
	checksum_update(&st, "123456789", 9);
	TAP_OK(t, checksum_final_raw(&st, raw) == 4 && raw[0] == 0xe3 && raw[1] == 0x06 &&
	    raw[2] == 0x92 && raw[3] == 0x83, "raw value is big-endian");
	checksum_init(&st, CHECKSUM_SHA256);
	checksum_update(&st, "abandoned", 9);
	checksum_free(&st);
	checksum_free(&st);
	TAP_OK(t, checksum_final(&st, out) == 0 && out[0] == '\0',
	    "an abandoned state frees (twice) and finishes empty");
	TAP_OK(t, checksum_base64((const uint8_t *)"\xcb\xf4\x39\x26", 4, out) == 8 &&
	    strcmp(out, "y/Q5Jg==") == 0, "checksum_base64");
}

int
main(void)
{
	struct tap t = { 0 };
	uint64_t rng = 0x2545f4914f6cdd1dull;

	test_vectors(&t);
	test_incremental(&t, &rng);
	test_bitwise(&t, &rng);
	test_names(&t);
	return TAP_DONE(&t);
}
