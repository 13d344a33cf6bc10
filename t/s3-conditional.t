#!/usr/bin/python3
# s3-conditional.t: conditional writes and reads as AWS answers them.
#   - PUT with If-None-Match: * (new key 200, existing key 412 and the object unchanged),
#     If-Match with the right and a wrong ETag, If-Match on a missing key (404 NoSuchKey),
#     If-None-Match with an ETag (501 NotImplemented);
#   - the same on CompleteMultipartUpload;
#   - 8 concurrent If-None-Match: * PUTs of one new key: exactly one wins (the others 412 or
#     409), and the object is the winner's bytes; 8 concurrent If-Match PUTs likewise;
#   - GET and HEAD with If-Match, If-None-Match (304), If-Modified-Since (304),
#     If-Unmodified-Since (412), and the combinations RFC 7232 / AWS define.
# Debian's botocore has no IfNoneMatch/IfMatch parameters for writes: the headers are added
# to boto3's requests (signed with them) or sent raw.
import datetime
import email.utils
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP  # noqa: E402
from s3mux_s3 import S3Env, http_status  # noqa: E402
from s3api import MiB, Raw, expect_error, expect_raw, extra_headers, md5_hex, mpu_etag, quoted  # noqa: E402
from sigv4 import uri_encode  # noqa: E402

t = TAP()
try:
    import boto3  # noqa: F401
except ImportError:
    t.skip_all("boto3 is not installed (apt-get install python3-boto3)")

started_file = time.monotonic()
env = S3Env(t)
s3 = env.client()
raw = Raw(env)
B = "cond"
s3.create_bucket(Bucket=B)


def path(key):
    return "/%s/%s" % (B, uri_encode(key))


def put(key, body, headers=None):
    return raw.request("PUT", path(key), headers=headers, body=body)


def body_of(key):
    return s3.get_object(Bucket=B, Key=key)["Body"].read()


# --- PUT ---------------------------------------------------------------------------------
r = put("new-key", b"first", {"if-none-match": "*"})
t.is_((r.status, r.headers.get("etag")), (200, quoted(md5_hex(b"first"))),
      "PUT If-None-Match: * on a new key: 200")
r = put("new-key", b"second", {"if-none-match": "*"})
expect_raw(t, r, 412, "PreconditionFailed", "PUT If-None-Match: * on an existing key: 412 PreconditionFailed")
t.is_(body_of("new-key"), b"first", "... the object unchanged")
etag1 = quoted(md5_hex(b"first"))
r = put("new-key", b"third", {"if-match": quoted(md5_hex(b"not it"))})
expect_raw(t, r, 412, "PreconditionFailed", "PUT If-Match with a wrong ETag: 412")
t.is_(body_of("new-key"), b"first", "... the object unchanged")
r = put("new-key", b"fourth", {"if-match": etag1})
t.is_(r.status, 200, "PUT If-Match with the right ETag: 200")
t.is_(body_of("new-key"), b"fourth", "... the object replaced")
r = put("new-key", b"fifth", {"if-match": md5_hex(b"fourth")})
t.is_(r.status, 200, "PUT If-Match with the right ETag unquoted: 200")
r = put("missing-key", b"x", {"if-match": etag1})
expect_raw(t, r, 404, "NoSuchKey", "PUT If-Match on a missing key: 404 NoSuchKey")
r = put("new-key", b"sixth", {"if-none-match": quoted(md5_hex(b"fifth"))})
expect_raw(t, r, 501, "NotImplemented", "PUT If-None-Match with an ETag (only * is allowed): 501 NotImplemented")
t.is_(body_of("new-key"), b"fifth", "... the object unchanged")
with extra_headers(s3, "PutObject", {"If-None-Match": "*"}):
    s3.put_object(Bucket=B, Key="boto-new", Body=b"one")
    expect_error(t, lambda: s3.put_object(Bucket=B, Key="boto-new", Body=b"two"),
                 "PreconditionFailed", 412, "boto3 put_object with If-None-Match: * twice: 412")
t.is_(body_of("boto-new"), b"one", "... the first one stays")
t.is_(env.settled(), (0, 0), "no intent left, nothing reserved")

# --- CompleteMultipartUpload ---------------------------------------------------------------


