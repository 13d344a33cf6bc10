/*
 * sigv4_test.c: AWS Signature Version 4 against published vectors, and hostile input.
 *
 * Vectors: the cases of AWS's aws-sig-v4-test-suite whose path needs no normalization (S3 does
 * not normalize), with service "service" in us-east-1, AKIDEXAMPLE at 20150830T123600Z; the
 * examples of the S3 API reference (examplebucket, AKIAIOSFODNN7EXAMPLE at 20130524T000000Z):
 * GET Object, PUT Object, GET Bucket lifecycle, list objects, the presigned URL, the chunked
 * upload (66560 bytes of 'a' in 64 KiB chunks) and the chunked upload with a trailer.  The
 * strings to sign carry the SHA-256 of the expected canonical requests, computed apart.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "checksum.h"
#include "sigv4.h"
#include "tap.h"
#include "util.h"

#define EMPTY SIGV4_EMPTY_SHA256
#define SUITE_DATE "20150830T123600Z"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_HOST { "Host", "example.amazonaws.com" }
#define SUITE_XDATE { "X-Amz-Date", SUITE_DATE }
#define SUITE_CH "host:example.amazonaws.com\n"
#define SUITE_CD "x-amz-date:20150830T123600Z\n"
#define UNRESERVED "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#define TOKEN "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
#define FORM_SHA "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"

#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_AKID "AKIAIOSFODNN7EXAMPLE"
#define S3_DATE "20130524T000000Z"
#define S3_SCOPE "20130524/us-east-1/s3/aws4_request"
#define S3_TIME INT64_C(1369353600)	/* 2013-05-24T00:00:00Z */

struct suite_case {
	const char *name;
	const char *method;
	const char *path;
	enum sigv4_path_mode mode;
	const char *query;
	struct sigv4_header headers[5];
	const char *payload_hash;
	const char *creq;
	const char *creq_sha;
	const char *signature;
};

