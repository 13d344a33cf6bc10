#!/usr/bin/python3
# s3-multipart-awscli.t: the AWS CLI's multipart transfers against the front end, with a
# private AWS_CONFIG_FILE (multipart_threshold and multipart_chunksize 8MB,
# max_concurrent_requests 4): `aws s3 cp` of a 100 MiB file up (13 parts; the ETag checked
# against the part MD5s) and down (ranged GETs), identical; then `aws s3 sync --delete` of a
# tree with small and multipart files, files modified, added and deleted locally and synced
# again, compared with the listing and, after a sync down, with diff -r.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, run, wait_until  # noqa: E402
from s3mux_s3 import S3Env, PatternReader, file_sha256, tool  # noqa: E402
from s3api import MiB, count_files, file_part_md5s, md5_hex, mpu_etag, quoted, write_pattern  # noqa: E402

t = TAP()
AWS = tool("aws")
if AWS is None:
    t.skip_all("the AWS CLI is not installed")

started_file = time.monotonic()
env = S3Env(t)
aws_env = env.aws_env()
with open(aws_env["AWS_CONFIG_FILE"], "w") as f:
    f.write("[default]\nregion = us-east-1\ns3 =\n"
            "    multipart_threshold = 8MB\n"
            "    multipart_chunksize = 8MB\n"
            "    max_concurrent_requests = 4\n"
            "    addressing_style = path\n")
s3 = env.client()
B = "cli-mpu"
URL = "s3://" + B
PARTS_DIR = os.path.join(env.disk, ".s3mux-parts")


def aws(*args, timeout=300):
    p = run([AWS, "--endpoint-url", env.endpoint] + list(args), env=aws_env, timeout=timeout)
    if p.returncode != 0:
        t.diag("aws %s: exit %d\n%s" % (" ".join(args[:3]), p.returncode, p.stderr[-1500:]))
    return p


def listing(prefix):
    """{key: (size, etag)} under prefix, every page."""
    out, kw = {}, {}
    for _ in range(100):
        r = s3.list_objects_v2(Bucket=B, Prefix=prefix, **kw)
        for c in r.get("Contents", []):
            out[c["Key"]] = (c["Size"], c["ETag"])
        if not r["IsTruncated"]:
            return out
        kw = {"ContinuationToken": r["NextContinuationToken"]}
    return out


def expected_etag(path):
    """What the CLI's upload gives the file: one PUT up to 8 MiB, else 8 MiB parts."""
    size = os.path.getsize(path)
    if size < 8 * MiB:
        with open(path, "rb") as f:
            return quoted(md5_hex(f.read()))
    return mpu_etag(file_part_md5s(path, 8 * MiB))


def tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            out[os.path.relpath(p, root)] = p
    return out


work = os.path.join(env.dir, "work")
os.makedirs(work)
p = aws("s3", "mb", URL)
t.is_(p.returncode, 0, "aws s3 mb")

# --- cp of 100 MiB up and down ------------------------------------------------------------
big = os.path.join(work, "big.bin")
write_pattern(big, PatternReader(100 * MiB, b"awscli-100"))
t0 = time.monotonic()
p = aws("s3", "cp", "--no-progress", big, URL + "/big/file.bin")
t.is_(p.returncode, 0, "aws s3 cp of 100 MiB up (%.1fs)" % (time.monotonic() - t0))
h = s3.head_object(Bucket=B, Key="big/file.bin")
t.is_(h["ContentLength"], 100 * MiB, "the object is 100 MiB")
t.is_(h["ETag"], mpu_etag(file_part_md5s(big, 8 * MiB)),
      "its ETag: 13 parts of 8 MiB (MD5 of the part MD5s + \"-13\")")
t.is_(s3.list_multipart_uploads(Bucket=B).get("Uploads", []), [], "no upload left open")
t.ok(wait_until(lambda: count_files(PARTS_DIR) == 0, 10), "no part file left on disk-a")
t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
down = os.path.join(work, "big.down")
t0 = time.monotonic()
p = aws("s3", "cp", "--no-progress", URL + "/big/file.bin", down)
t.is_(p.returncode, 0, "aws s3 cp of 100 MiB down (%.1fs)" % (time.monotonic() - t0))
t.is_(file_sha256(down) if os.path.exists(down) else None, file_sha256(big),
      "downloaded back identical")
os.unlink(down)
p = aws("s3", "ls", URL + "/big/")
t.like(p.stdout, r"(?m)^\S+ \S+ +%d file\.bin$" % (100 * MiB), "aws s3 ls shows its size")
p = aws("s3", "cp", "--no-progress", URL + "/big/file.bin", URL + "/big/copy.bin")
t.is_(p.returncode, 0, "aws s3 cp bucket to bucket of 100 MiB (multipart UploadPartCopy)")
t.is_(s3.head_object(Bucket=B, Key="big/copy.bin")["ContentLength"], 100 * MiB,
      "the copy is 100 MiB")
