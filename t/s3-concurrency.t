#!/usr/bin/python3
# s3-concurrency.t: 64 clients at once (threads, one boto3 client each) PUT and GET small
# (1-64 KiB) and larger (1-8 MiB) objects over a small set of keys, overwriting the same keys
# again and again.  Then: every GET saw a whole version that some PUT wrote; every key reads
# back as a write that no later write superseded; no pending intent, nothing reserved, no
# temp file; bytes_used = SUM(object_locations.stored_size) = the bytes of the files on the
# backend; and after deleting half the keys the sums still agree; and every GET's bytes
# match its own ETag and length even while its key is being overwritten.
import hashlib
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP  # noqa: E402
from s3mux_s3 import S3Env, error_code  # noqa: E402

CLIENTS = 64
OPS = 8                 # per client
KEYS = ["k%02d" % i for i in range(20)]
DEADLINE = 300          # seconds for the whole run
t = TAP()
try:
    import boto3  # noqa: F401
except ImportError:
    t.skip_all("boto3 is not installed (apt-get install python3-boto3)")

env = S3Env(t)
B = "concurrency"
setup = env.client()
setup.create_bucket(Bucket=B)

lock = threading.Lock()
puts = []       # (key, sha256, size, start, end, error or None)
gets = []       # (key, sha256 or None, start, end, error or None)


