#!/usr/bin/python3
# s3-boto3.t: the S3 front end driven by boto3: PUT/GET/HEAD/DELETE, stored headers and user
# metadata, ranges, conditionals, response-* overrides, ListObjects v1 and v2 (prefix,
# delimiter, pagination), objects of 0 B to 200 MiB compared by streamed SHA-256, awkward
# keys and the key length limit, presigned GET/PUT fetched with curl, and at the end the
# catalogue's accounting (no intent left, quota sums equal to the bytes on disk).
import base64
import datetime
import hashlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, run  # noqa: E402
from sigv4 import uri_encode  # noqa: E402
from s3mux_s3 import (S3Env, PatternReader, error_code, http_status, stream_sha256,  # noqa: E402
                      tool)

t = TAP()
try:
    import boto3  # noqa: F401
except ImportError:
    t.skip_all("boto3 is not installed (apt-get install python3-boto3)")

env = S3Env(t)
s3 = env.client()
B = "boto-bucket"


def expect_error(fn, code, status, name):
    try:
        fn()
    except Exception as e:  # botocore ClientError
        good = t.is_((error_code(e), http_status(e)), (code, status), name)
        if not good:
            t.diag(str(e))
        return
    t.ok(False, name + " (no error raised)")


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


# --- buckets ---------------------------------------------------------------------------
s3.create_bucket(Bucket=B)
t.ok(B in [b["Name"] for b in s3.list_buckets()["Buckets"]], "create_bucket, list_buckets")
t.is_(s3.head_bucket(Bucket=B)["ResponseMetadata"]["HTTPStatusCode"], 200, "head_bucket")
expect_error(lambda: s3.create_bucket(Bucket=B), "BucketAlreadyOwnedByYou", 409,
             "creating it again: BucketAlreadyOwnedByYou")
expect_error(lambda: s3.head_bucket(Bucket="no-such-bucket"), "404", 404,
             "head_bucket of a missing bucket: 404")
expect_error(lambda: s3.get_object(Bucket="no-such-bucket", Key="k"), "NoSuchBucket", 404,
             "get_object in a missing bucket: NoSuchBucket")
expect_error(lambda: s3.create_bucket(Bucket="Bad_Name"), "InvalidBucketName", 400,
             "an invalid bucket name: InvalidBucketName")
loc = s3.get_bucket_location(Bucket=B)
t.ok(loc.get("LocationConstraint") in (None, ""), "get_bucket_location: us-east-1")

# --- put, get, head, delete ------------------------------------------------------------
body = b"hello, s3mux\n"
r = s3.put_object(Bucket=B, Key="hello.txt", Body=body)
t.is_(r["ETag"], '"%s"' % md5_hex(body), "put_object: the ETag is the MD5 of the body")
g = s3.get_object(Bucket=B, Key="hello.txt")
t.is_(g["Body"].read(), body, "get_object returns the bytes")
t.is_(g["ETag"], r["ETag"], "get_object: same ETag")
t.is_(g["ContentType"], "binary/octet-stream", "get_object: default Content-Type")
h = s3.head_object(Bucket=B, Key="hello.txt")
t.is_((h["ContentLength"], h["ETag"], h.get("AcceptRanges")), (len(body), r["ETag"], "bytes"),
      "head_object: length, ETag, Accept-Ranges")
