#!/usr/bin/python3
# s3-read-during-overwrite.t: GETs of a key that is being overwritten again and again must
# each deliver one whole version, the one their own headers name (ETag, Content-Length,
# Content-Range): the old one or the new one, never the new bytes under the old headers.
# Versions of different sizes, of equal size, and Range GETs.
import hashlib
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP  # noqa: E402
from s3mux_s3 import S3Env, error_code  # noqa: E402

SECONDS = 5
t = TAP()
try:
    import boto3  # noqa: F401
except ImportError:
    t.skip_all("boto3 is not installed (apt-get install python3-boto3)")

env = S3Env(t)
B = "overwrite"
env.client().create_bucket(Bucket=B)


def race(key, versions, rng=None, readers=4):
    """One writer cycling through versions, readers GETting; returns (puts, gets, problems)."""
    by_etag = {'"%s"' % hashlib.md5(v).hexdigest(): v for v in versions}
    env.client().put_object(Bucket=B, Key=key, Body=versions[0])
    stop = time.monotonic() + SECONDS
    lock = threading.Lock()
    out = {"puts": 0, "gets": 0, "bad": []}

    def writer():
        c = env.client(retries=5)
        n = 1
        while time.monotonic() < stop:
            c.put_object(Bucket=B, Key=key, Body=versions[n % len(versions)])
            n += 1
            with lock:
                out["puts"] += 1

    def reader():
        c = env.client()
        while time.monotonic() < stop:
            why = None
            try:
                args = {"Range": rng} if rng else {}
                resp = c.get_object(Bucket=B, Key=key, **args)
                body = resp["Body"].read()
                whole = by_etag.get(resp["ETag"])
                if whole is None:
                    why = "an ETag no PUT produced: %s" % resp["ETag"]
                elif rng:
                    first, last = (int(x) for x in rng[6:].split("-"))
                    want = whole[first:last + 1]
                    crange = "bytes %d-%d/%d" % (first, first + len(want) - 1, len(whole))
                    if body != want or resp.get("ContentRange") != crange:
                        why = "range bytes are not those of the version named by %s" % resp["ETag"]
                elif body != whole or resp["ContentLength"] != len(whole):
                    why = "%d bytes that are not the version named by %s" % (
                        len(body), resp["ETag"])
            except Exception as e:
                why = "%s: %s" % (error_code(e), str(e)[:200])
            with lock:
                out["gets"] += 1
                if why:
                    out["bad"].append(why)

    threads = [threading.Thread(target=writer, daemon=True)]
    threads += [threading.Thread(target=reader, daemon=True) for _ in range(readers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(SECONDS + 60)
    return out


for label, key, versions, rng in (
        ("versions of different sizes", "sizes", [os.urandom(n) for n in (150000, 260000, 90000)],
         None),
        ("versions of the same size", "same", [os.urandom(200000) for _ in range(3)], None),
        ("Range GETs", "ranges", [os.urandom(n) for n in (150000, 260000, 90000)],
         "bytes=1000-80999")):
    r = race(key, versions, rng)
    if not t.ok(not r["bad"], "%s: every GET delivers the version its headers name "
                "(%d PUTs, %d GETs)" % (label, r["puts"], r["gets"])):
        t.diag("%d of %d GETs wrong, e.g.:" % (len(r["bad"]), r["gets"]))
        for why in sorted(set(r["bad"]))[:3]:
            t.diag("  " + why)

t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.done()
