#!/usr/bin/python3
# s3-awscli.t: the AWS CLI against the front end: mb, ls, rb (BucketNotEmpty while objects
# remain), cp up and down, rm, sync of a directory tree in and out (compared with diff -r,
# then an incremental sync and sync --delete), and s3api put-object / head-object /
# get-object --range with metadata.  Single PUTs only: multipart_threshold is set to 6GB.
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, run  # noqa: E402
from s3mux_s3 import S3Env, tool  # noqa: E402

t = TAP()
AWS = tool("aws")
if AWS is None:
    t.skip_all("the AWS CLI is not installed")

env = S3Env(t)
aws_env = env.aws_env()
B = "cli-bucket"
URL = "s3://%s" % B


def aws(*args, timeout=300, fails=False):
    """Run the CLI; a failure is shown unless one is expected (fails=True)."""
    p = run([AWS, "--endpoint-url", env.endpoint] + list(args), env=aws_env, timeout=timeout)
    if p.returncode != 0 and not fails:
        t.diag("aws %s: exit %d\n%s" % (" ".join(args[:3]), p.returncode, p.stderr[-1500:]))
    return p


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def tree_digest(root):
    """{relative path: sha256} of every file under root."""
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


work = os.path.join(env.dir, "cli")
os.makedirs(work)

# --- buckets -----------------------------------------------------------------------------
p = aws("s3", "mb", URL)
t.ok(p.returncode == 0 and "make_bucket: %s" % B in p.stdout, "aws s3 mb")
p = aws("s3", "ls")
t.like(p.stdout, r"(?m)^\S+ \S+ %s$" % B, "aws s3 ls lists the bucket")
p = aws("s3", "mb", URL, fails=True)
t.ok(p.returncode != 0 and "BucketAlreadyOwnedByYou" in p.stderr,
     "mb again: BucketAlreadyOwnedByYou")

# --- cp up and down, ls, rm --------------------------------------------------------------
small = os.urandom(1234)
big = os.urandom(9 * 1024 * 1024 + 17)       # above awscli's default 8 MiB threshold
write(os.path.join(work, "small.bin"), small)
write(os.path.join(work, "big.bin"), big)
p = aws("s3", "cp", os.path.join(work, "small.bin"), URL + "/files/small.bin")
t.is_(p.returncode, 0, "cp a small file up")
p = aws("s3", "cp", os.path.join(work, "big.bin"), URL + "/files/big.bin")
t.is_(p.returncode, 0, "cp a 9 MiB file up (single PUT: multipart_threshold 6GB)")
p = aws("s3", "ls", URL + "/files/")
t.like(p.stdout, r"(?m)^\S+ \S+ +1234 small\.bin$", "ls shows small.bin with its size")
t.like(p.stdout, r"(?m)^\S+ \S+ +%d big\.bin$" % len(big), "ls shows big.bin with its size")
p = aws("s3", "ls", URL)
t.like(p.stdout, r"(?m)^ +PRE files/$", "ls of the bucket shows the prefix files/")
for name, data in (("small.bin", small), ("big.bin", big)):
    out = os.path.join(work, "down-" + name)
    p = aws("s3", "cp", URL + "/files/" + name, out)
    with open(out, "rb") as f:
        t.ok(p.returncode == 0 and f.read() == data, "cp %s down: same bytes" % name)
p = aws("s3", "cp", "-", URL + "/files/stdin.txt", timeout=60)
t.is_(p.returncode, 0, "cp from stdin (empty body)")
p = aws("s3", "cp", URL + "/files/stdin.txt", "-")
t.is_((p.returncode, p.stdout), (0, ""), "cp to stdout: an empty object")
p = aws("s3", "rm", URL + "/files/small.bin")
t.ok(p.returncode == 0 and "delete: %s/files/small.bin" % URL in p.stdout, "rm")
p = aws("s3", "ls", URL + "/files/")
t.unlike(p.stdout, r"small\.bin", "ls no longer shows it")
p = aws("s3", "cp", URL + "/files/small.bin", os.path.join(work, "gone"), fails=True)
t.ok(p.returncode != 0 and ("404" in p.stderr or "Not Found" in p.stderr),
     "cp of a removed key fails with 404")

# --- s3api: metadata and ranges ----------------------------------------------------------
digits = os.path.join(work, "digits.txt")
write(digits, b"0123456789abcdef")
p = aws("s3api", "put-object", "--bucket", B, "--key", "api/digits.txt", "--body", digits,
        "--content-type", "text/plain", "--cache-control", "no-cache",
        "--content-disposition", "inline", "--metadata", "origin=awscli,answer=42")
t.ok(p.returncode == 0 and json.loads(p.stdout).get("ETag") ==
     '"%s"' % hashlib.md5(b"0123456789abcdef").hexdigest(), "s3api put-object: ETag is the MD5")
p = aws("s3api", "head-object", "--bucket", B, "--key", "api/digits.txt")
head = json.loads(p.stdout) if p.returncode == 0 else {}
t.is_((head.get("ContentLength"), head.get("ContentType"), head.get("CacheControl"),
       head.get("ContentDisposition"), head.get("Metadata")),
      (16, "text/plain", "no-cache", "inline", {"origin": "awscli", "answer": "42"}),
      "s3api head-object: length, type, cache-control, disposition, metadata")
out = os.path.join(work, "range.out")
p = aws("s3api", "get-object", "--bucket", B, "--key", "api/digits.txt", "--range",
        "bytes=4-9", out)
