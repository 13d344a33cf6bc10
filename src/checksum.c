/*
 * checksum.c: CRC32, CRC32C, CRC64NVME (table-driven, slicing by 8; CRC32C on SSE4.2 when the
 * CPU has it) and SHA-1, SHA-256, MD5 through OpenSSL's EVP, behind one interface.
 *
 * The CRC tables are computed by the compiler.  All three CRCs are "reflected": one step
 * shifts the register right and, when the bit shifted out is 1, XORs the reflected
 * polynomial in.  A step is linear over GF(2), so table entry T_k[n] (the register n after
 * 8(k+1) steps: byte n followed by k zero bytes) is the XOR, over the bits i set in n, of
 * v(8(k+1) - i), where v(j) is the register 1 after j steps.  Each row of eight constants
 * below lists, for table k, the contributions of bits 0..7 of the index; the entries are
 * then spelled out by the preprocessor.  The constants were computed with a few lines of
 * Python from the polynomials named beside them; the check values in t/unit/checksum_test.c
 * ("123456789") catch any slip.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "checksum.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <nmmintrin.h>
#define CHECKSUM_HAVE_SSE42 1
#endif

/* CRC-32 (IEEE 802.3, zlib), reflected polynomial 0xEDB88320. */
#define CRC32_K0() 0x77073096u, 0xee0e612cu, 0x076dc419u, 0x0edb8832u, \
	0x1db71064u, 0x3b6e20c8u, 0x76dc4190u, 0xedb88320u
#define CRC32_K1() 0x191b3141u, 0x32366282u, 0x646cc504u, 0xc8d98a08u, \
	0x4ac21251u, 0x958424a2u, 0xf0794f05u, 0x3b83984bu
#define CRC32_K2() 0x01c26a37u, 0x0384d46eu, 0x0709a8dcu, 0x0e1351b8u, \
	0x1c26a370u, 0x384d46e0u, 0x709a8dc0u, 0xe1351b80u
#define CRC32_K3() 0xb8bc6765u, 0xaa09c88bu, 0x8f629757u, 0xc5b428efu, \
	0x5019579fu, 0xa032af3eu, 0x9b14583du, 0xed59b63bu
#define CRC32_K4() 0x3d6029b0u, 0x7ac05360u, 0xf580a6c0u, 0x30704bc1u, \
	0x60e09782u, 0xc1c12f04u, 0x58f35849u, 0xb1e6b092u
#define CRC32_K5() 0xcb5cd3a5u, 0x4dc8a10bu, 0x9b914216u, 0xec53826du, \
	0x03d6029bu, 0x07ac0536u, 0x0f580a6cu, 0x1eb014d8u
#define CRC32_K6() 0xa6770bb4u, 0x979f1129u, 0xf44f2413u, 0x33ef4e67u, \
	0x67de9cceu, 0xcfbd399cu, 0x440b7579u, 0x8816eaf2u
#define CRC32_K7() 0xccaa009eu, 0x4225077du, 0x844a0efau, 0xd3e51bb5u, \
	0x7cbb312bu, 0xf9766256u, 0x299dc2edu, 0x533b85dau

/* CRC-32C (Castagnoli, iSCSI), reflected polynomial 0x82F63B78. */
#define CRC32C_K0() 0xf26b8303u, 0xe13b70f7u, 0xc79a971fu, 0x8ad958cfu, \
	0x105ec76fu, 0x20bd8edeu, 0x417b1dbcu, 0x82f63b78u
#define CRC32C_K1() 0x13a29877u, 0x274530eeu, 0x4e8a61dcu, 0x9d14c3b8u, \
	0x3fc5f181u, 0x7f8be302u, 0xff17c604u, 0xfbc3faf9u
#define CRC32C_K2() 0xa541927eu, 0x4f6f520du, 0x9edea41au, 0x38513ec5u, \
	0x70a27d8au, 0xe144fb14u, 0xc76580d9u, 0x8b277743u
