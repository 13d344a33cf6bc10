#!/usr/bin/python3
# replicator-events.t: replication is event-driven.  With replication.copies: 2 over two fs
# backends and the replicator's periodic sweep turned off (roles.replicator.sweep_interval:
# 0s), 1,500 objects written by concurrent boto3 clients all get their second copy within
# seconds: only the NOTIFY of each commit can have woken the replicator.  Then every object
# has two copies on distinct backends with identical bytes, and the quota sums agree with
# the catalogue and the disks.  A key written 50 times in a burst ends with two copies of
# its last version.
import hashlib
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, wait_until  # noqa: E402
from s3mux_repl import ReplEnv  # noqa: E402

N = 1500
THREADS = 16
BUCKET = "events"

t = TAP()
env = ReplEnv(t, copies=2, live=True, replicator={"sweep_interval": "0s"})
s3 = env.client(pool=THREADS + 4)
s3.create_bucket(Bucket=BUCKET)
t.ok(env.daemon.wait_log(r"replicator.*active: holding lock\(s\) 1002, 1008", 20),
     "the supervised replicator holds locks 1002 and 1008")
t.ok(env.daemon.wait_log(r"replicator\[\d+\] info: pass 1 done", 20),
     "it made its first pass before any object was written")

bodies = {}
errors = []
lock = threading.Lock()


def body_of(i):
    return (b"%06d:" % i) * (50 + (i * 37) % 400)


def writer(n):
    for i in range(n, N, THREADS):
        key = "obj/%05d" % i
        try:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body_of(i))
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append("%s: %s" % (key, e))


def replicated():
    return env.copy_counts(BUCKET).get(2, 0) >= N


start = time.monotonic()
threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
for th in threads:
    th.start()
for th in threads:
    th.join(300)
written = time.monotonic()
t.is_(errors, [], "%d PUTs from %d threads succeeded" % (N, THREADS))
done = wait_until(replicated, 120, 0.1)
finished = time.monotonic()
t.ok(done, "every object got its second copy (copies: %r)" % env.copy_counts(BUCKET))
lag = finished - written
t.diag("replication: %d objects written in %.2f s; all had 2 copies %.2f s after the first "
       "write, %.2f s after the last" % (N, written - start, finished - start, lag))
t.ok(lag < 30, "the last copy came within seconds of the last write (%.2f s)" % lag)
passes = re.findall(r"replicator\[\d+\] info: pass \d+ done", env.log())
t.ok(len(passes) >= 2, "the replicator made passes on its wake-ups (%d)" % len(passes))
t.like(env.log(), r"replication pass: [1-9]\d* events, [1-9]\d* copied",
       "and logged what they did")
t.unlike(env.log(), r"objects swept", "no sweep ran: the events did it all")

rows = env.pg.psql("SELECT l.key, count(*), count(DISTINCT l.backend), min(l.version),"
                   " max(l.version), max(o.version) FROM object_locations l JOIN objects o"
                   " USING (bucket, key) WHERE l.bucket = '%s' GROUP BY l.key" % BUCKET)
t.is_(len(rows), N, "the catalogue has all %d objects" % N)
t.ok(all(r[1] == "2" and r[2] == "2" for r in rows),
     "each has exactly two copies, on two distinct backends")
t.ok(all(r[3] == r[4] == r[5] for r in rows), "both copies are of the current version")
mismatched = []
for i in range(N):
    key = "obj/%05d" % i
    a = env.digest("disk-a", BUCKET, key)
    b = env.digest("disk-b", BUCKET, key)
    want = hashlib.sha256(body_of(i)).hexdigest()
    if not (a == b == want):
        mismatched.append(key)
t.is_(mismatched[:5], [], "the bytes on both disks are identical to what was written")
env.check_sums("after 1,500 objects")

# A burst of writes to one key: it ends with two copies of its last version.
for i in range(50):
    s3.put_object(Bucket=BUCKET, Key="hot", Body=b"version %d " % i * 100)
final = env.version(BUCKET, "hot")
if not t.ok(wait_until(lambda: set(env.locations(BUCKET, "hot").values()) == {final} and
                       len(env.locations(BUCKET, "hot")) == 2, 30),
            "a key written 50 times ends with two copies of its last version"):
    t.diag("copies: %r, version %d" % (env.locations(BUCKET, "hot"), final))
    t.diag("intents: %r" % env.pg.psql("SELECT * FROM pending_objects"))
    t.diag("cleanup: %r" % env.pg.psql("SELECT * FROM cleanup_queue"))
    t.diag("\n".join(ln for ln in env.log().splitlines()
                     if re.search(r"hot|replication pass|warning", ln))[-6000:])
t.is_(env.digest("disk-a", BUCKET, "hot"), env.digest("disk-b", BUCKET, "hot"),
      "with the same bytes on both disks")
copies = env.pg.scalar("SELECT count(*) FROM object_locations WHERE key = 'hot'")
t.is_(copies, "2", "and no copy of an older version is left")
env.check_sums("after the burst")
t.ok(wait_until(lambda: env.pg.scalar("SELECT outbox_behind('replicator')") == "f", 10),
     "the replicator's cursor reached the end of the outbox")
env.finish()
t.done()
