#!/usr/bin/python3
# s3-hostile.t: requests a well-behaved client would never send, each answered with the
# right S3 error, and none of them disturbing what is stored: a wrong secret, an unknown key,
# no signature, a key limited to another bucket, a skewed clock, bad Content-MD5, a wrong
# x-amz-content-sha256, a tampered aws-chunked body, a bad checksum trailer, a body cut
# short or stalled, a head over 64 KiB.  After every hostile PUT over an existing key the
# old bytes still read back, no pending intent is left and no quota stays reserved.  A body
# that only trickles in is not hostile: it is stored.
import base64
import hashlib
import os
import socket
import sys
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP  # noqa: E402
from s3mux_s3 import S3Env, ACCESS_KEY, SECRET_KEY  # noqa: E402
from sigv4 import (STREAMING_PAYLOAD, STREAMING_UNSIGNED_TRAILER, UNSIGNED_PAYLOAD,  # noqa: E402
                   Signer, connect, format_request, http_raw, read_response, sha256_hex,
                   unsigned_trailer_body, uri_encode)

t = TAP()
IDLE = 3     # frontend.idle_timeout, seconds: bounds a client that stalls mid-body
env = S3Env(t, credentials=[("limited", "limited-secret-key", ["allowed-bucket"])],
            frontend="idle_timeout: %ds" % IDLE)
s3 = env.client()
B = "hostile"
s3.create_bucket(Bucket=B)
s3.create_bucket(Bucket="allowed-bucket")
s3.create_bucket(Bucket="other-bucket")
VICTIM = "victim/object"
V0 = os.urandom(300 * 1024 + 7)
s3.put_object(Bucket=B, Key=VICTIM, Body=V0)
PATH = "/%s/%s" % (B, uri_encode(VICTIM))
good = Signer(ACCESS_KEY, SECRET_KEY)


def b64(raw):
    return base64.b64encode(raw).decode()


def crc32_b64(data):
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def hdrs(extra=None):
    h = {"host": env.host}
    h.update(extra or {})
    return h


def signed_put(body, signer=good, path=PATH, extra=None, payload_hash=None):
    """A PUT of body signed with a hex payload hash (or the one given)."""
    h = signer.sign("PUT", path, "", hdrs(extra),
                    payload_hash=payload_hash or sha256_hex(body))
    return http_raw(env.port, "PUT", path, h, body)


def check_victim(label):
    """The previous version reads back, nothing is pending, nothing reserved, no temp file."""
    got = s3.get_object(Bucket=B, Key=VICTIM)["Body"].read()
    settled = env.settled(10)
    tmp = env.tmp_files()
    good_ = t.ok(got == V0 and settled == (0, 0) and tmp == [],
                 "%s: the old version reads back, no intent, nothing reserved, no temp file"
                 % label)
    if not good_:
        t.diag("same bytes: %s, (pending, reserved) = %s, temp files: %s" %
               (got == V0, settled, tmp))


def expect(resp, status, code, label):
    ok = t.is_((resp.status, resp.code()), (status, code), label)
    if not ok:
        t.diag(repr(resp))
    return ok


