#!/usr/bin/python3
# s3-s3cmd.t: s3cmd's basic transfer suite against the front end: mb, ls, put (small, 20 MiB
# with --disable-multipart, with headers and metadata), info, get, sync of a small tree up
# and down (diff -r), del, rb (refused while the bucket holds objects).
import hashlib
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, run  # noqa: E402
from s3mux_s3 import S3Env, ACCESS_KEY, SECRET_KEY, tool  # noqa: E402

t = TAP()
S3CMD = tool("s3cmd")
if S3CMD is None:
    t.skip_all("s3cmd is not installed")

env = S3Env(t)
conf = os.path.join(env.dir, "s3cfg")
with open(conf, "w") as f:
    f.write("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\n"
            "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
            "check_ssl_certificate = False\nproxy_host =\nproxy_port = 0\n"
            "progress_meter = False\n" % (ACCESS_KEY, SECRET_KEY, env.host, env.host))
B = "s3cmd-bucket"
URL = "s3://%s" % B
work = os.path.join(env.dir, "work")
os.makedirs(work)


def s3cmd(*args, timeout=300, fails=False):
    p = run([S3CMD, "-c", conf, "--no-preserve", "--disable-multipart"] + list(args),
            timeout=timeout, env=dict(os.environ, HOME=env.dir))
    if p.returncode != 0 and not fails:
        t.diag("s3cmd %s: exit %d\n%s" % (" ".join(args[:3]), p.returncode, p.stderr[-1500:]))
    return p


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


p = s3cmd("mb", URL)
t.ok(p.returncode == 0 and "created" in p.stdout, "s3cmd mb")
p = s3cmd("ls")
t.like(p.stdout, r"(?m)\s%s$" % URL, "s3cmd ls lists the bucket")

small = os.urandom(4321)
big = os.urandom(20 * 1024 * 1024 + 5)
write(os.path.join(work, "small.bin"), small)
write(os.path.join(work, "big.bin"), big)
write(os.path.join(work, "page.html"), b"<html><body>s3mux</body></html>\n")
p = s3cmd("put", os.path.join(work, "small.bin"), URL + "/dir/small.bin")
t.is_(p.returncode, 0, "s3cmd put of a small file")
p = s3cmd("put", os.path.join(work, "big.bin"), URL + "/dir/big.bin")
t.is_(p.returncode, 0, "s3cmd put of 20 MiB with --disable-multipart (one PUT)")
p = s3cmd("put", "--mime-type=text/html", "--add-header=Cache-Control:max-age=60",
          "--add-header=x-amz-meta-colour:green", os.path.join(work, "page.html"),
          URL + "/page.html")
t.is_(p.returncode, 0, "s3cmd put with a MIME type and extra headers")
p = s3cmd("ls", URL + "/dir/")
t.like(p.stdout, r"(?m)\s4321\s+%s/dir/small\.bin$" % URL, "s3cmd ls shows small.bin and its size")
t.like(p.stdout, r"(?m)\s%d\s+%s/dir/big\.bin$" % (len(big), URL), "and big.bin")
p = s3cmd("ls", URL)
t.like(p.stdout, r"(?m)DIR\s+%s/dir/$" % URL, "s3cmd ls of the bucket shows the prefix dir/")
p = s3cmd("info", URL + "/page.html")
t.like(p.stdout, r"MIME type:\s+text/html", "s3cmd info: the MIME type")
t.like(p.stdout, r"MD5 sum:\s+%s" % hashlib.md5(read(os.path.join(work, "page.html"))).hexdigest(),
       "s3cmd info: the MD5 sum")
t.like(p.stdout, r"(?i)x-amz-meta-colour:\s+green", "s3cmd info: the metadata")
for name, data in (("small.bin", small), ("big.bin", big)):
    out = os.path.join(work, "got-" + name)
    p = s3cmd("get", URL + "/dir/" + name, out)
    t.ok(p.returncode == 0 and read(out) == data, "s3cmd get %s: same bytes" % name)
p = s3cmd("get", URL + "/dir/none", os.path.join(work, "none"), fails=True)
t.ok(p.returncode != 0 and re.search(r"404|does not exist", p.stderr),
     "s3cmd get of a missing key: not found")

src = os.path.join(work, "tree")
for i in range(40):
    write(os.path.join(src, "a%d" % (i % 4), "b%d" % (i % 3), "f%02d.txt" % i),
          os.urandom(50 + i * 97))
write(os.path.join(src, "with space.txt"), b"space")
p = s3cmd("sync", src + "/", URL + "/tree/")
t.is_(p.returncode, 0, "s3cmd sync up of 41 files")
dst = os.path.join(work, "tree-down")
os.makedirs(dst)
p = s3cmd("sync", URL + "/tree/", dst + "/")
t.is_(p.returncode, 0, "s3cmd sync down")
p = run(["diff", "-r", src, dst])
t.is_((p.returncode, p.stdout[:500]), (0, ""), "diff -r: the tree came back identical")
os.unlink(os.path.join(src, "a1", "b1", "f01.txt"))
write(os.path.join(src, "a0", "b0", "f00.txt"), b"changed")
p = s3cmd("sync", "--delete-removed", src + "/", URL + "/tree/")
t.is_(p.returncode, 0, "s3cmd sync --delete-removed after a change and a removal")
p = s3cmd("ls", "-r", URL + "/tree/")
keys = sorted(line.split(URL + "/tree/", 1)[1] for line in p.stdout.splitlines() if URL in line)
want = sorted(os.path.relpath(os.path.join(d, f), src) for d, _, fs in os.walk(src) for f in fs)
t.is_(keys, want, "the remote tree matches the local one")
out = os.path.join(work, "f00")
s3cmd("get", URL + "/tree/a0/b0/f00.txt", out)
t.is_(read(out), b"changed", "the changed file was uploaded again")

p = s3cmd("rb", URL, fails=True)
t.ok(p.returncode != 0 and "BucketNotEmpty" in (p.stderr + p.stdout), "s3cmd rb of a non-empty "
     "bucket: BucketNotEmpty")
p = s3cmd("del", URL + "/dir/small.bin")
t.is_(p.returncode, 0, "s3cmd del")
p = s3cmd("ls", URL + "/dir/")
t.unlike(p.stdout, r"small\.bin", "the key is gone")
p = s3cmd("del", "--recursive", "--force", URL)
t.is_(p.returncode, 0, "s3cmd del --recursive")
p = s3cmd("rb", URL)
t.is_(p.returncode, 0, "s3cmd rb of the empty bucket")
p = s3cmd("ls")
t.unlike(p.stdout, r"%s\b" % URL, "s3cmd ls no longer lists it")

t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
used, reserved, orphans = env.quota_row()
t.is_((used, orphans, env.locations_bytes(), env.backend_file_bytes()), (0, 0, 0, 0),
      "every byte released, no object file left")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.done()
