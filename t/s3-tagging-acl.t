#!/usr/bin/python3
# s3-tagging-acl.t: object tagging and the ACL answers.
#   - PutObjectTagging / GetObjectTagging / DeleteObjectTagging round trips, x-amz-tagging on
#     PUT (URL-encoded keys and values) and on CreateMultipartUpload, x-amz-tagging-count on
#     GET, an overwrite dropping the old tags, tags kept by a metadata-only change;
#   - InvalidTag: more than 10 tags (PutObjectTagging and x-amz-tagging), a key over 128 or
#     a value over 256 characters, a key given twice, the aws: prefix, a bad escape; NoSuchKey;
#   - canned ACL headers (x-amz-acl) accepted on CreateBucket, PutObject, CopyObject,
#     CreateMultipartUpload, PutBucketAcl and PutObjectAcl; GetBucketAcl and GetObjectAcl
#     answer the owner's FULL_CONTROL.
import base64
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP  # noqa: E402
from s3mux_s3 import S3Env, http_status  # noqa: E402
from s3api import Raw, expect_error, expect_raw  # noqa: E402

t = TAP()
try:
    import boto3  # noqa: F401
except ImportError:
    t.skip_all("boto3 is not installed (apt-get install python3-boto3)")

started_file = time.monotonic()
env = S3Env(t)
s3 = env.client()
raw = Raw(env)
B = "tags"
s3.create_bucket(Bucket=B)


def tags(key):
    return {x["Key"]: x["Value"] for x in s3.get_object_tagging(Bucket=B, Key=key)["TagSet"]}


def tagset(d):
    return {"TagSet": [{"Key": k, "Value": v} for k, v in d.items()]}


def absent(key):
    try:
        s3.head_object(Bucket=B, Key=key)
        return False
    except Exception as e:
        return http_status(e) == 404


# --- round trips --------------------------------------------------------------------------
s3.put_object(Bucket=B, Key="plain", Body=b"plain")
t.is_(tags("plain"), {}, "GetObjectTagging of an untagged object: an empty TagSet")
r = s3.put_object_tagging(Bucket=B, Key="plain", Tagging=tagset({"env": "prod", "team": "storage"}))
t.is_(r["ResponseMetadata"]["HTTPStatusCode"], 200, "PutObjectTagging: 200")
t.is_(tags("plain"), {"env": "prod", "team": "storage"}, "GetObjectTagging: the tags put")
s3.put_object_tagging(Bucket=B, Key="plain", Tagging=tagset({"only": "one"}))
t.is_(tags("plain"), {"only": "one"}, "PutObjectTagging again replaces the whole set")
t.is_(s3.get_object(Bucket=B, Key="plain")["Body"].read(), b"plain", "... the bytes untouched")
odd = {"key with space": "value/with/slashes", "ünï": "çødé", "sym+-=._:/@": "", "k": "x" * 256,
       "K" * 128: "long key"}
s3.put_object_tagging(Bucket=B, Key="plain", Tagging=tagset(odd))
t.is_(tags("plain"), odd, "tags with spaces, UTF-8, + - = . _ : / @, an empty value, a 256-character "
      "value, a 128-character key")
r = s3.delete_object_tagging(Bucket=B, Key="plain")
t.is_(r["ResponseMetadata"]["HTTPStatusCode"], 204, "DeleteObjectTagging: 204")
t.is_(tags("plain"), {}, "... no tags left")
t.is_(s3.get_object(Bucket=B, Key="plain")["Body"].read(), b"plain", "... the bytes untouched")

s3.put_object(Bucket=B, Key="tagged", Body=b"tagged", Tagging="a=1&b%20c=d%2Be&empty=")
t.is_(tags("tagged"), {"a": "1", "b c": "d+e", "empty": ""},
      "x-amz-tagging on PUT: URL-encoded pairs stored decoded")
g = s3.get_object(Bucket=B, Key="tagged")
t.is_(g.get("TagCount"), 3, "GetObject: x-amz-tagging-count 3")
g = s3.get_object(Bucket=B, Key="plain")
t.is_(g.get("TagCount"), None, "GetObject of an untagged object: no x-amz-tagging-count")
s3.copy_object(Bucket=B, Key="tagged", CopySource={"Bucket": B, "Key": "tagged"},
               MetadataDirective="REPLACE", Metadata={"new": "meta"})
