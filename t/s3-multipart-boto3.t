#!/usr/bin/python3
# s3-multipart-boto3.t: multipart uploads driven by boto3.
#   - TransferManager (upload_file/download_file, threads) of 64 MiB in 8 MiB parts;
#   - the low-level calls: parts of 5 MiB and a smaller last one, ListParts with paging,
#     CompleteMultipartUpload whose ETag is checked against the MD5 of the part MD5s computed
#     here, a repeated Complete answering the same ETag, part ETags quoted and unquoted,
#     GetObject/HeadObject with partNumber, SHA-256 part checksums and the composite
#     checksum returned with x-amz-checksum-mode: ENABLED;
#   - ListMultipartUploads: prefix, key-marker, upload-id-marker, MaxUploads=2 paging, an
#     abandoned upload listed;
#   - UploadPartCopy with x-amz-copy-source-range;
#   - hostile completions (a part twice, a part never uploaded, parts out of order, a wrong
#     ETag, a too-small part, 100 MB XML bodies) and DeleteObjects of 1001 keys, each leaving
#     the previous object and the upload as they were;
#   - AbortMultipartUpload leaving no part file on disk-a and the quota counters where they
#     were before the upload.
import base64
import hashlib
import os
import select
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, wait_until  # noqa: E402
from s3mux_s3 import S3Env, PatternReader, file_sha256, error_code, http_status  # noqa: E402
from s3api import (MiB, Raw, count_files, expect_error, expect_raw, file_part_md5s,  # noqa: E402
                   md5_hex, mpu_etag, quoted, write_pattern)
from sigv4 import connect, format_request, read_response  # noqa: E402

t = TAP()
try:
    import boto3  # noqa: F401
    from boto3.s3.transfer import TransferConfig
except ImportError:
    t.skip_all("boto3 is not installed (apt-get install python3-boto3)")

started_file = time.monotonic()
env = S3Env(t)
s3 = env.client()
raw = Raw(env)
B = "mpu"
s3.create_bucket(Bucket=B)
PARTS_DIR = os.path.join(env.disk, ".s3mux-parts")
work = os.path.join(env.dir, "work")
os.makedirs(work)


def part_files(*upload_ids):
    """Files in disk-a's part area (<root>/.s3mux-parts/xx/<upload id>%2F<n>-<nonce>): all of
    them, or those of the given uploads."""
    if not upload_ids:
        return count_files(PARTS_DIR)
    n = 0
    for _, _, files in os.walk(PARTS_DIR):
        n += len([f for f in files if f.split("%2F")[0] in upload_ids])
    return n


def body_of(key, bucket=B):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def open_uploads(prefix=""):
    return [(u["Key"], u["UploadId"]) for u in
            s3.list_multipart_uploads(Bucket=B, Prefix=prefix).get("Uploads", [])]


def parts_of(key, upload_id):
    r = s3.list_parts(Bucket=B, Key=key, UploadId=upload_id)
    return [(p["PartNumber"], p["ETag"], p["Size"]) for p in r.get("Parts", [])]


# --- TransferManager: upload_file / download_file with threads -------------------------
big = os.path.join(work, "big.bin")
write_pattern(big, PatternReader(64 * MiB, b"transfer"))
cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB,
                     max_concurrency=4, use_threads=True)
t0 = time.monotonic()
s3.upload_file(big, B, "transfer/big.bin", Config=cfg)
t.diag("upload_file of 64 MiB: %.1fs" % (time.monotonic() - t0))
h = s3.head_object(Bucket=B, Key="transfer/big.bin")
t.is_(h["ContentLength"], 64 * MiB, "upload_file: 64 MiB stored")
t.is_(h["ETag"], mpu_etag(file_part_md5s(big, 8 * MiB)),
      "upload_file: ETag = MD5 of the 8 part MD5s + \"-8\"")
t.is_(open_uploads("transfer/"), [], "upload_file: no upload left open")
down = os.path.join(work, "big.down")
t0 = time.monotonic()
s3.download_file(B, "transfer/big.bin", down, Config=cfg)
t.diag("download_file of 64 MiB: %.1fs" % (time.monotonic() - t0))
t.is_(file_sha256(down), file_sha256(big), "download_file: the same bytes")
os.unlink(down)
t.ok(wait_until(lambda: part_files() == 0, 5), "no part file left on disk-a after completion")

