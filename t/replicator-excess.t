#!/usr/bin/python3
# replicator-excess.t: copies beyond replication.copies are removed.  Forty objects with two
# copies each over two fs backends; replication.copies lowered to 1 in the configuration
# and s3muxd sent SIGHUP: the supervised replicator removes one copy of each, on the fuller
# backend (used over quota), and deletes its bytes at once.  Raised back to 2: the copies
# come back.  With the emptier backend marked draining and copies lowered again, the copies
# on the draining backend go first.  A backend whose circuit breaker is open (named by the
# replicator) is preferred over the fuller one.  The quota sums agree after every step.
import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP, wait_until  # noqa: E402
from s3mux_repl import ReplEnv  # noqa: E402

N = 40
KIB = 1024
BUCKET = "excess"

t = TAP()
# disk-a has the smaller quota: the same bytes make it the fuller one.
env = ReplEnv(t, backends=(("disk-a", "40MiB"), ("disk-b", "1GiB")), copies=2, live=True,
              replicator={"sweep_interval": "0s"})
s3 = env.client()
s3.create_bucket(Bucket=BUCKET)
bodies = {}
for i in range(N):
    key = "k%03d" % i
    bodies[key] = os.urandom(50 * KIB + i * 1000)
    s3.put_object(Bucket=BUCKET, Key=key, Body=bodies[key])
t.ok(wait_until(lambda: env.copy_counts(BUCKET) == {2: N}, 60),
     "every object has two copies (%r)" % env.copy_counts(BUCKET))
env.check_sums("with two copies")


def set_copies(n):
    with open(env.cfg) as f:
        text = f.read()
    text = text.replace("copies: %d\n" % (3 - n), "copies: %d\n" % n)
    with open(env.cfg, "w") as f:
        f.write(text)
    set_copies.mark = len(env.log())
    env.daemon.signal(signal.SIGHUP)
    return wait_until(lambda: "reload complete" in env.log()[set_copies.mark:], 30)


def removed(n):
    """Wait for the pass that removed n excess copies (and deleted their bytes)."""
    pattern = r"replication pass: \d+ events, 0 copied, 0 stale, 0 failed, %d excess removed" % n
    return wait_until(lambda: re.search(pattern, env.log()[set_copies.mark:]), 60)


def holders():
    """{backend: number of objects with a copy there}"""
    rows = env.pg.psql("SELECT backend, count(*) FROM object_locations WHERE bucket = '%s'"
                       " GROUP BY backend" % BUCKET)
    return {r[0]: int(r[1]) for r in rows}


def files(name):
    return sum(os.path.exists(env.path(name, BUCKET, k)) for k in bodies)


q = env.quotas()
t.ok(q["disk-a"][0] / q["disk-a"][3] > q["disk-b"][0] / q["disk-b"][3],
     "disk-a is the fuller backend")
t.ok(set_copies(1), "copies lowered to 1; s3muxd reloaded")
t.ok(removed(N), "the replicator logged a pass that removed %d copies" % N)
t.is_(env.copy_counts(BUCKET), {1: N}, "every object is down to one copy")
t.is_(holders(), {"disk-b": N}, "the copies on the fuller backend went")
t.is_(files("disk-a"), 0, "their bytes are deleted from disk-a")
t.is_(files("disk-b"), N, "disk-b keeps every object")
t.is_(env.cleanup_rows(BUCKET), [], "nothing is left in the cleanup queue")
env.check_sums("after lowering copies")
for key in ("k000", "k017", "k039"):
    got = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    t.ok(got == bodies[key], "%s still reads back" % key)

t.ok(set_copies(2), "copies raised to 2 again; s3muxd reloaded")
t.ok(wait_until(lambda: env.copy_counts(BUCKET) == {2: N}, 60),
     "every object has two copies again (%r)" % env.copy_counts(BUCKET))
t.is_(files("disk-a"), N, "the copies are back on disk-a")
env.check_sums("after raising copies")

env.pg.psql("UPDATE backend_quotas SET draining = true WHERE backend = 'disk-b'")
t.ok(set_copies(1), "disk-b marked draining, copies lowered to 1; s3muxd reloaded")
t.ok(removed(N), "the replicator removed %d copies" % N)
t.is_(env.copy_counts(BUCKET), {1: N}, "every object is down to one copy")
t.is_(holders(), {"disk-a": N}, "the copies on the draining backend went first, though "
      "disk-a is fuller")
t.is_(files("disk-b"), 0, "their bytes are deleted from disk-b")
env.check_sums("after removing from the draining backend")
env.pg.psql("UPDATE backend_quotas SET draining = false WHERE backend = 'disk-b'")

# remove_excess itself, in a transaction rolled back: a broken backend is preferred over
# the fuller one, and no object drops below the factor asked for.
t.ok(set_copies(2), "copies raised to 2 again")
t.ok(wait_until(lambda: env.copy_counts(BUCKET) == {2: N}, 60), "two copies each again")
rows = env.pg.psql("BEGIN; SELECT backend, count(*) FROM remove_excess(1, '{disk-b}', '', '',"
                   " 1000) GROUP BY backend; ROLLBACK")
t.is_(rows, [["disk-b", str(N)]], "with disk-b named broken, its copies are chosen")
rows = env.pg.psql("BEGIN; SELECT backend, count(*) FROM remove_excess(1, '{}', '', '', 1000)"
                   " GROUP BY backend; ROLLBACK")
t.is_(rows, [["disk-a", str(N)]], "with none broken, the fuller disk-a's are chosen")
rows = env.pg.psql("BEGIN; SELECT count(*) FROM remove_excess(2, '{}', '', '', 1000);"
                   " ROLLBACK")
t.is_(rows, [["0"]], "with the factor met, nothing is removed")
env.check_sums("at the end")
env.finish()
t.done()