#define CRC32C_K3() 0xdd45aab8u, 0xbf672381u, 0x7b2231f3u, 0xf64463e6u, \
	0xe964b13du, 0xd725148bu, 0xaba65fe7u, 0x52a0c93fu
#define CRC32C_K4() 0x38116facu, 0x7022df58u, 0xe045beb0u, 0xc5670b91u, \
	0x8f2261d3u, 0x1ba8b557u, 0x37516aaeu, 0x6ea2d55cu
#define CRC32C_K5() 0xef306b19u, 0xdb8ca0c3u, 0xb2f53777u, 0x6006181fu, \
	0xc00c303eu, 0x85f4168du, 0x0e045bebu, 0x1c08b7d6u
#define CRC32C_K6() 0x68032cc8u, 0xd0065990u, 0xa5e0c5d1u, 0x4e2dfd53u, \
	0x9c5bfaa6u, 0x3d5b83bdu, 0x7ab7077au, 0xf56e0ef4u
#define CRC32C_K7() 0x493c7d27u, 0x9278fa4eu, 0x211d826du, 0x423b04dau, \
	0x847609b4u, 0x0d006599u, 0x1a00cb32u, 0x34019664u

/* CRC-64/NVME (as the AWS SDKs' CRC64NVME): polynomial 0xAD93D23594C93659, reflected
 * 0x9A6C9329AC4BC9B5, initial value and final XOR all ones. */
#define CRC64_K0() 0x7f6ef0c830358979ull, 0xfedde190606b12f2ull, 0xc962e5739841b68full, \
	0xa61cecb46814fe75ull, 0x78e0ff3b88be6f81ull, 0xf1c1fe77117cdf02ull, \
	0xd75adabd7a6e2d6full, 0x9a6c9329ac4bc9b5ull
#define CRC64_K1() 0x8776a97d73bddf69ull, 0x3a3474a9bfec2db9ull, 0x7468e9537fd85b72ull, \
	0xe8d1d2a6ffb0b6e4ull, 0xe57a831ea7f6fea3ull, 0xfe2c206e177a6e2dull, \
	0xc881668f76634f31ull, 0xa5dbeb4db4510d09ull
#define CRC64_K2() 0xff6e4e1f4e4038beull, 0xca05ba6dc417e217ull, 0xa0d25288d0b85745ull, \
	0x757d8342f9e73de1ull, 0xeafb0685f3ce7bc2ull, 0xe12f2b58bf0b64efull, \
	0xf68770e226815ab5ull, 0xd9d7c79715952601ull
#define CRC64_K3() 0x8211147cbaf96306ull, 0x30fb0eaa2d655567ull, 0x61f61d545acaaaceull, \
	0xc3ec3aa8b595559cull, 0xb301530233bd3853ull, 0x52db80573fede3cdull, \
	0xa5b700ae7fdbc79aull, 0x7fb7270fa7201c5full
#define CRC64_K4() 0x373d15f784905d1eull, 0x6e7a2bef0920ba3cull, 0xdcf457de12417478ull, \
	0x8d3189ef7c157b9bull, 0x2eba358da0bd645dull, 0x5d746b1b417ac8baull, \
	0xbae8d63682f59174ull, 0x41088a3e5d7cb183ull
#define CRC64_K5() 0xe9742a79ef04a5d4ull, 0xe63172a0869ed8c3ull, 0xf8bbc31255aa22edull, \
	0xc5aea077f3c3d6b1ull, 0xbf8466bcbf103e09ull, 0x4bd1eb2a26b7ef79ull, \
	0x97a3d6544d6fdef2ull, 0x1b9e8afbc2482e8full
#define CRC64_K6() 0xfc5d27f6bf353971ull, 0xcc6369be26fde189ull, 0xac1ff52f156c5079ull, \
	0x6ce6cc0d724f3399ull, 0xd9cd981ae49e6732ull, 0x8742166691ab5d0full, \
	0x3a5d0a9e7bc12975ull, 0x74ba153cf78252eaull