# --- the low-level calls ---------------------------------------------------------------
K = "low/level object"
pieces = [PatternReader(5 * MiB, b"p%d" % i).read() for i in (1, 2, 3)]
pieces.append(os.urandom(1 * MiB + 7))
up = s3.create_multipart_upload(Bucket=B, Key=K, ContentType="application/x-mpu",
                                Metadata={"origin": "low-level"})
uid = up["UploadId"]
t.ok(up["Bucket"] == B and up["Key"] == K and uid, "create_multipart_upload: an upload id")
etags = []
for n, data in enumerate(pieces, 1):
    r = s3.upload_part(Bucket=B, Key=K, UploadId=uid, PartNumber=n, Body=data)
    etags.append(r["ETag"])
t.is_(etags, [quoted(md5_hex(p)) for p in pieces], "upload_part: each ETag is the part's MD5")
t.is_(part_files(uid), 4, "the 4 parts are files in disk-a's part area")
t.is_(parts_of(K, uid), [(n, etags[n - 1], len(p)) for n, p in enumerate(pieces, 1)],
      "list_parts: numbers, ETags, sizes")
lp = s3.list_parts(Bucket=B, Key=K, UploadId=uid, MaxParts=2)
t.is_(([p["PartNumber"] for p in lp["Parts"]], lp["IsTruncated"],
       str(lp.get("NextPartNumberMarker"))), ([1, 2], True, "2"),
      "list_parts MaxParts=2: parts 1-2, truncated, NextPartNumberMarker 2")
lp = s3.list_parts(Bucket=B, Key=K, UploadId=uid, MaxParts=2, PartNumberMarker=2)
t.is_(([p["PartNumber"] for p in lp["Parts"]], lp["IsTruncated"]), ([3, 4], False),
      "list_parts after marker 2: parts 3-4, not truncated")
# a part uploaded again replaces the earlier one
s3.upload_part(Bucket=B, Key=K, UploadId=uid, PartNumber=2, Body=b"short-lived")
r = s3.upload_part(Bucket=B, Key=K, UploadId=uid, PartNumber=2, Body=pieces[1])
t.is_(r["ETag"], etags[1], "a part uploaded again: its new ETag")
t.is_(len(parts_of(K, uid)), 4, "list_parts: still 4 parts")
t.ok(wait_until(lambda: part_files(uid) == 4, 10), "the replaced part's file is deleted")
expect_error(t, lambda: s3.upload_part(Bucket=B, Key=K, UploadId=uid, PartNumber=10001,
                                       Body=b"x"),
             "InvalidArgument", 400, "upload_part number 10001: InvalidArgument")
expect_error(t, lambda: s3.upload_part(Bucket=B, Key=K, UploadId="no-such-upload",
                                       PartNumber=1, Body=b"x"),
             "NoSuchUpload", 404, "upload_part to an unknown upload: NoSuchUpload")
expect_error(t, lambda: s3.upload_part(Bucket=B, Key="another key", UploadId=uid,
                                       PartNumber=1, Body=b"x"),
             "NoSuchUpload", 404, "upload_part with the upload id of another key: NoSuchUpload")
expect_error(t, lambda: s3.get_object(Bucket=B, Key=K), "NoSuchKey", 404,
             "the object does not exist before completion")

