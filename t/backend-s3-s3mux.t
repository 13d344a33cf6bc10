#!/usr/bin/python3
# backend-s3-s3mux.t: the s3 backend driver against s3muxd itself, a server that checks SigV4
# signatures (s3rver does not) and never lets an incomplete PUT replace an object (as S3).
# An "upstream" s3muxd (fs backend) serves the bucket; a "front" s3muxd whose only backend is
# driver s3 pointed at it serves boto3.  Checked: signed requests are accepted (objects, ranges,
# keys that need encoding or keep "//" and "." segments); a client that goes away mid-body and
# a body refused at its end (BadDigest) both leave the previous version intact upstream; a
# wrong secret fails every PUT with the upstream's SignatureDoesNotMatch, logged once.
import base64
import hashlib
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, Daemon, PgCluster, tempdir, wait_until, write_config  # noqa: E402
from s3mux_s3 import (ACCESS_KEY, SECRET_KEY, PatternReader, error_code, http_status,  # noqa: E402
                      stream_sha256)

t = TAP()
try:
    import boto3  # noqa: F401
    from botocore.config import Config
except ImportError:
    t.skip_all("boto3 is not installed (apt-get install python3-boto3)")

UPSTREAM = "upstream"
PREFIX = "s3mux/"
B = "data"
MiB = 1024 * 1024

pg = PgCluster()
pg.psql("CREATE DATABASE upstream", db="postgres")


class _Db:
    url = pg.url.replace("dbname=%s" % pg.dbname, "dbname=upstream")


def start_daemon(cfg, role):
    daemon = Daemon(cfg).start()
    ok = wait_until(lambda: len([c for _, c in daemon.children()
                                 if c.startswith("s3muxd: frontend")]) == 2, 30)
    if not ok:
        raise RuntimeError("%s: front ends did not start:\n%s" % (role, daemon.log()[-3000:]))
    return daemon


