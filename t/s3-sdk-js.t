#!/usr/bin/python3
# s3-sdk-js.t: the AWS SDK for JavaScript v3 (@aws-sdk/client-s3 and @aws-sdk/lib-storage,
# pinned in t/node/package.json, installed by ./bootstrap check) against the front end with
# its default settings: PutObject with the default CRC32 checksums (header, and an aws-chunked
# trailer for a stream), GetObject/HeadObject with ChecksumMode ENABLED, a 20 MiB multipart
# upload through lib-storage's Upload (partSize 5 MiB, queueSize 4), the ListObjectsV2
# paginator, DeleteObjects, PutObject with IfNoneMatch "*" and IfMatch.  The checks run in
# t/node/sdk-suite.mjs, which prints one JSON result a line; this file turns them into TAP
# and ends with the catalogue's accounting.
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, run, SRCDIR  # noqa: E402
from s3mux_s3 import S3Env, ACCESS_KEY, SECRET_KEY  # noqa: E402

t = TAP()
NODE = shutil.which("node")
NODE_DIR = os.path.join(SRCDIR, "t", "node")
if NODE is None:
    t.skip_all("node is not installed")
for pkg in ("client-s3", "lib-storage"):
    if not os.path.isfile(os.path.join(NODE_DIR, "node_modules", "@aws-sdk", pkg, "package.json")):
        t.skip_all("@aws-sdk/%s is not installed (npm ci --prefix t/node)" % pkg)

started_file = time.monotonic()
env = S3Env(t)
s3 = env.client()
B = "sdk-js"
s3.create_bucket(Bucket=B)
senv = dict(os.environ)
for k in list(senv):
    if k.startswith("AWS_") or k.lower().endswith("_proxy"):
        del senv[k]
senv.update(S3_ENDPOINT=env.endpoint, S3_BUCKET=B, S3_ACCESS_KEY=ACCESS_KEY,
            S3_SECRET_KEY=SECRET_KEY, AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE=os.path.join(env.dir, "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=os.path.join(env.dir, "no-aws-credentials"),
            NO_PROXY="*")
t0 = time.monotonic()
p = run([NODE, os.path.join(NODE_DIR, "sdk-suite.mjs")], timeout=300, env=senv)
t.diag("node sdk-suite.mjs: exit %d in %.1fs" % (p.returncode, time.monotonic() - t0))
done = False
for line in p.stdout.splitlines():
    try:
        obj = json.loads(line)
    except ValueError:
        t.diag("node: " + line)
        continue
    if obj.get("done"):
        done = True
    elif "note" in obj:
        t.diag(obj["note"])
    else:
        if not t.ok(obj.get("ok"), obj.get("name", "?")) and obj.get("diag"):
            t.diag(obj["diag"])
t.ok(done and p.returncode == 0, "sdk-suite.mjs ran to its end")
if p.stderr.strip():
    t.diag("node stderr:\n" + p.stderr[-3000:])

t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
t.is_(s3.list_multipart_uploads(Bucket=B).get("Uploads", []), [], "no multipart upload left open")
used, reserved, orphans = env.quota_row()
t.is_((used, env.locations_bytes()), (env.backend_file_bytes(), env.backend_file_bytes()),
      "bytes_used = SUM(stored_size) = the bytes on disk-a")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.diag("s3-sdk-js.t: %.1fs" % (time.monotonic() - started_file))
t.done()