want_etag = mpu_etag(pieces)
done = s3.complete_multipart_upload(
    Bucket=B, Key=K, UploadId=uid,
    MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
t.is_(done["ETag"], want_etag, "complete: ETag = MD5 of the part MD5s + \"-4\" (%s)" % want_etag)
t.is_((done["Bucket"], done["Key"]), (B, K), "complete: Bucket and Key")
g = s3.get_object(Bucket=B, Key=K)
t.ok(g["Body"].read() == b"".join(pieces), "get_object: the parts' bytes in order")
t.is_((g["ETag"], g["ContentLength"], g["ContentType"], g["Metadata"]),
      (want_etag, sum(map(len, pieces)), "application/x-mpu", {"origin": "low-level"}),
      "get_object: ETag, length, the Content-Type and metadata given at creation")
again = s3.complete_multipart_upload(
    Bucket=B, Key=K, UploadId=uid,
    MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
t.is_(again["ETag"], want_etag, "a repeated complete answers success with the same ETag")
t.is_(s3.head_object(Bucket=B, Key=K)["ETag"], want_etag, "the object is unchanged by it")
t.ok(wait_until(lambda: part_files(uid) == 0, 5), "the parts' files are deleted after completion")
expect_error(t, lambda: s3.list_parts(Bucket=B, Key=K, UploadId=uid), "NoSuchUpload", 404,
             "list_parts of a completed upload: NoSuchUpload")
t.ok(uid not in [u for _, u in open_uploads()], "the completed upload is no longer listed")

# GetObject / HeadObject with partNumber (AWS: 206, the part's bytes, x-amz-mp-parts-count)
try:
    gp = s3.get_object(Bucket=B, Key=K, PartNumber=2)
    data = gp["Body"].read()
    t.is_((gp["ResponseMetadata"]["HTTPStatusCode"], gp.get("PartsCount"), gp["ContentLength"],
           gp.get("ContentRange")),
          (206, 4, 5 * MiB, "bytes %d-%d/%d" % (5 * MiB, 10 * MiB - 1, sum(map(len, pieces)))),
          "get_object PartNumber=2: 206, PartsCount 4, the part's length and Content-Range")
    t.ok(data == pieces[1], "get_object PartNumber=2: the second part's bytes")
except Exception as e:
    t.ok(False, "get_object PartNumber=2: %s" % e)
    t.ok(False, "get_object PartNumber=2: the second part's bytes")
try:
    hp = s3.head_object(Bucket=B, Key=K, PartNumber=4)
    t.is_((hp["ResponseMetadata"]["HTTPStatusCode"], hp.get("PartsCount"), hp["ContentLength"]),
          (206, 4, len(pieces[3])), "head_object PartNumber=4: 206, PartsCount 4, the last part's length")
except Exception as e:
    t.ok(False, "head_object PartNumber=4: %s" % e)
expect_error(t, lambda: s3.get_object(Bucket=B, Key=K, PartNumber=10001),
             "InvalidArgument", 400, "get_object PartNumber=10001: InvalidArgument")
expect_error(t, lambda: s3.get_object(Bucket=B, Key=K, PartNumber=5),
             "InvalidPartNumber", 416, "get_object PartNumber=5 of 4: InvalidPartNumber")

# x-amz-checksum-* on parts: SHA-256 given at creation and on each part, echoed, listed in the
# Complete body, and the COMPOSITE checksum (SHA-256 of the parts' binary SHA-256s + "-N")
# answered by HEAD/GET with x-amz-checksum-mode: ENABLED
KS = "low/checksummed"
cp = [os.urandom(5 * MiB), os.urandom(1000)]
us = s3.create_multipart_upload(Bucket=B, Key=KS, ChecksumAlgorithm="SHA256")["UploadId"]
sums, listing = [], []
for n, data in enumerate(cp, 1):
    r = s3.upload_part(Bucket=B, Key=KS, UploadId=us, PartNumber=n, Body=data,
                       ChecksumAlgorithm="SHA256")
    sums.append(r.get("ChecksumSHA256"))
    listing.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r.get("ChecksumSHA256")})
want_sums = [base64.b64encode(hashlib.sha256(d).digest()).decode() for d in cp]
t.is_(sums, want_sums, "upload_part with ChecksumAlgorithm SHA256: the part's x-amz-checksum-sha256 echoed")
try:
    d = s3.complete_multipart_upload(Bucket=B, Key=KS, UploadId=us,
                                     MultipartUpload={"Parts": [dict((k, v) for k, v in p.items() if v)
                                                                for p in listing]})
    composite = "%s-%d" % (base64.b64encode(hashlib.sha256(
        b"".join(base64.b64decode(x) for x in want_sums)).digest()).decode(), len(cp))
    t.is_(d["ETag"], mpu_etag(cp), "complete with ChecksumSHA256 in the part list: 200")
    h = s3.head_object(Bucket=B, Key=KS, ChecksumMode="ENABLED")
    t.is_(h.get("ChecksumSHA256"), composite,
          "head_object ChecksumMode ENABLED: the COMPOSITE SHA-256 of the parts (%s)" % composite)
except Exception as e:
    t.ok(False, "complete with ChecksumSHA256 in the part list: %s" % e)
    t.ok(False, "head_object ChecksumMode ENABLED: the COMPOSITE SHA-256 of the parts")
