#!/usr/bin/python3
# catalogue-outage.t: with PostgreSQL stopped, GET and HEAD of existing objects are served by
# asking the backends, PUT and DELETE get 503 and change nothing; once PostgreSQL is back,
# service resumes without restarting s3muxd.
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import *  # noqa: E402,F403
import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

t = TAP()
pg = PgCluster()
d = tempdir()
cfg = write_config(d, pg)
port = write_config.ports[0]
with open(cfg) as f:  # a short connect timeout, so the breaker opens quickly
    text = f.read().replace('database:\n  url: "%s"\n' % pg.url,
                            'database:\n  url: "%s"\n  connect_timeout: 2s\n' % pg.url)
with open(cfg, "w") as f:
    f.write(text)
daemon = Daemon(cfg).start()
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port, aws_access_key_id="demo",
                  aws_secret_access_key="demo-secret-key", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                connect_timeout=5, read_timeout=30))


def code_of(fn):
    try:
        fn()
        return "OK"
    except ClientError as e:
        return e.response["Error"]["Code"]


body = os.urandom(3 * 1024 * 1024 + 17)
s3.create_bucket(Bucket="outage")
s3.put_object(Bucket="outage", Key="dir/kept.bin", Body=body, ContentType="text/x")
s3.put_object(Bucket="outage", Key="other", Body=b"other")

pg.stop()
t.ok(True, "PostgreSQL stopped")

got = s3.get_object(Bucket="outage", Key="dir/kept.bin")
t.is_(hashlib.sha256(got["Body"].read()).hexdigest(), hashlib.sha256(body).hexdigest(),
      "GET of an existing object is served from the backend")
t.is_(got["ResponseMetadata"]["HTTPHeaders"].get("x-s3mux-catalogue"), "unavailable",
      "the answer says the catalogue was not asked")
head = s3.head_object(Bucket="outage", Key="dir/kept.bin")
t.is_(head["ContentLength"], len(body), "HEAD gives the size from the backend")
part = s3.get_object(Bucket="outage", Key="dir/kept.bin", Range="bytes=10-19")["Body"].read()
t.is_(part, body[10:20], "a range GET works too")
t.is_(code_of(lambda: s3.get_object(Bucket="outage", Key="missing")), "NoSuchKey",
      "a key no backend has: NoSuchKey")

start = time.monotonic()
t.is_(code_of(lambda: s3.put_object(Bucket="outage", Key="new", Body=b"x")),
      "ServiceUnavailable", "PUT: 503 ServiceUnavailable")
t.is_(code_of(lambda: s3.delete_object(Bucket="outage", Key="other")), "ServiceUnavailable",
      "DELETE: 503 ServiceUnavailable")
t.is_(code_of(lambda: s3.create_multipart_upload(Bucket="outage", Key="mp")),
      "ServiceUnavailable", "CreateMultipartUpload: 503 ServiceUnavailable")
t.ok(time.monotonic() - start < 30, "writes fail in bounded time (%.1fs)" %
     (time.monotonic() - start))
t.ok(daemon.wait_log(r"circuit breaker open", 15), "the database breaker opened")

pg.start()
ok = wait_until(lambda: code_of(lambda: s3.put_object(Bucket="outage", Key="new",
                                                      Body=b"after")) == "OK", 30, 0.5)
t.ok(ok, "after PostgreSQL is back, PUT works again without restarting s3muxd")
t.is_(s3.get_object(Bucket="outage", Key="other")["Body"].read(), b"other",
      "the object whose DELETE was refused is still there")
t.is_(pg.scalar("SELECT count(*) FROM objects WHERE key = 'new'"), "1",
      "the catalogue has exactly what was acknowledged")
t.is_(pg.scalar("SELECT count(*) FROM pending_objects"), "0", "no intent is left behind")
t.is_(daemon.stop(), 0, "s3muxd stops cleanly")
t.unlike(daemon.log(), r"AddressSanitizer|runtime error:", "no sanitizer reports")
t.done()
