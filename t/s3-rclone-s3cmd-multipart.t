#!/usr/bin/python3
# s3-rclone-s3cmd-multipart.t: multipart uploads by rclone and s3cmd.
#   - rclone copy of a tree holding a 50 MiB and a 9 MiB file (multipart above
#     --s3-upload-cutoff 8M, in --s3-chunk-size 5M parts) and small files; rclone check
#     (sizes and MD5s, rclone's own metadata for the multipart objects); the ETags checked
#     against the part MD5s; rclone copy back down, compared with diff -r;
#   - s3cmd put --multipart-chunk-size-mb=5 of a 30 MiB file (6 parts), s3cmd get back
#     (s3cmd checks the MD5 it stored), s3cmd ls / info / del.
# Each tool gets a private configuration; nothing in the user's home is read.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, run, wait_until  # noqa: E402
from s3mux_s3 import S3Env, PatternReader, file_sha256, tool, ACCESS_KEY, SECRET_KEY  # noqa: E402
from s3api import MiB, count_files, file_part_md5s, md5_hex, mpu_etag, quoted, write_pattern  # noqa: E402

t = TAP()
RCLONE, S3CMD = tool("rclone"), tool("s3cmd")
if RCLONE is None and S3CMD is None:
    t.skip_all("neither rclone nor s3cmd is installed")

started_file = time.monotonic()
env = S3Env(t)
s3 = env.client()
PARTS_DIR = os.path.join(env.dir, "disk-a", ".s3mux-parts")
work = os.path.join(env.dir, "work")
os.makedirs(work)


def clean_env(extra):
    e = {k: v for k, v in os.environ.items()
         if not (k.startswith("AWS_") or k.startswith("RCLONE_") or k.lower().endswith("_proxy"))}
    e.update(HOME=work, NO_PROXY="*")
    e.update(extra)
    return e


def open_uploads(bucket):
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


# --- rclone ------------------------------------------------------------------------------
if RCLONE is None:
    t.diag("rclone is not installed: its part is skipped")