r = s3.put_object(Bucket=B, Key="low/put-sha256", Body=cp[1], ChecksumAlgorithm="SHA256")
g = s3.get_object(Bucket=B, Key="low/put-sha256", ChecksumMode="ENABLED")
t.is_((r.get("ChecksumSHA256"), g.get("ChecksumSHA256"), g["Body"].read() == cp[1]),
      (want_sums[1], want_sums[1], True),
      "put_object ChecksumAlgorithm SHA256: echoed, and returned by get_object ChecksumMode ENABLED")

# part ETags unquoted in the Complete body (raw XML, signed here)
K2 = "low/unquoted"
uid2 = s3.create_multipart_upload(Bucket=B, Key=K2)["UploadId"]
p2 = [os.urandom(5 * MiB), os.urandom(100)]
e2 = [s3.upload_part(Bucket=B, Key=K2, UploadId=uid2, PartNumber=n, Body=d)["ETag"]
      for n, d in enumerate(p2, 1)]
xml = ("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
       + "".join("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (n, e.strip('"'))
                 for n, e in enumerate(e2, 1))
       + "</CompleteMultipartUpload>").encode()
r = raw.request("POST", "/%s/low/unquoted" % B, {"uploadId": uid2}, body=xml)
t.is_(r.status, 200, "complete with unquoted part ETags: 200")
got = r.xml().findtext("ETag") if r.status == 200 else None
t.is_(got, mpu_etag(p2), "complete with unquoted part ETags: the multipart ETag")
t.ok(body_of(K2) == b"".join(p2), "complete with unquoted part ETags: the bytes")
# quoted with &quot; entities, and a mix
K3 = "low/mixed"
uid3 = s3.create_multipart_upload(Bucket=B, Key=K3)["UploadId"]
e3 = [s3.upload_part(Bucket=B, Key=K3, UploadId=uid3, PartNumber=n, Body=d)["ETag"]
      for n, d in enumerate(p2, 1)]
xml = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;%s&quot;</ETag>"
       "</Part><Part><ETag>%s</ETag><PartNumber>2</PartNumber></Part>"
       "</CompleteMultipartUpload>" % (e3[0].strip('"'), e3[1].strip('"'))).encode()
r = raw.request("POST", "/%s/low/mixed" % B, {"uploadId": uid3}, body=xml)
t.is_((r.status, r.xml().findtext("ETag") if r.status == 200 else r.code()),
      (200, mpu_etag(p2)), "complete with one ETag as &quot;...&quot; and one bare, "
      "PartNumber after ETag: 200 and the ETag")

# --- ListMultipartUploads ----------------------------------------------------------------
made = []
for key in ("lm/a", "lm/a", "lm/b", "lm/c", "lm/c", "lm/d/e", "zz/other"):
    made.append((key, s3.create_multipart_upload(Bucket=B, Key=key)["UploadId"]))
