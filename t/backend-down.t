#!/usr/bin/python3
# backend-down.t: an S3 backend (s3rver) goes away.  Reads of objects with a copy on another
# backend still succeed; after a few failures the backend's circuit breaker opens and writes
# go to the other backend; the breaker shows in `s3muxctl backends`; when s3rver is back, a
# probe closes the breaker and writes return to it.
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

t = TAP()
why = S3rver.available()
if why:
    t.skip_all(why)
up = S3rver("upstream")
up.start()
pg = PgCluster()
d = tempdir()
disk = os.path.join(d, "disk-a")
os.makedirs(disk)
secret = os.path.join(d, "up.secret")
with open(secret, "w") as f:
    f.write(S3rver.SECRET_KEY)
os.chmod(secret, 0o600)
backends = ("backends:\n"
            "  - name: up\n    driver: s3\n    endpoint: %s\n    bucket: upstream\n"
            "    prefix: s3mux/\n    access_key: %s\n    secret_key_file: %s\n"
            "    timeout: 5s\n"
            "  - name: disk-a\n    driver: fs\n    path: %s\n"
            % (up.endpoint, S3rver.ACCESS_KEY, secret, disk))
cfg = write_config(d, pg, backends=backends, body="placement: pack\n")
port, admin = write_config.ports
with open(cfg) as f:
    text = f.read().replace("frontend:\n  workers: 2\n", "frontend:\n  workers: 1\n")
with open(cfg, "w") as f:
    f.write(text)
daemon = Daemon(cfg).start()
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port, aws_access_key_id="demo",
                  aws_secret_access_key="demo-secret-key", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                read_timeout=60))


def where(key):
    return sorted(r[0] for r in pg.psql("SELECT backend FROM object_locations WHERE key = '%s'"
                                         % key))


def put(key, body):
    try:
        s3.put_object(Bucket="outage", Key=key, Body=body)
        return "OK"
    except ClientError as e:
        return e.response["Error"]["Code"]


def ctl_backends():
    return run([S3MUXCTL, "-c", cfg, "backends"]).stdout


s3.create_bucket(Bucket="outage")
body = os.urandom(200 * 1024)
t.is_(put("both", body), "OK", "an object written to s3rver (pack: the first backend)")
t.is_(where("both"), ["up"], "it is on s3rver")
# a second copy on disk-a, placed as the replicator would
upc = boto3.client("s3", endpoint_url=up.endpoint, aws_access_key_id=S3rver.ACCESS_KEY,
                   aws_secret_access_key=S3rver.SECRET_KEY, region_name="us-east-1")
dst = fs_path(disk, "outage", "both")
os.makedirs(os.path.dirname(dst), exist_ok=True)
with open(dst, "wb") as f:
    f.write(upc.get_object(Bucket="upstream", Key="s3mux/outage/both")["Body"].read())
pg.psql("INSERT INTO object_locations (bucket, key, backend, version, stored_size) "
        "SELECT bucket, key, 'disk-a', version, size FROM objects WHERE key = 'both'; "
        "UPDATE backend_quotas SET bytes_used = bytes_used + %d WHERE backend = 'disk-a'"
        % len(body))
t.like(ctl_backends(), r"(?m)^up\s+s3 .* closed", "s3muxctl backends: up's breaker is closed")

up.stop()
start = time.monotonic()
t.is_(s3.get_object(Bucket="outage", Key="both")["Body"].read(), body,
      "with s3rver down, the object is read from its other copy")
t.ok(time.monotonic() - start < 30, "in bounded time (%.1fs)" % (time.monotonic() - start))
outcomes = [put("during-%d" % i, b"x" * 1000) for i in range(6)]
t.ok(outcomes[-1] == "OK", "writes succeed again once the breaker opens: %s" % outcomes)
t.is_(where("during-5"), ["disk-a"], "and they go to disk-a")
t.like(ctl_backends(), r"(?m)^up\s+s3 .* (open|half-open)",
       "s3muxctl backends shows up's breaker open")
t.ok(daemon.wait_log(r"backend up: circuit breaker open", 5), "the log says so")

up.start()
time.sleep(6)  # past the breaker's open period: the next request is the probe
ok = wait_until(lambda: put("after", b"y" * 1000) == "OK" and where("after") == ["up"], 20, 1)
t.ok(ok, "after s3rver is back, a write probes it and lands there again")
t.like(ctl_backends(), r"(?m)^up\s+s3 .* closed", "the breaker is closed again")
t.ok(daemon.wait_log(r"backend up: circuit breaker closed", 5), "the log says so")
t.is_(pg.scalar("SELECT count(*) FROM pending_objects"), "0", "no intent is left behind")
t.is_(daemon.stop(), 0, "s3muxd stops cleanly")
t.unlike(daemon.log(), r"AddressSanitizer|runtime error:", "no sanitizer reports")
t.done()
