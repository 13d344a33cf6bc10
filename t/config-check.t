#!/usr/bin/python3
# config-check.t: `s3muxd -t -c FILE` says whether FILE is valid (exit 0 and the success
# line) or not (exit 1, FILE:LINE:COL: and the reason); the options are checked.
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from s3mux import *  # noqa: E402,F403


class NoDatabase:
    """-t never connects: any conninfo will do."""
    url = "host=/nonexistent port=5432 user=s3mux dbname=s3mux"


t = TAP()
d = tempdir()
good = write_config(d, NoDatabase())
with open(good) as f:
    good_text = f.read()

p = run([S3MUXD, "-t", "-c", good], timeout=30)
t.is_(p.returncode, 0, "a valid file: exit 0")
t.like(p.stderr, r"s3muxd: configuration file %s test is successful" % re.escape(good),
       "a valid file: the success line")

bad = os.path.join(d, "bad.yaml")
with open(bad, "w") as f:
    f.write(good_text.replace("frontend:\n  workers: 2\n", "frontend:\n  workers: 2\n  wrokers: 3\n"))
p = run([S3MUXD, "-t", "-c", bad], timeout=30)
t.is_(p.returncode, 1, "an unknown key: exit 1")
t.like(p.stderr, r"s3muxd: %s:\d+:\d+: .*wrokers" % re.escape(bad),
       "an unknown key: FILE:LINE:COL: and the key in stderr")
t.like(p.stderr, r"s3muxd: configuration file %s test failed" % re.escape(bad),
       "an unknown key: the failure line")

p = run([S3MUXD, "-t", "-c", os.path.join(d, "missing.yaml")], timeout=30)
t.is_(p.returncode, 1, "a missing file: exit 1")
t.like(p.stderr, r"missing\.yaml.*test failed", "a missing file: the failure line")

# the same file refused at start: the message on stderr, exit 1, nothing started
p = run([S3MUXD, "-f", "-c", bad], timeout=30)
t.is_(p.returncode, 1, "starting with the invalid file: exit 1")
t.like(p.stderr, r"s3muxd: %s:\d+:\d+: " % re.escape(bad), "starting with it: the reason on stderr")
t.ok(not os.path.exists(os.path.join(d, "s3muxd.pid")), "starting with it: no pid file left")

p = run([S3MUXD, "-V"], timeout=30)
t.ok(p.returncode == 0 and re.match(r"s3muxd \d+\.\d+", p.stdout), "-V prints the version")
p = run([S3MUXD, "-x"], timeout=30)
t.is_(p.returncode, 1, "an unknown option: exit 1")
t.like(p.stderr, r"usage: s3muxd", "an unknown option: the usage line")
p = run([S3MUXD, "-t", "-c", good, "extra"], timeout=30)
t.is_(p.returncode, 1, "an extra argument: exit 1")
p = run([S3MUXD, "-c"], timeout=30)
t.is_(p.returncode, 1, "-c without a file: exit 1")
t.done()