# --- positive controls: this signer and the server agree -------------------------------
r = http_raw(env.port, "GET", PATH, good.sign("GET", PATH, "", hdrs()))
t.ok(r.status == 200 and r.body == V0, "control: a GET signed by the test's signer")
r = signed_put(b"control body", path="/%s/control" % B)
t.is_(r.status, 200, "control: a PUT with a signed payload hash")
data = os.urandom(200 * 1024 + 3)
h = good.sign("PUT", "/%s/chunked" % B, "", hdrs({
    "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}),
    payload_hash=STREAMING_PAYLOAD)
body = good.chunked_body(data, 64 * 1024)
r = http_raw(env.port, "PUT", "/%s/chunked" % B, h, body)
t.is_(r.status, 200, "control: an aws-chunked PUT with chunk signatures")
t.is_(s3.get_object(Bucket=B, Key="chunked")["Body"].read(), data,
      "control: the aws-chunked body is stored decoded")
h = good.sign("PUT", "/%s/trailer" % B, "", hdrs({
    "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
    "x-amz-trailer": "x-amz-checksum-crc32"}), payload_hash=STREAMING_UNSIGNED_TRAILER)
r = http_raw(env.port, "PUT", "/%s/trailer" % B, h,
             unsigned_trailer_body(data, [("x-amz-checksum-crc32", crc32_b64(data))], 50000))
t.is_((r.status, r.headers.get("x-amz-checksum-crc32")), (200, crc32_b64(data)),
      "control: STREAMING-UNSIGNED-PAYLOAD-TRAILER with a right CRC32 trailer, echoed")
t.is_(s3.get_object(Bucket=B, Key="trailer")["Body"].read(), data,
      "control: the trailer body is stored decoded")

# --- who may do what -------------------------------------------------------------------
r = signed_put(b"x" * 1000, signer=Signer(ACCESS_KEY, "not-the-secret"))
expect(r, 403, "SignatureDoesNotMatch", "wrong secret: 403 SignatureDoesNotMatch")
check_victim("wrong secret")
r = http_raw(env.port, "GET", PATH,
             Signer(ACCESS_KEY, "not-the-secret").sign("GET", PATH, "", hdrs()))
expect(r, 403, "SignatureDoesNotMatch", "wrong secret on GET: 403 SignatureDoesNotMatch")
r = signed_put(b"x" * 1000, signer=Signer("nobody", SECRET_KEY))
expect(r, 403, "InvalidAccessKeyId", "unknown access key: 403 InvalidAccessKeyId")
check_victim("unknown access key")
r = http_raw(env.port, "PUT", PATH, hdrs(), b"anonymous")
expect(r, 403, "AccessDenied", "anonymous PUT: 403 AccessDenied")
check_victim("anonymous PUT")
r = http_raw(env.port, "GET", PATH, hdrs())
expect(r, 403, "AccessDenied", "anonymous GET: 403 AccessDenied")
r = http_raw(env.port, "GET", "/", hdrs())
expect(r, 403, "AccessDenied", "anonymous ListBuckets: 403 AccessDenied")
r = http_raw(env.port, "PUT", PATH, hdrs({"authorization": "AWS demo:c2lnbmF0dXJl"}), b"v2")
expect(r, 400, "InvalidRequest", "a Signature V2 header: 400 InvalidRequest")
r = http_raw(env.port, "PUT", PATH, hdrs({"authorization": "AWS4-HMAC-SHA256 garbage",
                                          "x-amz-date": "20200101T000000Z",
                                          "x-amz-content-sha256": UNSIGNED_PAYLOAD}), b"junk")
expect(r, 400, "AuthorizationHeaderMalformed", "a malformed Authorization: 400")
check_victim("malformed Authorization")
h = [(k, v) for k, v in good.sign("PUT", PATH, "", hdrs(), payload_hash=UNSIGNED_PAYLOAD)
     if k != "x-amz-content-sha256"]
r = http_raw(env.port, "PUT", PATH, h, b"no payload hash header")
t.ok(r.status in (400, 403),
     "no x-amz-content-sha256 header: refused (%d %s)" % (r.status, r.code()))
check_victim("no x-amz-content-sha256")

limited = Signer("limited", "limited-secret-key")
r = http_raw(env.port, "PUT", "/allowed-bucket/k", limited.sign(
    "PUT", "/allowed-bucket/k", "", hdrs(), payload_hash=sha256_hex(b"ok")), b"ok")
t.is_(r.status, 200, "a key limited to allowed-bucket writes there")
r = signed_put(b"x" * 10, signer=limited)
expect(r, 403, "AccessDenied", "the limited key writing to another bucket: 403 AccessDenied")
check_victim("limited key")
r = http_raw(env.port, "GET", PATH, limited.sign("GET", PATH, "", hdrs()))
expect(r, 403, "AccessDenied", "the limited key reading another bucket: 403 AccessDenied")
r = http_raw(env.port, "GET", "/%s" % B, limited.sign("GET", "/%s" % B, "", hdrs()))
expect(r, 403, "AccessDenied", "the limited key listing another bucket: 403 AccessDenied")
r = http_raw(env.port, "DELETE", PATH, limited.sign("DELETE", PATH, "", hdrs()))
expect(r, 403, "AccessDenied", "the limited key deleting in another bucket: 403 AccessDenied")
r = http_raw(env.port, "PUT", "/limited-new", limited.sign("PUT", "/limited-new", "", hdrs()))
expect(r, 403, "AccessDenied", "the limited key creating another bucket: 403 AccessDenied")
r = http_raw(env.port, "GET", "/", limited.sign("GET", "/", "", hdrs()))
t.ok(r.status == 200 and b"<Name>allowed-bucket</Name>" in r.body and
     b"<Name>hostile</Name>" not in r.body and b"<Name>other-bucket</Name>" not in r.body,
     "ListBuckets for the limited key shows allowed-bucket only")
check_victim("limited key reads")

# --- time ------------------------------------------------------------------------------
for offset in (-1200, 1200):
    r = signed_put(b"x" * 100, signer=Signer(ACCESS_KEY, SECRET_KEY, clock_offset=offset))
    expect(r, 403, "RequestTimeTooSkewed", "signed %+d s off: 403 RequestTimeTooSkewed" % offset)
check_victim("clock skew")
r = http_raw(env.port, "GET", PATH, Signer(ACCESS_KEY, SECRET_KEY, clock_offset=600).sign(
    "GET", PATH, "", hdrs()))
t.is_(r.status, 200, "signed 10 minutes ahead: within the 15 minutes allowed")
url = good.presign("GET", env.host, PATH, expires=60, when=time.time() - 3600)
r = http_raw(env.port, "GET", url, hdrs())
expect(r, 403, "AccessDenied", "a presigned URL that expired an hour ago: 403 AccessDenied")
url = good.presign("GET", env.host, PATH, expires=60, when=time.time() + 1200)
r = http_raw(env.port, "GET", url, hdrs())
expect(r, 403, "AccessDenied", "a presigned URL dated 20 minutes ahead: 403 AccessDenied")
url = good.presign("GET", env.host, PATH, expires=300)
r = http_raw(env.port, "GET", url, hdrs())
t.ok(r.status == 200 and r.body == V0, "control: a presigned URL from the test's signer")
url = good.presign("PUT", env.host, PATH, expires=300)
r = http_raw(env.port, "PUT", url.replace("X-Amz-Expires=300", "X-Amz-Expires=301"), hdrs(),
             b"tampered presign")
expect(r, 403, "SignatureDoesNotMatch", "a presigned PUT with its expiry changed: 403")
check_victim("presigned")

# --- digests ---------------------------------------------------------------------------
body = os.urandom(100000)
r = signed_put(body, extra={"content-md5": b64(hashlib.md5(b"other").digest())})
expect(r, 400, "BadDigest", "a Content-MD5 that does not match: 400 BadDigest")
check_victim("bad Content-MD5")
r = signed_put(body, extra={"content-md5": "not base64 at all!"})
expect(r, 400, "InvalidDigest", "a Content-MD5 that is not base64: 400 InvalidDigest")
check_victim("non-base64 Content-MD5")
r = signed_put(body, extra={"content-md5": b64(b"short")})
expect(r, 400, "InvalidDigest", "a Content-MD5 of the wrong length: 400 InvalidDigest")
r = signed_put(body, payload_hash=sha256_hex(body + b"!"))
expect(r, 400, "XAmzContentSHA256Mismatch", "a wrong x-amz-content-sha256: 400 "
       "XAmzContentSHA256Mismatch")
check_victim("wrong x-amz-content-sha256")
r = signed_put(body, payload_hash="not-a-hash")
t.ok(r.status == 400, "an x-amz-content-sha256 that is not a hash: 400 (%s)" % r.code())
check_victim("malformed x-amz-content-sha256")
r = signed_put(body, extra={"x-amz-checksum-crc32": crc32_b64(body + b"!")})
expect(r, 400, "BadDigest", "a wrong x-amz-checksum-crc32 header: 400 BadDigest")
check_victim("wrong checksum header")
r = signed_put(body, extra={"x-amz-checksum-sha256": b64(hashlib.sha256(b"x").digest())})
expect(r, 400, "BadDigest", "a wrong x-amz-checksum-sha256 header: 400 BadDigest")
r = signed_put(body, extra={"x-amz-checksum-crc32": "@@@"})
expect(r, 400, "InvalidArgument", "an x-amz-checksum-crc32 that is not base64: 400")
check_victim("bad checksum headers")


# --- aws-chunked -----------------------------------------------------------------------
def chunked_put(data, tamper=None, decoded_len=None, chunk=64 * 1024, path=PATH):
    h = good.sign("PUT", path, "", hdrs({
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data) if decoded_len is None else decoded_len)}),
        payload_hash=STREAMING_PAYLOAD)
    body = good.chunked_body(data, chunk)
    if tamper:
        body = tamper(body)
    return http_raw(env.port, "PUT", path, h, body)