# one abandoned with a part in it: never completed, never aborted
abandoned = made[2]
s3.upload_part(Bucket=B, Key=abandoned[0], UploadId=abandoned[1], PartNumber=1, Body=b"a" * 1000)
lm = [m for m in made if m[0].startswith("lm/")]
r = s3.list_multipart_uploads(Bucket=B, Prefix="lm/")
got = [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
t.is_(sorted(got), sorted(lm), "list_multipart_uploads Prefix lm/: the 6 open uploads")
t.is_([k for k, _ in got], sorted(k for k, _ in lm), "... sorted by key")
t.is_((r["IsTruncated"], r.get("Prefix")), (False, "lm/"), "... not truncated, Prefix echoed")
u0 = [u for u in r.get("Uploads", []) if u["UploadId"] == abandoned[1]]
t.ok(u0 and u0[0]["Initiator"]["ID"] == "demo" and u0[0]["Owner"]["ID"] == "demo" and
     u0[0]["StorageClass"] == "STANDARD" and u0[0].get("Initiated") is not None,
     "the abandoned upload is listed with Initiator, Owner, StorageClass and Initiated")
pages, kw, seen = [], {}, []
for _ in range(20):
    r = s3.list_multipart_uploads(Bucket=B, Prefix="lm/", MaxUploads=2, **kw)
    page = [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
    pages.append((len(page), r["IsTruncated"]))
    seen += page
    if not r["IsTruncated"]:
        break
    if page and (r.get("NextKeyMarker"), r.get("NextUploadIdMarker")) != page[-1]:
        t.diag("NextKeyMarker/NextUploadIdMarker %r is not the last upload %r" %
               ((r.get("NextKeyMarker"), r.get("NextUploadIdMarker")), page[-1]))
        break
    kw = {"KeyMarker": r["NextKeyMarker"], "UploadIdMarker": r["NextUploadIdMarker"]}
t.is_(pages, [(2, True), (2, True), (2, False)],
      "MaxUploads=2: three pages of 2, the last not truncated")
t.is_((sorted(seen), len(seen)), (sorted(lm), len(lm)),
      "the pages hold every upload once (key-marker + upload-id-marker)")
r = s3.list_multipart_uploads(Bucket=B, Prefix="lm/", KeyMarker="lm/b")
t.is_(sorted((u["Key"], u["UploadId"]) for u in r.get("Uploads", [])),
      sorted(m for m in lm if m[0] > "lm/b"),
      "key-marker lm/b without upload-id-marker: only keys after lm/b")
r = s3.list_multipart_uploads(Bucket=B)
t.is_(len(r.get("Uploads", [])), len(made), "no prefix: every open upload of the bucket")
for key, u in made:
    if (key, u) != abandoned:
        s3.abort_multipart_upload(Bucket=B, Key=key, UploadId=u)
t.is_(open_uploads(), [abandoned], "after aborting the others, the abandoned upload is still listed")

# --- UploadPartCopy with ranges ----------------------------------------------------------
src = PatternReader(12 * MiB + 333, b"copy-source").read()
s3.put_object(Bucket=B, Key="copy/source", Body=src)
s3.create_bucket(Bucket="mpu-other")
small_src = b"small source " * 100
s3.put_object(Bucket="mpu-other", Key="small", Body=small_src)
KC = "copy/dest"
uc = s3.create_multipart_upload(Bucket=B, Key=KC)["UploadId"]
cs = {"Bucket": B, "Key": "copy/source"}
r1 = s3.upload_part_copy(Bucket=B, Key=KC, UploadId=uc, PartNumber=1, CopySource=cs,
                         CopySourceRange="bytes=0-%d" % (5 * MiB - 1))
t.is_(r1["CopyPartResult"]["ETag"], quoted(md5_hex(src[:5 * MiB])),
      "upload_part_copy bytes=0-5242879: the range's MD5")
expect_error(t, lambda: s3.upload_part_copy(Bucket=B, Key=KC, UploadId=uc, PartNumber=10001,
                                            CopySource=cs),
             "InvalidArgument", 400, "upload_part_copy number 10001: InvalidArgument")
mid = os.urandom(5 * MiB)
r2 = s3.upload_part(Bucket=B, Key=KC, UploadId=uc, PartNumber=2, Body=mid)
r3 = s3.upload_part_copy(Bucket=B, Key=KC, UploadId=uc, PartNumber=3, CopySource=cs,
                         CopySourceRange="bytes=%d-%d" % (6 * MiB, len(src) - 1))
t.is_(r3["CopyPartResult"]["ETag"], quoted(md5_hex(src[6 * MiB:])),
      "upload_part_copy of the source's tail: the range's MD5")
r4 = s3.upload_part_copy(Bucket=B, Key=KC, UploadId=uc, PartNumber=4,
                         CopySource={"Bucket": "mpu-other", "Key": "small"})
t.is_(r4["CopyPartResult"]["ETag"], quoted(md5_hex(small_src)),
      "upload_part_copy of a whole object of another bucket (no range)")
t.is_([(n, s) for n, _, s in parts_of(KC, uc)],
      [(1, 5 * MiB), (2, 5 * MiB), (3, len(src) - 6 * MiB), (4, len(small_src))],
      "list_parts: copied parts with their sizes")
expect_error(t, lambda: s3.upload_part_copy(Bucket=B, Key=KC, UploadId=uc, PartNumber=5,
                                            CopySource={"Bucket": B, "Key": "copy/none"}),
             "NoSuchKey", 404, "upload_part_copy from a missing key: NoSuchKey")
try:
    s3.upload_part_copy(Bucket=B, Key=KC, UploadId=uc, PartNumber=5, CopySource=cs,
                        CopySourceRange="bytes=%d-%d" % (len(src), len(src) + 10))
    t.ok(False, "upload_part_copy of a range past the end: refused (no error raised)")
except Exception as e:
    # AWS answers 400 InvalidArgument ("Range specified is not valid for source object of
    # size: N"); 416 InvalidRange is also seen
    if not t.ok((error_code(e), http_status(e)) in (("InvalidArgument", 400), ("InvalidRange", 416)),
                "upload_part_copy of a range past the end: InvalidArgument (or InvalidRange)"):
        t.diag(str(e))
# part 3 is smaller than 5 MiB but not last: complete parts 1, 2, 4 then fails; use 1,2,3
parts = [{"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
         {"PartNumber": 2, "ETag": r2["ETag"]},
         {"PartNumber": 3, "ETag": r3["CopyPartResult"]["ETag"]}]
d = s3.complete_multipart_upload(Bucket=B, Key=KC, UploadId=uc, MultipartUpload={"Parts": parts})
want = src[:5 * MiB] + mid + src[6 * MiB:]
t.is_(d["ETag"], mpu_etag([src[:5 * MiB], mid, src[6 * MiB:]]),
      "complete of copied and uploaded parts: the ETag (part 4 left out)")
t.ok(body_of(KC) == want, "the object is range 1 + the uploaded part + range 2")
t.ok(wait_until(lambda: part_files(uc) == 0, 10),
     "the parts of a completed upload are deleted, those left out of the list too")

# --- hostile completions: the object and the upload as they were ------------------------
HK = "hostile/object"
V0 = os.urandom(64 * 1024)
s3.put_object(Bucket=B, Key=HK, Body=V0)
uh = s3.create_multipart_upload(Bucket=B, Key=HK)["UploadId"]
hp = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(2 * MiB)]
he = [s3.upload_part(Bucket=B, Key=HK, UploadId=uh, PartNumber=n, Body=d)["ETag"]
      for n, d in enumerate(hp, 1)]
hparts = parts_of(HK, uh)
HPATH = "/%s/hostile/object" % B


def unchanged(label):
    g = s3.get_object(Bucket=B, Key=HK)
    same = g["Body"].read() == V0 and g["ETag"] == quoted(md5_hex(V0))
    still = parts_of(HK, uh) == hparts
    settled = env.settled(10)
    good = t.ok(same and still and settled == (0, 0),
                "%s: the object, the upload's parts unchanged, nothing pending" % label)
    if not good:
        t.diag("object same: %s, parts same: %s, (pending, reserved): %s" % (same, still, settled))


def complete_with(partlist):
    return lambda: s3.complete_multipart_upload(
        Bucket=B, Key=HK, UploadId=uh,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in partlist]})


