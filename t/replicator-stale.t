#!/usr/bin/python3
# replicator-stale.t: a replica is recorded only if its source copy still exists.  The
# replicator's copies are made slow with its test hook (S3MUX_TEST_REPLICA_SLICE_DELAY_MS:
# a sleep per 256 KiB slice), and while it copies an 8 MiB object the object is overwritten
# through s3muxd: the finished copy is stale, its bytes are queued for cleanup, the
# catalogue never holds a copy of the old version beside the new one, and the same pass
# then copies the new version.  A delete during the copy leaves no copy in the catalogue
# and every byte on the backends queued for cleanup.  SIGTERM during a copy abandons it: no
# intent, reservation or temporary file is left, and the next pass copies the object.
# s3mux-cleanup then deletes every byte the catalogue no longer holds.
import hashlib
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, WORKERS, run, wait_until  # noqa: E402
from s3mux_repl import REPLICATOR, SANITIZER, ReplEnv  # noqa: E402

MIB = 1024 * 1024
BUCKET = "stale"
HOOK = {"S3MUX_TEST_REPLICA_SLICE_DELAY_MS": "100"}

t = TAP()
env = ReplEnv(t, copies=2, live=False, cleanup=False)
s3 = env.client()
s3.create_bucket(Bucket=BUCKET)


class SlowReplicator:
    """s3mux-replicator --once with slow copies, its output in a file."""

    def __init__(self, tag):
        self.log_path = os.path.join(env.dir, "replicator-%s.log" % tag)
        envir = dict(os.environ)
        envir.update(HOOK)
        with open(self.log_path, "w") as logf:
            self.proc = subprocess.Popen([REPLICATOR, "-c", env.hand_cfg, "-f", "--once"],
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=envir)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait(self, timeout=120):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def replica_intent(key):
    """The backend a replica of key is being copied to, or None."""
    return env.pg.scalar("SELECT backend FROM pending_objects WHERE kind = 'replica'"
                         " AND bucket = '%s' AND key = '%s'" % (BUCKET, key))


def only(d):
    return list(d)[0] if len(d) == 1 else None


# --- an overwrite during the copy ---------------------------------------------------------
old_body = os.urandom(8 * MIB)
new_body = os.urandom(8 * MIB)
s3.put_object(Bucket=BUCKET, Key="big", Body=old_body)
v1 = env.version(BUCKET, "big")
source = only(env.locations(BUCKET, "big"))
target = ({"disk-a", "disk-b"} - {source}).pop()
t.ok(source is not None, "the object has one copy, on %s" % source)

rep = SlowReplicator("overwrite")
t.is_(wait_until(lambda: replica_intent("big"), 30), target,
      "the replicator began a replica on %s" % target)
s3.put_object(Bucket=BUCKET, Key="big", Body=new_body)
v2 = env.version(BUCKET, "big")
t.ok(v2 > v1, "the object was overwritten during the copy (version %d, then %d)" % (v1, v2))
t.is_(env.locations(BUCKET, "big"), {source: v2}, "the overwrite landed in place on %s"
      % source)
t.ok(wait_until(lambda: "is stale" in rep.log(), 60), "the replicator found its copy stale")
t.like(rep.log(), r"replica of stale/big on %s is stale: .*queued for cleanup \(row \d+\)"
       % target, "and said so, naming the cleanup row")
locs = env.locations(BUCKET, "big")
t.ok(target not in locs or locs[target] == v2,
     "the stale copy was never recorded (copies now: %r)" % locs)
rows = env.cleanup_rows(BUCKET, "big")
t.ok((target, "big", "stale replica", 8 * MIB) in rows or locs.get(target) == v2,
     "the stale bytes on %s are queued for cleanup (%r)" % (target, rows))
rc = rep.wait()
out = rep.log()
t.is_(rc, 0, "the --once pass finished")
t.like(out, r"replication pass: 3 events, 1 copied, 1 stale, 0 failed",
       "the pass counted one stale replica, and copied the new version")
t.unlike(out, SANITIZER, "no sanitizer report from the replicator")
t.is_(env.locations(BUCKET, "big"), {"disk-a": v2, "disk-b": v2},
      "the catalogue holds two copies, both of the new version")
t.is_(env.digest("disk-a", BUCKET, "big"), env.digest("disk-b", BUCKET, "big"),
      "the bytes on both disks are the same")
