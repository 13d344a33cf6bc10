#!/usr/bin/python3
# s3-sync-tree.t: `aws s3 sync` of a tree of 2,000 small files in nested directories up to
# the front end and back down, compared with diff -r; a second sync in either direction moves
# nothing; the listing holds every key once; the catalogue's sums match the disk.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, run  # noqa: E402
from s3mux_s3 import S3Env, tool  # noqa: E402

NFILES = 2000
t = TAP()
AWS = tool("aws")
if AWS is None:
    t.skip_all("the AWS CLI is not installed")

env = S3Env(t)
aws_env = env.aws_env("    max_concurrent_requests = 16\n")
B = "sync-tree"


def aws(*args, timeout=300):
    p = run([AWS, "--endpoint-url", env.endpoint] + list(args), env=aws_env, timeout=timeout)
    if p.returncode != 0:
        t.diag("aws %s: exit %d\n%s" % (" ".join(args[:3]), p.returncode, p.stderr[-1500:]))
    return p


src = os.path.join(env.dir, "src")
rels = []
for i in range(NFILES):
    a, b, c = i // 200, (i // 20) % 10, i % 20
    rel = os.path.join("top%02d" % a, "mid%d" % b, "leaf-%04d.bin" % i) if c else \
        os.path.join("top%02d" % a, "mid%d" % b, "deeper", "x", "y", "z-%04d" % i)
    rels.append(rel)
    path = os.path.join(src, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom((i * 131) % 8192))
t.is_(len(set(rels)), NFILES, "a tree of %d files" % NFILES)

p = aws("s3", "mb", "s3://" + B)
started = time.monotonic()
p = aws("s3", "sync", "--no-progress", "--only-show-errors", src, "s3://%s/t" % B)
up = time.monotonic() - started
t.is_(p.returncode, 0, "sync up of %d files (%.1fs)" % (NFILES, up))

s3 = env.client()
keys = []
token = None
for _ in range(100):
    more = {"ContinuationToken": token} if token else {}
    resp = s3.list_objects_v2(Bucket=B, Prefix="t/", **more)
    keys += [c["Key"] for c in resp.get("Contents", [])]
    if not resp["IsTruncated"]:
        break
    token = resp["NextContinuationToken"]
t.is_(keys, sorted("t/" + r for r in rels), "the listing holds every key once, in order")

dst = os.path.join(env.dir, "dst")
started = time.monotonic()
p = aws("s3", "sync", "--no-progress", "--only-show-errors", "s3://%s/t" % B, dst)
down = time.monotonic() - started
t.is_(p.returncode, 0, "sync down (%.1fs)" % down)
p = run(["diff", "-r", src, dst], timeout=120)
t.is_((p.returncode, p.stdout[:1000]), (0, ""), "diff -r: identical trees")
p = aws("s3", "sync", "--no-progress", src, "s3://%s/t" % B)
t.is_((p.returncode, p.stdout), (0, ""), "a second sync up moves nothing")
p = aws("s3", "sync", "--no-progress", "s3://%s/t" % B, dst)
t.is_((p.returncode, p.stdout), (0, ""), "a second sync down moves nothing")

t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
used, reserved, orphans = env.quota_row()
total = sum(os.path.getsize(os.path.join(src, r)) for r in rels)
t.is_((used, env.locations_bytes(), env.backend_file_bytes()), (total, total, total),
      "bytes_used = SUM(stored_size) = the bytes on disk-a = the tree's size")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.done()