def mpu(key, parts):
    uid = s3.create_multipart_upload(Bucket=B, Key=key)["UploadId"]
    etags = [s3.upload_part(Bucket=B, Key=key, UploadId=uid, PartNumber=n, Body=p)["ETag"]
             for n, p in enumerate(parts, 1)]
    return uid, {"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]}


def complete(key, uid, listing, headers):
    with extra_headers(s3, "CompleteMultipartUpload", headers):
        return s3.complete_multipart_upload(Bucket=B, Key=key, UploadId=uid, MultipartUpload=listing)


P = [os.urandom(5 * MiB), b"tail"]
uid, lst = mpu("mpu/new", P)
r = complete("mpu/new", uid, lst, {"If-None-Match": "*"})
t.is_(r["ETag"], mpu_etag(P), "CompleteMultipartUpload If-None-Match: * on a new key: 200")
P2 = [os.urandom(5 * MiB), b"other"]
uid, lst = mpu("mpu/new", P2)
expect_error(t, lambda: complete("mpu/new", uid, lst, {"If-None-Match": "*"}),
             "PreconditionFailed", 412, "CompleteMultipartUpload If-None-Match: * on an existing key: 412")
t.is_(s3.head_object(Bucket=B, Key="mpu/new")["ETag"], mpu_etag(P), "... the object unchanged")
expect_error(t, lambda: complete("mpu/new", uid, lst, {"If-Match": quoted(md5_hex(b"wrong"))}),
             "PreconditionFailed", 412, "CompleteMultipartUpload If-Match with a wrong ETag: 412")
t.is_(s3.head_object(Bucket=B, Key="mpu/new")["ETag"], mpu_etag(P), "... the object unchanged")
try:
    r = complete("mpu/new", uid, lst, {"If-Match": mpu_etag(P)})
    t.is_(r["ETag"], mpu_etag(P2), "CompleteMultipartUpload If-Match with the right ETag: 200")
    t.is_(s3.head_object(Bucket=B, Key="mpu/new")["ETag"], mpu_etag(P2), "... the object replaced")
except Exception as e:
    t.ok(False, "CompleteMultipartUpload If-Match with the right ETag: %s" % e)
    t.ok(False, "... the object replaced")
    try:
        s3.abort_multipart_upload(Bucket=B, Key="mpu/new", UploadId=uid)
    except Exception:
        pass
uid, lst = mpu("mpu/missing", [b"only part"])
expect_error(t, lambda: complete("mpu/missing", uid, lst, {"If-Match": mpu_etag(P)}),
             "NoSuchKey", 404, "CompleteMultipartUpload If-Match on a missing key: 404 NoSuchKey")
try:
    s3.head_object(Bucket=B, Key="mpu/missing")
    t.ok(False, "... no object made")
except Exception as e:
    t.is_(http_status(e), 404, "... no object made")
for u in s3.list_multipart_uploads(Bucket=B).get("Uploads", []):
    s3.abort_multipart_upload(Bucket=B, Key=u["Key"], UploadId=u["UploadId"])
t.is_(env.settled(), (0, 0), "no intent left, nothing reserved")

# --- concurrent conditional writes ----------------------------------------------------------


def race(key, headers_of, rounds_label):
    bodies = [os.urandom(256 * 1024 + i) for i in range(8)]
    barrier = threading.Barrier(8, timeout=30)

    def one(i):
        barrier.wait()
        try:
            r = put(key, bodies[i], headers_of(i))
            return r.status, r.code()
        except Exception as e:
            return None, str(e)

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, range(8)))
    winners = [i for i, (s, _) in enumerate(results) if s == 200]
    losers = [(s, c) for s, c in results if s != 200]
    good = t.ok(len(winners) == 1 and all((s, c) in ((412, "PreconditionFailed"),
                                                    (409, "ConditionalRequestConflict"))
                                          for s, c in losers),
                "%s: exactly one 200, the others 412 or 409" % rounds_label)
    if not good:
        t.diag("results: %s" % results)
    if winners:
        try:
            got = body_of(key)
        except Exception as e:          # a body shorter than its Content-Length, ...
            got = "GET failed: %s" % e
        if not t.ok(got == bodies[winners[0]], "%s: the object is the winner's bytes" % rounds_label):
            h = s3.head_object(Bucket=B, Key=key)
            t.diag("results %s (winner %d)" % (results, winners[0]))
            t.diag("GET: %s; HEAD: ETag %s (body %s), Content-Length %s" % (
                got if isinstance(got, str) else "%d bytes, body %s" % (
                    len(got), [i for i, b in enumerate(bodies) if b == got]),
                h["ETag"], [i for i, b in enumerate(bodies) if quoted(md5_hex(b)) == h["ETag"]],
                h["ContentLength"]))
            t.diag("the file on disk-a: %s bytes" % [
                os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(env.disk, B))
                for f in fs if f == key.replace("/", "%2F")])
    else:
        t.ok(False, "%s: the object is the winner's bytes (no winner)" % rounds_label)


for n in range(5):
    race("race/new-%d" % n, lambda i: {"if-none-match": "*"},
         "8 concurrent If-None-Match: * PUTs of a new key (round %d)" % (n + 1))
put("race/existing", b"the start")
race("race/existing", lambda i: {"if-match": quoted(md5_hex(b"the start"))},
     "8 concurrent If-Match PUTs with the current ETag")
t.is_(env.settled(), (0, 0), "after the races: no intent left, nothing reserved")

