#!/usr/bin/python3
# cleanup-retry-dlq.t: a backend that refuses deletes.  Deleted objects' copies are retried by
# s3mux-cleanup with a growing delay (attempts counted, next_attempt_at further out each
# time), land in cleanup_dlq after roles.cleanup.max_attempts with their bytes still counted
# as orphans, are listed by `s3muxctl cleanup`, and after the backend heals a requeued dead
# letter is deleted and its bytes released; a forgotten one is written off.
#
# How the backend refuses: the bucket's directory on the fs backend is moved aside and a
# plain file put in its place, so unlink() of any object in it fails with ENOTDIR, for root
# too and on any filesystem (chmod does not stop root; chattr +i needs a capability and a
# filesystem that has the flag).  Healing moves the directory back.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import *  # noqa: E402,F403
from s3mux_roleenv import RoleEnv  # noqa: E402

BASE = 2.0          # roles.cleanup.retry_base, seconds
MAX_ATTEMPTS = 5
SLACK = 0.5         # seconds: clock reading around a pass, rounding

t = TAP()
env = RoleEnv(t, roles={"cleanup": {"retry_base": "2s", "max_attempts": MAX_ATTEMPTS}})
pg = env.pg
s3 = env.client()
s3.create_bucket(Bucket="bkt")
keys = {"k1": 3000, "k2": 5000, "k3": 7000}
for k, n in keys.items():
    s3.put_object(Bucket="bkt", Key=k, Body=os.urandom(n))
total = sum(keys.values())
t.is_(env.quota("disk-a"), (total, 0, 0), "three objects stored and counted")

# --- the backend refuses deletes ------------------------------------------------------------
bucket_dir = os.path.join(env.disks["disk-a"], "bkt")
aside = bucket_dir + ".aside"
os.rename(bucket_dir, aside)
with open(bucket_dir, "w") as f:
    f.write("not a directory\n")

for k in keys:
    s3.delete_object(Bucket="bkt", Key=k)


def rows():
    return pg.psql("SELECT id, attempts, claimed_at IS NULL, coalesce(last_error, '')"
                   " FROM cleanup_queue ORDER BY id")


# the front end tried each delete at once, failed, and released the row (attempt 1)
released = wait_until(lambda: len(rows()) == 3 and all(r[1] == "1" and r[2] == "t"
                                                        for r in rows()), 15)
t.ok(released, "the front end's own delete failed and released each row (attempt 1)")
if not released:
    t.diag(rows())
t.like(" ".join(r[3] for r in rows()), r"Not a directory", "the error is recorded")
t.is_(env.quota("disk-a"), (0, 0, total), "the bytes moved from used to orphan")
ids = [r[0] for r in rows()]


def db_now():
    return float(pg.scalar("SELECT extract(epoch FROM clock_timestamp())"))


def due_in():
    """Seconds from now() to next_attempt_at of each row, by id."""
    return [float(v[0]) for v in pg.psql("SELECT extract(epoch FROM next_attempt_at) FROM "
                                         "cleanup_queue ORDER BY id")]


previous = None
for attempt in range(2, MAX_ATTEMPTS):
    pg.psql("UPDATE cleanup_queue SET next_attempt_at = now()")   # time passes
    before = db_now()
    p = env.once("cleanup")
    after = db_now()
    env.clean_run(p, "pass %d" % attempt)
    t.like(p.out, r"cleanup pass: 0 deleted, 3 failed, 0 dead-lettered, 0 reclaimed",
           "pass %d: three deletes failed" % attempt)
    t.is_([r[1] for r in rows()], [str(attempt)] * 3, "pass %d: attempts counted" % attempt)
    t.ok(all(r[2] == "t" for r in rows()), "pass %d: every row released" % attempt)
    d = BASE * 2 ** (attempt - 1)            # the delay after failure number `attempt`
    delays = [at - before for at in due_in()]
    lo = [at - after for at in due_in()]
    ok = all(x >= d / 2 - SLACK for x in delays) and all(x <= d + SLACK for x in lo)
    t.ok(ok, "pass %d: next attempt between %.0f s and %.0f s out (jittered backoff)" %
         (attempt, d / 2, d))
    if not ok:
        t.diag("measured %r .. %r" % (lo, delays))
    if previous is not None:
        t.ok(all(lo[i] >= previous[i] - SLACK for i in range(3)),
             "pass %d: each row waits longer than after the pass before" % attempt)
    previous = delays
    t.like(p.out, r"failed \(attempt %d of %d\): .*Not a directory; next try in \d+ ms" %
           (attempt, MAX_ATTEMPTS), "pass %d: each failure logged with its attempt" % attempt)