#define CRC64_K7() 0x21e9761e252621acull, 0x43d2ec3c4a4c4358ull, 0x87a5d878949886b0ull, \
	0x3b9296a271a69e0bull, 0x77252d44e34d3c16ull, 0xee4a5a89c69a782cull, \
	0xe84d9340d5a36333ull, 0xe44200d2f3d1550dull

/* Entry n of a table whose bit contributions are v0..v7. */
#define CRC_E(n, v0, v1, v2, v3, v4, v5, v6, v7)			\
	(((n) & 0x01 ? (v0) : 0) ^ ((n) & 0x02 ? (v1) : 0) ^		\
	 ((n) & 0x04 ? (v2) : 0) ^ ((n) & 0x08 ? (v3) : 0) ^		\
	 ((n) & 0x10 ? (v4) : 0) ^ ((n) & 0x20 ? (v5) : 0) ^		\
	 ((n) & 0x40 ? (v6) : 0) ^ ((n) & 0x80 ? (v7) : 0))
#define CRC_E_(n, ...)	CRC_E(n, __VA_ARGS__)
#define CRC_AT(K, n)	CRC_E_((n), K())
#define CRC_R4(K, n)	CRC_AT(K, n), CRC_AT(K, n + 1), CRC_AT(K, n + 2), CRC_AT(K, n + 3)
#define CRC_R16(K, n)	CRC_R4(K, n), CRC_R4(K, n + 4), CRC_R4(K, n + 8), CRC_R4(K, n + 12)
#define CRC_R64(K, n)	CRC_R16(K, n), CRC_R16(K, n + 16), CRC_R16(K, n + 32), CRC_R16(K, n + 48)
#define CRC_ROW(K)	{ CRC_R64(K, 0), CRC_R64(K, 64), CRC_R64(K, 128), CRC_R64(K, 192) }

static const uint32_t crc32_tab[8][256] = {
	CRC_ROW(CRC32_K0), CRC_ROW(CRC32_K1), CRC_ROW(CRC32_K2), CRC_ROW(CRC32_K3),
	CRC_ROW(CRC32_K4), CRC_ROW(CRC32_K5), CRC_ROW(CRC32_K6), CRC_ROW(CRC32_K7),
};

static const uint32_t crc32c_tab[8][256] = {
	CRC_ROW(CRC32C_K0), CRC_ROW(CRC32C_K1), CRC_ROW(CRC32C_K2), CRC_ROW(CRC32C_K3),
	CRC_ROW(CRC32C_K4), CRC_ROW(CRC32C_K5), CRC_ROW(CRC32C_K6), CRC_ROW(CRC32C_K7),
};

static const uint64_t crc64_tab[8][256] = {
	CRC_ROW(CRC64_K0), CRC_ROW(CRC64_K1), CRC_ROW(CRC64_K2), CRC_ROW(CRC64_K3),
	CRC_ROW(CRC64_K4), CRC_ROW(CRC64_K5), CRC_ROW(CRC64_K6), CRC_ROW(CRC64_K7),
};