# --- GET and HEAD ------------------------------------------------------------------------
s3.put_object(Bucket=B, Key="read/me", Body=b"conditional reads\n" * 100)
h = s3.head_object(Bucket=B, Key="read/me")
etag, lm = h["ETag"], h["LastModified"]
time.sleep(max(0.0, (lm + datetime.timedelta(seconds=2) -
                     datetime.datetime.now(datetime.timezone.utc)).total_seconds()))


def http_date(dt):
    return email.utils.format_datetime(dt.astimezone(datetime.timezone.utc), usegmt=True)


before = http_date(lm - datetime.timedelta(days=1))
at = http_date(lm)
after = http_date(lm + datetime.timedelta(seconds=1))
other = quoted(md5_hex(b"other"))
cases = [
    ("If-Match the ETag", {"if-match": etag}, 200),
    ("If-Match another ETag", {"if-match": other}, 412),
    ("If-Match *", {"if-match": "*"}, 200),
    ("If-Match a list holding the ETag", {"if-match": "%s, %s" % (other, etag)}, 200),
    ("If-None-Match the ETag", {"if-none-match": etag}, 304),
    ("If-None-Match another ETag", {"if-none-match": other}, 200),
    ("If-None-Match *", {"if-none-match": "*"}, 304),
    ("If-None-Match a list holding the ETag", {"if-none-match": "%s, %s" % (other, etag)}, 304),
    ("If-Modified-Since a day before", {"if-modified-since": before}, 200),
    ("If-Modified-Since Last-Modified", {"if-modified-since": at}, 304),
    ("If-Modified-Since after", {"if-modified-since": after}, 304),
    ("If-Unmodified-Since a day before", {"if-unmodified-since": before}, 412),
    ("If-Unmodified-Since Last-Modified", {"if-unmodified-since": at}, 200),
    ("If-Unmodified-Since after", {"if-unmodified-since": after}, 200),
    # AWS: If-Match true and If-Unmodified-Since false: 200
    ("If-Match true + If-Unmodified-Since false", {"if-match": etag, "if-unmodified-since": before}, 200),
    # AWS: If-None-Match false and If-Modified-Since true: 304
    ("If-None-Match false + If-Modified-Since true", {"if-none-match": etag, "if-modified-since": before}, 304),
    ("If-Match false + If-None-Match true", {"if-match": other, "if-none-match": other}, 412),
    ("If-None-Match true + If-Modified-Since false", {"if-none-match": other, "if-modified-since": after}, 200),
    ("If-Modified-Since an invalid date (ignored)", {"if-modified-since": "not a date"}, 200),
]
full = b"conditional reads\n" * 100
for method in ("GET", "HEAD"):
    for label, hdrs, want in cases:
        r = raw.request(method, path("read/me"), headers=hdrs)
        if want == 200:
            good = r.status == 200 and (method == "HEAD" or r.body == full)
        elif want == 304:
            good = r.status == 304 and r.body == b"" and r.headers.get("etag") == etag
        else:
            good = r.status == 412 and (method == "HEAD" or r.code() == "PreconditionFailed")
        if not t.ok(good, "%s %s: %d%s" % (method, label, want,
                                           " (with the ETag)" if want == 304 else "")):
            t.diag("got %s %s %s" % (r.status, r.code(), dict(r.headers)))
r = raw.request("GET", path("read/me"), headers={"if-match": etag, "range": "bytes=0-9"})
t.is_((r.status, r.body), (206, full[:10]), "GET If-Match + Range: 206 with the range")
r = raw.request("GET", path("read/me"), headers={"if-none-match": etag, "range": "bytes=0-9"})
t.is_(r.status, 304, "GET If-None-Match (matching) + Range: 304")
expect_error(t, lambda: s3.get_object(Bucket=B, Key="read/me", IfMatch=other),
             "PreconditionFailed", 412, "boto3 get_object IfMatch another ETag: PreconditionFailed")
expect_error(t, lambda: s3.head_object(Bucket=B, Key="read/me", IfNoneMatch=etag),
             "304", 304, "boto3 head_object IfNoneMatch the ETag: 304")
expect_error(t, lambda: s3.get_object(Bucket=B, Key="read/me",
                                      IfModifiedSince=lm + datetime.timedelta(seconds=1)),
             "304", 304, "boto3 get_object IfModifiedSince after Last-Modified: 304")
expect_error(t, lambda: s3.get_object(Bucket=B, Key="read/me",
                                      IfUnmodifiedSince=lm - datetime.timedelta(days=1)),
             "PreconditionFailed", 412, "boto3 get_object IfUnmodifiedSince before: 412")
r = raw.request("GET", path("no/such/key"), headers={"if-none-match": "*"})
expect_raw(t, r, 404, "NoSuchKey", "GET If-None-Match: * of a missing key: 404 NoSuchKey")

t.is_(env.settled(), (0, 0), "no intent left, nothing reserved")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.diag("s3-conditional.t: %.1fs" % (time.monotonic() - started_file))
t.done()
