#!/usr/bin/python3
# supervisor-stop.t: SIGTERM stops the supervisor and every child within the bound; a child
# that ignores SIGTERM is killed after daemon.stop_timeout, or at once on a second SIGTERM;
# when the supervisor is killed with SIGKILL its children exit by themselves.
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from s3mux import *  # noqa: E402,F403

t = TAP()
pg = PgCluster()
logs = []  # every daemon's log, checked for sanitizer reports at the end


def all_gone(pids):
    return all(not pid_alive(p) for p in pids)


def kill_pids(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


# --- SIGTERM: everything stops, the pid file goes ------------------------------------------
d = tempdir()
cfg = write_config(d, pg)
daemon = Daemon(cfg).start()
logs.append(daemon.log_path)
kids = [p for p, _ in daemon.children()]
t.ok(len(kids) == 2 + len(ROLES), "%d children running" % len(kids))
began = time.monotonic()
daemon.signal(signal.SIGTERM)
status = daemon.wait_exit(15)
t.is_(status, 0, "SIGTERM: the supervisor exits 0 (in %.1fs)" % (time.monotonic() - began))
t.ok(wait_until(lambda: all_gone(kids), 5), "every child is gone")
t.ok(not os.path.exists(os.path.join(d, "s3muxd.pid")), "the pid file is removed")
t.like(daemon.log(), r"SIGTERM: stopping \d+ children", "the log says it is stopping")
t.like(daemon.log(), r"s3muxd\[%d\] info: stopped" % daemon.pid, "the log says it stopped")

# --- SIGKILL of the supervisor: the children follow ------------------------------------------
d = tempdir()
cfg = write_config(d, pg)
daemon = Daemon(cfg).start()
logs.append(daemon.log_path)
kids = [p for p, _ in daemon.children()]
at_cleanup(lambda: kill_pids(kids))
daemon.proc.kill()
daemon.wait_exit(10)
t.ok(wait_until(lambda: all_gone(kids), 10),
     "after SIGKILL of the supervisor its %d children exit by themselves" % len(kids))

# --- a child that ignores SIGTERM ------------------------------------------------------------
# The scrubber is a script that ignores SIGTERM (and so the parent-death signal too).
d = tempdir()
libexec = os.path.join(d, "libexec")
os.makedirs(libexec)
for prog in ["frontend"] + ROLES:
    os.symlink(os.path.join(WORKERS, "s3mux-" + prog), os.path.join(libexec, "s3mux-" + prog))
os.unlink(os.path.join(libexec, "s3mux-scrubber"))
with open(os.path.join(libexec, "s3mux-scrubber"), "w") as f:
    f.write("#!/bin/sh\ntrap '' TERM\nexec sleep 600\n")
os.chmod(os.path.join(libexec, "s3mux-scrubber"), 0o755)
os.environ["S3MUX_LIBEXECDIR"] = libexec


def start_stubborn(stop_timeout):
    path = write_config(d, pg)
    with open(path) as f:
        text = f.read().replace("stop_timeout: 10s", "stop_timeout: %s" % stop_timeout)
    with open(path, "w") as f:
        f.write(text)
    daemon = Daemon(path, log_name="s3muxd-%s.log" % stop_timeout).start(wait_ready=False)
    logs.append(daemon.log_path)
    ok = wait_until(lambda: len(daemon.children()) == 2 + len(ROLES) and
                    any(c.startswith("sleep") for _, c in daemon.children()), 20)
    kids = [p for p, _ in daemon.children()]
    at_cleanup(lambda: kill_pids(kids))
    time.sleep(0.5)
    return daemon, kids, ok


daemon, kids, ok = start_stubborn("3s")
t.ok(ok, "the supervisor runs with a scrubber that ignores SIGTERM")
began = time.monotonic()
daemon.signal(signal.SIGTERM)
status = daemon.wait_exit(20)
took = time.monotonic() - began
t.is_(status, 0, "SIGTERM: the supervisor exits 0")
t.ok(2.5 <= took <= 8, "it waited for daemon.stop_timeout (3s) and no longer: %.1fs" % took)
t.like(daemon.log(), r"children still running after 3s: killing them", "the log says it killed them")
t.like(daemon.log(), r"scrubber \(pid \d+\) killed by signal 9", "the scrubber was killed")
t.ok(wait_until(lambda: all_gone(kids), 5), "every child is gone")

daemon, kids, ok = start_stubborn("60s")
t.ok(ok, "again, with daemon.stop_timeout 60s")
daemon.signal(signal.SIGTERM)
time.sleep(1.5)
t.ok(daemon.proc.poll() is None, "after one SIGTERM the supervisor waits for the scrubber")
began = time.monotonic()
daemon.signal(signal.SIGTERM)
status = daemon.wait_exit(10)
took = time.monotonic() - began
t.is_(status, 0, "a second SIGTERM: the supervisor exits 0 at once (%.1fs)" % took)
t.ok(took < 5, "well before daemon.stop_timeout")
t.like(daemon.log(), r"SIGTERM again: killing the children now", "the log says so")
t.ok(wait_until(lambda: all_gone(kids), 5), "every child is gone")

t.unlike("".join(open(p, errors="replace").read() for p in logs),
         r"AddressSanitizer|runtime error:", "no sanitizer reports in %d logs" % len(logs))
t.done()
