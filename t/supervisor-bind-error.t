#!/usr/bin/python3
# supervisor-bind-error.t: a listen address that cannot be bound is a fatal start-up error
# that names the address; s3muxd exits 1, starts nothing and leaves no pid file.
import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from s3mux import *  # noqa: E402,F403


class NoDatabase:
    """The bind comes before the database: no cluster is needed."""
    url = "host=/nonexistent port=5432 user=s3mux dbname=s3mux"


t = TAP()
d = tempdir()
busy = socket.socket()
busy.bind(("127.0.0.1", 0))
busy.listen(1)
at_cleanup(busy.close)
port = busy.getsockname()[1]

cfg = write_config(d, NoDatabase(), s3_port=port)
p = run([S3MUXD, "-f", "-c", cfg], timeout=30)
t.is_(p.returncode, 1, "s3 address in use: exit 1")
t.like(p.stderr, r"s3muxd: cannot listen on 127\.0\.0\.1:%d \(listen\.s3\): Address already in use"
       % port, "s3 address in use: the message names the address")
t.ok(not os.path.exists(os.path.join(d, "s3muxd.pid")), "no pid file is left behind")

cfg = write_config(d, NoDatabase(), admin_port=port)
p = run([S3MUXD, "-c", cfg], timeout=30)
t.is_(p.returncode, 1, "admin address in use, daemon mode: exit 1 before daemonizing")
t.like(p.stderr, r"cannot listen on 127\.0\.0\.1:%d \(listen\.admin\)" % port,
       "admin address in use: the message names the address")

with open(cfg) as f:
    text = f.read()
with open(cfg, "w") as f:
    f.write(re.sub(r"s3: 127\.0\.0\.1:\d+", "s3: 192.0.2.1:%d" % free_port(), text))
p = run([S3MUXD, "-f", "-c", cfg], timeout=30)
t.is_(p.returncode, 1, "an address this host does not have: exit 1")
t.like(p.stderr, r"cannot listen on 192\.0\.2\.1:\d+ \(listen\.s3\): Cannot assign requested address",
       "the message names it")
t.done()
