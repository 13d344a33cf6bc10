#!/usr/bin/python3
# worker-db-lost.t: a role that loses its database session (its backend terminated, or
# PostgreSQL stopped for a while) says so, stops working, reconnects with backoff and takes
# its lock again before it does any more work.  SIGHUP with a broken file keeps the old
# configuration.
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from s3mux import *  # noqa: E402,F403
from s3mux_role import *  # noqa: E402,F403

t = TAP()
pg = PgCluster()
d = tempdir()
cfg = write_config(d, pg, body="roles:\n  cleanup:\n    standby_retry: 1s\n"
                   "    sweep_interval: 1s\n")
run([S3MUXCTL, "-c", cfg, "migrate"], check=True)

ACTIVE = r"active: holding lock\(s\) 1003"
LOST = r"lost database session: stopping work, reconnecting"
PASS = r"pass \d+ done in \d+ ms"

w = RoleProcess("cleanup", cfg, "w")
t.ok(w.wait_log(ACTIVE, 10), "the cleanup role is active")
t.ok(w.wait_log(PASS, 5, count=2), "and sweeps every second")
first = lock_holder(pg, 1003)
t.ok(first is not None, "its session holds lock 1003")

pg.psql("SELECT pg_terminate_backend(%d)" % first)
t.ok(w.wait_log(LOST, 5), "terminating its backend: it logs that the session is lost")
second = wait_until(lambda: (lambda p: p if p not in (None, first) else None)(
    lock_holder(pg, 1003)), 10)
t.ok(second, "it reconnected and holds lock 1003 again, on a new session")
t.ok(w.wait_log(ACTIVE, 5, count=2), "it says it is active again")
log = w.log()
lost_at = log.rfind("lost database session")
t.unlike(log[lost_at:log.find("active: holding", lost_at)], PASS,
         "no pass ran between the loss and the new lock")
passes = w.count(PASS)
t.ok(w.wait_log(PASS, 5, count=passes + 1), "passes go on after the reconnection")

pg.stop()
t.ok(w.wait_log(LOST, 10, count=2), "PostgreSQL stopped: the session is lost again")
t.ok(w.wait_log(r"cannot connect to the database", 10), "reconnecting fails while it is down")
t.ok(w.alive(), "the role keeps running")
passes = w.count(PASS)
time.sleep(1)
pg.start()
third = wait_until(lambda: lock_holder(pg, 1003), 40)
t.ok(third, "PostgreSQL back: it takes lock 1003 again")
t.ok(w.wait_log(PASS, 10, count=passes + 1), "and works again")

with open(cfg) as f:
    good = f.read()
with open(cfg, "w") as f:
    f.write(good + "nonsense_key: 1\n")
w.signal(signal.SIGHUP)
t.ok(w.wait_log(r"not reloading: .*nonsense_key", 5), "SIGHUP with a broken file: not reloading")
with open(cfg, "w") as f:
    f.write(good)
t.is_(lock_holder(pg, 1003), third, "it keeps working on the old configuration")
w.signal(signal.SIGHUP)
t.ok(w.wait_log(r"configuration reloaded", 5), "SIGHUP with a good file reloads")

t.is_(w.stop(), 0, "SIGTERM: exit status 0")
t.is_(lock_holder(pg, 1003), None, "the lock is free")
t.unlike(w.log(), r"ERROR: (Leak|Address)Sanitizer|runtime error", "no sanitizer reports")
t.done()
