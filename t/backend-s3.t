#!/usr/bin/python3
# backend-s3.t: the s3 backend driver against s3rver, an S3 server s3mux did not write.
# s3muxd's only backend is driver s3 pointed at s3rver (path-style, prefix "s3mux/"); boto3
# drives s3muxd: objects of 0 B to 64 MiB come back byte-identical, also in ranges; the bytes
# are checked on s3rver's side under prefix + "<bucket>/<key>"; awkward keys; overwrite and
# delete reach s3rver; an upload cut mid-body never completes on s3rver; with s3rver stopped
# a PUT fails with a 5xx and a GET fails, both in bounded time; restarted, all works again.
import hashlib
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, Daemon, PgCluster, S3rver, tempdir, wait_until, write_config  # noqa: E402
from s3mux_s3 import (ACCESS_KEY, SECRET_KEY, PatternReader, error_code, http_status,  # noqa: E402
                      stream_sha256)

t = TAP()
try:
    import boto3  # noqa: F401
    from botocore.config import Config
except ImportError:
    t.skip_all("boto3 is not installed (apt-get install python3-boto3)")
why = S3rver.available()
if why:
    t.skip_all(why)

UPSTREAM = "s3mux-backend"      # the bucket on s3rver
PREFIX = "s3mux/"
B = "data"                      # the bucket on s3muxd
MiB = 1024 * 1024

s3rver = S3rver(UPSTREAM).start()
pg = PgCluster()
d = tempdir()
secret = os.path.join(d, "s3rver.secret")
with open(secret, "w") as f:
    f.write(S3rver.SECRET_KEY + "\n")
os.chmod(secret, 0o600)
backends = ("backends:\n  - name: s3-a\n    driver: s3\n    endpoint: %s\n"
            "    region: us-east-1\n    bucket: %s\n    prefix: \"%s\"\n    path_style: true\n"
            "    access_key: %s\n    secret_key_file: %s\n    quota: 10GiB\n    timeout: 10s\n"
            % (s3rver.endpoint, UPSTREAM, PREFIX, S3rver.ACCESS_KEY, secret))
cfg = write_config(d, pg, backends=backends)
port = write_config.ports[0]
daemon = Daemon(cfg).start()
wait_until(lambda: len([c for _, c in daemon.children() if c.startswith("s3muxd: frontend")])
           == 2, 30)


