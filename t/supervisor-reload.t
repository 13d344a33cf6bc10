#!/usr/bin/python3
# supervisor-reload.t: SIGHUP with a broken file changes nothing and says why; SIGHUP with a
# good change restarts the children one at a time without failing a request, adjusts the
# pool (frontend.workers 2 -> 3, a role disabled, a new listen address), and a second
# SIGHUP during a reload is refused.  The rebalancer is wrapped to take 2s before it
# starts, so a reload lasts long enough to send that second SIGHUP.
import http.client
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from s3mux import *  # noqa: E402,F403

t = TAP()
pg = PgCluster()
d = tempdir()
libexec = os.path.join(d, "libexec")
os.makedirs(libexec)
for prog in ["frontend"] + ROLES:
    if prog != "rebalancer":
        os.symlink(os.path.join(WORKERS, "s3mux-" + prog), os.path.join(libexec, "s3mux-" + prog))
with open(os.path.join(libexec, "s3mux-rebalancer"), "w") as f:
    f.write("#!/bin/bash\nsleep 2\nexec -a \"s3muxd: rebalancer\" %s \"$@\"\n"
            % os.path.join(WORKERS, "s3mux-rebalancer"))
os.chmod(os.path.join(libexec, "s3mux-rebalancer"), 0o755)
os.environ["S3MUX_LIBEXECDIR"] = libexec

s3_port, admin_port = free_port(), free_port()
cfg = write_config(d, pg, s3_port=s3_port, admin_port=admin_port)
with open(cfg) as f:
    good_text = f.read()
daemon = Daemon(cfg).start()
# the children read the file themselves: let the slow rebalancer read it before we break it
t.ok(daemon.wait_log(r"rebalancer\[\d+\] info: (active|standing by)", 20), "every child is up")


def pids():
    return sorted(p for p, _ in daemon.children())


def titles():
    return sorted(c.split(" -c ")[0] for _, c in daemon.children())


def rewrite(text):
    tmp = cfg + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, cfg)


def http_status(port):
    """The status of one request on a fresh connection, or the exception's text."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/", headers={"Connection": "close"})
        status = c.getresponse().status
        c.close()
        return status
    except (OSError, http.client.HTTPException) as e:
        return "%s: %s" % (type(e).__name__, e)


# --- a broken file: nothing changes ---------------------------------------------------------
before = pids()
rewrite(good_text + "bogus_key: 1\n")
daemon.signal(signal.SIGHUP)
t.ok(daemon.wait_log(r"not reloading: %s:\d+:\d+: " % re.escape(cfg), 10),
     "a broken file: 'not reloading' with FILE:LINE:COL in the log")
time.sleep(1)
t.ok(daemon.proc.poll() is None, "the supervisor still runs")
t.is_(pids(), before, "the same children, with the same pids")
t.unlike(daemon.log(), r"reloaded configuration", "nothing was reloaded")

# --- a good change: 3 front ends; requests keep being answered -------------------------------
t.ok(isinstance(http_status(s3_port), int), "the front ends answer HTTP before the reload")
results = []
stop_load = threading.Event()


def load():
    while not stop_load.is_set():
        results.append(http_status(s3_port))
        time.sleep(0.01)


loader = threading.Thread(target=load, daemon=True)
loader.start()
rewrite(good_text.replace("workers: 2", "workers: 3"))
daemon.signal(signal.SIGHUP)
t.ok(daemon.wait_log(r"reloaded configuration from %s" % re.escape(cfg), 10),
     "a good file: 'reloaded configuration from FILE'")
daemon.signal(signal.SIGHUP)
t.ok(daemon.wait_log(r"reload already in progress", 5), "a second SIGHUP during the reload is refused")
t.ok(daemon.wait_log(r"reload complete", 60), "the reload completes")
time.sleep(0.5)
stop_load.set()
loader.join(15)
failed = [r for r in results if not isinstance(r, int)]
t.ok(len(results) > 20 and not failed,
     "%d requests during the reload, none failed %s" % (len(results), failed[:3]))
after = pids()
t.is_(len(set(before) & set(after)), 0, "every child was replaced")
t.is_(titles(), sorted(["s3muxd: frontend 0", "s3muxd: frontend 1", "s3muxd: frontend 2"] +
                       ["s3muxd: " + r for r in ROLES]), "three front ends and every role")
t.is_(len(re.findall(r"SIGHUP: reloading configuration", daemon.log())), 2,
      "the refused SIGHUP did not start a second reload")

# --- disable a role, move the s3 listener ----------------------------------------------------
new_port = free_port()
rewrite(good_text.replace("workers: 2", "workers: 3")
        .replace("s3: 127.0.0.1:%d" % s3_port, "s3: 127.0.0.1:%d" % new_port)
        + "roles:\n  notifier:\n    enabled: false\n")
notifier = daemon.child("notifier")
daemon.signal(signal.SIGHUP)
t.ok(daemon.wait_log(r"notifier: no longer configured; stopping pid %d" % notifier, 10),
     "a disabled role is stopped")
t.ok(daemon.wait_log(r"(?s)notifier: no longer configured.*reload complete", 60),
     "the second reload completes")
t.ok(wait_until(lambda: daemon.child("notifier") is None and not pid_alive(notifier), 15),
     "no notifier runs any more")
t.ok(wait_until(lambda: isinstance(http_status(new_port), int), 10),
     "the new s3 address answers")


def refused(port):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()


t.ok(wait_until(lambda: refused(s3_port), 20), "the old s3 address is closed")
t.is_(len(daemon.role_children()), len(ROLES) - 1, "the other roles run")

t.is_(daemon.stop(30), 0, "SIGTERM: the supervisor exits 0")
t.unlike(daemon.log(), r"AddressSanitizer|runtime error:", "no sanitizer reports")
t.done()