data = os.urandom(256 * 1024 + 100)


def flip_in_second_chunk(body):
    pos = body.index(b"\r\n", body.index(b"\r\n") + 2 + 64 * 1024) + 2   # second chunk's head
    pos = body.index(b"\r\n", pos) + 2 + 1000                            # into its data
    return body[:pos] + bytes([body[pos] ^ 0x01]) + body[pos + 1:]


r = chunked_put(data, tamper=flip_in_second_chunk)
expect(r, 403, "SignatureDoesNotMatch", "a byte flipped in an aws-chunked chunk: 403 "
       "SignatureDoesNotMatch")
check_victim("tampered chunk")


def swap_last_signature(body):
    i = body.rindex(b"chunk-signature=") + len(b"chunk-signature=")
    return body[:i] + b"0" * 64 + body[i + 64:]


r = chunked_put(data, tamper=swap_last_signature)
expect(r, 403, "SignatureDoesNotMatch", "a wrong final chunk signature: 403")
check_victim("wrong final chunk signature")


def drop_final_chunk(body):
    return body[:body.rindex(b"0;chunk-signature=")]


r = chunked_put(data, tamper=drop_final_chunk)
t.ok(r.status == 400, "an aws-chunked body without its final chunk: 400 (%s)" % r.code())
check_victim("no final chunk")
r = chunked_put(data, decoded_len=len(data) + 10)
expect(r, 400, "IncompleteBody", "fewer decoded bytes than x-amz-decoded-content-length: "
       "400 IncompleteBody")
