#!/usr/bin/python3
# s3-rclone.t: rclone's basic transfer suite against the front end (an "s3" remote, provider
# Other, path style, configured from the environment): mkdir, copyto up and down, lsl, copy
# and sync of a small tree with check (MD5 against the ETags), an incremental sync, deletefile,
# purge, rmdir.  --s3-upload-cutoff 5G keeps every upload a single PUT.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, run  # noqa: E402
from s3mux_s3 import S3Env, ACCESS_KEY, SECRET_KEY, tool  # noqa: E402

t = TAP()
RCLONE = tool("rclone")
if RCLONE is None:
    t.skip_all("rclone is not installed")

env = S3Env(t)
work = os.path.join(env.dir, "work")
os.makedirs(work)
empty_conf = os.path.join(env.dir, "rclone.conf")
open(empty_conf, "w").close()
renv = {k: v for k, v in os.environ.items()
        if not k.startswith(("RCLONE_", "AWS_")) and not k.lower().endswith("_proxy")}
renv.update(RCLONE_CONFIG=empty_conf, RCLONE_CONFIG_X_TYPE="s3", RCLONE_CONFIG_X_PROVIDER="Other",
            RCLONE_CONFIG_X_ACCESS_KEY_ID=ACCESS_KEY, RCLONE_CONFIG_X_SECRET_ACCESS_KEY=SECRET_KEY,
            RCLONE_CONFIG_X_ENDPOINT=env.endpoint, RCLONE_CONFIG_X_REGION="us-east-1",
            RCLONE_CONFIG_X_FORCE_PATH_STYLE="true", HOME=env.dir)
B = "rclone-bucket"
R = "x:%s" % B


def rclone(*args, timeout=300, fails=False):
    p = run([RCLONE, "--s3-upload-cutoff", "5G", "--retries", "1", "--low-level-retries", "2",
             "--contimeout", "10s", "--timeout", "60s"] + list(args), timeout=timeout, env=renv)
    if p.returncode != 0 and not fails:
        t.diag("rclone %s: exit %d\n%s" % (" ".join(args[:3]), p.returncode, p.stderr[-1500:]))
    return p


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


p = rclone("mkdir", R)
t.is_(p.returncode, 0, "rclone mkdir creates the bucket")
p = rclone("lsd", "x:")
t.like(p.stdout, r"(?m)\s%s$" % B, "rclone lsd x: lists it")

one = os.urandom(3 * 1024 * 1024 + 11)
write(os.path.join(work, "one.bin"), one)
p = rclone("copyto", os.path.join(work, "one.bin"), R + "/single/one.bin")
t.is_(p.returncode, 0, "rclone copyto up (3 MiB)")
p = rclone("lsl", R + "/single")
t.like(p.stdout, r"(?m)^\s*%d \S+ \S+ one\.bin$" % len(one), "rclone lsl shows it with its size")
p = rclone("copyto", R + "/single/one.bin", os.path.join(work, "one.down"))
t.ok(p.returncode == 0 and read(os.path.join(work, "one.down")) == one,
     "rclone copyto down: same bytes")
p = rclone("md5sum", R + "/single")
t.like(p.stdout, r"^[0-9a-f]{32}  one\.bin", "rclone md5sum reads the ETag")

src = os.path.join(work, "tree")
for i in range(60):
    write(os.path.join(src, "p%d" % (i % 5), "q%d" % (i % 2), "file-%02d.dat" % i),
          os.urandom(10 + i * 211))
write(os.path.join(src, "zero.txt"), b"")
write(os.path.join(src, "sp ace", "\u00fcml\u00e4ut.txt"), b"unicode")
p = rclone("copy", src, R + "/tree")
t.is_(p.returncode, 0, "rclone copy of a 62-file tree")
p = rclone("check", src, R + "/tree")
t.is_(p.returncode, 0, "rclone check: the remote tree matches (sizes and MD5)")
if p.returncode:
    t.diag(p.stderr[-1500:])
dst = os.path.join(work, "tree-down")
p = rclone("sync", R + "/tree", dst)
t.is_(p.returncode, 0, "rclone sync down")
p = run(["diff", "-r", src, dst])
t.is_((p.returncode, p.stdout[:500]), (0, ""), "diff -r: identical trees")

os.unlink(os.path.join(src, "p1", "q1", "file-01.dat"))
write(os.path.join(src, "p2", "q0", "file-02.dat"), b"rewritten")
write(os.path.join(src, "new", "added.txt"), b"added")
p = rclone("sync", src, R + "/tree")
t.is_(p.returncode, 0, "rclone sync up after a change, an addition and a removal")
p = rclone("check", src, R + "/tree")
t.is_(p.returncode, 0, "rclone check after the incremental sync")
p = rclone("lsf", "-R", "--files-only", R + "/tree")
want = sorted(os.path.relpath(os.path.join(d, f), src) for d, _, fs in os.walk(src) for f in fs)
t.is_(sorted(p.stdout.splitlines()), want, "the remote listing is the local tree")

p = rclone("rmdir", R, fails=True)
t.ok(p.returncode != 0, "rclone rmdir of the non-empty bucket fails")
p = rclone("deletefile", R + "/single/one.bin")
t.is_(p.returncode, 0, "rclone deletefile")
p = rclone("lsf", R + "/single")
t.is_(p.stdout, "", "the file is gone")
p = rclone("purge", R + "/tree")
t.is_(p.returncode, 0, "rclone purge of the tree")
p = rclone("rmdir", R)
t.is_(p.returncode, 0, "rclone rmdir of the empty bucket")
p = rclone("lsd", "x:")
t.unlike(p.stdout, r"\b%s\b" % B, "the bucket is gone")

t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
used, reserved, orphans = env.quota_row()
t.is_((used, orphans, env.locations_bytes(), env.backend_file_bytes()), (0, 0, 0, 0),
      "every byte released, no object file left")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.done()
