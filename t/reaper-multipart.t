#!/usr/bin/python3
# reaper-multipart.t: multipart uploads abandoned for longer than roles.reaper.multipart_age
# are aborted by s3mux-reaper: their parts are deleted from the backend at once and their
# bytes released, the upload is gone for clients; a younger upload is left alone; a
# completed upload's row (kept for a repeated Complete) is forgotten, its object kept.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import *  # noqa: E402,F403
from s3mux_roleenv import RoleEnv  # noqa: E402

AGE = 2.0
MiB = 1024 * 1024

t = TAP()
env = RoleEnv(t, roles={"reaper": {"multipart_age": "2s"}})
pg = env.pg
s3 = env.client()
s3.create_bucket(Bucket="bkt")


def upload(key, sizes):
    uid = s3.create_multipart_upload(Bucket="bkt", Key=key)["UploadId"]
    parts = []
    for n, size in enumerate(sizes, 1):
        r = s3.upload_part(Bucket="bkt", Key=key, UploadId=uid, PartNumber=n,
                           Body=os.urandom(size))
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    return uid, parts


def uploads():
    return sorted(u["UploadId"] for u in
                  s3.list_multipart_uploads(Bucket="bkt").get("Uploads", []))


def parts_on_disk():
    return env.disk_bytes("disk-a", ".s3mux-parts")


abandoned, _ = upload("abandoned", [MiB, MiB, 12345])
done, done_parts = upload("done", [5 * MiB, 1000])
s3.complete_multipart_upload(Bucket="bkt", Key="done", UploadId=done,
                             MultipartUpload={"Parts": done_parts})
done_size = 5 * MiB + 1000
abandoned_size = 2 * MiB + 12345
t.is_(env.quota("disk-a"), (done_size + abandoned_size, 0, 0),
      "the abandoned upload's parts count in bytes_used")
t.is_(parts_on_disk(), abandoned_size, "and are on the disk")
time.sleep(AGE + 0.3)
young, _ = upload("young", [4096])
t.is_(uploads(), sorted([abandoned, young]), "two uploads are open")

p = env.once("reaper")
env.clean_run(p, "the reaper")
t.like(p.out, r"reaper pass: 0 promoted, 0 dropped, 0 released, 0 no-op, 0 failed; "
       r"1 upload\(s\) aborted, 1 forgotten; 3 deleted, 0 left for cleanup",
       "one upload aborted, its three parts deleted, the completed one forgotten")
t.like(p.out, r"upload %s \(bkt/abandoned on disk-a\): abandoned; aborted, 3 part\(s\) "
       r"queued for deletion" % abandoned, "the abort is logged")
t.is_(uploads(), [young], "only the young upload is left")
t.is_(parts_on_disk(), 4096, "the abandoned parts are gone from the disk")
t.is_(env.quota("disk-a"), (done_size + 4096, 0, 0), "their bytes are released")
t.is_(pg.scalar("SELECT count(*) FROM multipart_uploads WHERE upload_id = '%s'" % done), "0",
      "the completed upload's row is forgotten")
t.is_(s3.head_object(Bucket="bkt", Key="done")["ContentLength"], done_size,
      "its object is still there")
t.is_(pg.scalar("SELECT count(*) FROM cleanup_queue"), "0", "nothing left for the cleanup role")
try:
    s3.upload_part(Bucket="bkt", Key="abandoned", UploadId=abandoned, PartNumber=4, Body=b"x")
    t.ok(False, "the aborted upload takes no more parts")
except Exception as e:
    t.like(str(e), r"NoSuchUpload", "the aborted upload takes no more parts")
t.is_(env.quota("disk-a"), (done_size + 4096, 0, 0), "the refused part left no trace")

p = env.once("reaper")
t.like(p.out, r"0 upload\(s\) aborted, 0 forgotten", "a second pass finds nothing")
time.sleep(AGE + 0.3)
p = env.once("reaper")
env.clean_run(p, "the reaper, later")
t.like(p.out, r"1 upload\(s\) aborted, 0 forgotten; 1 deleted", "the young one's turn comes")
t.is_(uploads(), [], "no upload is left")
t.is_((env.quota("disk-a"), parts_on_disk()), ((done_size, 0, 0), 0), "quota back")
env.finish()
t.done()