check_victim("short decoded length")
r = chunked_put(data, decoded_len=len(data) - 10)
t.ok(r.status == 400, "more decoded bytes than x-amz-decoded-content-length: 400 (%s)" % r.code())
check_victim("long decoded length")


def bad_framing(body):
    return body.replace(b";chunk-signature=", b";chunk-sig=", 1)


r = chunked_put(data, tamper=bad_framing)
t.ok(r.status in (400, 403), "bad aws-chunked framing: refused (%d %s)" % (r.status, r.code()))
check_victim("bad framing")
h = good.sign("PUT", PATH, "", hdrs({"content-encoding": "aws-chunked"}),
              payload_hash=STREAMING_PAYLOAD)
r = http_raw(env.port, "PUT", PATH, h, good.chunked_body(b"abc"))
expect(r, 411, "MissingContentLength", "aws-chunked without x-amz-decoded-content-length: 411")
check_victim("no decoded length")


def trailer_put(data, trailers, declared="x-amz-checksum-crc32"):
    h = good.sign("PUT", PATH, "", hdrs({
        "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": declared}), payload_hash=STREAMING_UNSIGNED_TRAILER)
    return http_raw(env.port, "PUT", PATH, h, unsigned_trailer_body(data, trailers, 40000))


r = trailer_put(data, [("x-amz-checksum-crc32", crc32_b64(data + b"x"))])
expect(r, 400, "BadDigest", "STREAMING-UNSIGNED-PAYLOAD-TRAILER with a wrong CRC32 trailer: "
       "400 BadDigest")
check_victim("bad trailer")
r = trailer_put(data, [("x-amz-checksum-crc32c", crc32_b64(data))],
                declared="x-amz-checksum-crc32c")
expect(r, 400, "BadDigest", "a wrong CRC32C trailer: 400 BadDigest")
check_victim("bad CRC32C trailer")
r = trailer_put(data, [("x-amz-checksum-crc32", "!!notbase64!!")])
t.ok(r.status == 400, "a trailer value that is not base64: 400 (%s)" % r.code())
check_victim("malformed trailer")


def tamper_unsigned(body):
    i = 10000
    return body[:i] + bytes([body[i] ^ 0x80]) + body[i + 1:]


h = good.sign("PUT", PATH, "", hdrs({
    "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
    "x-amz-trailer": "x-amz-checksum-crc32"}), payload_hash=STREAMING_UNSIGNED_TRAILER)
r = http_raw(env.port, "PUT", PATH, h, tamper_unsigned(
    unsigned_trailer_body(data, [("x-amz-checksum-crc32", crc32_b64(data))], 40000)))