expect_error(t, complete_with([(1, he[0]), (2, he[1]), (2, he[1]), (3, he[2])]),
             "InvalidPartOrder", 400, "complete listing part 2 twice: InvalidPartOrder")
unchanged("part listed twice")
expect_error(t, complete_with([(1, he[0]), (2, he[1]), (4, he[2])]),
             "InvalidPart", 400, "complete listing a part never uploaded: InvalidPart")
unchanged("part never uploaded")
expect_error(t, complete_with([(2, he[1]), (1, he[0]), (3, he[2])]),
             "InvalidPartOrder", 400, "complete with parts out of order: InvalidPartOrder")
unchanged("parts out of order")
expect_error(t, complete_with([(1, he[0]), (2, quoted(md5_hex(b"not it"))), (3, he[2])]),
             "InvalidPart", 400, "complete with a wrong ETag for part 2: InvalidPart")
unchanged("wrong ETag")
expect_error(t, complete_with([(1, he[0]), (3, he[2]), (2, he[1])]),
             "InvalidPartOrder", 400, "complete with 1, 3, 2: InvalidPartOrder")
unchanged("1, 3, 2")
r = raw.request("POST", HPATH, {"uploadId": uh}, body=b"<CompleteMultipartUpload><Part>")
expect_raw(t, r, 400, "MalformedXML", "complete with truncated XML: MalformedXML")
r = raw.request("POST", HPATH, {"uploadId": uh},
                body=b"<CompleteMultipartUpload></CompleteMultipartUpload>")
