#!/usr/bin/python3
# supervisor-db-wait.t: when the database is down at start, s3muxd says why, starts no
# child, retries every 2s and still answers SIGTERM; once the database is up it applies the
# migrations and starts its children.
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from s3mux import *  # noqa: E402,F403

t = TAP()
pg = PgCluster()
pg.stop()
d = tempdir()
cfg = write_config(d, pg)

# --- SIGTERM while waiting -------------------------------------------------------------------
daemon = Daemon(cfg).start(wait_ready=False)
t.ok(daemon.wait_log(r"database: cannot connect: .*; retrying every 2s", 15),
     "the database is down: the log says why and that it retries")
time.sleep(2.5)
t.is_(daemon.children(), [], "no child is started meanwhile")
t.ok(daemon.proc.poll() is None, "the supervisor waits")
began = time.monotonic()
daemon.signal(signal.SIGTERM)
t.is_(daemon.wait_exit(10), 0, "SIGTERM while waiting: exit 0")
t.ok(time.monotonic() - began < 5, "at once (%.1fs)" % (time.monotonic() - began))

# --- the database comes up -------------------------------------------------------------------
daemon = Daemon(cfg, log_name="s3muxd-2.log").start(wait_ready=False)
t.ok(daemon.wait_log(r"database: cannot connect", 15), "waiting for the database again")
pg.start()
t.ok(wait_until(lambda: len(daemon.role_children()) == len(ROLES), 30),
     "once the database is up, the children start")
t.like(daemon.log(), r"migrations: \d+ applied", "the migrations were applied first")
t.ok(int(pg.scalar("SELECT count(*) FROM schema_migrations")) > 0, "schema_migrations is filled")
t.is_(daemon.stop(30), 0, "SIGTERM: exit 0")
t.unlike(daemon.log(), r"AddressSanitizer|runtime error:", "no sanitizer reports")
t.done()
