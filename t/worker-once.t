#!/usr/bin/python3
# worker-once.t: a background role run by hand with --once does one pass and says so in its
# exit status: 0 when it ran, 3 when another session holds the role's lock, 1 when the
# database cannot be reached, 2 for a bad configuration.
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from s3mux import *  # noqa: E402,F403

REPLICATOR = os.path.join(WORKERS, "s3mux-replicator")

t = TAP()
pg = PgCluster()
d = tempdir()
cfg = write_config(d, pg)


def once(config=cfg):
    return run([REPLICATOR, "-c", config, "-f", "--once"], timeout=60)


def advisory_locks():
    return pg.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")


class LockHolder:
    """A psql session that holds one advisory lock until it is closed."""

    def __init__(self, lock_id):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-h", pg.sock, "-p", str(pg.port), "-U", "s3mux",
             "-d", pg.dbname], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, text=True)
        at_cleanup(self.close)
        self.proc.stdin.write("SELECT pg_advisory_lock(%d);\n" % lock_id)
        self.proc.stdin.flush()
        self.held = wait_until(lambda: pg.scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objid = %d" % lock_id) == "1", 10)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


p = run([S3MUXCTL, "-c", cfg, "migrate"])
t.is_(p.returncode, 0, "s3muxctl migrate exits 0")
t.like(p.stdout, r"^applied \d+ migrations?", "s3muxctl migrate says how many it applied")
t.ok(int(pg.scalar("SELECT count(*) FROM schema_migrations")) >= 1,
     "schema_migrations records the migrations")
p = run([S3MUXCTL, "-c", cfg, "migrate"])
t.like(p.stdout, r"^applied 0 migrations", "a second migrate applies nothing")

p = once()
t.is_(p.returncode, 0, "--once exits 0 after a full pass")
t.like(p.stderr, r"active: holding lock\(s\) 1002, 1008", "it took locks 1002 and 1008")
t.like(p.stderr, r"replication pass: 0 events, 0 copied, 0 stale, 0 failed, 0 excess removed"
       r" in \d+ ms", "it logs what the replication pass did")
t.like(p.stderr, r"pass 1 done in \d+ ms", "it logged the pass")
t.is_(advisory_locks(), "0", "no advisory lock is left behind")

holder = LockHolder(1002)
t.ok(holder.held, "a psql session holds lock 1002")
p = once()
t.is_(p.returncode, 3, "--once exits 3 while lock 1002 is held elsewhere")
t.like(p.stderr, r"lock 1002 held by another instance", "and says which lock is held")
t.unlike(p.stderr, r"pass \d+ done", "and runs no pass")
holder.close()

holder = LockHolder(1008)
t.ok(holder.held, "a psql session holds lock 1008 (the second lock of the role)")
p = once()
t.is_(p.returncode, 3, "--once exits 3 when only the second lock is held elsewhere")
t.is_(pg.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND objid = 1002"), "0", "lock 1002 was given back")
holder.close()

p = once()
t.is_(p.returncode, 0, "--once exits 0 again once the lock is free")

bad = os.path.join(d, "bad.yaml")
with open(cfg) as f:
    text = f.read()
with open(bad, "w") as f:
    f.write(text + "roles:\n  replicator:\n    sweep_intervall: 1s\n")
p = once(bad)
t.is_(p.returncode, 2, "--once exits 2 for a configuration error")
t.like(p.stderr, r"configuration error: .*bad\.yaml", "and names the file")

nodb = os.path.join(d, "nodb.yaml")
with open(nodb, "w") as f:
    f.write(text.replace(pg.url, "host=%s port=1 user=s3mux dbname=s3mux connect_timeout=2"
                         % d))
p = once(nodb)
t.is_(p.returncode, 1, "--once exits 1 when the database cannot be reached")
t.like(p.stderr, r"cannot connect to the database", "and says so")

p = run([REPLICATOR, "--bogus"])
t.is_(p.returncode, 2, "an unknown option exits 2")
p = run([S3MUXCTL, "-c", cfg, "frobnicate"])
t.is_(p.returncode, 1, "s3muxctl exits 1 for an unknown command")
t.like(p.stderr, r"unknown command 'frobnicate'", "and names it")
p = run([S3MUXCTL, "version"])
t.like(p.stdout, r"^s3muxctl \(s3mux\) \d+\.\d+", "s3muxctl version")

t.done()