expect(r, 400, "BadDigest", "a byte flipped under a right CRC32 trailer: 400 BadDigest")
check_victim("flipped byte under a trailer")


# --- bodies cut short ------------------------------------------------------------------
def cut_short(declared, send, extra=None, payload_hash=UNSIGNED_PAYLOAD, body=None, wait=0.3):
    """Declare `declared` bytes, send `send` of them, close; return the answer if any."""
    h = good.sign("PUT", PATH, "", hdrs(dict(extra or {}, **{"content-length": str(declared)})),
                  payload_hash=payload_hash)
    s = connect(env.port)
    try:
        s.sendall(format_request("PUT", PATH, h))
        s.sendall((body if body is not None else os.urandom(send))[:send])
        time.sleep(wait)
        s.shutdown(socket.SHUT_WR)
        try:
            return read_response(s, "PUT", 10)
        except (OSError, TimeoutError):
            return None
    finally:
        s.close()


r = cut_short(1024 * 1024, 512 * 1024)
t.ok(r is None or r.status >= 400, "Content-Length 1 MiB, half sent, socket closed: no success "
     "(%s)" % (r.status if r else "no answer"))
check_victim("truncated body")
r = cut_short(1024 * 1024, 0)
t.ok(r is None or r.status >= 400, "Content-Length 1 MiB, nothing sent: no success")
check_victim("truncated before the body")
r = cut_short(1024 * 1024, 512 * 1024, extra={"expect": "100-continue"})
t.ok(r is None or r.status >= 400, "the same with Expect: 100-continue: no success")
check_victim("truncated after 100-continue")
cbody = good.chunked_body(data)
h_extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
h = good.sign("PUT", PATH, "", hdrs(dict(h_extra, **{"content-length": str(len(cbody))})),
              payload_hash=STREAMING_PAYLOAD)