def client(read_timeout=120):
    conf = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                  retries={"total_max_attempts": 1}, connect_timeout=10,
                  read_timeout=read_timeout)
    return boto3.session.Session().client(
        "s3", endpoint_url="http://127.0.0.1:%d" % port, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1", config=conf)


s3 = client()
up = s3rver.client()


def upstream_key(key):
    return PREFIX + B + "/" + key


def upstream_sha(key):
    """(sha256, length) of the object as s3rver holds it, or (error code, None)."""
    try:
        return stream_sha256(up.get_object(Bucket=UPSTREAM, Key=upstream_key(key))["Body"])
    except Exception as e:
        return error_code(e), None


def upstream_head(key):
    try:
        h = up.head_object(Bucket=UPSTREAM, Key=upstream_key(key))
        return h["ContentLength"], h["ETag"].strip('"')
    except Exception as e:
        return error_code(e), None


def fails(fn):
    """The (code, status) of the error fn raises and how long it took; None if none."""
    started = time.monotonic()
    try:
        fn()
    except Exception as e:
        return (error_code(e), http_status(e)), time.monotonic() - started
    return None, time.monotonic() - started


s3.create_bucket(Bucket=B)

# --- sizes: through s3muxd and on s3rver ----------------------------------------------------
for size, label in ((0, "0 B"), (1, "1 B"), (100 * 1024, "100 KiB"), (5 * MiB + 1, "5 MiB + 1"),
                    (64 * MiB, "64 MiB")):
    key = "size-%d" % size
    src = PatternReader(size, seed=b"s3-%d" % size)
    want = src.sha256()
    md5 = hashlib.md5()
    for block in PatternReader(size, seed=b"s3-%d" % size):
        md5.update(block)
    started = time.monotonic()
    try:
        r = s3.put_object(Bucket=B, Key=key, Body=src)
    except Exception as e:
        t.ok(False, "PUT %s: %s" % (label, e))
        t.diag(daemon.log()[-3000:])
        continue
    put_s = time.monotonic() - started
    t.is_(r["ETag"], '"%s"' % md5.hexdigest(), "%s: PUT answers the MD5 ETag" % label)
    started = time.monotonic()
    got = stream_sha256(s3.get_object(Bucket=B, Key=key)["Body"])
    t.is_(got, (want, size), "%s: GET is byte-identical (PUT %.1fs, GET %.1fs)" %
          (label, put_s, time.monotonic() - started))
    t.is_(upstream_sha(key), (want, size), "%s: s3rver holds the same bytes under %s" %
          (label, upstream_key(key)))
    t.is_(s3.head_object(Bucket=B, Key=key)["ContentLength"], size, "%s: HEAD length" % label)

# --- ranges ---------------------------------------------------------------------------------
SIZE = 5 * MiB + 1
whole = PatternReader(SIZE, seed=b"s3-%d" % SIZE).read()
for rng, first, last in (("bytes=0-0", 0, 0), ("bytes=100-199", 100, 199),
                         ("bytes=1048000-1049999", 1048000, 1049999),
                         ("bytes=-10", SIZE - 10, SIZE - 1), ("bytes=%d-" % (5 * MiB), 5 * MiB,
                                                                SIZE - 1),
                         ("bytes=0-%d" % (SIZE + 100), 0, SIZE - 1)):
    g = s3.get_object(Bucket=B, Key="size-%d" % SIZE, Range=rng)
    body = g["Body"].read()
    t.ok(body == whole[first:last + 1] and g["ContentRange"] == "bytes %d-%d/%d" % (first, last,
                                                                                   SIZE),
         "ranged GET %s: %d bytes, Content-Range %s" % (rng, len(body), g.get("ContentRange")))

# --- a slow reader (the driver pauses the backend transfer), many at once --------------------
body = s3.get_object(Bucket=B, Key="size-%d" % (64 * MiB))["Body"]
h = hashlib.sha256()
n = 0
started = time.monotonic()
while n < 8 * MiB:                      # the first 8 MiB slowly, then the rest at full speed
    chunk = body.read(64 * 1024)
    if not chunk:
        break
    h.update(chunk)
    n += len(chunk)
    time.sleep(0.004)
for chunk in body.iter_chunks(MiB):
    h.update(chunk)
    n += len(chunk)
t.is_((h.hexdigest(), n), (PatternReader(64 * MiB, seed=b"s3-%d" % (64 * MiB)).sha256(), 64 * MiB),
      "a reader slow for its first 8 MiB gets all 64 MiB right (%.1fs)" %
      (time.monotonic() - started))

def roundtrip(i):
    c = client()
    data = PatternReader(700 * 1024 + i, seed=b"par-%d" % i).read()
    c.put_object(Bucket=B, Key="par/%d" % i, Body=data)
    return c.get_object(Bucket=B, Key="par/%d" % i)["Body"].read() == data


from concurrent.futures import ThreadPoolExecutor  # noqa: E402
with ThreadPoolExecutor(8) as pool:
    results = list(pool.map(roundtrip, range(16)))
t.is_(results, [True] * 16, "16 PUT+GET round trips, 8 at a time, through the one backend")

# --- awkward keys ---------------------------------------------------------------------------
for key in ("dir/sub/with spaces & plus+equals=.txt", "unicode/ünïcödé/ключ", "percent%2Fkept",
            "tilde~and*star(paren)'quote'"):
    body = ("body of %s\n" % key).encode()
    s3.put_object(Bucket=B, Key=key, Body=body)
    t.is_(s3.get_object(Bucket=B, Key=key)["Body"].read(), body, "key %r round-trips" % key)
    t.is_(upstream_sha(key), (hashlib.sha256(body).hexdigest(), len(body)),
          "key %r: s3rver holds it under the prefixed key" % key)

# --- overwrite, delete ----------------------------------------------------------------------
s3.put_object(Bucket=B, Key="over", Body=b"version one")
s3.put_object(Bucket=B, Key="over", Body=b"version two, longer")
t.is_(s3.get_object(Bucket=B, Key="over")["Body"].read(), b"version two, longer",
      "an overwrite: GET gives the new bytes")
t.is_(upstream_sha("over")[1], len(b"version two, longer"), "an overwrite: s3rver has them")
t.is_(s3.delete_object(Bucket=B, Key="over")["ResponseMetadata"]["HTTPStatusCode"], 204,
      "DELETE: 204")
t.is_(fails(lambda: s3.get_object(Bucket=B, Key="over"))[0], ("NoSuchKey", 404),
      "DELETE: then GET says NoSuchKey")
t.ok(wait_until(lambda: upstream_head("over")[0] in ("404", "NoSuchKey"), 15),
     "DELETE: the object is gone from s3rver")


# --- an upload cut mid-body -----------------------------------------------------------------
def cut_put(key, declared, send):
    """PUT key with Content-Length declared, send `send` bytes of it, then vanish."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    path = "/%s/%s" % (B, key)
    host = "127.0.0.1:%d" % port
    req = AWSRequest(method="PUT", url="http://%s%s" % (host, path),
                     headers={"Content-Length": str(declared),
                              "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
    head = "PUT %s HTTP/1.1\r\nHost: %s\r\n" % (path, host)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in req.headers.items()) + "\r\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head.encode())
    chunk = b"\xa5" * 65536
    left = send
    while left > 0:
        n = min(left, len(chunk))
        sock.sendall(chunk[:n])
        left -= n
    time.sleep(1.0)             # let the bytes reach s3rver
    sock.close()


def pending():
    return int(pg.scalar("SELECT count(*) FROM pending_objects WHERE kind = 'put'"))


def no_intent(label):
    if not t.ok(wait_until(lambda: pending() == 0, 15), label):
        t.diag(pg.psql("SELECT * FROM pending_objects WHERE kind = 'put'"))


def upstream_etag(key):
    return upstream_head(key)[1]


# s3rver's HEAD answers the size of its object file (what has arrived so far) and the MD5 it
# recorded when the last complete PUT ended; its filesystem store opens the object file for
# writing when a PUT starts, so an incomplete PUT clobbers the previous bytes there although
# it never completes: a limitation of s3rver, not of s3mux (backend-s3-s3mux.t shows the
# previous version intact on a server that keeps it, as S3 does).  Those checks are TODO.
TODO_CLOBBER = " # TODO s3rver overwrites object files in place"

v1 = PatternReader(3 * MiB, seed=b"abort-v1").read()
s3.put_object(Bucket=B, Key="abort-me", Body=v1)
cut_put("abort-me", 8 * MiB, 6 * MiB)
no_intent("client gone mid-body: s3muxd drops its intent")
t.is_(upstream_etag("abort-me"), hashlib.md5(v1).hexdigest(),
      "client gone mid-body: s3rver never completed the PUT (its ETag is the first version's)")
t.is_(upstream_sha("abort-me"), (hashlib.sha256(v1).hexdigest(), len(v1)),
      "client gone mid-body: the first version is intact on s3rver" + TODO_CLOBBER)

# The whole body arrives but s3muxd refuses it at the end (Content-MD5 mismatch): only the
# withheld last byte keeps s3rver from completing the PUT.
import base64  # noqa: E402
old = b"digest v1: the version that must stay"
new = PatternReader(200 * 1024, seed=b"digest-v2").read()
s3.put_object(Bucket=B, Key="digest", Body=old)
wrong_md5 = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
t.is_(fails(lambda: s3.put_object(Bucket=B, Key="digest", Body=new, ContentMD5=wrong_md5))[0],
      ("BadDigest", 400), "a body refused at its end (Content-MD5 mismatch): BadDigest")
no_intent("refused body: the intent is dropped")
t.is_(upstream_etag("digest"), hashlib.md5(old).hexdigest(),
      "refused body: s3rver never completed the PUT although it had every byte but one")
arrived = upstream_head("digest")[0]
t.ok(isinstance(arrived, int) and arrived < len(new),
     "refused body: the last byte never reached s3rver (%r of %d arrived)" % (arrived, len(new)))
t.is_(s3.get_object(Bucket=B, Key="digest")["Body"].read() if
      upstream_head("digest")[0] == len(old) else b"(s3rver clobbered it)", old,
      "refused body: GET through s3muxd gives the first version" + TODO_CLOBBER)

# --- s3rver stopped, then back --------------------------------------------------------------
s3.put_object(Bucket=B, Key="survivor", Body=b"kept across the outage")
s3rver.stop()
fast = client(read_timeout=60)
err, took = fails(lambda: fast.put_object(Bucket=B, Key="during-outage", Body=b"x" * 1000))
t.ok(err is not None and isinstance(err[1], int) and 500 <= err[1] < 600 and took < 30,
     "s3rver stopped: PUT fails with a 5xx (%r) in %.1fs" % (err, took))
err, took = fails(lambda: fast.put_object(Bucket=B, Key="during-outage-big",
                                          Body=PatternReader(3 * MiB, seed=b"outage")))
t.ok(err is not None and took < 30,
     "s3rver stopped: a 3 MiB PUT fails too (%r) in %.1fs" % (err, took))
err, took = fails(lambda: fast.get_object(Bucket=B, Key="survivor")["Body"].read())
t.ok(err is not None and took < 30,
     "s3rver stopped: GET fails cleanly (%r) in %.1fs" % (err, took))
no_intent("s3rver stopped: no intent is left behind")
t.like(daemon.log(), r"backend s3-a: PUT s3mux/data/during-outage: .*(\d+ tries)",
       "the failure is logged once with the backend, method and key")

s3rver.start()
t.is_(s3.get_object(Bucket=B, Key="survivor")["Body"].read(), b"kept across the outage",
      "s3rver back: GET works again")
s3.put_object(Bucket=B, Key="after-outage", Body=b"written after the outage")
t.is_(s3.get_object(Bucket=B, Key="after-outage")["Body"].read(), b"written after the outage",
      "s3rver back: PUT works again")
t.is_(upstream_sha("after-outage")[1], len(b"written after the outage"),
      "s3rver back: the bytes are on s3rver")

# --- the end --------------------------------------------------------------------------------
log = daemon.log()
t.unlike(log, r"(?i)authorization|credential=|signature=", "no credentials in the log")
t.is_(daemon.stop(60), 0, "s3muxd stops cleanly")
bad = [ln for ln in daemon.log().splitlines()
       if "AddressSanitizer" in ln or "LeakSanitizer" in ln or "runtime error:" in ln]
if not t.is_(bad, [], "no sanitizer report in the log"):
    t.diag(daemon.log()[-6000:])
t.done()