got = json.loads(p.stdout) if p.returncode == 0 else {}
with open(out, "rb") as f:
    t.is_((f.read(), got.get("ContentRange"), got.get("ContentLength")),
          (b"456789", "bytes 4-9/16", 6), "s3api get-object --range bytes=4-9")
p = aws("s3api", "get-object", "--bucket", B, "--key", "api/digits.txt", "--range",
        "bytes=-4", out)
with open(out, "rb") as f:
    t.ok(p.returncode == 0 and f.read() == b"cdef", "s3api get-object --range bytes=-4")
p = aws("s3api", "get-object", "--bucket", B, "--key", "api/digits.txt", "--range",
        "bytes=100-200", out, fails=True)
t.ok(p.returncode != 0 and "InvalidRange" in p.stderr, "an unsatisfiable range: InvalidRange")
p = aws("s3api", "head-object", "--bucket", B, "--key", "api/nothing", fails=True)
t.ok(p.returncode != 0 and "404" in p.stderr, "s3api head-object of a missing key: 404")
p = aws("s3api", "list-objects-v2", "--bucket", B, "--prefix", "api/")
keys = [c["Key"] for c in json.loads(p.stdout).get("Contents", [])] if p.returncode == 0 else None
t.is_(keys, ["api/digits.txt"], "s3api list-objects-v2 --prefix")

# --- sync a tree in and out --------------------------------------------------------------
src = os.path.join(work, "tree")
expected = {}
n = 0
for a in range(6):
    for b in range(5):
        for c in range(10):
            rel = os.path.join("d%d" % a, "e%d" % b, "f%02d.dat" % c) if c < 9 else \
                os.path.join("d%d" % a, "top%d.txt" % b)
            data = os.urandom(100 + (n * 37) % 3000)
            write(os.path.join(src, rel), data)
            n += 1
write(os.path.join(src, "name with spaces.txt"), b"spaces")
write(os.path.join(src, "caf\u00e9 \u00fcnicode.txt"), b"unicode")
write(os.path.join(src, "empty"), b"")
expected = tree_digest(src)
started = time.monotonic()
p = aws("s3", "sync", src, URL + "/tree")
t.is_(p.returncode, 0, "aws s3 sync up of %d files (%.1fs)" %
      (len(expected), time.monotonic() - started))
p = aws("s3api", "list-objects-v2", "--bucket", B, "--prefix", "tree/", "--max-items", "5000")
listed = sorted(c["Key"][5:] for c in json.loads(p.stdout).get("Contents", [])) \
    if p.returncode == 0 else []
t.is_(listed, sorted(expected), "every file is listed under tree/")
dst = os.path.join(work, "tree-down")
started = time.monotonic()
p = aws("s3", "sync", URL + "/tree", dst)
t.is_(p.returncode, 0, "aws s3 sync down (%.1fs)" % (time.monotonic() - started))
p = run(["diff", "-r", src, dst])
t.is_((p.returncode, p.stdout[:500]), (0, ""), "diff -r: the tree came back identical")
p = aws("s3", "sync", "--no-progress", src, URL + "/tree")
t.is_((p.returncode, p.stdout), (0, ""), "a second sync uploads nothing")

# change one file, add one, remove one; sync --delete moves exactly those
write(os.path.join(src, "d1", "e1", "f03.dat"), b"changed content, longer than before " * 10)
write(os.path.join(src, "d5", "new.txt"), b"new")
os.unlink(os.path.join(src, "d2", "e2", "f04.dat"))
p = aws("s3", "sync", "--no-progress", "--delete", src, URL + "/tree")
lines = sorted(ln.split(":")[0] for ln in p.stdout.splitlines()
               if ln.startswith(("upload:", "delete:")))
t.is_(lines, ["delete", "upload", "upload"], "sync --delete: two uploads and one delete")
p = aws("s3", "sync", "--delete", URL + "/tree", dst)
t.is_(p.returncode, 0, "sync --delete down")
p = run(["diff", "-r", src, dst])
t.is_((p.returncode, p.stdout[:500]), (0, ""), "diff -r after the incremental sync")

# --- rb ----------------------------------------------------------------------------------
p = aws("s3", "rb", URL, fails=True)
t.ok(p.returncode != 0 and "BucketNotEmpty" in p.stderr, "rb of a non-empty bucket: BucketNotEmpty")
p = aws("s3", "rm", "--recursive", URL, timeout=300)
t.is_(p.returncode, 0, "rm --recursive")
p = aws("s3", "rb", URL)
t.ok(p.returncode == 0 and "remove_bucket: %s" % B in p.stdout, "rb of the emptied bucket")
p = aws("s3", "ls")
t.unlike(p.stdout, r"\b%s\b" % B, "ls no longer lists it")
aws("s3", "mb", "s3://cli-force")
aws("s3", "cp", digits, "s3://cli-force/x/digits.txt")
p = aws("s3", "rb", "--force", "s3://cli-force")
t.is_(p.returncode, 0, "rb --force removes the objects and the bucket")

# --- accounting --------------------------------------------------------------------------
t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
time.sleep(0.5)
used, reserved, orphans = env.quota_row()
t.is_((used, orphans, env.locations_bytes()), (0, 0, 0), "every byte accounted for and released")
t.is_(env.backend_file_bytes(), 0, "no object file left on disk-a")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.done()
