#!/usr/bin/python3
# s3-copy.t: CopyObject through boto3: in one bucket and across buckets, an awkward source
# key, the COPY directive keeping Content-Type, headers, user metadata and tags, REPLACE
# replacing them (metadata and tags separately), a copy onto itself (InvalidRequest without
# REPLACE, new metadata with it), the x-amz-copy-source-if-* conditionals and their
# combinations answering 412 as AWS does, a copy of a multipart object and of a 20 MiB one,
# errors for a missing source key or bucket; then the catalogue's accounting.
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP  # noqa: E402
from s3mux_s3 import S3Env, PatternReader, stream_sha256, error_code, http_status  # noqa: E402
from s3api import MiB, Raw, expect_error, md5_hex, mpu_etag, quoted  # noqa: E402
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
A, Z = "copy-a", "copy-z"
s3.create_bucket(Bucket=A)
s3.create_bucket(Bucket=Z)


def tags(bucket, key):
    return {x["Key"]: x["Value"] for x in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def described(bucket, key):
    """What COPY must carry over: bytes, Content-Type, headers, metadata, tags."""
    g = s3.get_object(Bucket=bucket, Key=key)
    return (md5_hex(g["Body"].read()), g.get("ContentType"), g.get("CacheControl"),
            g.get("ContentDisposition"), g.get("ContentLanguage"), g["Metadata"],
            tags(bucket, key))


def absent(bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except Exception as e:
        return http_status(e) == 404


SRC = "dir/the source ü+&=.txt"
body = b"the source's bytes\n" * 1000
s3.put_object(Bucket=A, Key=SRC, Body=body, ContentType="text/x-source",
              CacheControl="max-age=60", ContentDisposition='attachment; filename="s.txt"',
              ContentLanguage="fr", Metadata={"color": "blue", "count": "1"},
              Tagging="team=storage&stage=test%20one")
src_desc = described(A, SRC)
t.is_(src_desc[1:], ("text/x-source", "max-age=60", 'attachment; filename="s.txt"', "fr",
                     {"color": "blue", "count": "1"}, {"team": "storage", "stage": "test one"}),
      "the source has its Content-Type, headers, metadata and tags")
src_etag = quoted(md5_hex(body))

# --- COPY (the default) ---------------------------------------------------------------------
r = s3.copy_object(Bucket=A, Key="copies/same-bucket", CopySource={"Bucket": A, "Key": SRC})
t.is_(r["CopyObjectResult"]["ETag"], src_etag, "copy in one bucket: CopyObjectResult ETag = the source's")
t.ok(isinstance(r["CopyObjectResult"].get("LastModified"), datetime.datetime),
     "copy: CopyObjectResult has LastModified")
t.is_(described(A, "copies/same-bucket"), src_desc,
      "COPY keeps bytes, Content-Type, Cache-Control, Content-Disposition, Content-Language, "
      "metadata and tags")
r = s3.copy_object(Bucket=Z, Key="from-a", CopySource={"Bucket": A, "Key": SRC})
t.is_((r["CopyObjectResult"]["ETag"], described(Z, "from-a")), (src_etag, src_desc),
      "copy across buckets: same ETag, everything kept")
# the copy-source header written by hand: URI-encoded, with and without a leading slash
for n, header in enumerate(("/%s/%s" % (A, uri_encode(SRC)), "%s/%s" % (A, uri_encode(SRC)))):
    r = raw.request("PUT", "/%s/from-a-raw-%d" % (Z, n), headers={"x-amz-copy-source": header})
    t.ok(r.status == 200 and s3.get_object(Bucket=Z, Key="from-a-raw-%d" % n)["Body"].read() == body,
         "x-amz-copy-source: %s" % header)
    if r.status != 200:
        t.diag(repr(r))
# an existing destination is replaced
s3.put_object(Bucket=Z, Key="overwritten", Body=b"old")
s3.copy_object(Bucket=Z, Key="overwritten", CopySource={"Bucket": A, "Key": SRC})
t.is_(s3.get_object(Bucket=Z, Key="overwritten")["Body"].read(), body,
      "a copy over an existing object replaces it")

# --- REPLACE ----------------------------------------------------------------------------
s3.copy_object(Bucket=A, Key="copies/replaced", CopySource={"Bucket": A, "Key": SRC},
               MetadataDirective="REPLACE", ContentType="application/x-new",
               Metadata={"shape": "square"})
d = described(A, "copies/replaced")
t.is_((d[0], d[1], d[2], d[3], d[4], d[5]),
      (md5_hex(body), "application/x-new", None, None, None, {"shape": "square"}),
      "MetadataDirective REPLACE: the new Content-Type and metadata, the old headers gone")
t.is_(d[6], src_desc[6], "MetadataDirective REPLACE alone: the tags are copied (TaggingDirective COPY)")
s3.copy_object(Bucket=A, Key="copies/retagged", CopySource={"Bucket": A, "Key": SRC},
               TaggingDirective="REPLACE", Tagging="only=this")
d = described(A, "copies/retagged")
t.is_((d[5], d[6], d[1]), ({"color": "blue", "count": "1"}, {"only": "this"}, "text/x-source"),
      "TaggingDirective REPLACE: the new tags, the metadata copied")
s3.copy_object(Bucket=A, Key="copies/untagged", CopySource={"Bucket": A, "Key": SRC},
               TaggingDirective="REPLACE")
t.is_(tags(A, "copies/untagged"), {}, "TaggingDirective REPLACE without x-amz-tagging: no tags")
expect_error(t, lambda: s3.copy_object(Bucket=A, Key="copies/bad", CopySource={"Bucket": A, "Key": SRC},
                                       MetadataDirective="SOMETIMES"),
             "InvalidArgument", 400, "an unknown metadata directive: InvalidArgument")
t.ok(absent(A, "copies/bad"), "... and no object")

# --- onto itself -------------------------------------------------------------------------
expect_error(t, lambda: s3.copy_object(Bucket=A, Key=SRC, CopySource={"Bucket": A, "Key": SRC}),
             "InvalidRequest", 400, "a copy onto itself without REPLACE: InvalidRequest")
t.is_(described(A, SRC), src_desc, "... and the object is unchanged")
r = s3.copy_object(Bucket=A, Key=SRC, CopySource={"Bucket": A, "Key": SRC},
                   MetadataDirective="REPLACE", ContentType="text/x-renamed",
                   Metadata={"color": "red"})
t.is_(r["CopyObjectResult"]["ETag"], src_etag, "a copy onto itself with REPLACE: 200, same ETag")
d = described(A, SRC)
t.is_((d[0], d[1], d[5], d[6]), (md5_hex(body), "text/x-renamed", {"color": "red"}, src_desc[6]),
      "... the bytes and tags kept, the Content-Type and metadata changed")
s3.copy_object(Bucket=A, Key=SRC, CopySource={"Bucket": A, "Key": SRC},
               MetadataDirective="REPLACE", ContentType="text/x-source",
               CacheControl="max-age=60", ContentDisposition='attachment; filename="s.txt"',
               ContentLanguage="fr", Metadata={"color": "blue", "count": "1"})
t.is_(described(A, SRC)[:6], src_desc[:6], "a second copy onto itself puts the metadata back")

# --- x-amz-copy-source-if-* ------------------------------------------------------------
h = s3.head_object(Bucket=A, Key=SRC)
lm = h["LastModified"]
etag = h["ETag"]
time.sleep(max(0.0, (lm + datetime.timedelta(seconds=2) -
                     datetime.datetime.now(datetime.timezone.utc)).total_seconds()))
before = lm - datetime.timedelta(days=1)
after = lm + datetime.timedelta(seconds=1)      # later than Last-Modified, in the past
other = quoted(md5_hex(b"something else"))
cases = [
    ("if-match the ETag", {"CopySourceIfMatch": etag}, 200),
    ("if-match another ETag", {"CopySourceIfMatch": other}, 412),
    ("if-none-match the ETag", {"CopySourceIfNoneMatch": etag}, 412),
    ("if-none-match another ETag", {"CopySourceIfNoneMatch": other}, 200),
    ("if-modified-since a day before", {"CopySourceIfModifiedSince": before}, 200),
    ("if-modified-since after Last-Modified", {"CopySourceIfModifiedSince": after}, 412),
    ("if-unmodified-since a day before", {"CopySourceIfUnmodifiedSince": before}, 412),
    ("if-unmodified-since after Last-Modified", {"CopySourceIfUnmodifiedSince": after}, 200),
    # AWS: if-match true and if-unmodified-since false: the copy is made
    ("if-match true + if-unmodified-since false",
     {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": before}, 200),
    # AWS: if-none-match false and if-modified-since true: 412
    ("if-none-match false + if-modified-since true",
     {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": before}, 412),
    ("if-match false + if-unmodified-since true",
     {"CopySourceIfMatch": other, "CopySourceIfUnmodifiedSince": after}, 412),
]
for i, (label, kw, want) in enumerate(cases):
    dst = "cond/%02d" % i
    try:
        r = s3.copy_object(Bucket=Z, Key=dst, CopySource={"Bucket": A, "Key": SRC}, **kw)
        got = (r["ResponseMetadata"]["HTTPStatusCode"], None)
    except Exception as e:
        got = (http_status(e), error_code(e))
    expected = (200, None) if want == 200 else (412, "PreconditionFailed")
    t.is_(got, expected, "x-amz-copy-source-%s: %s" % (label, "copied" if want == 200 else
                                                         "412 PreconditionFailed"))
    if want == 200:
        t.ok(not absent(Z, dst) and s3.get_object(Bucket=Z, Key=dst)["Body"].read() == body,
             "... the copy is there")
    else:
        t.ok(absent(Z, dst), "... no object made")

# --- a multipart source, a large source ---------------------------------------------------
parts = [os.urandom(5 * MiB), os.urandom(MiB + 1)]
up = s3.create_multipart_upload(Bucket=A, Key="mp/source", Metadata={"from": "multipart"})
uid = up["UploadId"]
pe = [s3.upload_part(Bucket=A, Key="mp/source", UploadId=uid, PartNumber=n, Body=p)["ETag"]
      for n, p in enumerate(parts, 1)]
s3.complete_multipart_upload(Bucket=A, Key="mp/source", UploadId=uid, MultipartUpload={
    "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(pe, 1)]})
t.is_(s3.head_object(Bucket=A, Key="mp/source")["ETag"], mpu_etag(parts),
      "the multipart source has its multipart ETag")
r = s3.copy_object(Bucket=Z, Key="mp/copy", CopySource={"Bucket": A, "Key": "mp/source"})
g = s3.get_object(Bucket=Z, Key="mp/copy")
t.ok(g["Body"].read() == b"".join(parts), "copy of a multipart object: the same bytes")
t.is_((g["ContentLength"], g["Metadata"], g["ETag"]),
      (sum(map(len, parts)), {"from": "multipart"}, r["CopyObjectResult"]["ETag"]),
      "... its length, metadata, and the ETag the copy answered")
t.diag("ETag of the copy of a multipart object: %s (source %s)" % (g["ETag"], mpu_etag(parts)))
large = PatternReader(20 * MiB + 11, b"large copy source")
s3.put_object(Bucket=A, Key="large/source", Body=large)
s3.copy_object(Bucket=Z, Key="large/copy", CopySource={"Bucket": A, "Key": "large/source"})
got = stream_sha256(s3.get_object(Bucket=Z, Key="large/copy")["Body"])
t.is_(got, (large.sha256(), large.size), "copy of a 20 MiB object: the same bytes (SHA-256)")

# --- errors -------------------------------------------------------------------------------
expect_error(t, lambda: s3.copy_object(Bucket=Z, Key="x", CopySource={"Bucket": A, "Key": "no/such/key"}),
             "NoSuchKey", 404, "copy from a missing key: NoSuchKey")
expect_error(t, lambda: s3.copy_object(Bucket=Z, Key="x", CopySource={"Bucket": "no-such-bucket", "Key": "k"}),
             "NoSuchBucket", 404, "copy from a missing bucket: NoSuchBucket")
expect_error(t, lambda: s3.copy_object(Bucket="no-such-bucket", Key="x", CopySource={"Bucket": A, "Key": SRC}),
             "NoSuchBucket", 404, "copy into a missing bucket: NoSuchBucket")
t.ok(absent(Z, "x"), "... no object made")
r = raw.request("PUT", "/%s/x" % Z, headers={"x-amz-copy-source": "no-slash-here"})
t.ok(r.status == 400 and r.code() in ("InvalidArgument", "InvalidRequest"),
     "an x-amz-copy-source without a key: 400 InvalidArgument")
if r.status != 400:
    t.diag(repr(r))

t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
used, reserved, orphans = env.quota_row()
t.is_((used, env.locations_bytes()), (env.backend_file_bytes(), env.backend_file_bytes()),
      "bytes_used = SUM(stored_size) = the bytes on disk-a")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.diag("s3-copy.t: %.1fs" % (time.monotonic() - started_file))
t.done()