expect_raw(t, r, 400, "MalformedXML", "complete with no part: MalformedXML")
unchanged("malformed bodies")
# too small: a 1 MiB part that is not the last one
us = s3.create_multipart_upload(Bucket=B, Key=HK)["UploadId"]
se = [s3.upload_part(Bucket=B, Key=HK, UploadId=us, PartNumber=n, Body=os.urandom(MiB))["ETag"]
      for n in (1, 2)]
expect_error(t, lambda: s3.complete_multipart_upload(
    Bucket=B, Key=HK, UploadId=us,
    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": se[0]}, {"PartNumber": 2, "ETag": se[1]}]}),
    "EntityTooSmall", 400, "complete with a 1 MiB part before the last: EntityTooSmall")
unchanged("too small a part")
s3.abort_multipart_upload(Bucket=B, Key=HK, UploadId=us)


def big_xml_chunks(total, unit=MiB):
    """A CompleteMultipartUpload body of `total` bytes, produced 1 MiB at a time."""
    head = b"<CompleteMultipartUpload>"
    part = b"<Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>" % he[0].encode()
    block = (part * (unit // len(part) + 1))[:unit]
    yield head
    sent = len(head)
    while sent < total:
        piece = block[:min(unit, total - sent)]
        sent += len(piece)
        yield piece


def stream_post(total, chunked):
    """POST a 100 MB XML body, reading the answer as soon as there is one.  Returns
    (response or None, bytes sent, exception or None, seconds)."""
    extra = {"transfer-encoding": "chunked"} if chunked else {"content-length": str(total)}
    target, hdrs = raw.signed_head("POST", HPATH, {"uploadId": uh}, extra)
    t0 = time.monotonic()
    s = connect(env.port, timeout=10)
    sent, err, resp = 0, None, None
    try:
        s.sendall(format_request("POST", target, hdrs))
        for piece in big_xml_chunks(total):
            if select.select([s], [], [], 0)[0]:
                break                      # an early answer: stop sending
            s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
            if time.monotonic() - t0 > 60:
                raise TimeoutError("still sending after 60s")
        else:
            if chunked:
                s.sendall(b"0\r\n\r\n")
    except (OSError, TimeoutError) as e:
        err = e
    try:
        resp = read_response(s, "POST", timeout=30)
    except (OSError, TimeoutError, ConnectionError) as e:
        err = err or e
    s.close()
    return resp, sent, err, time.monotonic() - t0


for chunked in (False, True):
    how = "Transfer-Encoding: chunked" if chunked else "Content-Length"
    resp, sent, err, secs = stream_post(100 * 1000 * 1000, chunked)
    t.diag("100 MB XML (%s): %s after %d bytes sent in %.1fs, %s" %
           (how, resp, sent, secs, err))
    t.ok(resp is not None and resp.status in (400, 411, 413) and
         resp.code() in ("MaxMessageLengthExceeded", "MalformedXML", "EntityTooLarge",
                         "MissingContentLength"),
         "a 100 MB XML body (%s): an S3 error, MaxMessageLengthExceeded or MalformedXML" % how)
    t.ok(secs < 60, "a 100 MB XML body (%s): answered without hanging (%.1fs)" % (how, secs))
    unchanged("100 MB XML body (%s)" % how)

# DeleteObjects with 1001 keys: MalformedXML, nothing deleted
for i in range(3):
    s3.put_object(Bucket=B, Key="del/%d" % i, Body=b"keep %d" % i)
keys = ["del/%d" % i for i in range(1001)]
expect_error(t, lambda: s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in keys]}),
             "MalformedXML", 400, "DeleteObjects with 1001 keys: MalformedXML")
t.is_([body_of("del/%d" % i) for i in range(3)], [b"keep %d" % i for i in range(3)],
      "DeleteObjects with 1001 keys: nothing deleted")
r = raw.request("POST", "/%s" % B, "delete",
                {"content-md5": base64.b64encode(hashlib.md5(b"<Delete>").digest()).decode()},
                body=b"<Delete>")
expect_raw(t, r, 400, "MalformedXML", "DeleteObjects with truncated XML: MalformedXML")
unchanged("DeleteObjects attempts")
# after all this, the upload still completes
d = complete_with([(1, he[0]), (2, he[1]), (3, he[2])])()
t.is_(d["ETag"], mpu_etag(hp), "after the hostile attempts, the upload completes")
t.ok(body_of(HK) == b"".join(hp), "... and the object is its parts")