t.is_(tags("tagged"), {"a": "1", "b c": "d+e", "empty": ""},
      "a metadata-only change (copy onto itself with REPLACE) keeps the tags")
s3.put_object(Bucket=B, Key="tagged", Body=b"overwritten")
t.is_(tags("tagged"), {}, "an overwrite without x-amz-tagging: the new object has no tags")

up = s3.create_multipart_upload(Bucket=B, Key="mp", Tagging="from=multipart&n=2")
part = s3.upload_part(Bucket=B, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * 1000)
s3.complete_multipart_upload(Bucket=B, Key="mp", UploadId=up["UploadId"], MultipartUpload={
    "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
t.is_(tags("mp"), {"from": "multipart", "n": "2"}, "x-amz-tagging on CreateMultipartUpload: the object's tags")

# --- InvalidTag ------------------------------------------------------------------------------
s3.put_object_tagging(Bucket=B, Key="plain", Tagging=tagset({"keep": "me"}))
eleven = {"k%02d" % i: "v" for i in range(11)}
ten = {"k%02d" % i: "v" for i in range(10)}
s3.put_object_tagging(Bucket=B, Key="plain", Tagging=tagset(ten))
t.is_(len(tags("plain")), 10, "10 tags: accepted")
s3.put_object_tagging(Bucket=B, Key="plain", Tagging=tagset({"keep": "me"}))
for label, ts in (("11 tags", eleven), ("a 129-character key", {"K" * 129: "v"}),
                  ("a 257-character value", {"k": "v" * 257}),
                  ("the aws: prefix", {"aws:reserved": "v"})):
    expect_error(t, lambda: s3.put_object_tagging(Bucket=B, Key="plain", Tagging=tagset(ts)),
                 "InvalidTag", 400, "PutObjectTagging with %s: InvalidTag" % label)
    t.is_(tags("plain"), {"keep": "me"}, "... the tags unchanged")
body = (b"<Tagging><TagSet><Tag><Key>dup</Key><Value>1</Value></Tag>"
        b"<Tag><Key>dup</Key><Value>2</Value></Tag></TagSet></Tagging>")

r = raw.request("PUT", "/%s/plain" % B, "tagging",
                {"content-md5": base64.b64encode(hashlib.md5(body).digest()).decode()}, body=body)
expect_raw(t, r, 400, "InvalidTag", "PutObjectTagging with a key twice: InvalidTag")
t.is_(tags("plain"), {"keep": "me"}, "... the tags unchanged")
r = raw.request("PUT", "/%s/plain" % B, "tagging", body=b"<Tagging><TagSet><Tag>")
expect_raw(t, r, 400, "MalformedXML", "PutObjectTagging with broken XML: MalformedXML")
expect_error(t, lambda: s3.put_object(Bucket=B, Key="too-many", Body=b"x",
                                      Tagging="&".join("k%d=v" % i for i in range(11))),
             "InvalidTag", 400, "PUT with 11 tags in x-amz-tagging: InvalidTag")
t.ok(absent("too-many"), "... no object made")
expect_error(t, lambda: s3.put_object(Bucket=B, Key="dup-tags", Body=b"x", Tagging="a=1&a=2"),
             "InvalidTag", 400, "PUT with a key twice in x-amz-tagging: InvalidTag")
t.ok(absent("dup-tags"), "... no object made")
expect_error(t, lambda: s3.put_object(Bucket=B, Key="bad-escape", Body=b"x", Tagging="a=%zz"),
             "InvalidTag", 400, "PUT with a bad escape in x-amz-tagging: InvalidTag")
t.ok(absent("bad-escape"), "... no object made")
expect_error(t, lambda: s3.get_object_tagging(Bucket=B, Key="no/such/key"),
             "NoSuchKey", 404, "GetObjectTagging of a missing key: NoSuchKey")
expect_error(t, lambda: s3.put_object_tagging(Bucket=B, Key="no/such/key", Tagging=tagset({"a": "b"})),
             "NoSuchKey", 404, "PutObjectTagging of a missing key: NoSuchKey")
expect_error(t, lambda: s3.delete_object_tagging(Bucket=B, Key="no/such/key"),
             "NoSuchKey", 404, "DeleteObjectTagging of a missing key: NoSuchKey")
expect_error(t, lambda: s3.get_object_tagging(Bucket="no-such-bucket", Key="k"),
             "NoSuchBucket", 404, "GetObjectTagging in a missing bucket: NoSuchBucket")

# --- canned ACLs -------------------------------------------------------------------------
accepted = []
for acl in ("private", "public-read", "public-read-write", "authenticated-read"):
    name = "acl-" + acl
    try:
        r = s3.create_bucket(Bucket=name, ACL=acl)
        accepted.append(r["ResponseMetadata"]["HTTPStatusCode"] == 200)
    except Exception as e:
        t.diag("create_bucket ACL=%s: %s" % (acl, e))
        accepted.append(False)
t.ok(all(accepted), "CreateBucket with x-amz-acl private, public-read, public-read-write, "
     "authenticated-read: accepted")
accepted = []
for acl in ("private", "public-read", "public-read-write", "authenticated-read",
            "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control"):
    try:
        s3.put_object(Bucket=B, Key="acl/" + acl, Body=acl.encode(), ACL=acl)
        accepted.append(s3.get_object(Bucket=B, Key="acl/" + acl)["Body"].read() == acl.encode())
    except Exception as e:
        t.diag("put_object ACL=%s: %s" % (acl, e))
        accepted.append(False)
t.ok(all(accepted), "PutObject with each canned ACL: accepted, the object stored")


def check(label, fn):
    try:
        r = fn()
        t.is_(r["ResponseMetadata"]["HTTPStatusCode"], 200, label)
    except Exception as e:
        t.ok(False, "%s: %s" % (label, e))


check("CopyObject with x-amz-acl public-read: accepted",
      lambda: s3.copy_object(Bucket=B, Key="acl/copied", CopySource={"Bucket": B, "Key": "plain"},
                             ACL="public-read"))
up = None


def create_mpu():
    global up
    up = s3.create_multipart_upload(Bucket=B, Key="acl/mpu", ACL="bucket-owner-full-control")
    return up


check("CreateMultipartUpload with x-amz-acl: accepted", create_mpu)
if up:
    s3.abort_multipart_upload(Bucket=B, Key="acl/mpu", UploadId=up["UploadId"])
check("PutBucketAcl with x-amz-acl private: accepted",
      lambda: s3.put_bucket_acl(Bucket=B, ACL="private"))
check("PutObjectAcl with x-amz-acl public-read: accepted",
      lambda: s3.put_object_acl(Bucket=B, Key="plain", ACL="public-read"))

OWNER = {"ID": "demo", "DisplayName": "demo"}
FULL = [{"Grantee": {"Type": "CanonicalUser", "ID": "demo", "DisplayName": "demo"},
         "Permission": "FULL_CONTROL"}]
for label, fn in (("GetBucketAcl", lambda: s3.get_bucket_acl(Bucket=B)),
                  ("GetBucketAcl of a public-read bucket", lambda: s3.get_bucket_acl(Bucket="acl-public-read")),
                  ("GetObjectAcl", lambda: s3.get_object_acl(Bucket=B, Key="plain")),
                  ("GetObjectAcl of a public-read object", lambda: s3.get_object_acl(Bucket=B, Key="acl/public-read"))):
    try:
        r = fn()
        t.is_((r.get("Owner"), r.get("Grants")), (OWNER, FULL), "%s: the owner demo with FULL_CONTROL" % label)
    except Exception as e:
        t.ok(False, "%s: %s" % (label, e))
expect_error(t, lambda: s3.get_object_acl(Bucket=B, Key="no/such/key"), "NoSuchKey", 404,
             "GetObjectAcl of a missing key: NoSuchKey")
expect_error(t, lambda: s3.get_bucket_acl(Bucket="no-such-bucket"), "NoSuchBucket", 404,
             "GetBucketAcl of a missing bucket: NoSuchBucket")
r = raw.request("GET", "/%s/plain" % B, "acl")
t.ok(r.status == 200 and r.xml().tag == "AccessControlPolicy" and
     r.xml().findtext("AccessControlList/Grant/Permission") == "FULL_CONTROL",
     "GET ?acl raw: an AccessControlPolicy")

t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.diag("s3-tagging-acl.t: %.1fs" % (time.monotonic() - started_file))
t.done()
