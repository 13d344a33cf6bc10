#!/usr/bin/python3
# cleanup-reclaim.t: claims left by a cleanup claimer that died.
#
# 1. A claimer that died right after claiming (claim_cleanups run by hand, never settled):
#    its rows are left alone within roles.cleanup.claim_grace, then reclaimed by the next
#    pass and counted; the dead claimer's token can no longer settle anything; files made
#    again at the deleted names survive later passes (no row is worked twice).
# 2. Two claimers alive at once (the second took over after the grace period): only the
#    holder of the current token settles the row, and the orphan bytes go down once.
# 3. s3mux-cleanup killed with SIGKILL in the middle of a pass (it deleted the bytes and was
#    waiting to record it; the wait is made by holding a lock its finish_cleanup needs): the
#    claim stays, the next pass after the grace period reclaims and settles it.
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import *  # noqa: E402,F403
from s3mux_role import RoleProcess  # noqa: E402
from s3mux_roleenv import RoleEnv  # noqa: E402

GRACE = 2.0

t = TAP()
env = RoleEnv(t, roles={"cleanup": {"claim_grace": "2s"}})
pg = env.pg
s3 = env.client()
s3.create_bucket(Bucket="bkt")
sizes = {"k1": 1000, "k2": 2000, "k3": 3000, "k4": 4000, "k5": 5000, "k6": 6000}
for k, n in sizes.items():
    s3.put_object(Bucket="bkt", Key=k, Body=os.urandom(n))


def forget(*keys):
    """Delete keys from the catalogue only (as the front end would, without its own
    attempt at the backend): their copies wait in cleanup_queue."""
    for k in keys:
        pg.psql("SELECT delete_object('bkt', '%s')" % k)


def row_of(key):
    return pg.scalar("SELECT id FROM cleanup_queue WHERE key = '%s'" % key)


def exists(key):
    return os.path.exists(env.path("disk-a", "bkt", key))


def orphans():
    return env.quota("disk-a")[2]


# --- 1. a claimer that died right after claiming --------------------------------------------
forget("k1", "k2", "k3", "k4")
dead = pg.psql("SELECT id, claim_token, key FROM claim_cleanups('cleanup:deadhost:4242', 2, "
               "'1 hour') ORDER BY id")
t.is_([r[2] for r in dead], ["k1", "k2"], "a dead claimer holds k1 and k2")
t.is_(pg.scalar("SELECT count(*) FROM pending_objects WHERE kind = 'delete'"), "2",
      "with a delete intent on each name")
claimed_at = time.monotonic()

p = env.once("cleanup")
env.clean_run(p, "a pass within the grace period")
t.like(p.out, r"cleanup pass: 2 deleted, 0 failed, 0 dead-lettered, 0 reclaimed",
       "it deletes the unclaimed rows only")
t.ok(exists("k1") and exists("k2") and not exists("k3") and not exists("k4"),
     "k1 and k2 are still on the disk, k3 and k4 are gone")
t.is_(orphans(), sizes["k1"] + sizes["k2"], "k1 and k2 still count as orphans")

time.sleep(max(0, GRACE + 0.3 - (time.monotonic() - claimed_at)))
p = env.once("cleanup")
env.clean_run(p, "a pass after the grace period")
t.like(p.out, r"cleanup pass: 2 deleted, 0 failed, 0 dead-lettered, 2 reclaimed",
       "it reclaims and deletes the dead claimer's rows, and counts them")
t.like(p.out, r"cleanup row %s: reclaimed from cleanup:deadhost:4242" % dead[0][0],
       "the log names the dead claimer")
t.ok(not exists("k1") and not exists("k2"), "k1 and k2 are gone")
t.is_(orphans(), 0, "every orphan byte released, once")
t.is_(pg.scalar("SELECT count(*) FROM pending_objects"), "0", "no intent left")
late = [pg.scalar("SELECT finish_cleanup(%s, %s)::text || release_cleanup(%s, %s, 'late', "
                  "'1 second')::text" % (r[0], r[1], r[0], r[1])) for r in dead]
t.is_(late, ["falsefalse", "falsefalse"], "the dead claimer's tokens settle nothing")
t.is_(orphans(), 0, "and move no bytes")

for k in ("k1", "k2", "k3", "k4"):
    with open(env.path("disk-a", "bkt", k), "w") as f:
        f.write("made again after the delete\n")
p = env.once("cleanup")
env.clean_run(p, "a pass with nothing due")
t.like(p.out, r"cleanup pass: 0 deleted, 0 failed, 0 dead-lettered, 0 reclaimed",
       "nothing is worked again")