# --- AbortMultipartUpload: no part bytes left, quota counters back -----------------------
env.settled(10)
q_before = env.quota_row()

AK = "abort/me"
ua = s3.create_multipart_upload(Bucket=B, Key=AK)["UploadId"]
for n in (1, 2, 3):
    s3.upload_part(Bucket=B, Key=AK, UploadId=ua, PartNumber=n, Body=os.urandom(5 * MiB))
q_mid = env.quota_row()
t.is_((part_files(ua), q_mid[0] - q_before[0]), (3, 15 * MiB),
      "3 parts uploaded: 3 part files, bytes_used up by 15 MiB")
r = s3.abort_multipart_upload(Bucket=B, Key=AK, UploadId=ua)
t.is_(r["ResponseMetadata"]["HTTPStatusCode"], 204, "abort_multipart_upload: 204")
t.ok(wait_until(lambda: part_files(ua) == 0, 10), "after the abort, no part file remains")
back = wait_until(lambda: env.quota_row() == q_before, 10)
if not t.ok(back, "bytes_used, bytes_reserved, orphan_bytes back to their values before the upload"):
    t.diag("before %s, now %s" % (q_before, env.quota_row()))
expect_error(t, lambda: s3.list_parts(Bucket=B, Key=AK, UploadId=ua), "NoSuchUpload", 404,
             "list_parts after abort: NoSuchUpload")
expect_error(t, lambda: s3.upload_part(Bucket=B, Key=AK, UploadId=ua, PartNumber=4, Body=b"x"),
             "NoSuchUpload", 404, "upload_part after abort: NoSuchUpload")
expect_error(t, lambda: s3.complete_multipart_upload(
    Bucket=B, Key=AK, UploadId=ua, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}),
    "NoSuchUpload", 404, "complete after abort: NoSuchUpload")
expect_error(t, lambda: s3.abort_multipart_upload(Bucket=B, Key=AK, UploadId=ua),
             "NoSuchUpload", 404, "abort again: NoSuchUpload")
expect_error(t, lambda: s3.get_object(Bucket=B, Key=AK), "NoSuchKey", 404, "no object was made")

# an upload aborted while a part is being sent: the late part does not stay either
ul = s3.create_multipart_upload(Bucket=B, Key=AK)["UploadId"]
s3.upload_part(Bucket=B, Key=AK, UploadId=ul, PartNumber=1, Body=os.urandom(5 * MiB))


def late_part():
    c = env.client()
    try:
        c.upload_part(Bucket=B, Key=AK, UploadId=ul, PartNumber=2, Body=PatternReader(40 * MiB, b"late"))
        return "OK"
    except Exception as e:
        return error_code(e)


with ThreadPoolExecutor(1) as ex:
    fut = ex.submit(late_part)
    time.sleep(0.3)
    s3.abort_multipart_upload(Bucket=B, Key=AK, UploadId=ul)
    late = fut.result(timeout=120)
t.diag("the part sent during the abort got: %s" % late)
t.ok(wait_until(lambda: part_files(ul) == 0, 10),
     "an abort during a part upload: no part file remains")
back = wait_until(lambda: env.quota_row() == q_before, 10)
if not t.ok(back, "... and the quota counters are back"):
    t.diag("before %s, now %s" % (q_before, env.quota_row()))

# the abandoned upload, still there at the end
t.is_(open_uploads(), [abandoned], "the abandoned upload is still listed at the end")
s3.abort_multipart_upload(Bucket=B, Key=abandoned[0], UploadId=abandoned[1])
t.ok(wait_until(lambda: part_files() == 0, 10), "after aborting it, the part area is empty")
t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
wait_until(lambda: env.quota_row()[2] == 0, 10)
used, reserved, orphans = env.quota_row()
t.is_((used, reserved, orphans, env.locations_bytes()),
      (env.backend_file_bytes(), 0, 0, env.backend_file_bytes()),
      "bytes_used = SUM(stored_size) = the bytes on disk-a; nothing reserved, no orphans")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.diag("s3-multipart-boto3.t: %.1fs" % (time.monotonic() - started_file))
t.done()
