#!/usr/bin/python3
# supervisor-respawn.t: a child killed with SIGKILL is started again, and the log says how
# it died; the children get the descriptors and environment src/child.h promises.
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from s3mux import *  # noqa: E402,F403

t = TAP()
pg = PgCluster()
d = tempdir()
cfg = write_config(d, pg)
pidfile = os.path.join(d, "s3muxd.pid")
daemon = Daemon(cfg).start()


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return dict(e.split("=", 1) for e in f.read().decode(errors="replace").split("\0")
                        if "=" in e)
    except OSError:
        return {}


def fd_target(pid, fd):
    try:
        return os.readlink("/proc/%d/fd/%d" % (pid, fd))
    except OSError:
        return None


def fd_targets(pid):
    try:
        return [fd_target(pid, int(n)) for n in os.listdir("/proc/%d/fd" % pid)]
    except OSError:
        return []


t.like(cmdline(daemon.pid), r"^s3muxd: supervisor", "the supervisor's title")
with open(pidfile) as f:
    t.is_(f.read().strip(), str(daemon.pid), "the pid file names the supervisor")

# --- what a child inherits ----------------------------------------------------------------
fe = wait_until(lambda: daemon.child("frontend 0"), 10)
rep = daemon.child("replicator")
t.ok(fe and rep, "frontend 0 and replicator are running")
# the supervisor execs it under the title "s3muxd: replicator" and its arguments; the role
# then rewrites its argument block to the title alone, a moment after it starts
wait_until(lambda: cmdline(rep) == "s3muxd: replicator", 10)
t.is_(cmdline(rep), "s3muxd: replicator",
      "a role's process title is its role alone")
env = environ(fe)
t.is_(env.get("S3MUX_PARENT_FD"), "3", "front end: S3MUX_PARENT_FD=3")
t.is_(env.get("S3MUX_LISTEN_FDS"), "s3=4,admin=5", "front end: S3MUX_LISTEN_FDS")
t.is_(env.get("S3MUX_WORKER_INDEX"), "0", "front end: S3MUX_WORKER_INDEX")
t.like(fd_target(fe, 3) or "", r"^socket:", "front end: fd 3 is the link to the supervisor")
t.like(fd_target(fe, 4) or "", r"^socket:", "front end: fd 4 is the s3 listener")
t.like(fd_target(fe, 5) or "", r"^socket:", "front end: fd 5 is the admin listener")
renv = environ(rep)
t.is_(renv.get("S3MUX_PARENT_FD"), "3", "role: S3MUX_PARENT_FD=3")
t.ok("S3MUX_LISTEN_FDS" not in renv and "S3MUX_WORKER_INDEX" not in renv,
     "role: no listening sockets, no worker index")
t.ok(not any(x and x.endswith("s3muxd.pid") for x in fd_targets(rep) + fd_targets(fe)),
     "children do not inherit the pid file")

# --- SIGKILL a role ------------------------------------------------------------------------
time.sleep(2.5)  # up and ready for more than 2s: it did work, so this is no throttle
os.kill(rep, signal.SIGKILL)
new = wait_until(lambda: (lambda p: p if p and p != rep else None)(daemon.child("replicator")),
                 10)
t.ok(new, "a new replicator appears after kill -9 (pid %s → %s)" % (rep, new))
t.ok(not pid_alive(rep), "the old replicator is gone")
t.ok(daemon.wait_log(r"replicator \(pid %d\) killed by signal 9 \(Killed\)" % rep, 5),
     "the log says the replicator was killed by signal 9")
t.ok(daemon.wait_log(r"replicator: respawning, next start in 1s", 5),
     "the first respawn waits 1s")

# --- SIGKILL a front end --------------------------------------------------------------------
os.kill(fe, signal.SIGKILL)
new_fe = wait_until(
    lambda: (lambda p: p if p and p != fe else None)(daemon.child("frontend 0")), 10)
t.ok(new_fe, "a new frontend 0 appears after kill -9")
t.ok(daemon.wait_log(r"frontend 0 \(pid %d\) killed by signal 9 \(Killed\)" % fe, 5),
     "the log says frontend 0 was killed by signal 9")
t.is_(environ(new_fe).get("S3MUX_WORKER_INDEX") if new_fe else None, "0",
      "the new front end keeps its slot number")
t.is_(len(daemon.role_children()), len(ROLES), "every role is running")

# --- SIGUSR1: reopen logs, passed on ------------------------------------------------------------
before = sorted(p for p, _ in daemon.children())
daemon.signal(signal.SIGUSR1)
t.ok(daemon.wait_log(r"SIGUSR1: reopening log files", 5), "SIGUSR1: the supervisor reopens its log")
time.sleep(1)
t.is_(sorted(p for p, _ in daemon.children()), before, "SIGUSR1: every child lives on")

t.is_(daemon.stop(30), 0, "SIGTERM: the supervisor exits 0")
t.ok(not os.path.exists(pidfile), "the pid file is removed at exit")
t.unlike(daemon.log(), r"AddressSanitizer|runtime error:", "no sanitizer reports")
t.done()