def body_for(rng, i, key):
    if rng.random() < 0.25:
        size = rng.randint(1024 * 1024, 8 * 1024 * 1024)
    else:
        size = rng.randint(1024, 64 * 1024)
    # a unique header, then cheap filler: every version of every key is distinct
    head = ("%s client %d op %d %f|" % (key, i, rng.randint(0, 1 << 30), time.time())).encode()
    filler = rng.randbytes(min(size, 65536))
    data = (head + filler * (size // len(filler) + 1))[:size]
    return data


# every key starts with a known version, so a GET never finds nothing
for k in KEYS:
    data = ("initial %s" % k).encode()
    t0 = time.monotonic()
    setup.put_object(Bucket=B, Key=k, Body=data)
    puts.append((k, hashlib.sha256(data).hexdigest(), len(data), t0, time.monotonic(), None))

stop_at = time.monotonic() + DEADLINE


def get_checked(s3, key):
    """GET key streamed; (sha256, None), or (sha256, why) when the bytes do not match the
    response's own ETag (every object here is a single PUT: the ETag is the body's MD5)."""
    resp = s3.get_object(Bucket=B, Key=key)
    sha, md5, n = hashlib.sha256(), hashlib.md5(), 0
    for chunk in resp["Body"].iter_chunks(1 << 20):
        sha.update(chunk)
        md5.update(chunk)
        n += len(chunk)
    if '"%s"' % md5.hexdigest() != resp["ETag"] or n != resp["ContentLength"]:
        return sha.hexdigest(), "body (%d bytes) does not match ETag %s / length %d" % (
            n, resp["ETag"], resp["ContentLength"])
    return sha.hexdigest(), None


def client_main(i):
    rng = random.Random(1000 + i)
    s3 = env.client(retries=12)
    for _ in range(OPS):
        if time.monotonic() > stop_at:
            return
        key = rng.choice(KEYS)
        if rng.random() < 0.6:
            data = body_for(rng, i, key)
            digest = hashlib.sha256(data).hexdigest()
            start = time.monotonic()
            err = None
            try:
                s3.put_object(Bucket=B, Key=key, Body=data)
            except Exception as e:
                err = "%s: %s" % (error_code(e), e)
            with lock:
                puts.append((key, digest, len(data), start, time.monotonic(), err))
        else:
            start = time.monotonic()
            digest, err = None, None
            try:
                digest, err = get_checked(s3, key)
            except Exception as e:
                err = "%s: %s" % (error_code(e), e)
            with lock:
                gets.append((key, digest, start, time.monotonic(), err))


started = time.monotonic()
threads = [threading.Thread(target=client_main, args=(i,), daemon=True) for i in range(CLIENTS)]
for th in threads:
    th.start()
for th in threads:
    th.join(max(1, stop_at + 60 - time.monotonic()))
elapsed = time.monotonic() - started
t.ok(not any(th.is_alive() for th in threads), "%d clients finished (%.1fs, %d PUTs, %d GETs, "
     "%.0f MiB written)" % (CLIENTS, elapsed, len(puts) - len(KEYS), len(gets),
                            sum(p[2] for p in puts) / 1048576.0))

failed_puts = [p for p in puts if p[5]]
RACE = ("does not match ETag", "IncompleteRead")
raced_gets = [g for g in gets if g[4] and any(m in g[4] for m in RACE)]
failed_gets = [g for g in gets if g[4] and g not in raced_gets]
t.is_(len(failed_puts), 0, "every PUT succeeded (SDK retries of SlowDown allowed)")
for p in failed_puts[:5]:
    t.diag("PUT %s: %s" % (p[0], p[5][:300]))
t.is_(len(failed_gets), 0, "every GET succeeded")
for g in failed_gets[:5]:
    t.diag("GET %s: %s" % (g[0], g[4][:300]))
t.ok(not raced_gets, "every GET's bytes match its ETag and length (%d did not)" %
     len(raced_gets))

ok_puts = {}
for p in puts:
    if not p[5]:
        ok_puts.setdefault(p[0], []).append(p)

# a GET returns a version some PUT of that key wrote, and not one whose PUT began after the
# GET had ended
bad = []
for key, digest, start, end, err in gets:
    if err:
        continue
    writers = [p for p in ok_puts.get(key, []) if p[1] == digest]
    if not writers or min(p[3] for p in writers) > end:
        bad.append((key, digest))
t.is_(bad, [], "every other GET returned a whole version written by a PUT of that key")

# the final state: each key holds a version that no later write superseded (a write W is
# superseded when another successful write of the key began after W had ended)
reader = env.client()
wrong = []
for key in KEYS:
    h = hashlib.sha256()
    for chunk in reader.get_object(Bucket=B, Key=key)["Body"].iter_chunks(1 << 20):
        h.update(chunk)
    digest = h.hexdigest()
    candidates = [p for p in ok_puts[key]
                  if not any(q[3] > p[4] for q in ok_puts[key] if q is not p)]
    if digest not in {p[1] for p in candidates}:
        known = digest in {p[1] for p in ok_puts[key]}
        wrong.append((key, "an older version" if known else "bytes no PUT wrote"))
t.is_(wrong, [], "every key reads back as its last successful write")

t.is_(env.settled(15), (0, 0), "no pending intent, no reserved bytes")
t.is_(env.tmp_files(), [], "no temporary file left on the backend")
used, reserved, orphans = env.quota_row()
files = env.backend_file_bytes()
t.is_((used, orphans), (env.locations_bytes(), 0),
      "bytes_used = SUM(object_locations.stored_size), no orphan bytes")
t.is_(used, files, "bytes_used = the bytes of the files under the backend directory")
t.is_(env.pg.scalar("SELECT count(*) FROM object_locations"), str(len(KEYS)),
      "one copy per key")
t.is_(env.pg.scalar("SELECT count(*) FROM cleanup_queue"), "0", "nothing queued for cleanup")

# delete half the keys, then the sums again
for key in KEYS[::2]:
    reader.delete_object(Bucket=B, Key=key)
time.sleep(0.5)
ok = env.settled(10) == (0, 0)
used, reserved, orphans = env.quota_row()
t.ok(ok and (used, orphans) == (env.locations_bytes(), 0) and used == env.backend_file_bytes(),
     "after deleting half the keys: bytes_used = SUM(stored_size) = bytes on disk, no orphans")
t.is_(env.pg.scalar("SELECT count(*) FROM cleanup_queue"), "0", "the deletes were carried out")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.done()
