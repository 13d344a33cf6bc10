#!/usr/bin/python3
# supervisor-reload-keep.t: during a reload, a replacement that dies before it is ready, or a
# front end replacement that is not ready within 15s, is given up and the old process keeps
# serving its slot.  Wrappers in a temp libexec run the real program the first time and
# misbehave afterwards: the replicator's replacement exits 1, the front end's never says
# ready.
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
for prog in ROLES:
    os.symlink(os.path.join(WORKERS, "s3mux-" + prog), os.path.join(libexec, "s3mux-" + prog))


def wrapper(prog, title, later):
    count = os.path.join(d, prog + ".count")
    path = os.path.join(libexec, "s3mux-" + prog)
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, "w") as f:
        f.write("#!/bin/bash\n"
                "n=$(cat %s 2>/dev/null || echo 0)\n"
                "echo $((n + 1)) > %s\n"
                "if [ \"$n\" -eq 0 ]; then exec -a \"%s\" %s \"$@\"; fi\n"
                "%s\n" % (count, count, title, os.path.join(WORKERS, "s3mux-" + prog), later))
    os.chmod(path, 0o755)


wrapper("frontend", "s3muxd: frontend 0", "exec sleep 600")
wrapper("replicator", "s3muxd: replicator", "exit 1")
os.environ["S3MUX_LIBEXECDIR"] = libexec
s3_port = free_port()
cfg = write_config(d, pg, s3_port=s3_port)
with open(cfg) as f:
    text = f.read().replace("workers: 2", "workers: 1")
with open(cfg, "w") as f:
    f.write(text)
daemon = Daemon(cfg).start()
t.ok(daemon.wait_log(r"frontend 0\[\d+\] info: serving S3", 20), "the front end is up")
fe = daemon.child("frontend 0")
rep = daemon.child("replicator")

daemon.signal(signal.SIGHUP)
t.ok(daemon.wait_log(r"replicator: replacement \(pid \d+\) died before it was ready; keeping the "
                     r"old process \(pid %d\)" % rep, 30),
     "a replacement that dies: the old replicator is kept")
t.ok(daemon.wait_log(r"frontend 0: replacement \(pid \d+\) not ready after 15s; keeping the old "
                     r"process \(pid %d\)" % fe, 30),
     "a front end replacement not ready in 15s: the old one is kept")
t.ok(daemon.wait_log(r"reload complete: \d+ restarted, 2 kept their old process", 30),
     "the reload completes and counts the two kept")
time.sleep(1)
t.is_(daemon.child("frontend 0"), fe, "the old front end still serves")
t.is_(daemon.child("replicator"), rep, "the old replicator still runs")
t.is_(len([c for _, c in daemon.children() if c.startswith("sleep")]), 0,
      "the front end replacement that never got ready was stopped")
t.unlike(daemon.log(), r"replicator: .*next start in", "no respawn was scheduled for the kept slot")
t.is_(daemon.stop(30), 0, "SIGTERM: the supervisor exits 0")
t.unlike(daemon.log(), r"AddressSanitizer|runtime error:", "no sanitizer reports")
t.done()