else:
    RB = "rclone-mpu"
    rc_conf = os.path.join(work, "rclone.conf")
    open(rc_conf, "w").close()
    renv = clean_env({
        "RCLONE_CONFIG": rc_conf,
        "RCLONE_CONFIG_S3MUX_TYPE": "s3", "RCLONE_CONFIG_S3MUX_PROVIDER": "Other",
        "RCLONE_CONFIG_S3MUX_ACCESS_KEY_ID": ACCESS_KEY,
        "RCLONE_CONFIG_S3MUX_SECRET_ACCESS_KEY": SECRET_KEY,
        "RCLONE_CONFIG_S3MUX_ENDPOINT": env.endpoint, "RCLONE_CONFIG_S3MUX_REGION": "us-east-1",
    })
    FLAGS = ["--s3-upload-cutoff", "8M", "--s3-chunk-size", "5M", "--retries", "1",
             "--low-level-retries", "1", "--contimeout", "10s", "--timeout", "60s"]

    def rclone(*args, timeout=300):
        p = run([RCLONE] + list(args) + FLAGS, env=renv, timeout=timeout)
        if p.returncode != 0:
            t.diag("rclone %s: exit %d\n%s" % (" ".join(args[:2]), p.returncode, p.stderr[-2000:]))
        return p

    src = os.path.join(work, "rclone-src")
    files = {"big/fifty.bin": 50 * MiB, "mid/nine.bin": 9 * MiB + 1, "small/a.txt": 100,
             "small/b.txt": 0, "small/deep/c.bin": 70000, "top.txt": 12,
             "exactly-8M.bin": 8 * MiB}
    for rel, size in files.items():
        path = os.path.join(src, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_pattern(path, PatternReader(size, rel.encode()))
    p = rclone("mkdir", "s3mux:" + RB)
    t.is_(p.returncode, 0, "rclone mkdir (CreateBucket)")
    t0 = time.monotonic()
    p = rclone("copy", src, "s3mux:%s/tree" % RB)
    t.is_(p.returncode, 0, "rclone copy of a tree with a 50 MiB file (%.1fs)" % (time.monotonic() - t0))
    h = s3.head_object(Bucket=RB, Key="tree/big/fifty.bin")
    t.is_((h["ContentLength"], h["ETag"]),
          (50 * MiB, mpu_etag(file_part_md5s(os.path.join(src, "big/fifty.bin"), 5 * MiB))),
          "the 50 MiB file: 10 parts of 5 MiB (the ETag of the part MD5s + \"-10\")")
    t.ok(h["Metadata"].get("md5chksum"), "... with rclone's md5chksum metadata")
    h = s3.head_object(Bucket=RB, Key="tree/mid/nine.bin")
    t.is_(h["ETag"], mpu_etag(file_part_md5s(os.path.join(src, "mid/nine.bin"), 5 * MiB)),
          "the 9 MiB file: 2 parts (5 MiB + the rest)")
    with open(os.path.join(src, "top.txt"), "rb") as f:
        t.is_(s3.head_object(Bucket=RB, Key="tree/top.txt")["ETag"], quoted(md5_hex(f.read())),
              "a small file: a single PUT")
    p = rclone("check", src, "s3mux:%s/tree" % RB)
    t.is_(p.returncode, 0, "rclone check: sizes and hashes match")
    if p.returncode == 0:
        t.like(p.stderr, r"0 differences found", "rclone check: 0 differences found")
    else:
        t.ok(False, "rclone check: 0 differences found")
    dst = os.path.join(work, "rclone-dst")
    t0 = time.monotonic()
    p = rclone("copy", "s3mux:%s/tree" % RB, dst)
    t.is_(p.returncode, 0, "rclone copy back down (%.1fs)" % (time.monotonic() - t0))
    p = run(["diff", "-r", src, dst], timeout=120)
    t.is_((p.returncode, p.stdout[:1000]), (0, ""), "diff -r: identical trees")
    p = rclone("copy", "-v", src, "s3mux:%s/tree" % RB)
    t.ok(p.returncode == 0 and "Copied" not in p.stderr, "a second rclone copy copies nothing")
    t.is_(open_uploads(RB), [], "no upload left open by rclone")

# --- s3cmd -------------------------------------------------------------------------------
if S3CMD is None:
    t.diag("s3cmd is not installed: its part is skipped")
else:
    SB = "s3cmd-mpu"
    cfg = os.path.join(work, "s3cfg")
    with open(cfg, "w") as f:
        f.write("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\n"
                "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
                "check_ssl_certificate = False\nsocket_timeout = 60\n"
                % (ACCESS_KEY, SECRET_KEY, env.host, env.host))
    senv = clean_env({})

    def s3cmd(*args, timeout=300):
        p = run([S3CMD, "-c", cfg, "--no-progress"] + list(args), env=senv, timeout=timeout)
        if p.returncode != 0:
            t.diag("s3cmd %s: exit %d\n%s%s" % (" ".join(args[:2]), p.returncode,
                                                p.stdout[-1000:], p.stderr[-2000:]))
        return p

    p = s3cmd("mb", "s3://" + SB)
    t.is_(p.returncode, 0, "s3cmd mb")
    big = os.path.join(work, "thirty.bin")
    write_pattern(big, PatternReader(30 * MiB, b"s3cmd thirty"))
    t0 = time.monotonic()
    p = s3cmd("put", "--multipart-chunk-size-mb=5", big, "s3://%s/s3cmd/thirty.bin" % SB)
    t.is_(p.returncode, 0, "s3cmd put --multipart-chunk-size-mb=5 of 30 MiB (%.1fs)" % (time.monotonic() - t0))
    h = s3.head_object(Bucket=SB, Key="s3cmd/thirty.bin")
    t.is_((h["ContentLength"], h["ETag"]), (30 * MiB, mpu_etag(file_part_md5s(big, 5 * MiB))),
          "the object: 30 MiB, the ETag of 6 parts")
    t.like(h["Metadata"].get("s3cmd-attrs", ""), r"md5:%s" % md5_hex(open(big, "rb").read()),
           "... with s3cmd's attributes (its MD5 of the whole file)")
    down = os.path.join(work, "thirty.down")
    p = s3cmd("get", "s3://%s/s3cmd/thirty.bin" % SB, down)
    t.is_(p.returncode, 0, "s3cmd get")
    t.is_(file_sha256(down) if os.path.exists(down) else None, file_sha256(big), "got back identical")
    t.unlike(p.stderr, r"(?i)md5.*(mismatch|differ)", "s3cmd saw no MD5 mismatch")
    p = s3cmd("ls", "s3://%s/s3cmd/" % SB)
    t.like(p.stdout, r"%d +s3://%s/s3cmd/thirty\.bin" % (30 * MiB, SB), "s3cmd ls shows it with its size")
    p = s3cmd("info", "s3://%s/s3cmd/thirty.bin" % SB)
    t.ok(p.returncode == 0 and "31457280" in p.stdout, "s3cmd info")
    p = s3cmd("multipart", "s3://%s" % SB)
    t.ok(p.returncode == 0 and "s3cmd/thirty.bin" not in p.stdout, "s3cmd multipart: no upload left open")
    p = s3cmd("del", "s3://%s/s3cmd/thirty.bin" % SB)
    t.is_(p.returncode, 0, "s3cmd del")
    p = s3cmd("ls", "s3://%s/s3cmd/" % SB)
    t.is_(p.stdout.strip(), "", "... and it is gone")

t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
t.ok(wait_until(lambda: count_files(PARTS_DIR) == 0, 10), "no part file left on disk-a")
used, reserved, orphans = env.quota_row()
t.is_((used, env.locations_bytes()), (env.backend_file_bytes(), env.backend_file_bytes()),
      "bytes_used = SUM(stored_size) = the bytes on disk-a")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.diag("s3-rclone-s3cmd-multipart.t: %.1fs" % (time.monotonic() - started_file))
t.done()
