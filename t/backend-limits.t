#!/usr/bin/python3
# backend-limits.t: monthly usage limits per backend.  Reads of a backend past its egress
# limit fail over to another copy, and get 429 SlowDown only when every copy's backend is
# over; writes overflow to a backend under its ingress limit; deletes are never refused; the
# counts survive a graceful restart of s3muxd.
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import *  # noqa: E402,F403
from s3mux_fs import fs_path  # noqa: E402
import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

KIB = 1024
t = TAP()
pg = PgCluster()
d = tempdir()
disks = {n: os.path.join(d, n) for n in ("disk-a", "disk-b")}
for p in disks.values():
    os.makedirs(p)
backends = ("backends:\n"
            "  - name: disk-a\n    driver: fs\n    path: %s\n"
            "    limits: { egress_per_month: 1MiB, ingress_per_month: 2MiB }\n"
            "  - name: disk-b\n    driver: fs\n    path: %s\n" % (disks["disk-a"], disks["disk-b"]))
# no role touches the backends here, so every request counted is the front end's
roles = "roles:\n" + "".join("  %s: { enabled: false }\n" % r
                              for r in ("cleanup", "reaper", "replicator"))
cfg = write_config(d, pg, backends=backends, body="placement: pack\n" + roles)
port = write_config.ports[0]
daemon = Daemon(cfg).start()
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port, aws_access_key_id="demo",
                  aws_secret_access_key="demo-secret-key", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def status_of(fn):
    try:
        fn()
        return 200
    except ClientError as e:
        return (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])


def usage(backend):
    row = pg.psql("SELECT requests, egress_bytes, ingress_bytes FROM backend_usage "
                  "WHERE backend = '%s'" % backend)
    return [int(x) for x in row[0]] if row else [0, 0, 0]


def where(key):
    return sorted(r[0] for r in pg.psql("SELECT backend FROM object_locations WHERE key = '%s'"
                                         % key))


s3.create_bucket(Bucket="limits")
one = os.urandom(400 * KIB)
s3.put_object(Bucket="limits", Key="one-copy", Body=one)
s3.put_object(Bucket="limits", Key="two-copies", Body=one)
t.is_(where("one-copy"), ["disk-a"], "pack placed the objects on disk-a")

# A second copy of two-copies on disk-b, placed by hand as the replicator would.
dst = fs_path(disks["disk-b"], "limits", "two-copies")
os.makedirs(os.path.dirname(dst), exist_ok=True)
shutil.copyfile(fs_path(disks["disk-a"], "limits", "two-copies"), dst)
pg.psql("INSERT INTO object_locations (bucket, key, backend, version, stored_size) "
        "SELECT bucket, key, 'disk-b', version, size FROM objects WHERE key = 'two-copies'; "
        "UPDATE backend_quotas SET bytes_used = bytes_used + %d WHERE backend = 'disk-b'"
        % len(one))

for i in range(3):
    s3.get_object(Bucket="limits", Key="one-copy")["Body"].read()
t.ok(wait_until(lambda: usage("disk-a")[1] >= 3 * len(one), 10),
     "egress counted and flushed to backend_usage (%d bytes)" % usage("disk-a")[1])
time.sleep(2.5)  # every front end has flushed and learned the month's totals

t.is_(status_of(lambda: s3.get_object(Bucket="limits", Key="one-copy")), (429, "SlowDown"),
      "the only copy's backend is over its egress limit: 429 SlowDown")
got = s3.get_object(Bucket="limits", Key="two-copies")["Body"].read()
t.is_(got, one, "an object with a copy on another backend is read from there")
t.ok(wait_until(lambda: usage("disk-b")[1] >= len(one), 10), "the read was counted on disk-b")
t.is_(status_of(lambda: s3.delete_object(Bucket="limits", Key="one-copy")), 200,
      "a delete is not refused for limits")
t.is_(where("one-copy"), [], "and it removed the object")

# Writes: disk-a has 2 MiB of ingress a month and has taken 800 KiB.
for i in range(4):
    s3.put_object(Bucket="limits", Key="w%d" % i, Body=os.urandom(400 * KIB))
time.sleep(2.5)
s3.put_object(Bucket="limits", Key="after", Body=b"x" * 1000)
t.is_(where("after"), ["disk-b"], "writes overflow to disk-b once disk-a is over its "
      "ingress limit")

before = usage("disk-b")
s3.get_object(Bucket="limits", Key="two-copies")["Body"].read()
daemon.stop()  # at once: the read's counts are not flushed yet
after_stop = usage("disk-b")
t.is_(after_stop[1], before[1] + len(one),
      "a read counted just before a graceful stop is saved by the stop")
after_stop = usage("disk-a")
daemon = Daemon(cfg).start()
time.sleep(2.5)
t.is_(usage("disk-a"), after_stop, "a restart adds nothing and loses nothing")
t.is_(status_of(lambda: s3.get_object(Bucket="limits", Key="w0")), (429, "SlowDown"),
      "after the restart disk-a is still over its limit")
t.is_(daemon.stop(), 0, "s3muxd stops cleanly")
t.unlike(daemon.log(), r"AddressSanitizer|runtime error:", "no sanitizer reports")
t.done()
