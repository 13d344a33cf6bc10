#!/usr/bin/python3
# replicator-backend-down.t: a backend that goes away during replication is skipped and
# caught up when it returns.  Two fs backends, replication.copies: 2, the supervised
# replicator with a 3 s sweep.  disk-b's directory is renamed away (writes to it fail, even
# for root); objects written meanwhile land on disk-a and their copies to disk-b fail: the
# replicator counts the failures, its circuit breaker for disk-b opens and the objects wait
# with one copy, and nothing is left reserved or queued for them.  When the directory comes
# back, the next passes copy everything, with identical bytes, and the quota sums agree.
# Then, with the replicator run by hand (--once), the same drill is deterministic: a pass
# while disk-b cannot be written exits 0 and counts what it could not copy; the pass after
# it returns copies them all.
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, wait_until  # noqa: E402
from s3mux_repl import ReplEnv  # noqa: E402

KIB = 1024
BUCKET = "down"

t = TAP()
# disk-b is the smaller: under spread, new objects go to the emptier disk-a.
env = ReplEnv(t, backends=(("disk-a", "1GiB"), ("disk-b", "200MiB")), copies=2, live=True,
              replicator={"sweep_interval": "3s"})
s3 = env.client()
s3.create_bucket(Bucket=BUCKET)
bodies = {}


def put(prefix, n):
    for i in range(n):
        key = "%s/%03d" % (prefix, i)
        bodies[key] = os.urandom(20 * KIB + i * 100)
        s3.put_object(Bucket=BUCKET, Key=key, Body=bodies[key])


def identical(keys):
    return [k for k in keys
            if not (env.digest("disk-a", BUCKET, k) == env.digest("disk-b", BUCKET, k)
                    is not None)]


def replicator_lines(since=0):
    return [ln for ln in env.log()[since:].splitlines() if "replication pass:" in ln]


def failed_in(lines):
    return sum(int(m.group(1)) for m in
               (re.search(r", (\d+) failed,", ln) for ln in lines) if m)


put("before", 20)
t.ok(wait_until(lambda: env.copy_counts(BUCKET) == {2: 20}, 60),
     "20 objects have two copies")

away = env.disks["disk-b"] + ".away"
os.rename(env.disks["disk-b"], away)
mark = len(env.log())
put("during", 30)
t.is_(set(env.locations(BUCKET, "during/%03d" % i).keys() == {"disk-a"} for i in range(30)),
      {True}, "the objects written while disk-b is away are on disk-a")
t.ok(wait_until(lambda: failed_in(replicator_lines(mark)) > 0, 30),
     "the replicator counted failed copies to disk-b")
t.ok(wait_until(lambda: re.search(r"backend disk-b: circuit breaker open",
                                  env.log()[mark:]), 30),
     "its circuit breaker for disk-b opened")
time.sleep(4)   # a sweep or two while disk-b is still away
t.is_(env.copy_counts(BUCKET), {2: 20, 1: 30}, "the new objects wait with one copy")
t.is_(env.pg.scalar("SELECT count(*) FROM pending_objects"), "0", "no intent is left behind")
t.is_(env.quotas()["disk-b"][1], 0, "nothing stays reserved on disk-b")
t.is_(env.cleanup_rows(BUCKET), [], "nothing was queued for cleanup (an fs write that "
      "fails leaves nothing)")
fails = failed_in(replicator_lines(mark))
t.diag("%d failed copies counted while disk-b was away" % fails)
t.ok(fails < 30 * 3, "the open breaker kept the replicator from trying every object "
     "again and again (%d failures)" % fails)

os.rename(away, env.disks["disk-b"])
back = time.monotonic()
t.ok(wait_until(lambda: env.copy_counts(BUCKET) == {2: 50}, 60),
     "disk-b is back: every object has two copies again (%r)" % env.copy_counts(BUCKET))
t.diag("caught up %.1f s after disk-b came back" % (time.monotonic() - back))
t.is_(identical(bodies), [], "with identical bytes on both disks")
env.check_sums("after the catch-up")

# The same drill with passes run by hand.
with open(env.cfg) as f:
    text = f.read()
with open(env.cfg, "w") as f:
    f.write(text.replace("  replicator:\n    enabled: true\n",
                         "  replicator:\n    enabled: false\n"))
mark = len(env.log())
env.daemon.signal(signal.SIGHUP)
t.ok(wait_until(lambda: "reload complete" in env.log()[mark:], 30),
     "the supervised replicator is disabled by a reload")
t.ok(wait_until(lambda: env.daemon.child("replicator") is None, 30), "and it is gone")
# A new process would make a renamed-away directory again: block its temp directory instead.
os.rename(env.disks["disk-b"], away)
os.mkdir(env.disks["disk-b"])
open(os.path.join(env.disks["disk-b"], ".tmp"), "w").close()
put("hand", 10)
p = env.once()
env.clean_run(p, "--once while disk-b is away")
t.like(p.out, r"replication pass: \d+ events, 0 copied, 0 stale, [1-9]\d* failed, "
       r"0 excess removed in \d+ ms; 10 objects swept, [1-9]\d* without a target",
       "it counted failures, then objects without a target once the breaker opened")
t.is_(env.copy_counts(BUCKET), {2: 50, 1: 10}, "the ten new objects have one copy")
os.unlink(os.path.join(env.disks["disk-b"], ".tmp"))
os.rmdir(env.disks["disk-b"])
os.rename(away, env.disks["disk-b"])
p = env.once()
env.clean_run(p, "--once after disk-b returned")
t.like(p.out, r"replication pass: 0 events, 10 copied, 0 stale, 0 failed, 0 excess removed",
       "the next pass copied the ten")
t.is_(env.copy_counts(BUCKET), {2: 60}, "every object has two copies")
t.is_(identical(bodies), [], "with identical bytes on both disks")
env.check_sums("at the end")
env.finish()
t.done()