static const struct suite_case suite[] = {
	{ "get-vanilla", "GET", "/", SIGV4_PATH_REENCODE, NULL,
	  { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "GET\n/\n\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
	  "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "get-vanilla-empty-query-key", "GET", "/", SIGV4_PATH_REENCODE, "Param1=value1",
	  { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "GET\n/\nParam1=value1\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab",
	  "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb" },
	{ "get-vanilla-query-order-key-case", "GET", "/", SIGV4_PATH_REENCODE,
	  "Param2=value2&Param1=value1", { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "GET\n/\nParam1=value1&Param2=value2\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
	  "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500" },
	{ "get-vanilla-query-order-key", "GET", "/", SIGV4_PATH_REENCODE,
	  "Param1=value2&Param1=Value1", { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "GET\n/\nParam1=Value1&Param1=value2\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
	  "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1" },
	{ "get-vanilla-query-order-value", "GET", "/", SIGV4_PATH_REENCODE,
	  "Param1=value2&Param1=value1", { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "GET\n/\nParam1=value1&Param1=value2\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606",
	  "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694" },
	{ "get-vanilla-query-unreserved", "GET", "/", SIGV4_PATH_REENCODE,
	  UNRESERVED "=" UNRESERVED, { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "GET\n/\n" UNRESERVED "=" UNRESERVED "\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
	  "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197" },
	{ "get-vanilla-utf8-query", "GET", "/", SIGV4_PATH_REENCODE, "\xe1\x88\xb4=bar",
	  { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "GET\n/\n%E1%88%B4=bar\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
	  "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04" },
	{ "get-vanilla-with-session-token", "GET", "/", SIGV4_PATH_REENCODE, NULL,
	  { SUITE_HOST, SUITE_XDATE, { "X-Amz-Security-Token", TOKEN } }, EMPTY,
	  "GET\n/\n\n" SUITE_CH SUITE_CD "x-amz-security-token:" TOKEN
	  "\n\nhost;x-amz-date;x-amz-security-token\n" EMPTY,
	  "067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b",
	  "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8" },
	{ "get-unreserved", "GET", "/" UNRESERVED, SIGV4_PATH_AS_IS, NULL,
	  { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "GET\n/" UNRESERVED "\n\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
	  "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f" },
	{ "get-utf8", "GET", "/\xe1\x88\xb4", SIGV4_PATH_ENCODE, NULL,
	  { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "GET\n/%E1%88%B4\n\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
	  "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85" },
	{ "get-space", "GET", "/example space/", SIGV4_PATH_ENCODE, NULL,
	  { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "GET\n/example%20space/\n\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
	  "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741" },
	{ "get-space (wire form)", "GET", "/example%20space/", SIGV4_PATH_REENCODE, NULL,
	  { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "GET\n/example%20space/\n\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
	  "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741" },
	{ "get-header-key-duplicate", "GET", "/", SIGV4_PATH_REENCODE, NULL,
	  { SUITE_HOST, { "My-Header1", "value2" }, { "My-Header1", "value2" },
	    { "My-Header1", "value1" }, SUITE_XDATE }, EMPTY,
	  "GET\n/\n\n" SUITE_CH "my-header1:value2,value2,value1\n" SUITE_CD
	  "\nhost;my-header1;x-amz-date\n" EMPTY,
	  "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
	  "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea" },
	{ "get-header-value-multiline", "GET", "/", SIGV4_PATH_REENCODE, NULL,
	  { SUITE_HOST, { "My-Header1", "value1\n  value2\n     value3" }, SUITE_XDATE }, EMPTY,
	  "GET\n/\n\n" SUITE_CH "my-header1:value1 value2 value3\n" SUITE_CD
	  "\nhost;my-header1;x-amz-date\n" EMPTY,
	  "e99419459a677bc11de234014be3c4e72c1ea5b454ceb58b613061f5d7a162e8",
	  "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd" },
	{ "get-header-value-order", "GET", "/", SIGV4_PATH_REENCODE, NULL,
	  { SUITE_HOST, { "My-Header1", "value4" }, { "My-Header1", "value1" },
	    { "My-Header1", "value3" }, { "My-Header1", "value2" } }, EMPTY,
	  NULL, NULL, NULL },
	{ "get-header-value-trim", "GET", "/", SIGV4_PATH_REENCODE, NULL,
	  { SUITE_HOST, { "My-Header1", " value1" }, { "My-Header2", " \"a   b   c\"" },
	    SUITE_XDATE }, EMPTY,
	  "GET\n/\n\n" SUITE_CH "my-header1:value1\nmy-header2:\"a b c\"\n" SUITE_CD
	  "\nhost;my-header1;my-header2;x-amz-date\n" EMPTY,
	  "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
	  "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736" },
	{ "post-vanilla", "POST", "/", SIGV4_PATH_REENCODE, NULL,
	  { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "POST\n/\n\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
	  "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b" },
	{ "post-vanilla-query", "POST", "/", SIGV4_PATH_REENCODE, "Param1=value1",
	  { SUITE_HOST, SUITE_XDATE }, EMPTY,
	  "POST\n/\nParam1=value1\n" SUITE_CH SUITE_CD "\nhost;x-amz-date\n" EMPTY,
	  "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
	  "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11" },
	{ "post-header-key-sort", "POST", "/", SIGV4_PATH_REENCODE, NULL,
	  { SUITE_HOST, { "My-Header1", "value1" }, SUITE_XDATE }, EMPTY,
	  "POST\n/\n\n" SUITE_CH "my-header1:value1\n" SUITE_CD
	  "\nhost;my-header1;x-amz-date\n" EMPTY,
	  "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
	  "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c" },
	{ "post-header-value-case", "POST", "/", SIGV4_PATH_REENCODE, NULL,
	  { SUITE_HOST, { "My-Header1", "VALUE1" }, SUITE_XDATE }, EMPTY,
	  "POST\n/\n\n" SUITE_CH "my-header1:VALUE1\n" SUITE_CD
	  "\nhost;my-header1;x-amz-date\n" EMPTY,
	  "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
	  "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d" },
	{ "post-x-www-form-urlencoded", "POST", "/", SIGV4_PATH_REENCODE, NULL,
	  { { "Content-Type", "application/x-www-form-urlencoded" }, SUITE_HOST, SUITE_XDATE },
	  FORM_SHA,
	  "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n" SUITE_CH SUITE_CD
	  "\ncontent-type;host;x-amz-date\n" FORM_SHA,
	  "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
	  "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a" },
	{ "post-x-www-form-urlencoded-parameters", "POST", "/", SIGV4_PATH_REENCODE, NULL,
	  { { "Content-Type", "application/x-www-form-urlencoded; charset=utf8" }, SUITE_HOST,
	    SUITE_XDATE }, FORM_SHA,
	  "POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf8\n" SUITE_CH
	  SUITE_CD "\ncontent-type;host;x-amz-date\n" FORM_SHA,
	  "2e1cf7ed91881a30569e46552437e4156c823447bf1781b921b5d486c568dd1c",
	  "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe" },
};

/* A deterministic generator for slice sizes and data. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t
nheaders_of(const struct sigv4_header *h, size_t max)
{
	size_t n = 0;

	while (n < max && h[n].name != NULL)
		n++;
	return n;
}

static void
sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* The suite's header list plus the X-Amz-Date some cases leave out of their table. */
static void
test_suite_case(struct tap *t, const struct suite_case *c, const uint8_t key[SIGV4_KEY_LEN])
{
	struct sigv4_header h[6];
	size_t n = nheaders_of(c->headers, 5);
	struct sigv4_request req;
	struct strbuf sh, creq, sts, want_sts;
	struct sigv4_auth auth;
	char sig[SIGV4_HEX_BUF], *authz;

	memcpy(h, c->headers, n * sizeof(*h));
	if (c->creq == NULL) {
		/* get-header-value-order: X-Amz-Date last, five values. */
		h[n++] = (struct sigv4_header)SUITE_XDATE;
	}
	req = (struct sigv4_request){ c->method, c->path, c->mode, c->query, h, n,
	    c->payload_hash };
	strbuf_init(&sh);
	strbuf_init(&creq);
	strbuf_init(&sts);
	strbuf_init(&want_sts);
	sigv4_signed_headers_of(&sh, h, n);
	TAP_OK(t, sigv4_canonical_request(&creq, &req, sh.data, 0) == SIGV4_OK,
	    "%s: canonical request built", c->name);
	if (c->creq == NULL) {
		TAP_STR_EQ(t, creq.data, "GET\n/\n\n" SUITE_CH
		    "my-header1:value4,value1,value3,value2\n" SUITE_CD
		    "\nhost;my-header1;x-amz-date\n" EMPTY, "%s: canonical request", c->name);
		sigv4_string_to_sign(&sts, SUITE_DATE, "20150830/us-east-1/service/aws4_request",
		    creq.data, creq.len);
		TAP_STR_EQ(t, sts.data, "AWS4-HMAC-SHA256\n" SUITE_DATE
		    "\n20150830/us-east-1/service/aws4_request\n"
		    "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
		    "%s: string to sign", c->name);
		sigv4_signature(key, sts.data, sts.len, sig);
		TAP_STR_EQ(t, sig,
		    "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
		    "%s: signature", c->name);
	} else {
		TAP_STR_EQ(t, creq.data, c->creq, "%s: canonical request", c->name);
		sigv4_string_to_sign(&sts, SUITE_DATE, "20150830/us-east-1/service/aws4_request",
		    creq.data, creq.len);
		strbuf_printf(&want_sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", SUITE_DATE,
		    "20150830/us-east-1/service/aws4_request", c->creq_sha);
		TAP_STR_EQ(t, sts.data, want_sts.data, "%s: string to sign", c->name);
		sigv4_signature(key, sts.data, sts.len, sig);
		TAP_STR_EQ(t, sig, c->signature, "%s: signature", c->name);
	}

	/* The same request through the verifier, from its Authorization header. */
	authz = xasprintf("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
	    "aws4_request, SignedHeaders=%s, Signature=%s", sh.data, sig);
	TAP_OK(t, sigv4_parse_authorization(authz, &auth) == SIGV4_OK &&
	    sigv4_auth_set_date(&auth, SUITE_DATE, NULL) == SIGV4_OK &&
	    sigv4_check_time(&auth, INT64_C(1440938160)) == SIGV4_OK &&
	    sigv4_verify(&auth, &req, key, sig, NULL, NULL) == SIGV4_OK,
	    "%s: verifies", c->name);
	free(authz);
	strbuf_free(&sh);
	strbuf_free(&creq);
	strbuf_free(&sts);
	strbuf_free(&want_sts);
}

static void
test_suite(struct tap *t)
{
	uint8_t key[SIGV4_KEY_LEN];

	sigv4_signing_key(key, SUITE_SECRET, "20150830", "us-east-1", "service");
	for (size_t i = 0; i < nitems(suite); i++)
		test_suite_case(t, &suite[i], key);
}

/* ---- the S3 reference examples -------------------------------------------------------------- */

static const struct sigv4_credentials s3_cred = {
	S3_AKID, S3_SECRET, "us-east-1", "s3", NULL,
};

/* Sign with sigv4_sign(), compare the Authorization header, then verify it as the front end. */
static void
s3_example(struct tap *t, const char *name, const struct sigv4_request *req, const char *host,
    const char *signed_headers, const char *signature)
{
	struct sigv4_signed out;
	struct sigv4_auth auth;
	struct sigv4_header h[8];
	struct sigv4_request vreq = *req;
	char *want, computed[SIGV4_HEX_BUF];
	uint8_t key[SIGV4_KEY_LEN];
	size_t n = 0;

	TAP_OK(t, sigv4_sign(&s3_cred, req, host, S3_TIME, &out) == 0, "%s: signed", name);
	want = xasprintf("AWS4-HMAC-SHA256 Credential=" S3_AKID "/" S3_SCOPE
	    ", SignedHeaders=%s, Signature=%s", signed_headers, signature);
	TAP_STR_EQ(t, out.authorization, want, "%s: Authorization", name);
	TAP_STR_EQ(t, out.amz_date, S3_DATE, "%s: X-Amz-Date", name);

	h[n++] = (struct sigv4_header){ "Host", host };
	h[n++] = (struct sigv4_header){ "X-Amz-Date", out.amz_date };
	h[n++] = (struct sigv4_header){ "X-Amz-Content-Sha256", req->payload_hash };
	for (size_t i = 0; i < req->nheaders; i++)
		h[n++] = req->headers[i];
	vreq.headers = h;
	vreq.nheaders = n;
	vreq.path_mode = SIGV4_PATH_REENCODE;
	if (req->path_mode == SIGV4_PATH_ENCODE) {
		struct strbuf wire;

		strbuf_init(&wire);
		sigv4_uri_encode(&wire, req->path, strlen(req->path), 1);
		vreq.path = strbuf_detach(&wire);
	}
	sigv4_signing_key(key, S3_SECRET, "20130524", "us-east-1", "s3");
	TAP_OK(t, sigv4_parse_authorization(out.authorization, &auth) == SIGV4_OK &&
	    sigv4_auth_set_date(&auth, out.amz_date, NULL) == SIGV4_OK &&
	    sigv4_check_time(&auth, S3_TIME + 60) == SIGV4_OK &&
	    sigv4_verify(&auth, &vreq, key, computed, NULL, NULL) == SIGV4_OK,
	    "%s: the front end verifies it", name);
	h[0].value = "other.example.com";
	TAP_OK(t, sigv4_verify(&auth, &vreq, key, computed, NULL, NULL) == SIGV4_ERR_MISMATCH,
	    "%s: another Host does not verify", name);
	if (vreq.path != req->path)
		free((char *)vreq.path);
	free(want);
	sigv4_signed_free(&out);
}

static void
test_s3_examples(struct tap *t)
{
	static const struct sigv4_header range[] = { { "Range", "bytes=0-9" } };
	static const struct sigv4_header put[] = {
		{ "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	};
	struct sigv4_request get_obj = { "GET", "/test.txt", SIGV4_PATH_AS_IS, NULL, range, 1,
	    EMPTY };
	struct sigv4_request put_obj = { "PUT", "/test$file.text", SIGV4_PATH_ENCODE, NULL, put, 2,
	    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072" };
	struct sigv4_request lifecycle = { "GET", "/", SIGV4_PATH_AS_IS, "lifecycle", NULL, 0,
	    EMPTY };
	struct sigv4_request list = { "GET", "/", SIGV4_PATH_AS_IS, "max-keys=2&prefix=J", NULL, 0,
	    EMPTY };
	struct checksum st;
	char hex[CHECKSUM_HEX_BUF];

	checksum_init(&st, CHECKSUM_SHA256);
	checksum_update(&st, "Welcome to Amazon S3.", 21);
	checksum_final_hex(&st, hex);
	TAP_STR_EQ(t, hex, put_obj.payload_hash, "PUT Object: payload hash");

	s3_example(t, "GET Object", &get_obj, "examplebucket.s3.amazonaws.com",
	    "host;range;x-amz-content-sha256;x-amz-date",
	    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	s3_example(t, "PUT Object", &put_obj, "examplebucket.s3.amazonaws.com",
	    "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
	    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	s3_example(t, "GET Bucket lifecycle", &lifecycle, "examplebucket.s3.amazonaws.com",
	    "host;x-amz-content-sha256;x-amz-date",
	    "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	s3_example(t, "GET Bucket (list objects)", &list, "examplebucket.s3.amazonaws.com",
	    "host;x-amz-content-sha256;x-amz-date",
	    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* GET Object's canonical request and string to sign, as the reference shows them. */
static void
test_s3_get_object_steps(struct tap *t)
{
	static const struct sigv4_header h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" }, { "Range", "bytes=0-9" },
		{ "x-amz-content-sha256", EMPTY }, { "x-amz-date", S3_DATE },
	};
	struct sigv4_request req = { "GET", "/test.txt", SIGV4_PATH_REENCODE, NULL, h, 4, EMPTY };
	struct strbuf creq, sts;
	uint8_t key[SIGV4_KEY_LEN];
	char sig[SIGV4_HEX_BUF];

	strbuf_init(&creq);
	strbuf_init(&sts);
	sigv4_canonical_request(&creq, &req, "host;range;x-amz-content-sha256;x-amz-date", 0);
	TAP_STR_EQ(t, creq.data, "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
	    "range:bytes=0-9\nx-amz-content-sha256:" EMPTY "\nx-amz-date:" S3_DATE "\n\n"
	    "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY,
	    "GET Object: canonical request");
	sigv4_string_to_sign(&sts, S3_DATE, S3_SCOPE, creq.data, creq.len);
	TAP_STR_EQ(t, sts.data, "AWS4-HMAC-SHA256\n" S3_DATE "\n" S3_SCOPE "\n"
	    "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
	    "GET Object: string to sign");
	sigv4_signing_key(key, S3_SECRET, "20130524", "us-east-1", "s3");
	sigv4_signature(key, sts.data, sts.len, sig);
	TAP_STR_EQ(t, sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	    "GET Object: signature");
	strbuf_free(&creq);
	strbuf_free(&sts);
}

static void
test_presign(struct tap *t)
{
	static const struct sigv4_header host[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
	};
	struct sigv4_request req = { "GET", "/test.txt", SIGV4_PATH_AS_IS, NULL, NULL, 0, NULL };
	struct sigv4_auth auth;
	struct strbuf creq, sts;
	uint8_t key[SIGV4_KEY_LEN];
	char *q, computed[SIGV4_HEX_BUF], *tampered;
	const char *want = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
	    "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
	    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
	    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

	q = sigv4_presign(&s3_cred, &req, "examplebucket.s3.amazonaws.com", S3_TIME, 86400);
	TAP_STR_EQ(t, q, want, "presigned URL: query string");
	TAP_OK(t, sigv4_presign(&s3_cred, &req, "h", S3_TIME, 0) == NULL &&
	    sigv4_presign(&s3_cred, &req, "h", S3_TIME, 604801) == NULL,
	    "presign: expires 0 and 604801 refused");

	TAP_OK(t, sigv4_parse_presigned(q, &auth) == SIGV4_OK, "presigned: parsed");
	TAP_OK(t, auth.presigned && auth.expires == 86400 && auth.time == S3_TIME &&
	    strcmp(auth.access_key, S3_AKID) == 0 && strcmp(auth.signed_headers, "host") == 0,
	    "presigned: fields");
	req.query = q;
	req.path_mode = SIGV4_PATH_REENCODE;
	req.headers = host;
	req.nheaders = 1;
	strbuf_init(&creq);
	strbuf_init(&sts);
	sigv4_signing_key(key, S3_SECRET, auth.date, auth.region, auth.service);
	TAP_OK(t, sigv4_verify(&auth, &req, key, computed, &creq, &sts) == SIGV4_OK,
	    "presigned: verifies");
	TAP_STR_EQ(t, creq.data, "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&"
	    "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&"
	    "X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
	    "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD",
	    "presigned: canonical request");
	TAP_STR_EQ(t, sts.data, "AWS4-HMAC-SHA256\n" S3_DATE "\n" S3_SCOPE "\n"
	    "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04",
	    "presigned: string to sign");
	TAP_OK(t, sigv4_check_time(&auth, S3_TIME + 86400) == SIGV4_OK,
	    "presigned: valid at its last second");
	TAP_OK(t, sigv4_check_time(&auth, S3_TIME + 86401) == SIGV4_ERR_EXPIRED,
	    "presigned: expired a second later");
	TAP_OK(t, sigv4_check_time(&auth, S3_TIME - 900) == SIGV4_OK &&
	    sigv4_check_time(&auth, S3_TIME - 901) == SIGV4_ERR_NOT_YET_VALID,
	    "presigned: not valid more than 15 minutes early");

	tampered = xasprintf("%s&extra=1", q);
	req.query = tampered;
	TAP_OK(t, sigv4_verify(&auth, &req, key, computed, NULL, NULL) == SIGV4_ERR_MISMATCH,
	    "presigned: an added parameter breaks it");
	free(tampered);
	strbuf_free(&creq);
	strbuf_free(&sts);
	free(q);
}

/* ---- chunked uploads ------------------------------------------------------------------------ */

#define CHUNK_SEED "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
#define CHUNK_SIG1 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define CHUNK_SIG2 "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define CHUNK_SIG3 "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"

static const struct sigv4_header chunk_headers[] = {
	{ "Content-Encoding", "aws-chunked" },
	{ "Content-Length", "66824" },
	{ "x-amz-decoded-content-length", "66560" },
	{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
};

/* The example's body: 64 KiB and 1 KiB of 'a', then the final chunk (and maybe trailers). */
static void
chunk_body(struct strbuf *b, const char *sig1, const char *sig2, const char *sig3,
    const char *tail)
{
	char *a = xmalloc(65536);

	memset(a, 'a', 65536);
	strbuf_printf(b, "10000;chunk-signature=%s\r\n", sig1);
	strbuf_append(b, a, 65536);
	strbuf_printf(b, "\r\n400;chunk-signature=%s\r\n", sig2);
	strbuf_append(b, a, 1024);
	strbuf_printf(b, "\r\n0;chunk-signature=%s\r\n%s", sig3, tail);
	free(a);
}

struct decoded {
	struct strbuf payload;
	char sigs[8][SIGV4_HEX_BUF];
	uint64_t sizes[8];
	uint8_t shas[8][32];
	size_t nchunks;
};

/* Feed body in random slices of 1..maxslice bytes; returns the last event (after finish). */
static enum sigv4_chunked_event
feed_slices(struct sigv4_chunked *d, const void *body, size_t len, size_t maxslice,
    uint64_t *rng, struct decoded *out)
{
	const uint8_t *p = body, *data;
	size_t used, n;
	enum sigv4_chunked_event ev;

	strbuf_init(&out->payload);
	out->nchunks = 0;
	while (len > 0) {
		size_t slice = 1 + rng_next(rng) % maxslice;

		if (slice > len)
			slice = len;
		len -= slice;
		do {
			ev = sigv4_chunked_feed(d, p, slice, &used, &data, &n);
			p += used;
			slice -= used;
			if (ev == SIGV4_CHUNKED_DATA)
				strbuf_append(&out->payload, data, n);
			if (ev == SIGV4_CHUNKED_CHUNK && out->nchunks < 8) {
				memcpy(out->sigs[out->nchunks], d->chunk_signature, SIGV4_HEX_BUF);
				memcpy(out->shas[out->nchunks], d->chunk_sha256, 32);
				out->sizes[out->nchunks++] = d->chunk_size;
			}
			if (ev == SIGV4_CHUNKED_ERROR)
				return ev;
		} while (slice > 0);
	}
	return sigv4_chunked_finish(d);
}

static int
all_a(const struct strbuf *b, size_t len)
{
	if (b->len != len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (b->data[i] != 'a')
			return 0;
	return 1;
}

static void
test_chunked_seed(struct tap *t)
{
	struct sigv4_request req = { "PUT", "/examplebucket/chunkObject.txt", SIGV4_PATH_AS_IS,
	    NULL, chunk_headers, 4, SIGV4_STREAMING_PAYLOAD };
	struct sigv4_signed out;
	struct sigv4_header h[7];
	struct sigv4_auth auth;
	char computed[SIGV4_HEX_BUF], sig1[SIGV4_HEX_BUF], sig2[SIGV4_HEX_BUF];
	char sig3[SIGV4_HEX_BUF];
	uint8_t sha[32];
	char *a = xmalloc(65536);

	TAP_OK(t, sigv4_sign(&s3_cred, &req, "s3.amazonaws.com", S3_TIME, &out) == 0 &&
	    strcmp(out.signature, CHUNK_SEED) == 0, "chunked upload: seed signature (signer)");

	/* The front end: the doc's header has no blanks after the commas. */
	h[0] = (struct sigv4_header){ "Host", "s3.amazonaws.com" };
	h[1] = (struct sigv4_header){ "x-amz-date", S3_DATE };
	h[2] = (struct sigv4_header){ "x-amz-content-sha256", SIGV4_STREAMING_PAYLOAD };
	memcpy(h + 3, chunk_headers, sizeof(chunk_headers));
	req.headers = h;
	req.nheaders = 7;
	TAP_OK(t, sigv4_parse_authorization("AWS4-HMAC-SHA256 Credential=" S3_AKID "/" S3_SCOPE
	    ",SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
	    "x-amz-decoded-content-length;x-amz-storage-class,Signature=" CHUNK_SEED,
	    &auth) == SIGV4_OK && sigv4_auth_set_date(&auth, S3_DATE, NULL) == SIGV4_OK,
	    "chunked upload: Authorization parsed");
	TAP_OK(t, sigv4_verify(&auth, &req, out.key, computed, NULL, NULL) == SIGV4_OK,
	    "chunked upload: seed verifies");
	TAP_STR_EQ(t, computed, CHUNK_SEED, "chunked upload: computed seed");

	memset(a, 'a', 65536);
	sha256(a, 65536, sha);
	sigv4_chunk_signature(out.key, S3_DATE, S3_SCOPE, CHUNK_SEED, sha, sig1);
	TAP_STR_EQ(t, sig1, CHUNK_SIG1, "chunked upload: first chunk signature");
	sha256(a, 1024, sha);
	sigv4_chunk_signature(out.key, S3_DATE, S3_SCOPE, sig1, sha, sig2);
	TAP_STR_EQ(t, sig2, CHUNK_SIG2, "chunked upload: second chunk signature");
	sha256("", 0, sha);
	sigv4_chunk_signature(out.key, S3_DATE, S3_SCOPE, sig2, sha, sig3);
	TAP_STR_EQ(t, sig3, CHUNK_SIG3, "chunked upload: final chunk signature");
	TAP_OK(t, sigv4_chunked_encoded_length(SIGV4_CHUNKED_SIGNED, 66560, 65536, 0) == 66824,
	    "chunked upload: encoded length 66824");
	free(a);
	sigv4_signed_free(&out);
}

static void
test_chunked_decode_example(struct tap *t, uint64_t *rng)
{
	static const size_t maxslices[] = { 1, 7, 100, 5000, 70000 };
	struct strbuf body;
	struct sigv4_chunked d;
	struct decoded out;
	uint8_t key[SIGV4_KEY_LEN], sha[32];
	char expect[SIGV4_HEX_BUF];

	sigv4_signing_key(key, S3_SECRET, "20130524", "us-east-1", "s3");
	strbuf_init(&body);
	chunk_body(&body, CHUNK_SIG1, CHUNK_SIG2, CHUNK_SIG3, "\r\n");
	TAP_OK(t, body.len == 66824, "chunked example body is 66824 bytes");
	for (size_t i = 0; i < nitems(maxslices); i++) {
		sigv4_chunked_init(&d, SIGV4_CHUNKED_SIGNED);
		sigv4_chunked_set_verify(&d, key, S3_DATE, S3_SCOPE, CHUNK_SEED);
		TAP_OK(t, feed_slices(&d, body.data, body.len, maxslices[i], rng, &out) ==
		    SIGV4_CHUNKED_DONE, "decode (verifying) in slices of up to %zu: done",
		    maxslices[i]);
		TAP_OK(t, all_a(&out.payload, 66560) && d.total == 66560,
		    "slices of up to %zu: payload", maxslices[i]);
		TAP_OK(t, out.nchunks == 3 && out.sizes[0] == 65536 && out.sizes[1] == 1024 &&
		    out.sizes[2] == 0, "slices of up to %zu: chunk sizes", maxslices[i]);
		TAP_OK(t, out.nchunks == 3 && strcmp(out.sigs[0], CHUNK_SIG1) == 0 &&
		    strcmp(out.sigs[1], CHUNK_SIG2) == 0 && strcmp(out.sigs[2], CHUNK_SIG3) == 0,
		    "slices of up to %zu: chunk signatures", maxslices[i]);
		strbuf_free(&out.payload);
		sigv4_chunked_free(&d);
	}

	/* Without set_verify, the caller checks each chunk. */
	sigv4_chunked_init(&d, SIGV4_CHUNKED_SIGNED);
	TAP_OK(t, feed_slices(&d, body.data, body.len, 3000, rng, &out) == SIGV4_CHUNKED_DONE,
	    "decode (not verifying): done");
	int good = out.nchunks == 3;
	const char *prev = CHUNK_SEED;
	for (size_t i = 0; good && i < 3; i++) {
		sigv4_chunk_signature(key, S3_DATE, S3_SCOPE, prev, out.shas[i], expect);
		good = sigv4_signature_equal(expect, out.sigs[i]);
		prev = out.sigs[i];
	}
	sha256("", 0, sha);
	TAP_OK(t, good && memcmp(out.shas[2], sha, 32) == 0,
	    "decode (not verifying): each chunk's hash gives its signature");
	strbuf_free(&out.payload);
	sigv4_chunked_free(&d);

	/* One bad signature: the first chunk's, the last one's. */
	strbuf_reset(&body);
	chunk_body(&body, CHUNK_SIG1, CHUNK_SIG2,
	    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df8", "\r\n");
	sigv4_chunked_init(&d, SIGV4_CHUNKED_SIGNED);
	sigv4_chunked_set_verify(&d, key, S3_DATE, S3_SCOPE, CHUNK_SEED);
	TAP_OK(t, feed_slices(&d, body.data, body.len, 9000, rng, &out) == SIGV4_CHUNKED_ERROR &&
	    d.err == SIGV4_ERR_MISMATCH && out.payload.len == 66560,
	    "a bad final chunk signature is caught after the data");
	strbuf_free(&out.payload);
	sigv4_chunked_free(&d);
	sigv4_chunked_init(&d, SIGV4_CHUNKED_SIGNED);
	sigv4_chunked_set_verify(&d, key, S3_DATE, S3_SCOPE,
	    "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a8");
	TAP_OK(t, feed_slices(&d, body.data, body.len, 9000, rng, &out) == SIGV4_CHUNKED_ERROR &&
	    d.err == SIGV4_ERR_MISMATCH && out.nchunks == 0,
	    "a wrong seed fails the first chunk");
	strbuf_free(&out.payload);
	sigv4_chunked_free(&d);

	/* In place. */
	strbuf_reset(&body);
	chunk_body(&body, CHUNK_SIG1, CHUNK_SIG2, CHUNK_SIG3, "\r\n");
	size_t out_len = 0, total = 0, off = 0;
	int rc = 0;
	sigv4_chunked_init(&d, SIGV4_CHUNKED_SIGNED);
	sigv4_chunked_set_verify(&d, key, S3_DATE, S3_SCOPE, CHUNK_SEED);
	good = 1;
	while (off < body.len && rc == 0) {
		size_t slice = 1 + rng_next(rng) % 20000;
		if (slice > body.len - off)
			slice = body.len - off;
		rc = sigv4_chunked_decode(&d, (uint8_t *)body.data + off, slice, &out_len);
		for (size_t i = 0; i < out_len; i++)
			good &= body.data[off + i] == 'a';
		total += out_len;
		off += slice;
	}
	TAP_OK(t, rc == 1 && off == body.len && total == 66560 && good,
	    "decode in place: 66560 bytes of 'a'");
	sigv4_chunked_free(&d);
	strbuf_free(&body);
}

#define TR_SEED "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
#define TR_SIG1 "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2"
#define TR_SIG2 "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7"
#define TR_SIG3 "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"
#define TR_TSIG "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"

/* "Including Trailing Headers" example: CRC32C trailer and its signature, in both forms. */
static void
test_chunked_trailer_example(struct tap *t, uint64_t *rng)
{
	static const char *const tails[] = {
		"x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" TR_TSIG "\r\n\r\n",
		"\r\nx-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" TR_TSIG "\r\n\r\n",
		"\r\nx-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" TR_TSIG,
		"\r\nx-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" TR_TSIG "\r\n",
	};
	static const char *const names[] = {
		"standard form", "example form", "example form without final CRLF",
		"example form without final empty line",
	};
	static const struct sigv4_header trailer = { "x-amz-checksum-crc32c", "sOO8/Q==" };
	struct sigv4_chunked d;
	struct decoded out;
	struct strbuf body;
	uint8_t key[SIGV4_KEY_LEN], hash[32];
	char sig[SIGV4_HEX_BUF];
	const struct sigv4_trailer *tr;

	sigv4_signing_key(key, S3_SECRET, "20130524", "us-east-1", "s3");
	sigv4_trailers_sha256(&trailer, 1, hash);
	sigv4_trailer_signature(key, S3_DATE, S3_SCOPE, TR_SIG3, hash, sig);
	TAP_STR_EQ(t, sig, TR_TSIG, "trailer example: trailer signature");
	strbuf_init(&body);
	for (size_t i = 0; i < nitems(tails); i++) {
		strbuf_reset(&body);
		chunk_body(&body, TR_SIG1, TR_SIG2, TR_SIG3, tails[i]);
		sigv4_chunked_init(&d, SIGV4_CHUNKED_SIGNED_TRAILER);
		sigv4_chunked_set_verify(&d, key, S3_DATE, S3_SCOPE, TR_SEED);
		TAP_OK(t, feed_slices(&d, body.data, body.len, 4000, rng, &out) ==
		    SIGV4_CHUNKED_DONE && all_a(&out.payload, 66560),
		    "trailer example, %s: verified and decoded", names[i]);
		tr = sigv4_chunked_trailer(&d, "x-amz-checksum-crc32c");
		TAP_OK(t, d.ntrailers == 1 && tr != NULL && strcmp(tr->value, "sOO8/Q==") == 0 &&
		    strcmp(d.trailer_signature, TR_TSIG) == 0,
		    "trailer example, %s: the trailer", names[i]);
		strbuf_free(&out.payload);
		sigv4_chunked_free(&d);
	}

	/* A changed checksum no longer matches the trailer signature. */
	strbuf_reset(&body);
	chunk_body(&body, TR_SIG1, TR_SIG2, TR_SIG3,
	    "x-amz-checksum-crc32c:sOO8/A==\r\nx-amz-trailer-signature:" TR_TSIG "\r\n\r\n");
	sigv4_chunked_init(&d, SIGV4_CHUNKED_SIGNED_TRAILER);
	sigv4_chunked_set_verify(&d, key, S3_DATE, S3_SCOPE, TR_SEED);
	TAP_OK(t, feed_slices(&d, body.data, body.len, 4000, rng, &out) == SIGV4_CHUNKED_ERROR &&
	    d.err == SIGV4_ERR_MISMATCH, "trailer example: a changed trailer is refused");
	strbuf_free(&out.payload);
	sigv4_chunked_free(&d);

	/* Signed trailer mode without a trailer signature. */
	strbuf_reset(&body);
	chunk_body(&body, TR_SIG1, TR_SIG2, TR_SIG3, "x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n");
	sigv4_chunked_init(&d, SIGV4_CHUNKED_SIGNED_TRAILER);
	sigv4_chunked_set_verify(&d, key, S3_DATE, S3_SCOPE, TR_SEED);
	TAP_OK(t, feed_slices(&d, body.data, body.len, 4000, rng, &out) == SIGV4_CHUNKED_ERROR &&
	    d.err == SIGV4_ERR_TRAILER, "signed trailer mode needs x-amz-trailer-signature");
	strbuf_free(&out.payload);
	sigv4_chunked_free(&d);
	strbuf_free(&body);
}

/* An unsigned body of random chunks with a CRC32 trailer, as the SDKs send by default. */
static void
test_chunked_unsigned(struct tap *t, uint64_t *rng)
{
	struct strbuf body, payload;
	struct sigv4_chunked d;
	struct decoded out;
	struct checksum st;
	char crc[CHECKSUM_B64_BUF], hdr[64];
	const struct sigv4_trailer *tr;
	size_t total = 200000;

	strbuf_init(&body);
	strbuf_init(&payload);
	for (size_t i = 0; i < total; i++) {
		char c = (char)(rng_next(rng) & 0xff);
		strbuf_append(&payload, &c, 1);
	}
	checksum_init(&st, CHECKSUM_CRC32);
	checksum_update(&st, payload.data, payload.len);
	checksum_final(&st, crc);
	for (size_t off = 0; off < total;) {
		size_t n = 1 + rng_next(rng) % 40000;
		if (n > total - off)
			n = total - off;
		sigv4_chunk_header(hdr, sizeof(hdr), n, NULL);
		strbuf_puts(&body, hdr);
		strbuf_append(&body, payload.data + off, n);
		strbuf_puts(&body, "\r\n");
		off += n;
	}
	strbuf_printf(&body, "0\r\nx-amz-checksum-crc32: %s \r\n\r\n", crc);

	sigv4_chunked_init(&d, SIGV4_CHUNKED_UNSIGNED_TRAILER);
	TAP_OK(t, feed_slices(&d, body.data, body.len, 333, rng, &out) == SIGV4_CHUNKED_DONE,
	    "unsigned trailer body: done");
	TAP_OK(t, out.payload.len == total && memcmp(out.payload.data, payload.data, total) == 0,
	    "unsigned trailer body: payload");
	tr = sigv4_chunked_trailer(&d, "x-amz-checksum-crc32");
	TAP_OK(t, tr != NULL && strcmp(tr->value, crc) == 0 && d.trailer_signature[0] == '\0',
	    "unsigned trailer body: the CRC32 trailer (trimmed)");
	strbuf_free(&out.payload);
	sigv4_chunked_free(&d);

	/* Length of what the load generator would send: chunks of 65536. */
	TAP_OK(t, sigv4_chunked_encoded_length(SIGV4_CHUNKED_UNSIGNED_TRAILER, 5, 65536,
	    strlen("x-amz-checksum-crc32:AAAAAA==\r\n")) ==
	    strlen("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"),
	    "unsigned encoded length");
	TAP_OK(t, sigv4_chunked_encoded_length(SIGV4_CHUNKED_SIGNED_TRAILER, 66560, 65536,
	    strlen("x-amz-checksum-crc32c:sOO8/Q==\r\n")) == 66824 +
	    strlen("x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:") + 64 + 2,
	    "signed trailer encoded length");
	strbuf_free(&body);
	strbuf_free(&payload);
}

/* Feed text whole to a new decoder; returns the event after finish (or the error). */
static enum sigv4_chunked_event
decode_text(enum sigv4_chunked_mode mode, const char *text, size_t len, enum sigv4_err *err)
{
	struct sigv4_chunked d;
	struct decoded out;
	uint64_t rng = 42;
	enum sigv4_chunked_event ev;

	sigv4_chunked_init(&d, mode);
	ev = feed_slices(&d, text, len, len ? len : 1, &rng, &out);
	*err = d.err;
	strbuf_free(&out.payload);
	sigv4_chunked_free(&d);
	return ev;
}

static int
decodes(enum sigv4_chunked_mode mode, const char *text)
{
	enum sigv4_err err;

	return decode_text(mode, text, strlen(text), &err) == SIGV4_CHUNKED_DONE;
}

static enum sigv4_err
decode_err(enum sigv4_chunked_mode mode, const char *text)
{
	enum sigv4_err err;

	if (decode_text(mode, text, strlen(text), &err) != SIGV4_CHUNKED_ERROR)
		return SIGV4_OK;
	return err;
}

static void
test_chunked_hostile(struct tap *t)
{
	const enum sigv4_chunked_mode U = SIGV4_CHUNKED_UNSIGNED_TRAILER, S = SIGV4_CHUNKED_SIGNED;
	const char *good = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n";
	struct strbuf big;
	int all_truncated = 1;
	enum sigv4_err err;

	TAP_OK(t, decodes(U, good), "unsigned: a small body");
	TAP_OK(t, decodes(U, "0\r\n\r\n"), "unsigned: empty body, no trailer");
	TAP_OK(t, decodes(U, "5\r\nhello\r\n0\r\n\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"),
	    "unsigned: empty line before the trailers");
	TAP_OK(t, decodes(U, "00005\r\nhello\r\n0\r\n\r\n") && decodes(U, "A\r\n0123456789\r\n"
	    "0\r\n\r\n"), "unsigned: leading zeros, upper-case hex");
	for (size_t i = 0; i < strlen(good); i++) {
		if (decode_text(U, good, i, &err) != SIGV4_CHUNKED_ERROR ||
		    (err != SIGV4_ERR_TRUNCATED && i > 0))
			all_truncated = 0;
	}
	TAP_OK(t, all_truncated, "unsigned: every truncation of a body is refused");
	TAP_OK(t, decode_err(U, "zz\r\nhello\r\n0\r\n\r\n") == SIGV4_ERR_CHUNK,
	    "bad hex size");
	TAP_OK(t, decode_err(U, "\r\nhello\r\n0\r\n\r\n") == SIGV4_ERR_CHUNK, "empty size");
	TAP_OK(t, decode_err(U, " 5\r\nhello\r\n0\r\n\r\n") == SIGV4_ERR_CHUNK &&
	    decode_err(U, "5 \r\nhello\r\n0\r\n\r\n") == SIGV4_ERR_CHUNK &&
	    decode_err(U, "-5\r\nhello\r\n0\r\n\r\n") == SIGV4_ERR_CHUNK &&
	    decode_err(U, "0x5\r\nhello\r\n0\r\n\r\n") == SIGV4_ERR_CHUNK,
	    "blanks, signs and 0x in sizes");
	TAP_OK(t, decode_err(U, "5;ext=1\r\nhello\r\n0\r\n\r\n") == SIGV4_ERR_CHUNK,
	    "extensions in the unsigned form");
	TAP_OK(t, decode_err(U, "5\nhello\r\n0\r\n\r\n") == SIGV4_ERR_CHUNK, "bare LF");
	TAP_OK(t, decode_err(U, "5\r\nhello!\r\n0\r\n\r\n") == SIGV4_ERR_CHUNK,
	    "data longer than its size");
	TAP_OK(t, decode_err(U, "5\r\nhell\r\n0\r\n\r\n") == SIGV4_ERR_CHUNK,
	    "data shorter than its size");
	TAP_OK(t, decode_err(U, "1000001\r\n") == SIGV4_ERR_LIMIT &&
	    decode_err(U, "ffffffffffffffffffff\r\n") == SIGV4_ERR_LIMIT,
	    "chunk sizes over 16 MiB");
	TAP_OK(t, decode_err(U, "5\r\nhello\r\n0\r\n\r\nx") == SIGV4_ERR_TRAILER,
	    "garbage after an empty final line");
	TAP_OK(t, decode_err(U, "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\nX") ==
	    SIGV4_ERR_CHUNK, "bytes after a complete body");
	TAP_OK(t, decode_err(U, "0\r\nx-amz-checksum-crc32:a\r\nx-amz-checksum-crc32:b\r\n"
	    "\r\n") == SIGV4_ERR_TRAILER, "duplicate trailers");
	TAP_OK(t, decode_err(U, "0\r\nx-amz-trailer-signature:" TR_TSIG "\r\n\r\n") ==
	    SIGV4_ERR_TRAILER, "a trailer signature in the unsigned form");
	TAP_OK(t, decode_err(U, "0\r\nbad name:x\r\n\r\n") == SIGV4_ERR_TRAILER &&
	    decode_err(U, "0\r\n:x\r\n\r\n") == SIGV4_ERR_TRAILER &&
	    decode_err(U, "0\r\nnocolon\r\n\r\n") == SIGV4_ERR_TRAILER,
	    "malformed trailer lines");
	TAP_OK(t, decode_err(U, "0\r\na:1\r\nb:2\r\nc:3\r\nd:4\r\ne:5\r\nf:6\r\ng:7\r\nh:8\r\n"
	    "i:9\r\n\r\n") == SIGV4_ERR_LIMIT, "more than 8 trailers");
	TAP_OK(t, decode_err(S, "0;chunk-signature=" TR_TSIG "\r\nx-amz-checksum-crc32:a\r\n"
	    "\r\n") == SIGV4_ERR_TRAILER, "trailers where none are expected");
	TAP_OK(t, decode_err(S, "5\r\nhello\r\n") == SIGV4_ERR_CHUNK &&
	    decode_err(S, "5;chunk-signature=abc\r\nhello\r\n") == SIGV4_ERR_CHUNK &&
	    decode_err(S, "5;chunk-signature=" TR_TSIG "0\r\nhello\r\n") == SIGV4_ERR_CHUNK &&
	    decode_err(S, "5;chunk-signaturx=" TR_TSIG "\r\nhello\r\n") == SIGV4_ERR_CHUNK,
	    "missing, short, long or misnamed chunk signatures");
	TAP_OK(t, decodes(S, "5;chunk-signature=" TR_TSIG "\r\nhello\r\n0;chunk-signature="
	    TR_TSIG "\r\n\r\n"), "signed form parses (not verifying)");

	strbuf_init(&big);
	strbuf_puts(&big, "5;chunk-signature=");
	for (int i = 0; i < 5000; i++)
		strbuf_puts(&big, "0");
	TAP_OK(t, decode_err(S, big.data) == SIGV4_ERR_LIMIT, "chunk header over 4 KiB");
	strbuf_reset(&big);
	for (int i = 0; i < 4093; i++)
		strbuf_puts(&big, "0");
	strbuf_puts(&big, "5\r\nhello\r\n0\r\n\r\n");
	TAP_OK(t, decodes(U, big.data), "a 4096-byte header line (CRLF included) is accepted");
	strbuf_reset(&big);
	for (int i = 0; i < 4094; i++)
		strbuf_puts(&big, "0");
	strbuf_puts(&big, "5\r\nhello\r\n0\r\n\r\n");
	TAP_OK(t, decode_err(U, big.data) == SIGV4_ERR_LIMIT, "a 4097-byte header line is not");
	strbuf_free(&big);
}

/* ---- parsers -------------------------------------------------------------------------------- */

#define CRED "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
#define SH "SignedHeaders=host;x-amz-date"
#define SIG "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

static enum sigv4_err
parse_auth(const char *text)
{
	struct sigv4_auth auth;

	return sigv4_parse_authorization(text, &auth);
}

static void
test_parse_authorization(struct tap *t)
{
	struct sigv4_auth a;

	TAP_OK(t, sigv4_parse_authorization("AWS4-HMAC-SHA256 " SIG ",  " SH " ,\t" CRED, &a) ==
	    SIGV4_OK, "any order, any blanks around commas");
	TAP_OK(t, strcmp(a.access_key, "AKIDEXAMPLE") == 0 && strcmp(a.date, "20150830") == 0 &&
	    strcmp(a.region, "us-east-1") == 0 && strcmp(a.service, "service") == 0 &&
	    strcmp(a.signed_headers, "host;x-amz-date") == 0 && !a.presigned,
	    "the parts");
	TAP_OK(t, parse_auth("AWS4-HMAC-SHA256 " CRED "," SH ",Signature="
	    "5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31") == SIGV4_OK,
	    "upper-case signature accepted");
	TAP_OK(t, parse_auth("AWS4-HMAC-SHA512 " CRED "," SH "," SIG) == SIGV4_ERR_ALGORITHM &&
	    parse_auth("AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=") == SIGV4_ERR_ALGORITHM,
	    "other algorithms");
	TAP_OK(t, parse_auth("AWS4-HMAC-SHA256" CRED "," SH "," SIG) == SIGV4_ERR_ALGORITHM &&
	    parse_auth(NULL) == SIGV4_ERR_MALFORMED && parse_auth("") == SIGV4_ERR_ALGORITHM,
	    "no blank after the algorithm, NULL, empty");
	TAP_OK(t, parse_auth("AWS4-HMAC-SHA256 " CRED "," SH) == SIGV4_ERR_MALFORMED &&
	    parse_auth("AWS4-HMAC-SHA256 " CRED "," SIG) == SIGV4_ERR_MALFORMED &&
	    parse_auth("AWS4-HMAC-SHA256 " SH "," SIG) == SIGV4_ERR_MALFORMED,
	    "a part missing");
	TAP_OK(t, parse_auth("AWS4-HMAC-SHA256 " CRED "," SH "," SIG "," SIG) ==
	    SIGV4_ERR_MALFORMED && parse_auth("AWS4-HMAC-SHA256 " CRED "," CRED "," SH "," SIG) ==
	    SIGV4_ERR_MALFORMED, "a part twice");
	TAP_OK(t, parse_auth("AWS4-HMAC-SHA256 " CRED "," SH "," SIG ",") == SIGV4_ERR_MALFORMED &&
	    parse_auth("AWS4-HMAC-SHA256 " CRED ",," SH "," SIG) == SIGV4_ERR_MALFORMED &&
	    parse_auth("AWS4-HMAC-SHA256 " CRED " " SH "," SIG) == SIGV4_ERR_MALFORMED,
	    "trailing comma, empty part, missing comma");
	TAP_OK(t, parse_auth("AWS4-HMAC-SHA256 " CRED "," SH "," SIG ",Foo=bar") ==
	    SIGV4_ERR_MALFORMED && parse_auth("AWS4-HMAC-SHA256 credential=AKIDEXAMPLE/20150830/"
	    "us-east-1/service/aws4_request," SH "," SIG) == SIGV4_ERR_MALFORMED,
	    "unknown or mis-cased part names");
	TAP_OK(t, parse_auth("AWS4-HMAC-SHA256 " CRED "," SH ",Signature=5fa00f") ==
	    SIGV4_ERR_MALFORMED && parse_auth("AWS4-HMAC-SHA256 " CRED "," SH ",Signature="
	    "zfa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") ==
	    SIGV4_ERR_MALFORMED, "short or non-hex signature");
	TAP_OK(t, parse_auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service,"
	    SH "," SIG) == SIGV4_ERR_CREDENTIAL &&
	    parse_auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
	    "aws4_request/x," SH "," SIG) == SIGV4_ERR_CREDENTIAL &&
	    parse_auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
	    "aws4_reques," SH "," SIG) == SIGV4_ERR_CREDENTIAL &&
	    parse_auth("AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/service/aws4_request,"
	    SH "," SIG) == SIGV4_ERR_CREDENTIAL &&
	    parse_auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//service/aws4_request,"
	    SH "," SIG) == SIGV4_ERR_CREDENTIAL, "bad credential scopes");
	TAP_OK(t, parse_auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150230/us-east-1/service/"
	    "aws4_request," SH "," SIG) == SIGV4_ERR_CREDENTIAL &&
	    parse_auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083/us-east-1/service/"
	    "aws4_request," SH "," SIG) == SIGV4_ERR_CREDENTIAL, "bad credential dates");
	TAP_OK(t, parse_auth("AWS4-HMAC-SHA256 " CRED ",SignedHeaders=Host;x-amz-date," SIG) ==
	    SIGV4_ERR_MALFORMED && parse_auth("AWS4-HMAC-SHA256 " CRED
	    ",SignedHeaders=host;;x-amz-date," SIG) == SIGV4_ERR_MALFORMED &&
	    parse_auth("AWS4-HMAC-SHA256 " CRED ",SignedHeaders=host;x-amz-date;host," SIG) ==
	    SIGV4_ERR_MALFORMED && parse_auth("AWS4-HMAC-SHA256 " CRED ",SignedHeaders=host;," SIG)
	    == SIGV4_ERR_MALFORMED, "bad signed header lists");
	TAP_OK(t, sigv4_signed_headers_has("host;range;x-amz-date", "range") &&
	    !sigv4_signed_headers_has("host;range;x-amz-date", "rang") &&
	    sigv4_signed_headers_has("host;range;x-amz-date", "x-amz-date"),
	    "sigv4_signed_headers_has");
}

static enum sigv4_err
parse_pre(const char *q)
{
	struct sigv4_auth a;

	return sigv4_parse_presigned(q, &a);
}

#define PA "X-Amz-Algorithm=AWS4-HMAC-SHA256"
#define PC "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
#define PD "X-Amz-Date=20130524T000000Z"
#define PE "X-Amz-Expires=86400"
#define PH "X-Amz-SignedHeaders=host"
#define PS "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

static void
test_parse_presigned(struct tap *t)
{
	TAP_OK(t, parse_pre(PS "&" PH "&" PE "&" PD "&" PC "&" PA "&x=1") == SIGV4_OK,
	    "presigned: any order, other parameters");
	TAP_OK(t, parse_pre("prefix=a&max-keys=2") == SIGV4_ERR_ABSENT && parse_pre("") ==
	    SIGV4_ERR_ABSENT && parse_pre(NULL) == SIGV4_ERR_ABSENT, "presigned: absent");
	TAP_OK(t, parse_pre(PA "&" PC "&" PD "&" PE "&" PH) == SIGV4_ERR_MALFORMED &&
	    parse_pre(PC "&" PD "&" PE "&" PH "&" PS) == SIGV4_ERR_MALFORMED,
	    "presigned: a parameter missing");
	TAP_OK(t, parse_pre(PA "&" PA "&" PC "&" PD "&" PE "&" PH "&" PS) == SIGV4_ERR_MALFORMED &&
	    parse_pre(PA "&" PC "&" PD "&" PE "&" PH "&" PS "&" PS) == SIGV4_ERR_MALFORMED,
	    "presigned: a parameter twice");
	TAP_OK(t, parse_pre("X-Amz-Algorithm=AWS4-HMAC-SHA1&" PC "&" PD "&" PE "&" PH "&" PS) ==
	    SIGV4_ERR_ALGORITHM, "presigned: another algorithm");
	TAP_OK(t, parse_pre(PA "&" PC "&" PD "&X-Amz-Expires=0&" PH "&" PS) ==
	    SIGV4_ERR_EXPIRES && parse_pre(PA "&" PC "&" PD "&X-Amz-Expires=604801&" PH "&" PS) ==
	    SIGV4_ERR_EXPIRES && parse_pre(PA "&" PC "&" PD "&X-Amz-Expires=-1&" PH "&" PS) ==
	    SIGV4_ERR_EXPIRES && parse_pre(PA "&" PC "&" PD "&X-Amz-Expires=1e3&" PH "&" PS) ==
	    SIGV4_ERR_EXPIRES && parse_pre(PA "&" PC "&" PD "&X-Amz-Expires=&" PH "&" PS) ==
	    SIGV4_ERR_EXPIRES && parse_pre(PA "&" PC "&" PD "&X-Amz-Expires=99999999999&" PH "&"
	    PS) == SIGV4_ERR_EXPIRES, "presigned: expires 0, 604801, -1, 1e3, empty, huge");
	TAP_OK(t, parse_pre(PA "&" PC "&" PD "&X-Amz-Expires=604800&" PH "&" PS) == SIGV4_OK &&
	    parse_pre(PA "&" PC "&" PD "&X-Amz-Expires=1&" PH "&" PS) == SIGV4_OK,
	    "presigned: expires 1 and 604800");
	TAP_OK(t, parse_pre(PA "&" PC "&X-Amz-Date=20130524T000000&" PE "&" PH "&" PS) ==
	    SIGV4_ERR_DATE && parse_pre(PA "&" PC "&X-Amz-Date=20130532T000000Z&" PE "&" PH "&" PS)
	    == SIGV4_ERR_DATE && parse_pre(PA "&" PC "&X-Amz-Date=20130524T000000Z%00&" PE "&" PH
	    "&" PS) == SIGV4_ERR_DATE, "presigned: bad dates");
	TAP_OK(t, parse_pre(PA "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
	    "aws4_request&" PD "&" PE "&" PH "&" PS) == SIGV4_OK,
	    "presigned: unencoded slashes in the credential");
	TAP_OK(t, parse_pre(PA "&" PC "%ZZ&" PD "&" PE "&" PH "&" PS) == SIGV4_ERR_URI,
	    "presigned: bad escape");
}

static void
test_dates(struct tap *t)
{
	int64_t e = -1;
	char buf[SIGV4_AMZ_DATE_BUF];
	struct sigv4_auth a;

	TAP_OK(t, sigv4_parse_amz_date("20130524T000000Z", &e) == 0 && e == S3_TIME,
	    "amz date: 20130524T000000Z");
	TAP_OK(t, sigv4_parse_amz_date("19700101T000000Z", &e) == 0 && e == 0 &&
	    sigv4_parse_amz_date("20240229T235959Z", &e) == 0 && e == INT64_C(1709251199) &&
	    sigv4_parse_amz_date("99991231T235959Z", &e) == 0 && e == INT64_C(253402300799),
	    "amz date: epoch, leap day, 9999");
	TAP_OK(t, sigv4_parse_amz_date("20230229T000000Z", &e) < 0 &&
	    sigv4_parse_amz_date("21000229T000000Z", &e) < 0 &&
	    sigv4_parse_amz_date("20131301T000000Z", &e) < 0 &&
	    sigv4_parse_amz_date("20130500T000000Z", &e) < 0 &&
	    sigv4_parse_amz_date("20130524T240000Z", &e) < 0 &&
	    sigv4_parse_amz_date("20130524T006000Z", &e) < 0 &&
	    sigv4_parse_amz_date("20130524T000060Z", &e) < 0,
	    "amz date: out-of-range fields");
	TAP_OK(t, sigv4_parse_amz_date("20130524T000000", &e) < 0 &&
	    sigv4_parse_amz_date("20130524T000000ZZ", &e) < 0 &&
	    sigv4_parse_amz_date("20130524 000000Z", &e) < 0 &&
	    sigv4_parse_amz_date("2013-05-24T00:00:00Z", &e) < 0 &&
	    sigv4_parse_amz_date("+0130524T000000Z", &e) < 0 &&
	    sigv4_parse_amz_date("19691231T235959Z", &e) < 0 &&
	    sigv4_parse_amz_date("", &e) < 0 && sigv4_parse_amz_date(NULL, &e) < 0,
	    "amz date: malformed");
	TAP_OK(t, sigv4_parse_http_date("Fri, 24 May 2013 00:00:00 GMT", &e) == 0 &&
	    e == S3_TIME, "http date");
	TAP_OK(t, sigv4_parse_http_date("Fri, 24 May 2013 00:00:00 UTC", &e) < 0 &&
	    sigv4_parse_http_date("Fri, 24 Mey 2013 00:00:00 GMT", &e) < 0 &&
	    sigv4_parse_http_date("Friday, 24-May-13 00:00:00 GMT", &e) < 0 &&
	    sigv4_parse_http_date("Fri, 31 Jun 2013 00:00:00 GMT", &e) < 0,
	    "http date: malformed");
	TAP_OK(t, sigv4_format_amz_date(S3_TIME, buf) == 0 && strcmp(buf, S3_DATE) == 0 &&
	    sigv4_format_amz_date(INT64_C(1709251199), buf) == 0 &&
	    strcmp(buf, "20240229T235959Z") == 0 && sigv4_format_amz_date(-1, buf) < 0,
	    "format amz date");
	int round = 1;
	for (int64_t x = 0; x < INT64_C(253402300799); x += INT64_C(86399) * 367 + 12345) {
		int64_t back;
		round &= sigv4_format_amz_date(x, buf) == 0 &&
		    sigv4_parse_amz_date(buf, &back) == 0 && back == x;
	}
	TAP_OK(t, round, "format and parse round-trip through 9999");

	sigv4_parse_authorization("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
	    "us-east-1/s3/aws4_request, " SH ", " SIG, &a);
	TAP_OK(t, sigv4_check_time(&a, S3_TIME) == SIGV4_ERR_DATE, "no date set");
	TAP_OK(t, sigv4_auth_set_date(&a, NULL, "Fri, 24 May 2013 00:00:00 GMT") == SIGV4_OK &&
	    strcmp(a.amz_date, S3_DATE) == 0, "the Date header when no X-Amz-Date");
	TAP_OK(t, sigv4_auth_set_date(&a, "2013-05-24", "Fri, 24 May 2013 00:00:00 GMT") ==
	    SIGV4_ERR_DATE && sigv4_auth_set_date(&a, NULL, NULL) == SIGV4_ERR_DATE,
	    "a bad X-Amz-Date is not replaced by Date; none at all");
	sigv4_auth_set_date(&a, S3_DATE, NULL);
	TAP_OK(t, sigv4_check_time(&a, S3_TIME + 900) == SIGV4_OK &&
	    sigv4_check_time(&a, S3_TIME - 900) == SIGV4_OK, "skew of 15 minutes either way");
	TAP_OK(t, sigv4_check_time(&a, S3_TIME + 901) == SIGV4_ERR_SKEW &&
	    sigv4_check_time(&a, S3_TIME - 901) == SIGV4_ERR_SKEW, "skew beyond 15 minutes");
	sigv4_auth_set_date(&a, "20130525T000000Z", NULL);
	TAP_OK(t, sigv4_check_time(&a, S3_TIME + 86400) == SIGV4_ERR_CREDENTIAL,
	    "credential date not the request's day");
}

static void
test_uri(struct tap *t)
{
	struct strbuf sb;
	struct sigv4_request req = { "GET", "/a b/c%2Fd", SIGV4_PATH_REENCODE, NULL, NULL, 0,
	    NULL };

	strbuf_init(&sb);
	sigv4_uri_encode(&sb, "a b/c~d+e=f&\xff", 13, 1);
	TAP_STR_EQ(t, sb.data, "a%20b/c~d%2Be%3Df%26%FF", "encode a path");
	strbuf_reset(&sb);
	sigv4_uri_encode(&sb, "a/b", 3, 0);
	TAP_STR_EQ(t, sb.data, "a%2Fb", "encode a query value");
	strbuf_reset(&sb);
	TAP_OK(t, sigv4_uri_decode(&sb, "a%20b+c%2f", 10, 1) == 0 &&
	    strcmp(sb.data, "a b c/") == 0, "decode, + as space");
	strbuf_reset(&sb);
	TAP_OK(t, sigv4_uri_decode(&sb, "a+b", 3, 0) == 0 && strcmp(sb.data, "a+b") == 0,
	    "decode, + kept in paths");
	TAP_OK(t, sigv4_uri_decode(&sb, "%", 1, 0) < 0 && sigv4_uri_decode(&sb, "%4", 2, 0) < 0 &&
	    sigv4_uri_decode(&sb, "%4g", 3, 0) < 0, "bad escapes");

	strbuf_reset(&sb);
	sigv4_canonical_request(&sb, &req, "", 0);
	TAP_STR_EQ(t, sb.data, "GET\n/a%20b/c/d\n\n\n\nUNSIGNED-PAYLOAD",
	    "re-encoded path, no headers");
	req.path = "//a/./b/../c";
	req.query = "acl&b=2&a=&a=1&+=%20&&z=%7e&y=a=b&x-id=PutObject";
	sigv4_canonical_request(&sb, &req, "", 0);
	TAP_STR_EQ(t, sb.data, "GET\n//a/./b/../c\n%20=%20&a=&a=1&acl=&b=2&x-id=PutObject&y=a%3Db"
	    "&z=~\n\n\nUNSIGNED-PAYLOAD", "no path normalization; query sorting and encoding");
	req.query = "X-Amz-Signature=abc&a=1";
	sigv4_canonical_request(&sb, &req, "", SIGV4_CANON_PRESIGNED);
	TAP_STR_EQ(t, sb.data, "GET\n//a/./b/../c\na=1\n\n\nUNSIGNED-PAYLOAD",
	    "X-Amz-Signature left out of presigned queries");
	req.query = "a=%zz";
	TAP_OK(t, sigv4_canonical_request(&sb, &req, "", 0) == SIGV4_ERR_URI, "bad query escape");
	req.query = NULL;
	req.path = "/%";
	TAP_OK(t, sigv4_canonical_request(&sb, &req, "", 0) == SIGV4_ERR_URI, "bad path escape");
	req.path = "/";
	TAP_OK(t, sigv4_canonical_request(&sb, &req, "host", 0) == SIGV4_ERR_MISSING_HEADER,
	    "a signed header that is not there");
	strbuf_free(&sb);
}

static void
test_signing_extras(struct tap *t)
{
	static const struct sigv4_header bad[] = { { "X-Amz-Date", "x" } };
	struct sigv4_credentials cred = s3_cred;
	struct sigv4_request req = { "GET", "/", SIGV4_PATH_AS_IS, NULL, bad, 1, NULL };
	struct sigv4_signed out;
	struct sigv4_auth auth;
	char computed[SIGV4_HEX_BUF], hdr[32];
	struct sigv4_header h[4];

	TAP_OK(t, sigv4_sign(&cred, &req, "h", S3_TIME, &out) < 0, "reserved header refused");
	sigv4_signed_free(&out);
	req.nheaders = 0;
	TAP_OK(t, sigv4_sign(&cred, &req, "h", -5, &out) < 0, "time before 1970 refused");
	sigv4_signed_free(&out);

	cred.session_token = "tok/en+";
	TAP_OK(t, sigv4_sign(&cred, &req, "h", S3_TIME, &out) == 0 &&
	    strstr(out.authorization, "SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
	    "x-amz-security-token,") != NULL, "a session token is signed");
	h[0] = (struct sigv4_header){ "host", "h" };
	h[1] = (struct sigv4_header){ "x-amz-content-sha256", SIGV4_UNSIGNED_PAYLOAD };
	h[2] = (struct sigv4_header){ "x-amz-date", out.amz_date };
	h[3] = (struct sigv4_header){ "x-amz-security-token", "tok/en+" };
	req.headers = h;
	req.nheaders = 4;
	TAP_OK(t, sigv4_parse_authorization(out.authorization, &auth) == SIGV4_OK &&
	    sigv4_auth_set_date(&auth, out.amz_date, NULL) == SIGV4_OK &&
	    sigv4_verify(&auth, &req, out.key, computed, NULL, NULL) == SIGV4_OK,
	    "and verifies");
	sigv4_signed_free(&out);

	req.headers = NULL;
	req.nheaders = 0;
	char *q = sigv4_presign(&cred, &req, "h", S3_TIME, 60);
	TAP_OK(t, q != NULL && strstr(q, "&X-Amz-Security-Token=tok%2Fen%2B&") != NULL,
	    "presign with a session token");
	req.query = q;
	req.headers = h;
	req.nheaders = 1;
	uint8_t key[SIGV4_KEY_LEN];
	sigv4_signing_key(key, S3_SECRET, "20130524", "us-east-1", "s3");
	TAP_OK(t, sigv4_parse_presigned(q, &auth) == SIGV4_OK &&
	    sigv4_verify(&auth, &req, key, computed, NULL, NULL) == SIGV4_OK,
	    "and verifies");
	free(q);

	TAP_OK(t, sigv4_signature_equal(CHUNK_SEED, CHUNK_SEED) &&
	    !sigv4_signature_equal(CHUNK_SEED, CHUNK_SIG1) &&
	    !sigv4_signature_equal(CHUNK_SEED, "4f23") && !sigv4_signature_equal(NULL, CHUNK_SEED),
	    "signature comparison");
	TAP_OK(t, sigv4_chunk_header(hdr, sizeof(hdr), 0x10000, NULL) == 7 &&
	    strcmp(hdr, "10000\r\n") == 0 && sigv4_chunk_header(hdr, sizeof(hdr), 1, CHUNK_SEED) < 0,
	    "chunk header formatting");
	enum sigv4_chunked_mode m;
	TAP_OK(t, sigv4_chunked_mode_parse(SIGV4_STREAMING_UNSIGNED_TRAILER, &m) == 0 &&
	    m == SIGV4_CHUNKED_UNSIGNED_TRAILER &&
	    sigv4_chunked_mode_parse(SIGV4_STREAMING_PAYLOAD_TRAILER, &m) == 0 &&
	    m == SIGV4_CHUNKED_SIGNED_TRAILER && sigv4_chunked_mode_parse(EMPTY, &m) < 0,
	    "streaming modes");
	TAP_OK(t, strcmp(sigv4_strerror(SIGV4_ERR_MISMATCH), "signature does not match") == 0,
	    "sigv4_strerror");
}

int
main(void)
{
	struct tap t = { 0 };
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	printf("# generator seed %llu\n", (unsigned long long)rng);
	test_suite(&t);
	test_s3_get_object_steps(&t);
	test_s3_examples(&t);
	test_presign(&t);
	test_chunked_seed(&t);
	test_chunked_decode_example(&t, &rng);
	test_chunked_trailer_example(&t, &rng);
	test_chunked_unsigned(&t, &rng);
	test_chunked_hostile(&t);
	test_parse_authorization(&t);
	test_parse_presigned(&t);
	test_dates(&t);
	test_uri(&t);
	test_signing_extras(&t);
	return TAP_DONE(&t);
}