t.ok(abs((h["LastModified"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 120,
     "head_object: Last-Modified is now")
s3.put_object(Bucket=B, Key="hello.txt", Body=b"second version")
t.is_(s3.get_object(Bucket=B, Key="hello.txt")["Body"].read(), b"second version",
      "an overwrite replaces the bytes")
t.is_(s3.delete_object(Bucket=B, Key="hello.txt")["ResponseMetadata"]["HTTPStatusCode"], 204,
      "delete_object: 204")
expect_error(lambda: s3.get_object(Bucket=B, Key="hello.txt"), "NoSuchKey", 404,
             "get after delete: NoSuchKey")
expect_error(lambda: s3.head_object(Bucket=B, Key="hello.txt"), "404", 404,
             "head after delete: 404")
t.is_(s3.delete_object(Bucket=B, Key="hello.txt")["ResponseMetadata"]["HTTPStatusCode"], 204,
      "deleting a missing key: 204 all the same")

# Content-MD5 and x-amz-checksum-* that are right are accepted and echoed.
data = b"checked body" * 100
r = s3.put_object(Bucket=B, Key="md5", Body=data,
                  ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode())
t.is_(r["ETag"], '"%s"' % md5_hex(data), "a right Content-MD5 is accepted")
for algo in ("CRC32", "SHA256", "SHA1"):
    try:
        r = s3.put_object(Bucket=B, Key="ck-" + algo, Body=data, ChecksumAlgorithm=algo)
        t.ok(r.get("Checksum" + algo), "ChecksumAlgorithm=%s: accepted, checksum echoed" % algo)
    except Exception as e:
        t.ok(False, "ChecksumAlgorithm=%s: %s" % (algo, e))

# --- stored headers and metadata -------------------------------------------------------
expires = datetime.datetime(2031, 5, 17, 12, 30, 0, tzinfo=datetime.timezone.utc)
meta = {"color": "blue", "mixed-case": "Some Value", "empty": "", "spaces": "a  b\tc"}
s3.put_object(Bucket=B, Key="meta", Body=b"{}", ContentType="application/json; charset=utf-8",
              ContentEncoding="identity", ContentDisposition='attachment; filename="m.json"',
              CacheControl="max-age=3600, public", ContentLanguage="fr", Expires=expires,
              Metadata=meta)
for label, resp in (("head", s3.head_object(Bucket=B, Key="meta")),
                    ("get", s3.get_object(Bucket=B, Key="meta"))):
    got = (resp["ContentType"], resp.get("ContentEncoding"), resp.get("ContentDisposition"),
           resp.get("CacheControl"), resp.get("ContentLanguage"), resp.get("Expires"))
    t.is_(got, ("application/json; charset=utf-8", "identity", 'attachment; filename="m.json"',
                "max-age=3600, public", "fr", expires),
          "%s: Content-Type/Encoding/Disposition/Language, Cache-Control, Expires" % label)
    t.is_(resp["Metadata"], meta, "%s: user metadata round trip" % label)
expect_error(lambda: s3.put_object(Bucket=B, Key="toomuchmeta", Body=b"x",
                                   Metadata={"big": "v" * 2100}),
             "MetadataTooLarge", 400, "metadata over 2 KiB: MetadataTooLarge")

# --- ranges ----------------------------------------------------------------------------
s3.put_object(Bucket=B, Key="digits", Body=b"0123456789")
for rng, want, crange in (("bytes=0-4", b"01234", "bytes 0-4/10"),
                          ("bytes=5-", b"56789", "bytes 5-9/10"),
                          ("bytes=-3", b"789", "bytes 7-9/10"),
                          ("bytes=3-100", b"3456789", "bytes 3-9/10"),
                          ("bytes=9-9", b"9", "bytes 9-9/10"),
                          ("bytes=-20", b"0123456789", "bytes 0-9/10")):
    g = s3.get_object(Bucket=B, Key="digits", Range=rng)
    t.is_((g["ResponseMetadata"]["HTTPStatusCode"], g["Body"].read(), g.get("ContentRange"),
           g["ContentLength"]), (206, want, crange, len(want)), "Range %s" % rng)
expect_error(lambda: s3.get_object(Bucket=B, Key="digits", Range="bytes=10-20"),
             "InvalidRange", 416, "Range past the end: 416 InvalidRange")
expect_error(lambda: s3.get_object(Bucket=B, Key="digits", Range="bytes=-0"),
             "InvalidRange", 416, "Range bytes=-0: 416 InvalidRange")
g = s3.get_object(Bucket=B, Key="digits", Range="bytes=abc")
t.is_((g["ResponseMetadata"]["HTTPStatusCode"], g["Body"].read()), (200, b"0123456789"),
      "a Range that does not parse is ignored: 200, whole object")
s3.put_object(Bucket=B, Key="empty-for-range", Body=b"")
expect_error(lambda: s3.get_object(Bucket=B, Key="empty-for-range", Range="bytes=0-0"),
             "InvalidRange", 416, "any range of an empty object: 416")
h = s3.head_object(Bucket=B, Key="digits", Range="bytes=2-3")
t.is_((h["ResponseMetadata"]["HTTPStatusCode"], h["ContentLength"]), (206, 2),
      "head_object with a Range: 206 and the range's length")

# --- conditionals ----------------------------------------------------------------------
etag = s3.head_object(Bucket=B, Key="digits")["ETag"]
past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
t.is_(s3.get_object(Bucket=B, Key="digits", IfMatch=etag)["Body"].read(), b"0123456789",
      "If-Match with the ETag: 200")
t.is_(s3.get_object(Bucket=B, Key="digits", IfMatch="*")["Body"].read(), b"0123456789",
      "If-Match: *: 200")
expect_error(lambda: s3.get_object(Bucket=B, Key="digits", IfMatch='"0000"'),
             "PreconditionFailed", 412, "If-Match with another ETag: 412 PreconditionFailed")
expect_error(lambda: s3.get_object(Bucket=B, Key="digits", IfNoneMatch=etag), "304", 304,
             "If-None-Match with the ETag: 304")
expect_error(lambda: s3.head_object(Bucket=B, Key="digits", IfNoneMatch=etag), "304", 304,
             "HEAD If-None-Match with the ETag: 304")
t.is_(s3.get_object(Bucket=B, Key="digits", IfNoneMatch='"0000"')["Body"].read(),
      b"0123456789", "If-None-Match with another ETag: 200")
t.is_(s3.get_object(Bucket=B, Key="digits", IfModifiedSince=past)["Body"].read(),
      b"0123456789", "If-Modified-Since in the past: 200")
expect_error(lambda: s3.get_object(Bucket=B, Key="digits", IfModifiedSince=future), "304", 304,
             "If-Modified-Since in the future: 304")
expect_error(lambda: s3.get_object(Bucket=B, Key="digits", IfUnmodifiedSince=past),
             "PreconditionFailed", 412, "If-Unmodified-Since in the past: 412")
t.is_(s3.get_object(Bucket=B, Key="digits", IfUnmodifiedSince=future)["Body"].read(),
      b"0123456789", "If-Unmodified-Since in the future: 200")
t.is_(s3.get_object(Bucket=B, Key="digits", IfMatch=etag, IfUnmodifiedSince=past)["Body"].read(),
      b"0123456789", "If-Match true, If-Unmodified-Since false: 200 (If-Match wins)")
expect_error(lambda: s3.get_object(Bucket=B, Key="digits", IfNoneMatch=etag, IfModifiedSince=past),
             "304", 304, "If-None-Match false, If-Modified-Since true: 304")

# --- response-* overrides --------------------------------------------------------------
g = s3.get_object(Bucket=B, Key="meta", ResponseContentType="text/x-override",
                  ResponseContentDisposition="inline", ResponseCacheControl="no-store",
                  ResponseContentLanguage="de", ResponseContentEncoding="gzip")
t.is_((g["ContentType"], g["ContentDisposition"], g["CacheControl"], g["ContentLanguage"],
       g["ContentEncoding"]), ("text/x-override", "inline", "no-store", "de", "gzip"),
      "response-content-type and friends override the stored headers")
t.is_(s3.get_object(Bucket=B, Key="digits", ResponseContentType="a/b")["ContentType"], "a/b",
      "response-content-type on an object stored without a type")

# --- listings --------------------------------------------------------------------------
LB = "boto-list"
s3.create_bucket(Bucket=LB)
expected = ["top%03d" % i for i in range(40)]
expected += ["dir%02d/file%03d" % (d, f) for d in range(12) for f in range(20)]
expected += ["dir03/sub/deep%02d" % i for i in range(10)]
expected += ["dir03", "dir03/", "zz/"]
expected.sort()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda k: s3.put_object(Bucket=LB, Key=k, Body=k.encode()), expected))


def list_v2(**kw):
    keys, prefixes, pages = [], [], 0
    token = None
    while pages < 200:
        args = dict(kw, Bucket=LB)
        if token:
            args["ContinuationToken"] = token
        resp = s3.list_objects_v2(**args)
        pages += 1
        keys += [c["Key"] for c in resp.get("Contents", [])]
        prefixes += [p["Prefix"] for p in resp.get("CommonPrefixes", [])]
        if resp["KeyCount"] != len(resp.get("Contents", [])) + len(resp.get("CommonPrefixes", [])):
            t.diag("KeyCount %d does not count page %d" % (resp["KeyCount"], pages))
            return None
        if not resp["IsTruncated"]:
            break
        token = resp["NextContinuationToken"]
    return keys, prefixes, pages


got = list_v2(MaxKeys=50)
t.is_(got, (expected, [], (len(expected) + 49) // 50),
      "list_objects_v2, MaxKeys=50: every key once, in order, %d pages" %
      ((len(expected) + 49) // 50))
t.is_(list_v2()[0], expected, "list_objects_v2 without MaxKeys: one page of %d" % len(expected))
got = list_v2(Prefix="dir03/", MaxKeys=7)
t.is_(got[0], [k for k in expected if k.startswith("dir03/")], "Prefix=dir03/, MaxKeys=7")
dirs = sorted({k.split("/")[0] + "/" for k in expected if "/" in k})
tops = [k for k in expected if "/" not in k]
got = list_v2(Delimiter="/")
t.is_((got[0], got[1]), (tops, dirs), "Delimiter=/: top-level keys and CommonPrefixes")
got = list_v2(Delimiter="/", MaxKeys=5)
t.is_((got[0], got[1]), (tops, dirs), "Delimiter=/, MaxKeys=5: the same across pages")
got = list_v2(Prefix="dir03/", Delimiter="/", MaxKeys=4)
t.is_((got[0], got[1]), ([k for k in expected if k.startswith("dir03/") and k.count("/") == 1],
                         ["dir03/sub/"]), "Prefix=dir03/, Delimiter=/: files and dir03/sub/")
got = list_v2(StartAfter="dir05/file010", MaxKeys=100)
t.is_(got[0], [k for k in expected if k > "dir05/file010"], "StartAfter")
got = list_v2(Prefix="nothing-here")
t.is_(got, ([], [], 1), "a prefix that matches nothing: an empty page")
resp = s3.list_objects_v2(Bucket=LB, MaxKeys=0)
t.is_((resp["KeyCount"], resp.get("Contents", [])), (0, []), "MaxKeys=0: no keys")
resp = s3.list_objects_v2(Bucket=LB, Prefix="top00", MaxKeys=3)
t.ok(all(c["Size"] == len(c["Key"]) and c["ETag"] == '"%s"' % md5_hex(c["Key"].encode())
         for c in resp["Contents"]), "listing entries carry Size and ETag")


def list_v1(**kw):
    keys, prefixes, pages, marker = [], [], 0, None
    while pages < 200:
        args = dict(kw, Bucket=LB)
        if marker:
            args["Marker"] = marker
        resp = s3.list_objects(**args)
        pages += 1
        contents = [c["Key"] for c in resp.get("Contents", [])]
        cps = [p["Prefix"] for p in resp.get("CommonPrefixes", [])]
        keys += contents
        prefixes += cps
        if not resp["IsTruncated"]:
            break
        # NextMarker comes with a delimiter; without one the last key is the marker
        marker = resp.get("NextMarker") or (contents[-1] if contents else None)
        if "Delimiter" in kw and "NextMarker" not in resp:
            t.diag("a truncated v1 listing with a delimiter has no NextMarker")
            return None
    return keys, prefixes, pages


t.is_(list_v1(MaxKeys=50), (expected, [], (len(expected) + 49) // 50),
      "list_objects (v1), MaxKeys=50, Marker = last key")
t.is_(list_v1(MaxKeys=6, Delimiter="/"), (tops, dirs, (len(tops) + len(dirs) + 5) // 6),
      "list_objects (v1), Delimiter=/, MaxKeys=6, NextMarker")
resp = s3.list_objects(Bucket=LB, Marker="dir11/file019", MaxKeys=1000)
t.is_([c["Key"] for c in resp["Contents"]], [k for k in expected if k > "dir11/file019"],
      "list_objects (v1) with a Marker")
expect_error(lambda: s3.list_objects_v2(Bucket=LB, ContinuationToken="not-a-token"),
             "InvalidArgument", 400, "a bad continuation token: InvalidArgument")
expect_error(lambda: s3.list_objects_v2(Bucket="no-such-bucket"), "NoSuchBucket", 404,
             "listing a missing bucket: NoSuchBucket")

# --- sizes -----------------------------------------------------------------------------
for size, label in ((0, "0 B"), (1, "1 B"), (5 * 1024 * 1024 + 1, "5 MiB + 1"),
                    (200 * 1024 * 1024, "200 MiB")):
    key = "size-%d" % size
    src = PatternReader(size, seed=b"size-%d" % size)
    want = src.sha256()
    started = time.monotonic()
    try:
        r = s3.put_object(Bucket=B, Key=key, Body=src)
    except Exception as e:
        t.ok(False, "PUT %s: %s" % (label, e))
        continue
    put_s = time.monotonic() - started
    h = s3.head_object(Bucket=B, Key=key)
    t.is_(h["ContentLength"], size, "%s: head_object length" % label)
    started = time.monotonic()
    got, n = stream_sha256(s3.get_object(Bucket=B, Key=key)["Body"])
    t.is_((n, got), (size, want), "%s: streamed GET is byte-identical (PUT %.1fs, GET %.1fs)" %
          (label, put_s, time.monotonic() - started))
big = "size-%d" % (200 * 1024 * 1024)
g = s3.get_object(Bucket=B, Key=big, Range="bytes=104857000-104858999")
src = PatternReader(200 * 1024 * 1024, seed=b"size-%d" % (200 * 1024 * 1024))
src.seek(104857000)
t.is_(g["Body"].read(), src.read(2000), "200 MiB: a range across a MiB boundary")

# --- awkward keys ----------------------------------------------------------------------
keys = ["with space", "caf\u00e9/\u65e5\u672c\u8a9e/\U0001f600", "100%", "a+b", "what?", "#hash",
        "double//slash", "/leading-slash", "trailing/", "amp&er=sand", "semi;colon",
        "tilde~", "quote'\"", "back\\slash", "%2F-literal", "~!*()", "dot/./seg", "dot/../up",
        "x" * 1024]
ok_keys = []
for k in keys:
    try:
        s3.put_object(Bucket=B, Key=k, Body=k.encode())
        got = s3.get_object(Bucket=B, Key=k)["Body"].read()
        good = got == k.encode()
        ok_keys.append(k)
    except Exception as e:
        good = False
        t.diag("%r: %s" % (k[:40], e))
    t.ok(good, "key %r: PUT then GET" % (k if len(k) < 50 else k[:10] + "...(%d bytes)" % len(k)))
listed = []
token = None
for _ in range(20):
    resp = s3.list_objects_v2(Bucket=B, **({"ContinuationToken": token} if token else {}))
    listed += [c["Key"] for c in resp.get("Contents", [])]
    if not resp["IsTruncated"]:
        break
    token = resp["NextContinuationToken"]
t.is_(sorted(set(ok_keys) - set(listed)), [], "every awkward key is listed as written")
resp = s3.list_objects_v2(Bucket=B, Prefix="caf\u00e9/", EncodingType="url")
t.is_([c["Key"] for c in resp.get("Contents", [])],
      [uri_encode("caf\u00e9/\u65e5\u672c\u8a9e/\U0001f600", True)],
      "EncodingType=url (asked for explicitly, so boto3 does not decode): the key URL-encoded")
expect_error(lambda: s3.put_object(Bucket=B, Key="y" * 1025, Body=b"x"), "KeyTooLongError", 400,
             "a 1025-byte key: KeyTooLongError")
expect_error(lambda: s3.put_object(Bucket=B, Key="\u00e9" * 513, Body=b"x"), "KeyTooLongError",
             400, "513 two-byte characters (1026 bytes): KeyTooLongError")
for k in ("with space", "a+b", "double//slash"):
    s3.delete_object(Bucket=B, Key=k)
expect_error(lambda: s3.head_object(Bucket=B, Key="a+b"), "404", 404,
             "delete of an awkward key removes it")

# --- presigned URLs with curl ----------------------------------------------------------
curl = tool("curl")
if curl is None:
    t.ok(True, "# SKIP curl not installed")
else:
    url = s3.generate_presigned_url("put_object", Params={"Bucket": B, "Key": "presigned obj"},
                                    ExpiresIn=300)
    payload = os.path.join(env.dir, "presigned.bin")
    with open(payload, "wb") as f:
        f.write(os.urandom(70000))
    p = run([curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-T", payload,
             url], timeout=60)
    t.is_(p.stdout, "200", "presigned PUT with curl: 200")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "presigned obj"},
                                    ExpiresIn=300)
    out = os.path.join(env.dir, "presigned.out")
    p = run([curl, "-s", "-o", out, "-w", "%{http_code}", url], timeout=60)
    with open(payload, "rb") as a, open(out, "rb") as b:
        t.ok(p.stdout == "200" and a.read() == b.read(), "presigned GET with curl: same bytes")
    p = run([curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-r", "0-99", url], timeout=60)
    t.is_(p.stdout, "206", "presigned GET with a Range: 206")
    p = run([curl, "-s", "-w", "\n%{http_code}", "-X", "DELETE", url], timeout=60)
    t.like(p.stdout, r"SignatureDoesNotMatch[\s\S]*\n403$",
           "a presigned GET URL used for DELETE: 403 SignatureDoesNotMatch")
    tampered = url.replace("presigned%20obj", "presigned%20other")
    p = run([curl, "-s", "-w", "\n%{http_code}", tampered], timeout=60)
    t.like(p.stdout, r"SignatureDoesNotMatch[\s\S]*\n403$", "a presigned URL for another key: 403")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "presigned obj"},
                                    ExpiresIn=1)
    time.sleep(2.2)
    p = run([curl, "-s", "-w", "\n%{http_code}", url], timeout=60)
    t.like(p.stdout, r"<Code>AccessDenied</Code>[\s\S]*\n403$",
           "an expired presigned URL: 403 AccessDenied")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "presigned obj",
                                                          "ResponseContentType": "x/y"},
                                    ExpiresIn=300)
    p = run([curl, "-s", "-o", "/dev/null", "-w", "%{content_type}", url], timeout=60)
    t.is_(p.stdout, "x/y", "a presigned GET with response-content-type")

# --- bucket deletion and the accounting ------------------------------------------------
expect_error(lambda: s3.delete_bucket(Bucket=LB), "BucketNotEmpty", 409,
             "delete_bucket of a non-empty bucket: BucketNotEmpty")
for k in expected:
    s3.delete_object(Bucket=LB, Key=k)
t.is_(s3.delete_bucket(Bucket=LB)["ResponseMetadata"]["HTTPStatusCode"], 204,
      "delete_bucket once empty: 204")
expect_error(lambda: s3.delete_bucket(Bucket=LB), "NoSuchBucket", 404,
             "delete_bucket again: NoSuchBucket")

t.is_(env.settled(), (0, 0), "no pending intent and no reserved bytes left")
time.sleep(0.5)         # the backend deletes after a DELETE are settled asynchronously
used, reserved, orphans = env.quota_row()
t.is_((used, orphans), (env.locations_bytes(), 0),
      "bytes_used = SUM(object_locations.stored_size), no orphan bytes")
t.is_(used, env.backend_file_bytes(), "bytes_used = the bytes of the files on disk-a")
t.is_(env.tmp_files(), [], "no temporary file left on disk-a")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.done()
