#!/usr/bin/python3
# supervisor-throttle.t: a child that dies at once is throttled with a doubling delay, not
# spun; one that exits with status 2 (configuration error) is not respawned; a reload
# starts a held slot again.  The libexec directory is a temp dir: the real programs for
# every role but two, a replicator that exits 1 at once and a lifecycle that exits 2.
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from s3mux import *  # noqa: E402,F403

t = TAP()
pg = PgCluster()
d = tempdir()
libexec = os.path.join(d, "libexec")
os.makedirs(libexec)
for prog in ["frontend"] + ROLES:
    os.symlink(os.path.join(WORKERS, "s3mux-" + prog), os.path.join(libexec, "s3mux-" + prog))


def stub(role, status):
    path = os.path.join(libexec, "s3mux-" + role)
    os.unlink(path)
    with open(path, "w") as f:
        f.write("#!/bin/sh\ndate +%%s.%%N >> %s\nexit %d\n"
                % (os.path.join(d, role + ".starts"), status))
    os.chmod(path, 0o755)


def starts(role):
    try:
        with open(os.path.join(d, role + ".starts")) as f:
            return [float(x) for x in f.read().split()]
    except OSError:
        return []


stub("replicator", 1)
stub("lifecycle", 2)
os.environ["S3MUX_LIBEXECDIR"] = libexec
cfg = write_config(d, pg)
daemon = Daemon(cfg).start(wait_ready=False)
t.ok(daemon.wait_log(r"starting \d+ front ends and 7 roles", 30), "the supervisor starts its children")

# --- exit 1 at once: throttled, with a doubling delay ---------------------------------------
first = wait_until(lambda: starts("replicator"), 10)
t.ok(first, "the failing replicator was started")
time.sleep(6.5)
seen = starts("replicator")
t.ok(3 <= len(seen) <= 5, "about 6.5s after its first start: %d starts, a handful" % len(seen))
gaps = [b - a for a, b in zip(seen, seen[1:])]
t.diag("gaps between starts: %s" % ", ".join("%.2f" % g for g in gaps))
t.ok(len(gaps) >= 2 and gaps[0] >= 0.9 and gaps[1] >= 1.8,
     "the delays follow the backoff (1s, then 2s)")
t.ok(all(b >= a * 1.5 for a, b in zip(gaps, gaps[1:])), "each delay is longer than the last")
log = daemon.log()
for n in (1, 2, 4):
    t.like(log, r"replicator: died before doing any work; throttling, next start in %ds" % n,
           "the log says the replicator is throttled, next start in %ds" % n)

# --- exit 2: left stopped ------------------------------------------------------------------
t.is_(len(starts("lifecycle")), 1, "the lifecycle that exited 2 was started once")
t.like(log, r"lifecycle: exited with configuration error; not respawning",
       "the log says the lifecycle is not respawned")
t.unlike(log, r"lifecycle: .*next start in", "no restart is scheduled for the lifecycle")
t.ok(daemon.proc.poll() is None, "the supervisor keeps running")
t.ok(daemon.child("cleanup") and daemon.child("frontend 0"), "the other children keep running")

# --- a reload starts the held slot again and lifts the throttle ------------------------------
before = len(starts("replicator"))
daemon.signal(signal.SIGHUP)
t.ok(daemon.wait_log(r"reload complete", 30), "the reload completes")
t.ok(wait_until(lambda: len(starts("lifecycle")) == 2, 10), "after the reload the lifecycle is started again")
t.ok(wait_until(lambda: len(starts("replicator")) > before, 5),
     "after the reload the replicator is started at once")
t.ok(daemon.wait_log(r"(?s)reloaded configuration.*replicator: died before doing any work; throttling, "
                     r"next start in 1s", 10), "and its backoff starts over at 1s")

t.is_(daemon.stop(30), 0, "SIGTERM: the supervisor exits 0")
t.unlike(daemon.log(), r"AddressSanitizer|runtime error:", "no sanitizer reports")
t.done()