# --- the last attempt: dead letters ----------------------------------------------------------
pg.psql("UPDATE cleanup_queue SET next_attempt_at = now()")
p = env.once("cleanup")
env.clean_run(p, "the last pass")
t.like(p.out, r"cleanup pass: 0 deleted, 0 failed, 3 dead-lettered, 0 reclaimed",
       "attempt %d: three rows dead-lettered" % MAX_ATTEMPTS)
t.is_(rows(), [], "the queue is empty")
dlq = pg.psql("SELECT id, backend, bucket || '/' || key, attempts, size FROM cleanup_dlq ORDER BY id")
t.is_([r[0] for r in dlq], ids, "every row is in cleanup_dlq under its id")
t.is_(set(r[3] for r in dlq), {str(MAX_ATTEMPTS)}, "with its %d attempts" % MAX_ATTEMPTS)
t.is_(env.quota("disk-a"), (0, 0, total), "orphan bytes still counted")
t.is_(pg.scalar("SELECT count(*) FROM pending_objects"), "0", "no delete intent left behind")

p = env.ctl("cleanup")
t.is_(p.returncode, 0, "s3muxctl cleanup exits 0")
t.like(p.out, r"queue: 0 rows \(0 due, 0 claimed\), 0 bytes", "it shows the empty queue")
t.like(p.out, r"dead letters: 3 rows, %d bytes" % total, "and three dead letters")
for r in dlq:
    t.like(p.out, r"(?m)^%s +disk-a +%d +%s .*%s$" % (r[0], MAX_ATTEMPTS, r[4], r[2]),
           "it lists dead letter %s (%s)" % (r[0], r[2]))
t.like(p.out, r"(?m)^ +unlink .*Not a directory$", "with the last error")
t.diag(p.out)

# --- heal, requeue two, forget one -----------------------------------------------------------
os.remove(bucket_dir)
os.rename(aside, bucket_dir)
for i in ids[:2]:
    p = env.ctl("cleanup", "requeue", i)
    t.is_((p.returncode, p.out.strip()), (0, "dead letter %s requeued: due now, attempts reset"
                                          % i), "s3muxctl cleanup requeue %s" % i)
p = env.ctl("cleanup", "forget", ids[2])
t.is_(p.returncode, 0, "s3muxctl cleanup forget %s" % ids[2])
t.like(p.out, r"%d bytes on disk-a no longer counted" % keys["k3"], "it says what it wrote off")
t.is_(env.quota("disk-a"), (0, 0, keys["k1"] + keys["k2"]), "forgetting released k3's bytes")
p = env.ctl("cleanup", "requeue", ids[2])
t.is_(p.returncode, 1, "requeue of a dead letter that is gone fails")
t.like(p.out, r"no dead letter %s" % ids[2], "and says so")
p = env.ctl("cleanup", "requeue", "12x")
t.is_(p.returncode, 1, "a malformed id is refused")
t.is_(pg.psql("SELECT id, attempts FROM cleanup_queue ORDER BY id"),
      [[i, "0"] for i in ids[:2]], "the requeued rows are back with attempts reset")

p = env.once("cleanup")
env.clean_run(p, "the pass after healing")
t.like(p.out, r"cleanup pass: 2 deleted, 0 failed, 0 dead-lettered, 0 reclaimed",
       "both requeued copies deleted")
t.ok(not os.path.exists(env.path("disk-a", "bkt", "k1")) and
     not os.path.exists(env.path("disk-a", "bkt", "k2")), "their files are gone")
t.ok(os.path.exists(env.path("disk-a", "bkt", "k3")), "the forgotten copy stays on the disk")
t.is_(env.quota("disk-a"), (0, 0, 0), "every byte released")
t.is_(pg.scalar("SELECT count(*) FROM cleanup_queue") + "/" +
      pg.scalar("SELECT count(*) FROM cleanup_dlq"), "0/0", "queue and dead letters empty")
p = env.ctl("cleanup")
t.like(p.out, r"dead letters: 0 rows, 0 bytes", "s3muxctl cleanup agrees")
env.finish()
t.done()
