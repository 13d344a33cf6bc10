#!/usr/bin/python3
# worker-standby.t: two instances of one role against one database: exactly one holds the
# role's advisory locks and works, the other stands by; NOTIFYs wake the active one and
# coalesce; when the holder is killed with SIGKILL, the standby takes over within seconds.
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from s3mux import *  # noqa: E402,F403
from s3mux_role import *  # noqa: E402,F403

t = TAP()
pg = PgCluster()
d = tempdir()
cfg = write_config(d, pg, body="roles:\n  replicator:\n    standby_retry: 1s\n")
run([S3MUXCTL, "-c", cfg, "migrate"], check=True)

ACTIVE = r"active: holding lock\(s\) 1002, 1008"
STANDBY = r"standing by: lock 1002 held by another instance"
PASS = r"pass \d+ done in \d+ ms"

a = RoleProcess("replicator", cfg, "a")
b = RoleProcess("replicator", cfg, "b")
both = wait_until(lambda: (a.count(ACTIVE) + b.count(ACTIVE) == 1 and
                           a.count(STANDBY) + b.count(STANDBY) == 1), 15)
t.ok(both, "one instance is active, the other stands by")
if not both:
    t.diag(a.log())
    t.diag(b.log())
    t.done()
holder, standby = (a, b) if a.count(ACTIVE) else (b, a)

h1002 = lock_holders(pg, 1002)
h1008 = lock_holders(pg, 1008)
t.is_(len(h1002), 1, "lock 1002 is held exactly once")
t.ok(h1002 and h1002[0][1] == "s3mux-replicator", "by a session named s3mux-replicator")
t.ok(h1002 and h1008 and h1002[0][0] == h1008[0][0], "lock 1008 is held by the same session")
t.is_(len(sessions(pg, "s3mux-replicator")), 2, "the standby keeps its own session")
t.ok(holder.wait_log(PASS, 5), "the active instance ran a pass")
t.is_(standby.count(PASS), 0, "the standby runs no pass")

p = run([S3MUXCTL, "-c", cfg, "roles"])
t.is_(p.returncode, 0, "s3muxctl roles exits 0")
t.like(p.stdout, r"(?m)^replicator\s+1002\s+held\s+s3mux-replicator\s+%d\b" % h1002[0][0],
       "s3muxctl roles shows the holder of 1002")
t.like(p.stdout, r"(?m)^lifecycle\s+1005\s+free\b", "and that lifecycle's lock is free")

before = holder.count(PASS)
pg.psql("SELECT pg_notify('s3mux_replicator', g::text) FROM generate_series(1, 20) g")
t.ok(holder.wait_log(PASS, 5, count=before + 1), "a NOTIFY on s3mux_replicator wakes it")
time.sleep(1)
woken = holder.count(PASS) - before
t.ok(1 <= woken <= 2, "20 notifications coalesce into one pass (%d)" % woken)

c = RoleProcess("replicator", cfg, "c")
t.ok(c.wait_log(STANDBY, 10), "a third instance stands by too")
t.is_(c.stop(), 0, "a standby stops on SIGTERM with status 0")

old = h1002[0][0]
holder.signal(signal.SIGKILL)
start = time.monotonic()
new = wait_until(lambda: (lambda p: p if p not in (None, old) else None)(lock_holder(pg, 1002)),
                 10)
took = time.monotonic() - start
t.ok(new, "the standby took lock 1002 after the holder was killed")
t.ok(took < 5, "within a few seconds (%.1f s)" % took)
t.ok(standby.wait_log(ACTIVE, 5), "the former standby says it is active")
t.is_(lock_holder(pg, 1008), new, "it holds 1008 on the same session")
t.ok(standby.wait_log(PASS, 5), "and runs passes")

t.is_(standby.stop(), 0, "SIGTERM stops it with status 0")
t.like(standby.log(), r"released lock\(s\) 1002, 1008", "it released its locks")
t.is_(pg.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), "0",
      "no advisory lock is left")
t.unlike(a.log() + b.log() + c.log(), r"ERROR: (Leak|Address)Sanitizer|runtime error",
         "no sanitizer reports")
t.done()
