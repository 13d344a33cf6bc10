#!/usr/bin/python3
# supervisor-pidfile.t: the locked pid file stops a second s3muxd on the same file and
# leaves the first one alone; a stale file does not stop a start; without -f, s3muxd
# daemonizes, its starting process exits 0 once the pid file names the daemon, and SIGTERM
# to that pid stops it all.
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


def read_pid():
    try:
        with open(pidfile) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return None


# --- a second s3muxd on the same pid file ----------------------------------------------------
first = Daemon(cfg).start()
kids = sorted(p for p, _ in first.children())
second = run([S3MUXD, "-f", "-c", cfg], timeout=20)
t.ok(second.returncode != 0, "the second s3muxd exits non-zero (%d)" % second.returncode)
t.like(second.stderr, r"s3muxd: another s3muxd \(pid %d\) is running with pid file %s"
       % (first.pid, re.escape(pidfile)), "and says which s3muxd holds which pid file")
time.sleep(0.5)
t.ok(first.proc.poll() is None, "the first one still runs")
t.is_(read_pid(), first.pid, "the pid file still names the first one")
t.is_(sorted(p for p, _ in first.children()), kids, "its children are untouched")
t.is_(first.stop(30), 0, "the first one stops")
t.ok(not os.path.exists(pidfile), "and removes its pid file")

# --- a stale pid file ------------------------------------------------------------------------
with open(pidfile, "w") as f:
    f.write("999999\n")
again = Daemon(cfg, log_name="s3muxd-2.log").start()
t.is_(read_pid(), again.pid, "a stale pid file is taken over")
t.is_(again.stop(30), 0, "and that one stops too")

# --- daemonized ------------------------------------------------------------------------------
logfile = os.path.join(d, "daemon.log")
with open(cfg) as f:
    text = f.read().replace("daemon:\n", "daemon:\n  log_file: %s\n" % logfile)
with open(cfg, "w") as f:
    f.write(text)
began = time.monotonic()
p = run([S3MUXD, "-c", cfg], timeout=30)
t.is_(p.returncode, 0, "without -f the starting process exits 0 (%.1fs)" % (time.monotonic() - began))
daemon_pid = read_pid()
t.ok(daemon_pid and pid_alive(daemon_pid), "the pid file names a live daemon (%s)" % daemon_pid)


def cleanup_daemon():
    if daemon_pid and pid_alive(daemon_pid):
        kids = [k for k, _ in children_of(daemon_pid)]
        os.kill(daemon_pid, signal.SIGKILL)
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except OSError:
                pass


at_cleanup(cleanup_daemon)
if daemon_pid:
    with open("/proc/%d/cmdline" % daemon_pid, "rb") as f:
        t.like(f.read().decode(errors="replace"), r"^s3muxd: supervisor", "its title")
    with open("/proc/%d/stat" % daemon_pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    t.is_(int(fields[3]), daemon_pid, "it leads its own session")
    t.is_(os.readlink("/proc/%d/cwd" % daemon_pid), "/", "its directory is /")
    t.like(os.readlink("/proc/%d/fd/0" % daemon_pid), r"^/dev/null", "stdin is /dev/null")
    ok = wait_until(lambda: len(children_of(daemon_pid)) == 2 + len(ROLES), 30)
    t.ok(ok, "it starts its children")
    t.ok(all(not c.endswith(" -f") for _, c in children_of(daemon_pid)),
         "they are not told to run in the foreground")
    t.ok(wait_until(lambda: os.path.exists(logfile) and "schema up to date" in open(logfile).read(), 10),
         "it logs to daemon.log_file")
    kids = [k for k, _ in children_of(daemon_pid)]
    os.kill(daemon_pid, signal.SIGTERM)
    t.ok(wait_until(lambda: not pid_alive(daemon_pid), 20), "SIGTERM stops the daemon")
    t.ok(wait_until(lambda: all(not pid_alive(k) for k in kids), 5), "and its children")
    t.ok(not os.path.exists(pidfile), "the pid file is removed")
else:
    t.ok(False, "no daemon to look at")

t.unlike(first.log() + again.log() + (open(logfile).read() if os.path.exists(logfile) else ""), r"AddressSanitizer|runtime error:", "no sanitizer reports")
t.done()