t.ok(all(exists(k) for k in ("k1", "k2", "k3", "k4")), "files made again survive")
for k in ("k1", "k2", "k3", "k4"):
    os.remove(env.path("disk-a", "bkt", k))

# --- 2. two claimers alive at once: the token decides -----------------------------------------
forget("k5")
a = pg.psql("SELECT id, claim_token FROM claim_cleanups('claimer-a', 10, '1 hour')")[0]
time.sleep(0.2)
b = pg.psql("SELECT id, claim_token, reclaimed FROM claim_cleanups('claimer-b', 10, "
            "'100 milliseconds')")[0]
t.is_((b[0], b[2]), (a[0], "t"), "a second claimer takes the row over after the grace period")
t.ok(b[1] != a[1], "with a new token")
t.is_(pg.scalar("SELECT release_cleanup(%s, %s, 'slow', '1 second')" % (a[0], a[1])), "f",
      "the first claimer can no longer release it")
t.is_(pg.scalar("SELECT finish_cleanup(%s, %s)" % (a[0], a[1])), "f",
      "nor finish it")
t.is_(orphans(), sizes["k5"], "its bytes still count")
t.is_(pg.scalar("SELECT finish_cleanup(%s, %s)" % (b[0], b[1])), "t",
      "the holder of the current token finishes it")
t.is_(orphans(), 0, "the bytes were released once")
t.is_(pg.scalar("SELECT count(*) FROM pending_objects"), "0", "no intent left")
os.remove(env.path("disk-a", "bkt", "k5"))

# --- 3. SIGKILL in the middle of a pass --------------------------------------------------------
forget("k6")
row6 = row_of("k6")
holder = subprocess.Popen(["psql", "-X", "-q", "-h", pg.sock, "-p", str(pg.port), "-U", "s3mux",
                           "-d", pg.dbname], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, text=True)
at_cleanup(lambda: holder.poll() is None and holder.kill())
holder.stdin.write("BEGIN;\nSELECT 1 FROM backend_quotas WHERE backend = 'disk-a' FOR UPDATE;\n")
holder.stdin.flush()
wait_until(lambda: pg.scalar("SELECT count(*) FROM pg_locks l JOIN pg_class c ON "
                             "c.oid = l.relation WHERE c.relname = 'backend_quotas' AND "
                             "l.mode = 'RowShareLock'") != "0", 10)
victim = RoleProcess("cleanup", env.role_cfg, "victim")


def stuck():
    return pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                     "'s3mux-cleanup' AND wait_event_type = 'Lock'") == "1"


t.ok(wait_until(stuck, 20), "the running cleanup role deleted k6 and waits to record it")
t.ok(not exists("k6"), "k6 is gone from the disk")
victim.signal(signal.SIGKILL)
victim.proc.wait(timeout=10)
# the server notices a dead client only when it next talks to it, which a lock waiter never
# does: end its session as the server would once it noticed
pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
        "'s3mux-cleanup'")
holder.stdin.write("ROLLBACK;\n")
holder.stdin.close()
holder.wait(timeout=10)
killed_at = time.monotonic()
row = pg.psql("SELECT claimed_by, claim_token IS NOT NULL FROM cleanup_queue WHERE id = %s"
              % row6)
t.is_(row, [["cleanup:%s:%d" % (os.uname().nodename, victim.pid), "t"]],
      "the killed worker's claim is still on the row")
t.is_(orphans(), sizes["k6"], "its bytes still count as orphans")

p = env.once("cleanup")
t.like(p.out, r"cleanup pass: 0 deleted, 0 failed, 0 dead-lettered, 0 reclaimed",
       "within the grace period the claim is respected")
time.sleep(max(0, GRACE + 0.3 - (time.monotonic() - killed_at)))
p = env.once("cleanup")
env.clean_run(p, "the pass after the kill")
t.like(p.out, r"cleanup pass: 1 deleted, 0 failed, 0 dead-lettered, 1 reclaimed",
       "the next pass after the grace period reclaims it")
t.is_(orphans(), 0, "the bytes are released once")
t.is_(pg.scalar("SELECT count(*) FROM cleanup_queue") + "/" +
      pg.scalar("SELECT count(*) FROM pending_objects"), "0/0", "queue and intents empty")
t.is_(env.quota("disk-a"), (0, 0, 0), "the quota is back to zero")
t.is_(env.disk_bytes("disk-a"), 0, "and so is the disk")
env.finish()
t.done()