def client(port):
    conf = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                  retries={"total_max_attempts": 1}, connect_timeout=10,
                  read_timeout=120)
    return boto3.session.Session().client(
        "s3", endpoint_url="http://127.0.0.1:%d" % port, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1", config=conf)


# --- the upstream: s3muxd with an fs backend ------------------------------------------------
dup = tempdir()
up_cfg = write_config(dup, _Db)
up_port = write_config.ports[0]
up_daemon = start_daemon(up_cfg, "upstream")
up = client(up_port)
up.create_bucket(Bucket=UPSTREAM)

# --- the front: s3muxd whose only backend is driver s3 pointed at the upstream ---------------
dfront = tempdir()
secret = os.path.join(dfront, "upstream.secret")


def write_front(secret_text):
    with open(secret, "w") as f:
        f.write(secret_text + "\n")
    os.chmod(secret, 0o600)
    backends = ("backends:\n  - name: up\n    driver: s3\n    endpoint: http://127.0.0.1:%d/\n"
                "    region: us-east-1\n    bucket: %s\n    prefix: \"%s\"\n"
                "    path_style: true\n    access_key: %s\n    secret_key_file: %s\n"
                "    quota: 10GiB\n    timeout: 10s\n"
                % (up_port, UPSTREAM, PREFIX, ACCESS_KEY, secret))
    return write_config(dfront, pg, backends=backends, s3_port=front_port, admin_port=admin_port)


front_port = admin_port = None
front_cfg = write_front(SECRET_KEY)
front_port, admin_port = write_config.ports
front = start_daemon(front_cfg, "front")
s3 = client(front_port)
s3.create_bucket(Bucket=B)


def upstream_sha(key):
    try:
        return stream_sha256(up.get_object(Bucket=UPSTREAM, Key=PREFIX + B + "/" + key)["Body"])
    except Exception as e:
        return error_code(e), None


def fails(fn):
    try:
        fn()
    except Exception as e:
        return error_code(e), http_status(e)
    return None


def pending():
    return int(pg.scalar("SELECT count(*) FROM pending_objects WHERE kind = 'put'"))


# --- signed requests are accepted -----------------------------------------------------------
for size in (0, 1, MiB + 1, 20 * MiB):
    key = "size-%d" % size
    src = PatternReader(size, seed=b"chain-%d" % size)
    want = (src.sha256(), size)
    try:
        s3.put_object(Bucket=B, Key=key, Body=src)
    except Exception as e:
        t.ok(False, "PUT %d B: %s" % (size, e))
        t.diag(front.log()[-3000:])
        continue
    t.is_(stream_sha256(s3.get_object(Bucket=B, Key=key)["Body"]), want,
          "%d B: GET through both is byte-identical" % size)
    t.is_(upstream_sha(key), want, "%d B: the upstream holds the same bytes" % size)

whole = PatternReader(MiB + 1, seed=b"chain-%d" % (MiB + 1)).read()
g = s3.get_object(Bucket=B, Key="size-%d" % (MiB + 1), Range="bytes=1000-299999")
t.is_(g["Body"].read(), whole[1000:300000], "a ranged GET (a signed Range request upstream)")

for key in ("with spaces & plus+equals=?.txt", "unicode/ünïcödé/ключ", "percent%41kept",
            "a//double/slash", "dot/./segment", "up/../level", "star*paren()'quote'~tilde"):
    body = ("body of %s\n" % key).encode()
    err = fails(lambda: s3.put_object(Bucket=B, Key=key, Body=body))
    if not t.is_(err, None, "key %r: PUT accepted upstream (signature and path agree)" % key):
        continue
    t.is_(s3.get_object(Bucket=B, Key=key)["Body"].read(), body, "key %r: GET" % key)
    t.is_(upstream_sha(key)[1], len(body), "key %r: upstream has it under the same key" % key)


# --- an incomplete PUT never replaces the previous version ----------------------------------
def cut_put(key, declared, send):
    """PUT key on the front with Content-Length declared, send `send` bytes, vanish."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    path = "/%s/%s" % (B, key)
    host = "127.0.0.1:%d" % front_port
    req = AWSRequest(method="PUT", url="http://%s%s" % (host, path),
                     headers={"Content-Length": str(declared),
                              "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
    head = "PUT %s HTTP/1.1\r\nHost: %s\r\n" % (path, host)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in req.headers.items()) + "\r\n"
    sock = socket.create_connection(("127.0.0.1", front_port), timeout=30)
    sock.sendall(head.encode())
    left = send
    while left > 0:
        n = min(left, 65536)
        sock.sendall(b"\x5a" * n)
        left -= n
    time.sleep(1.0)
    sock.close()


v1 = PatternReader(3 * MiB, seed=b"keep-v1").read()
s3.put_object(Bucket=B, Key="keep", Body=v1)
cut_put("keep", 8 * MiB, 6 * MiB)
t.ok(wait_until(lambda: pending() == 0, 15), "client gone mid-body: the intent is dropped")
t.is_(upstream_sha("keep"), (hashlib.sha256(v1).hexdigest(), len(v1)),
      "client gone mid-body: the previous version is intact upstream")
t.is_(s3.get_object(Bucket=B, Key="keep")["Body"].read() == v1, True,
      "client gone mid-body: GET gives the previous version")

old = b"the version that must stay"
s3.put_object(Bucket=B, Key="digest", Body=old)
for size in (1, 100 * 1024, 3 * MiB):
    new = PatternReader(size, seed=b"digest-%d" % size).read()
    wrong = base64.b64encode(hashlib.md5(b"not the body").digest()).decode()
    t.is_(fails(lambda: s3.put_object(Bucket=B, Key="digest", Body=new, ContentMD5=wrong)),
          ("BadDigest", 400), "%d B body refused at its end: BadDigest" % size)
    t.is_(upstream_sha("digest"), (hashlib.sha256(old).hexdigest(), len(old)),
          "%d B body refused at its end: the previous version is intact upstream" % size)
t.is_(s3.get_object(Bucket=B, Key="digest")["Body"].read(), old,
      "refused bodies: GET gives the previous version")
t.ok(wait_until(lambda: pending() == 0, 15), "refused bodies: no intent is left")
t.unlike(front.log(), r"(?i)authorization|credential=|signature=|%s" % SECRET_KEY,
         "no credentials in the front's log")
t.is_(front.stop(60), 0, "the front stops cleanly")

# --- a wrong secret: the upstream refuses the signature -------------------------------------
write_front("not-the-secret")
front = start_daemon(front_cfg, "front with a wrong secret")
s3 = client(front_port)
t.is_(fails(lambda: s3.put_object(Bucket=B, Key="refused", Body=b"never stored")),
      ("ServiceUnavailable", 503),
      "a wrong secret upstream: the PUT fails with a retryable 503")
t.ok(front.wait_log(r"backend up: PUT s3mux/data/refused: HTTP 403 SignatureDoesNotMatch", 10),
     "a wrong secret: logged with the upstream's status and S3 error code")
t.is_(upstream_sha("refused")[0], "NoSuchKey", "a wrong secret: nothing stored upstream")
t.unlike(front.log(), r"(?i)authorization|credential=|signature=|not-the-secret",
         "no credentials in the front's log")
t.is_(front.stop(60), 0, "the front stops cleanly")

for name, daemon in (("front", front), ("upstream", up_daemon)):
    if name == "upstream":
        t.is_(daemon.stop(60), 0, "the upstream stops cleanly")
    bad = [ln for ln in daemon.log().splitlines()
           if "AddressSanitizer" in ln or "LeakSanitizer" in ln or "runtime error:" in ln]
    if not t.is_(bad, [], "%s: no sanitizer report in the log" % name):
        t.diag(daemon.log()[-6000:])
t.done()