s = connect(env.port)
s.sendall(format_request("PUT", PATH, h) + cbody[:len(cbody) // 2])
time.sleep(0.3)
s.close()
time.sleep(0.2)
check_victim("aws-chunked body cut in half")
# a client that sends half its body and then stalls, keeping the connection open: the front
# end gives up within two frontend.idle_timeout periods (the first may find a last piece
# below the read mark) and commits nothing
h = good.sign("PUT", PATH, "", hdrs({"content-length": str(1024 * 1024)}),
              payload_hash=UNSIGNED_PAYLOAD)
s = connect(env.port)
started = time.monotonic()
s.sendall(format_request("PUT", PATH, h) + os.urandom(512 * 1024))
try:
    r = read_response(s, "PUT", 2 * IDLE + 10)
except (OSError, TimeoutError):
    r = None
waited = time.monotonic() - started
s.close()
t.ok((r is None or r.status >= 400) and waited < 2 * IDLE + 3,
     "a body that stalls half way: dropped within two idle timeouts (%.1fs, %s)" %
     (waited, r.status if r else "closed"))
check_victim("stalled body")

# a slow client is not an idle one: 48 KiB at 10 KiB/s takes longer than the idle timeout,
# and each timeout period brings less than the front end's read mark for large bodies
SLOW = os.urandom(48 * 1024)
slow_path = "/%s/slow/object" % B
h = good.sign("PUT", slow_path, "", hdrs({"content-length": str(len(SLOW))}),
              payload_hash=UNSIGNED_PAYLOAD)
s = connect(env.port)
started = time.monotonic()
try:
    s.sendall(format_request("PUT", slow_path, h))
    for off in range(0, len(SLOW), 1024):
        s.sendall(SLOW[off:off + 1024])
        time.sleep(0.1)
    r = read_response(s, "PUT", 10)
except (OSError, TimeoutError) as e:
    r = None
    t.diag("slow upload: %s" % e)
finally:
    s.close()
took = time.monotonic() - started
t.ok(r is not None and r.status == 200 and took > IDLE,
     "a body trickling in over %.1fs (idle timeout %ds): stored (%s)" %
     (took, IDLE, r.status if r else "closed"))
got = s3.get_object(Bucket=B, Key="slow/object")["Body"].read() if r and r.status == 200 else b""
t.ok(got == SLOW, "and it reads back byte for byte")

# every front end still serves after all that
ok = all(s3.get_object(Bucket=B, Key=VICTIM)["Body"].read() == V0 for _ in range(6))
t.ok(ok, "the front ends still serve")

# --- heads ---------------------------------------------------------------------------
big = {"x-filler": "f" * (70 * 1024)}
s = connect(env.port)
try:
    s.sendall(format_request("GET", PATH, hdrs(big)))
    r = read_response(s, "GET", 10)
    t.is_(r.status, 431, "a head over 64 KiB: 431")
except OSError as e:
    t.ok(False, "a head over 64 KiB: 431 (%s)" % e)
finally:
    s.close()
s = connect(env.port)
try:
    many = [("x-h%d" % i, "v" * 300) for i in range(240)]
    s.sendall(format_request("GET", PATH, [("host", env.host)] + many))
    r = read_response(s, "GET", 10)
    t.is_(r.status, 431, "240 headers of 300 bytes (72 KiB): 431")
except OSError as e:
    t.ok(False, "many headers: 431 (%s)" % e)
finally:
    s.close()
h = good.sign("GET", PATH, "", hdrs({"x-filler": "f" * (60 * 1024)}))
r = http_raw(env.port, "GET", PATH, h)
t.ok(r.status == 200 and r.body == V0, "a signed head of 60 KiB is served")
long_target = "/%s/%s" % (B, "k" * 70000)
s = connect(env.port)
try:
    s.sendall(format_request("GET", long_target, hdrs()))
    r = read_response(s, "GET", 10)
    t.ok(r.status in (414, 431), "a 70 KB request target: %d" % r.status)
except OSError as e:
    t.ok(False, "a 70 KB request target (%s)" % e)
finally:
    s.close()
s = connect(env.port)
try:
    s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
    r = read_response(s, "GET", 10)
    t.is_(r.status, 400, "garbage instead of a request line: 400")
except OSError as e:
    t.ok(False, "garbage: 400 (%s)" % e)
finally:
    s.close()

# --- paths and sizes -------------------------------------------------------------------
r = signed_put(b"escape?", path="/%s/../../escape" % B)
t.is_(r.status, 200, "a key with ../ is accepted as a plain key")
t.ok(not os.path.exists(os.path.join(env.dir, "escape")) and
     not os.path.exists(os.path.join(os.path.dirname(env.dir), "escape")),
     "and stored inside the backend directory")
t.is_(s3.get_object(Bucket=B, Key="../../escape")["Body"].read(), b"escape?",
      "and read back by its key")
r = signed_put(b"bad escape", path="/%s/bad%%zzescape" % B)
t.is_((r.status, r.code()), (400, "InvalidURI"), "a bad %-escape in the path: 400 InvalidURI")
r = signed_put(b"nul", path="/%s/nul%%00byte" % B)
t.is_(r.status, 400, "a NUL byte in the key: 400")
h = good.sign("PUT", PATH, "", hdrs({"content-length": str(6 * 1024 ** 4),
                                     "expect": "100-continue"}), payload_hash=UNSIGNED_PAYLOAD)
s = connect(env.port)
try:
    s.sendall(format_request("PUT", PATH, h))
    r = read_response(s, "PUT", 10)
    expect(r, 400, "EntityTooLarge", "a 6 TiB Content-Length: 400 EntityTooLarge, before the body")
finally:
    s.close()
check_victim("6 TiB declared")
h = good.sign("PUT", PATH, "", hdrs({"content-length": str(1024 * 1024),
                                     "expect": "100-continue"}),
              payload_hash=sha256_hex(b""), when=None)
h = [(k, v) if k != "Authorization" else (k, v[:-4] + "0000") for k, v in h]
s = connect(env.port)
try:
    s.sendall(format_request("PUT", PATH, h))
    r = read_response(s, "PUT", 10)
    expect(r, 403, "SignatureDoesNotMatch", "a bad signature with Expect: 100-continue is "
           "refused before the body")
finally:
    s.close()
check_victim("refused before the body")

# --- the end: accounting ---------------------------------------------------------------
t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
used, reserved, orphans = env.quota_row()
t.is_((used, orphans), (env.locations_bytes(), 0), "bytes_used = SUM(stored_size), no orphans")
t.is_(used, env.backend_file_bytes(), "bytes_used = the bytes on disk-a")
t.is_(env.tmp_files(), [], "no temporary file left")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.done()