p = aws("s3", "cp", "--no-progress", URL + "/big/copy.bin", down)
t.is_(file_sha256(down) if os.path.exists(down) else None, file_sha256(big),
      "the copy downloads identical")
os.unlink(down)
aws("s3", "rm", "--recursive", URL + "/big/")

# --- sync --delete ---------------------------------------------------------------------
src = os.path.join(work, "src")
sizes = {
    "a.txt": 10, "empty": 0, "dir1/b.bin": 300 * 1024, "dir1/c.bin": 9 * MiB,
    "dir1/sub/d.bin": 17 * MiB + 5, "dir2/e.txt": 4096, "dir2/f.bin": 8 * MiB,
    "dir2/deep/er/g.bin": 123, "with space/h i.txt": 77, "dir3/j.bin": 8 * MiB + 1,
}
for i in range(20):
    sizes["many/%02d.dat" % i] = 1000 + i
for rel, size in sizes.items():
    path = os.path.join(src, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_pattern(path, PatternReader(size, rel.encode()))


def check_remote(label):
    files = tree(src)
    want = {"tree/" + rel: (os.path.getsize(p), expected_etag(p)) for rel, p in files.items()}
    got = listing("tree/")
    good = t.is_(sorted(got), sorted(want), "%s: the listing has exactly the local files" % label)
    if good:
        bad = [k for k in want if got[k] != want[k]]
        if not t.is_(bad, [], "%s: every size and ETag as the local file gives" % label):
            for k in bad[:5]:
                t.diag("%s: got %s, want %s" % (k, got[k], want[k]))


t0 = time.monotonic()
p = aws("s3", "sync", "--no-progress", "--delete", src, URL + "/tree")
t.is_(p.returncode, 0, "sync --delete up (%.1fs)" % (time.monotonic() - t0))
check_remote("first sync")
# modify (other sizes, so that sync sees them), add, delete
time.sleep(1.1)
for rel, size in (("a.txt", 11), ("dir1/c.bin", 10 * MiB + 3), ("dir2/f.bin", 100),
                  ("many/05.dat", 9 * MiB)):
    write_pattern(os.path.join(src, rel), PatternReader(size, b"changed " + rel.encode()))
for rel in ("dir1/sub/d.bin", "many/07.dat", "dir2/deep/er/g.bin", "with space/h i.txt"):
    os.unlink(os.path.join(src, rel))
# S3 has no empty directories: drop the ones left, so that diff -r compares files only
for d, dirs, files in os.walk(src, topdown=False):
    if d != src and not os.listdir(d):
        os.rmdir(d)
for rel, size in (("new/k.bin", 12 * MiB), ("dir1/sub/l.txt", 5)):
    path = os.path.join(src, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_pattern(path, PatternReader(size, rel.encode()))
t0 = time.monotonic()
p = aws("s3", "sync", "--no-progress", "--delete", src, URL + "/tree")
t.is_(p.returncode, 0, "second sync --delete up (%.1fs)" % (time.monotonic() - t0))
out = p.stdout
t.ok(all(("delete: %s/tree/%s" % (URL, rel)) in out for rel in
         ("dir1/sub/d.bin", "many/07.dat", "dir2/deep/er/g.bin", "with space/h i.txt")),
     "it deleted the 4 files removed locally")
t.ok(all(("upload: " in line) for line in out.splitlines() if "dir1/c.bin" in line) and
     "tree/new/k.bin" in out and "tree/many/05.dat" in out,
     "it uploaded the changed and new files")
check_remote("after modify/add/delete")
p = aws("s3", "sync", "--no-progress", "--delete", src, URL + "/tree")
t.is_((p.returncode, p.stdout), (0, ""), "a third sync moves nothing")

dst = os.path.join(work, "dst")
os.makedirs(os.path.join(dst, "stale"))
with open(os.path.join(dst, "stale", "x.txt"), "w") as f:
    f.write("not in the bucket\n")
t0 = time.monotonic()
p = aws("s3", "sync", "--no-progress", "--delete", URL + "/tree", dst)
t.is_(p.returncode, 0, "sync --delete down (%.1fs)" % (time.monotonic() - t0))
t.ok(not os.path.exists(os.path.join(dst, "stale", "x.txt")),
     "sync --delete down deleted the local file not in the bucket")
if os.path.isdir(os.path.join(dst, "stale")):
    os.rmdir(os.path.join(dst, "stale"))    # aws s3 sync leaves the directory itself
p = run(["diff", "-r", src, dst], timeout=120)
t.is_((p.returncode, p.stdout[:1000]), (0, ""),
      "diff -r: identical trees (the stale local file deleted)")

t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
t.ok(wait_until(lambda: count_files(PARTS_DIR) == 0, 10), "no part file left on disk-a")
t.is_(s3.list_multipart_uploads(Bucket=B).get("Uploads", []), [], "no upload left open")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.diag("s3-multipart-awscli.t: %.1fs" % (time.monotonic() - started_file))
t.done()