t.is_(env.digest(target, BUCKET, "big"), hashlib.sha256(new_body).hexdigest(),
      "and they are the new object's")
t.is_([r for r in env.cleanup_rows(BUCKET, "big") if r[0] == target], [],
      "the stale copy's cleanup row went when the new replica replaced its bytes")
t.is_(env.pg.scalar("SELECT count(*) FROM pending_objects"), "0", "no intent is left")
env.check_sums("after the overwrite")

# --- a delete during the copy -------------------------------------------------------------
s3.put_object(Bucket=BUCKET, Key="doomed", Body=os.urandom(8 * MIB))
source = only(env.locations(BUCKET, "doomed"))
target = ({"disk-a", "disk-b"} - {source}).pop()
rep = SlowReplicator("delete")
t.is_(wait_until(lambda: replica_intent("doomed"), 30), target,
      "a replica of another object is being copied to %s" % target)
s3.delete_object(Bucket=BUCKET, Key="doomed")
t.is_(env.version(BUCKET, "doomed"), None, "the object was deleted during the copy")
rc = rep.wait()
out = rep.log()
t.is_(rc, 0, "the --once pass finished")
t.like(out, r"replication pass: 2 events, 0 copied, 1 stale, 0 failed",
       "the copy of the deleted object was found stale")
t.unlike(out, SANITIZER, "no sanitizer report from the replicator")
t.is_(env.locations(BUCKET, "doomed"), {}, "the catalogue holds no copy of it")
rows = env.cleanup_rows(BUCKET, "doomed")
t.ok((target, "doomed", "stale replica", 8 * MIB) in rows,
     "the stale replica on %s is queued for cleanup (%r)" % (target, rows))
for name in ("disk-a", "disk-b"):
    on_disk = os.path.exists(env.path(name, BUCKET, "doomed"))
    queued = any(r[0] == name for r in rows)
    t.ok(queued or not on_disk, "%s: its bytes are %s" % (
        name, "queued for cleanup" if queued else "gone already"))
env.check_sums("after the delete")

# --- a stop during the copy ---------------------------------------------------------------
s3.put_object(Bucket=BUCKET, Key="cut", Body=os.urandom(8 * MIB))
source = only(env.locations(BUCKET, "cut"))
target = ({"disk-a", "disk-b"} - {source}).pop()
rep = SlowReplicator("stop")
t.is_(wait_until(lambda: replica_intent("cut"), 30), target, "a slow copy began")
time.sleep(0.5)
rep.proc.send_signal(signal.SIGTERM)
rc = rep.wait(30)
out = rep.log()
t.is_(rc, 1, "SIGTERM during the copy: the --once pass stops unfinished (exit 1)")
t.like(out, r"replica of stale/cut to %s abandoned: stopping" % target,
       "the copy in flight was abandoned")
t.unlike(out, SANITIZER, "no sanitizer report from the replicator")
t.is_(env.pg.scalar("SELECT count(*) FROM pending_objects"), "0", "its intent is gone")
t.is_(env.quotas()[target][1], 0, "its reservation is released")
t.is_(os.listdir(os.path.join(env.disks[target], ".tmp")), [], "no temporary file is left")
t.is_(env.locations(BUCKET, "cut"), {source: env.version(BUCKET, "cut")},
      "the object still has its one copy")
p = env.once()
env.clean_run(p, "the next --once")
t.like(p.out, r"replication pass: 1 events, 1 copied", "it copies the object (its event "
       "was not passed over)")
env.check_sums("after the stop")

p = run([os.path.join(WORKERS, "s3mux-cleanup"), "-c", env.hand_cfg, "-f", "--once"],
        timeout=120)
t.is_(p.returncode, 0, "s3mux-cleanup --once exits 0")
t.unlike(p.stdout + p.stderr, SANITIZER, "no sanitizer report from the cleanup role")
t.is_(env.cleanup_rows(BUCKET), [], "the cleanup queue is empty afterwards")
t.ok(not os.path.exists(env.path("disk-a", BUCKET, "doomed")) and
     not os.path.exists(env.path("disk-b", BUCKET, "doomed")),
     "no byte of the deleted object is left on either disk")
env.check_sums("after the cleanup")
env.finish()
t.done()
