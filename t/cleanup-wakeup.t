#!/usr/bin/python3
# cleanup-wakeup.t: a running s3mux-cleanup (not --once) with its periodic sweep off works
# from wake-ups alone: a row queued without a delete attempt (the trigger's NOTIFY) is
# deleted at once, and a row whose delete failed (due 10 seconds later) is deleted when it
# comes due, because the role sleeps until the next row is due.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import *  # noqa: E402,F403
from s3mux_role import RoleProcess  # noqa: E402
from s3mux_roleenv import RoleEnv, SANITIZER  # noqa: E402

t = TAP()
env = RoleEnv(t, roles={"cleanup": {"sweep_interval": "0s", "retry_base": "1s"}})
pg = env.pg
s3 = env.client()
s3.create_bucket(Bucket="bkt")
for k in ("k1", "k2"):
    s3.put_object(Bucket="bkt", Key=k, Body=os.urandom(2000))

role = RoleProcess("cleanup", env.role_cfg, "loop", extra_args=("-v",))
t.ok(role.wait_log(r"active: holding lock\(s\) 1003", 20), "the cleanup role is active")
t.ok(role.wait_log(r"pass 1 done", 10), "and made its first pass")

# a row queued by the catalogue alone: the insert's NOTIFY wakes the role
start = time.monotonic()
pg.psql("SELECT delete_object('bkt', 'k1')")
t.ok(wait_until(lambda: not os.path.exists(env.path("disk-a", "bkt", "k1")), 10),
     "a queued row is deleted on the NOTIFY (%.1f s)" % (time.monotonic() - start))
t.ok(wait_until(lambda: pg.scalar("SELECT count(*) FROM cleanup_queue") == "0", 5),
     "and settled")

# a row another claimer failed to delete, released for 10 seconds (in one transaction, so
# that the role cannot claim it before the release)
pg.psql("BEGIN; SELECT delete_object('bkt', 'k2'); SELECT release_cleanup(c.id, c.claim_token, "
        "'refused', '10 seconds') FROM claim_cleanups('frontend:other:1', 10, '1 hour') c; "
        "COMMIT")
released = time.monotonic()
t.is_(pg.scalar("SELECT attempts FROM cleanup_queue"), "1", "a row is released for 10 s")
gone = wait_until(lambda: not os.path.exists(env.path("disk-a", "bkt", "k2")), 25)
waited = time.monotonic() - released
t.ok(gone, "the role deleted it when it came due")
t.ok(8 <= waited <= 20, "about 10 s after the release, not before (%.1f s)" % waited)
t.ok(wait_until(lambda: pg.scalar("SELECT count(*) FROM cleanup_queue") == "0", 5),
     "and settled")
t.is_(env.quota("disk-a"), (0, 0, 0), "every byte released")
t.like(role.log(), r"cleanup pass: 1 deleted, 0 failed, 0 dead-lettered, 0 reclaimed",
       "its passes log their counts")
t.like(role.log(), r"next pass in ([5-9]\d\d\d|10\d\d\d) ms", "it slept until the row was due")
t.unlike(role.log(), r"\] sweep$|: sweep$", "no sweep ran")
t.is_(role.stop(), 0, "SIGTERM stops it, exit 0")
t.unlike(role.log(), SANITIZER, "no sanitizer report")
env.finish()
t.done()
