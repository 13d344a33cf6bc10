#!/usr/bin/python3
# leader-election.t: two full s3muxd supervisors on one database.  Every role lock is held
# exactly once across both: the first instance's roles are active, the second's stand by.
# When one role process of the active instance dies, the other instance takes that role
# over and the restarted process stands by; when the active supervisor gets SIGTERM, the
# other instance takes over every role within seconds.
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from s3mux import *  # noqa: E402,F403
from s3mux_role import *  # noqa: E402,F403

t = TAP()
pg = PgCluster()
body = "roles:\n" + "".join("  %s:\n    standby_retry: 1s\n" % r for r in ROLES)
cfg1 = write_config(tempdir(), pg, body=body)
cfg2 = write_config(tempdir(), pg, body=body)
ALL_LOCKS = [lock for r in ROLES for lock in ROLE_LOCKS[r]]


def holders():
    """{lock: [backend pids]} for every role lock."""
    return {lock: [pid for pid, _ in lock_holders(pg, lock)] for lock in ALL_LOCKS}


def all_held_once():
    h = holders()
    return h if all(len(p) == 1 for p in h.values()) else None


def session_owner(daemon):
    """{backend pid: role} from the children's 'database session pid N' log lines."""
    return {int(m.group(2)): m.group(1) for m in re.finditer(
        r"(\w+)\[\d+\] info: database session pid (\d+)", daemon.log())}


def roles_output():
    p = run([S3MUXCTL, "-c", cfg1, "roles"])
    return p.stdout if p.returncode == 0 else ""


s1 = Daemon(cfg1).start()
h = wait_until(all_held_once, 30)
t.ok(h, "the first instance holds every role lock")
s2 = Daemon(cfg2).start()
both = wait_until(lambda: all(len(sessions(pg, "s3mux-" + r)) == 2 for r in ROLES), 30)
t.ok(both, "both instances have a session for every role")
t.ok(wait_until(lambda: all(s2.log().count("standing by: lock %d " % ROLE_LOCKS[r][0]) >= 1
                            for r in ROLES), 15),
     "every role of the second instance stands by")

h = all_held_once()
t.ok(h, "every role lock is held exactly once across both instances")
owners1 = session_owner(s1)
t.ok(h and all(owners1.get(h[lock][0]) == r for r in ROLES for lock in ROLE_LOCKS[r]),
     "each lock is held by the first instance's process of its role")
t.ok(h and all(len({h[lock][0] for lock in ROLE_LOCKS[r]}) == 1 for r in ROLES),
     "the locks of one role are held by one session")
out = roles_output()
for r in ROLES:
    for lock in ROLE_LOCKS[r]:
        t.like(out, r"(?m)^%s\s+%d\s+held\s+s3mux-%s\s" % (r, lock, r),
               "s3muxctl roles: %s holds %d" % (r, lock))

# One role process of the active instance dies: the other instance takes the role.
victim = s1.child("replicator")
old = h[1002][0]
os.kill(victim, signal.SIGKILL)
start = time.monotonic()
new = wait_until(lambda: (lambda p: p if p not in (None, old) else None)(lock_holder(pg, 1002)),
                 10)
t.ok(new, "the replicator killed in the first instance: its lock moves")
t.ok(time.monotonic() - start < 5, "within seconds")
t.ok(wait_until(lambda: session_owner(s2).get(new) == "replicator", 5),
     "to the second instance's replicator")
t.ok(wait_until(lambda: s1.child("replicator") not in (None, victim), 20),
     "the first supervisor restarts its replicator")
t.ok(wait_until(lambda: len(sessions(pg, "s3mux-replicator")) == 2, 20),
     "which connects again")
t.ok(wait_until(all_held_once, 5), "every lock is still held exactly once")

# The active supervisor stops: every role it still holds moves to the other instance.
start = time.monotonic()
t.is_(s1.stop(30), 0, "SIGTERM: the first supervisor exits 0")
moved = wait_until(lambda: (lambda h2: h2 if h2 and all(
    session_owner(s2).get(h2[lock][0]) == r for r in ROLES for lock in ROLE_LOCKS[r])
    else None)(all_held_once()), 15)
took = time.monotonic() - start
t.ok(moved, "the second instance holds every role lock")
t.ok(took < 15, "within seconds of the SIGTERM (%.1f s)" % took)
t.ok(all(s2.log().count("active: holding lock(s) %s" % ", ".join(map(str, ROLE_LOCKS[r])))
         >= 1 for r in ROLES), "each of its roles logged that it is active")
t.ok(wait_until(lambda: all(len(sessions(pg, "s3mux-" + r)) == 1 for r in ROLES), 10),
     "the first instance's sessions are gone")

t.is_(s2.stop(30), 0, "SIGTERM: the second supervisor exits 0")
t.ok(wait_until(lambda: pg.scalar("SELECT count(*) FROM pg_locks"
                                  " WHERE locktype = 'advisory'") == "0", 10),
     "no advisory lock is left")
t.unlike(s1.log() + s2.log(), r"ERROR: (Leak|Address)Sanitizer|runtime error",
         "no sanitizer reports")
t.done()