static inline uint32_t
load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
load_le64(const uint8_t *p)
{
	return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

/* A reflected 32-bit CRC, eight bytes a round: the register is XORed into the first four. */
static uint32_t
crc32_slice8(const uint32_t tab[8][256], uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (; n >= 8; p += 8, n -= 8) {
		uint32_t lo = load_le32(p) ^ crc, hi = load_le32(p + 4);

		crc = tab[7][lo & 0xff] ^ tab[6][(lo >> 8) & 0xff] ^
		    tab[5][(lo >> 16) & 0xff] ^ tab[4][lo >> 24] ^
		    tab[3][hi & 0xff] ^ tab[2][(hi >> 8) & 0xff] ^
		    tab[1][(hi >> 16) & 0xff] ^ tab[0][hi >> 24];
	}
	for (; n > 0; p++, n--)
		crc = tab[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint64_t
crc64_slice8(const uint64_t tab[8][256], uint64_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t v = load_le64(p) ^ crc;

		crc = tab[7][v & 0xff] ^ tab[6][(v >> 8) & 0xff] ^
		    tab[5][(v >> 16) & 0xff] ^ tab[4][(v >> 24) & 0xff] ^
		    tab[3][(v >> 32) & 0xff] ^ tab[2][(v >> 40) & 0xff] ^
		    tab[1][(v >> 48) & 0xff] ^ tab[0][v >> 56];
	}
	for (; n > 0; p++, n--)
		crc = tab[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
	return ~crc;
}

uint32_t
checksum_crc32(uint32_t crc, const void *data, size_t len)
{
	return crc32_slice8(crc32_tab, crc, data, len);
}

uint32_t
checksum_crc32c_portable(uint32_t crc, const void *data, size_t len)
{
	return crc32_slice8(crc32c_tab, crc, data, len);
}

uint64_t
checksum_crc64nvme(uint64_t crc, const void *data, size_t len)
{
	return crc64_slice8(crc64_tab, crc, data, len);
}

#ifdef CHECKSUM_HAVE_SSE42
__attribute__((target("sse4.2")))
static uint32_t
crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n)
{
	uint32_t c = ~crc;

#ifdef __x86_64__
	uint64_t c64 = c;

	for (; n >= 8; p += 8, n -= 8)
		c64 = _mm_crc32_u64(c64, load_le64(p));
	c = (uint32_t)c64;
#endif
	for (; n >= 4; p += 4, n -= 4)
		c = _mm_crc32_u32(c, load_le32(p));
	for (; n > 0; p++, n--)
		c = _mm_crc32_u8(c, *p);
	return ~c;
}
#endif

uint32_t
checksum_crc32c(uint32_t crc, const void *data, size_t len)
{
#ifdef CHECKSUM_HAVE_SSE42
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_sse42(crc, data, len);
#endif
	return checksum_crc32c_portable(crc, data, len);
}

static const struct checksum_desc {
	enum checksum_algo algo;
	const char *name;
	const char *header;
	size_t size;
} checksum_descs[] = {
	{ CHECKSUM_CRC32, "CRC32", "x-amz-checksum-crc32", 4 },
	{ CHECKSUM_CRC32C, "CRC32C", "x-amz-checksum-crc32c", 4 },
	{ CHECKSUM_CRC64NVME, "CRC64NVME", "x-amz-checksum-crc64nvme", 8 },
	{ CHECKSUM_SHA1, "SHA1", "x-amz-checksum-sha1", 20 },
	{ CHECKSUM_SHA256, "SHA256", "x-amz-checksum-sha256", 32 },
	{ CHECKSUM_MD5, "MD5", "content-md5", 16 },
};

static const struct checksum_desc *
checksum_desc(enum checksum_algo algo)
{
	for (size_t i = 0; i < sizeof(checksum_descs) / sizeof(checksum_descs[0]); i++)
		if (checksum_descs[i].algo == algo)
			return &checksum_descs[i];
	return NULL;
}

size_t
checksum_size(enum checksum_algo algo)
{
	const struct checksum_desc *d = checksum_desc(algo);

	return d ? d->size : 0;
}

enum checksum_algo
checksum_algo_parse(const char *name)
{
	if (name == NULL)
		return CHECKSUM_NONE;
	for (size_t i = 0; i < sizeof(checksum_descs) / sizeof(checksum_descs[0]); i++)
		if (strcasecmp(name, checksum_descs[i].name) == 0)
			return checksum_descs[i].algo;
	return CHECKSUM_NONE;
}

const char *
checksum_algo_name(enum checksum_algo algo)
{
	const struct checksum_desc *d = checksum_desc(algo);

	return d ? d->name : "NONE";
}

const char *
checksum_header_name(enum checksum_algo algo)
{
	const struct checksum_desc *d = checksum_desc(algo);

	return d ? d->header : NULL;
}

enum checksum_algo
checksum_algo_from_header(const char *header)
{
	if (header == NULL)
		return CHECKSUM_NONE;
	for (size_t i = 0; i < sizeof(checksum_descs) / sizeof(checksum_descs[0]); i++)
		if (strcasecmp(header, checksum_descs[i].header) == 0)
			return checksum_descs[i].algo;
	return CHECKSUM_NONE;
}

static const EVP_MD *
checksum_evp(enum checksum_algo algo)
{
	switch (algo) {
	case CHECKSUM_SHA1:
		return EVP_sha1();
	case CHECKSUM_SHA256:
		return EVP_sha256();
	case CHECKSUM_MD5:
		return EVP_md5();
	default:
		return NULL;
	}
}

int
checksum_init(struct checksum *st, enum checksum_algo algo)
{
	const EVP_MD *md;

	st->algo = CHECKSUM_NONE;
	st->crc = 0;
	st->md = NULL;
	switch (algo) {
	case CHECKSUM_CRC32:
	case CHECKSUM_CRC32C:
	case CHECKSUM_CRC64NVME:
		st->algo = algo;
		return 0;
	default:
		break;
	}
	if ((md = checksum_evp(algo)) == NULL)
		return -1;
	if ((st->md = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(st->md, md, NULL) != 1) {
		checksum_free(st);
		return -1;
	}
	st->algo = algo;
	return 0;
}

void
checksum_update(struct checksum *st, const void *data, size_t len)
{
	if (len == 0)
		return;
	switch (st->algo) {
	case CHECKSUM_CRC32:
		st->crc = checksum_crc32((uint32_t)st->crc, data, len);
		break;
	case CHECKSUM_CRC32C:
		st->crc = checksum_crc32c((uint32_t)st->crc, data, len);
		break;
	case CHECKSUM_CRC64NVME:
		st->crc = checksum_crc64nvme(st->crc, data, len);
		break;
	case CHECKSUM_SHA1:
	case CHECKSUM_SHA256:
	case CHECKSUM_MD5:
		EVP_DigestUpdate(st->md, data, len);
		break;
	case CHECKSUM_NONE:
		break;
	}
}

void
checksum_free(struct checksum *st)
{
	EVP_MD_CTX_free(st->md);
	st->md = NULL;
	st->algo = CHECKSUM_NONE;
}

static void
store_be(uint8_t *out, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

size_t
checksum_final_raw(struct checksum *st, uint8_t out[CHECKSUM_DIGEST_MAX])
{
	size_t n = checksum_size(st->algo);
	unsigned int mdlen = 0;

	switch (st->algo) {
	case CHECKSUM_CRC32:
	case CHECKSUM_CRC32C:
	case CHECKSUM_CRC64NVME:
		store_be(out, st->crc, n);
		break;
	case CHECKSUM_SHA1:
	case CHECKSUM_SHA256:
	case CHECKSUM_MD5:
		if (EVP_DigestFinal_ex(st->md, out, &mdlen) != 1 || mdlen != n)
			n = 0;
		break;
	case CHECKSUM_NONE:
		n = 0;
		break;
	}
	checksum_free(st);
	return n;
}

size_t
checksum_base64(const uint8_t *in, size_t len, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

size_t
checksum_final(struct checksum *st, char out[CHECKSUM_B64_BUF])
{
	uint8_t raw[CHECKSUM_DIGEST_MAX];
	size_t n = checksum_final_raw(st, raw);

	out[0] = '\0';
	return n ? checksum_base64(raw, n, out) : 0;
}

size_t
checksum_final_hex(struct checksum *st, char out[CHECKSUM_HEX_BUF])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[CHECKSUM_DIGEST_MAX];
	size_t n = checksum_final_raw(st, raw);

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 0xf];
	}
	out[2 * n] = '\0';
	return 2 * n;
}

static int
is_base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/';
}

int
checksum_value_valid(enum checksum_algo algo, const char *text)
{
	size_t size = checksum_size(algo);
	size_t want = 4 * ((size + 2) / 3), pad = (3 - size % 3) % 3;

	if (size == 0 || text == NULL || strlen(text) != want)
		return 0;
	for (size_t i = 0; i < want; i++) {
		if (i >= want - pad ? text[i] != '=' : !is_base64_char(text[i]))
			return 0;
	}
	return 1;
}
