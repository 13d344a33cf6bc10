"""s3mux_repl.py: what the replicator tests share.

ReplEnv starts a private PostgreSQL and a real s3muxd over fs backends with
replication.copies set.  With live=True the supervisor runs the replicator itself; with
live=False the replicator is disabled in the supervisor's configuration and the test runs it
by hand with --once from a second configuration (the same file with it enabled), so that
every pass happens exactly when the test says.  The cleanup role can be left out of the
supervisor (cleanup=False) so that cleanup_queue rows stay where a test can see them.

    env = ReplEnv(t, copies=2, live=True, replicator={"sweep_interval": "0s"})
    s3 = env.client()
    p = env.once()                        # s3mux-replicator --once; p.out: its output
    env.locations("bkt", "k")             # {backend: version}
    env.check_sums("label")               # TAP: quotas agree with the catalogue and disks
    env.finish()                          # stop s3muxd; TAP: exit 0, no sanitizer report
"""
import hashlib
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3mux import (Daemon, PgCluster, WORKERS, fs_backends, frontends_ready, run,  # noqa: E402
                   tempdir, wait_until, write_config)
from s3mux_fs import fs_bytes, fs_path  # noqa: E402

SANITIZER = r"AddressSanitizer|LeakSanitizer|runtime error:|SUMMARY: \w+Sanitizer"
REPLICATOR = os.path.join(WORKERS, "s3mux-replicator")


def _yaml_roles(live, cleanup, replicator, for_hand):
    text = "roles:\n  replicator:\n    enabled: %s\n" % (
        "true" if (live or for_hand) else "false")
    for k, v in (replicator or {}).items():
        text += "    %s: %s\n" % (k, v)
    if not cleanup:
        text += "  cleanup:\n    enabled: false\n"
    return text


class ReplEnv:
    """PostgreSQL, s3muxd and the configurations of a replicator test.

    backends: [(name, quota)] of fs backends in configured order; copies: the replication
    factor; replicator: extra roles.replicator keys; env: extra environment for s3muxd (and
    so for the replicator it starts)."""

    def __init__(self, t, backends=(("disk-a", "10GiB"), ("disk-b", "10GiB")), copies=2,
                 live=True, cleanup=True, replicator=None, placement="spread", env=None):
        self.t = t
        self.live = live
        self.pg = PgCluster()
        self.dir = tempdir()
        self.disks, text = fs_backends(self.dir, backends)
        self.backends_yaml = text
        self.top = "placement: %s\nreplication:\n  copies: %d\n" % (placement, copies)
        self.cfg = write_config(self.dir, self.pg, backends=text,
                                body=self.top + _yaml_roles(live, cleanup, replicator, False))
        self.port = write_config.ports[0]
        self.admin_port = write_config.ports[1]
        self.hand_cfg = self.write_hand_config(copies, replicator)
        old = {}
        for k, v in (env or {}).items():
            old[k] = os.environ.get(k)
            os.environ[k] = v
        try:
            self.daemon = Daemon(self.cfg).start(wait_ready=False)
        finally:
            for k, v in old.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v

        if not wait_until(self._ready, 60):
            raise RuntimeError("s3muxd did not get ready:\n%s" % self.daemon.log()[-3000:])

    def _ready(self):
        active = not self.live or re.search(r"replicator\[\d+\] info: active",
                                            self.daemon.log())
        return frontends_ready(self.daemon, self.pg, len(self.disks)) and active

    def write_hand_config(self, copies, replicator=None, name="hand.yaml"):
        """A configuration for runs by hand (same ports and database); returns its path."""
        top = "placement: spread\nreplication:\n  copies: %d\n" % copies
        return write_config(self.dir, self.pg, backends=self.backends_yaml, name=name,
                            s3_port=self.port, admin_port=self.admin_port,
                            body=top + _yaml_roles(False, True, replicator, True))

    # --- clients and programs -----------------------------------------------------------

    def client(self, pool=10):
        import boto3
        from botocore.config import Config
        conf = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"max_attempts": 3}, connect_timeout=10, read_timeout=120,
                      max_pool_connections=pool)
        return boto3.session.Session().client(
            "s3", endpoint_url="http://127.0.0.1:%d" % self.port, aws_access_key_id="demo",
            aws_secret_access_key="demo-secret-key", region_name="us-east-1", config=conf)

    def once(self, config=None, timeout=300, extra_env=None):
        """One pass of s3mux-replicator --once; the CompletedProcess gets .out."""
        env = dict(os.environ)
        env.update(extra_env or {})
        p = run([REPLICATOR, "-c", config or self.hand_cfg, "-f", "--once"], timeout=timeout,
                env=env)
        p.out = p.stdout + p.stderr
        return p

    def clean_run(self, p, what):
        """TAP: the run exited 0 and printed no sanitizer report."""
        self.t.is_(p.returncode, 0, "%s exits 0" % what)
        if not self.t.unlike(p.out, SANITIZER, "%s: no sanitizer report" % what) or \
                p.returncode:
            self.t.diag(p.out[-4000:])

    # --- the catalogue and the disks ----------------------------------------------------

    def locations(self, bucket, key):
        """{backend: version} of the catalogued copies of bucket/key."""
        rows = self.pg.psql("SELECT backend, version FROM object_locations WHERE bucket = '%s'"
                            " AND key = '%s'" % (bucket, key))
        return {r[0]: int(r[1]) for r in rows}

    def version(self, bucket, key):
        v = self.pg.scalar("SELECT version FROM objects WHERE bucket = '%s' AND key = '%s'"
                           % (bucket, key))
        return int(v) if v is not None else None

    def copy_counts(self, bucket):
        """{number of copies: number of objects} in a bucket."""
        rows = self.pg.psql(
            "SELECT n, count(*) FROM (SELECT o.key, count(l.backend) AS n FROM objects o"
            " LEFT JOIN object_locations l ON l.bucket = o.bucket AND l.key = o.key"
            " AND l.version = o.version WHERE o.bucket = '%s' GROUP BY o.key) x GROUP BY n"
            % bucket)
        return {int(r[0]): int(r[1]) for r in rows}

    def quotas(self):
        """{backend: (bytes_used, bytes_reserved, orphan_bytes, bytes_limit)}"""
        return {r[0]: tuple(int(x) for x in r[1:]) for r in self.pg.psql(
            "SELECT backend, bytes_used, bytes_reserved, orphan_bytes, bytes_limit"
            " FROM backend_quotas")}

    def path(self, backend, bucket, key):
        return fs_path(self.disks[backend], bucket, key)

    def digest(self, backend, bucket, key):
        try:
            with open(self.path(backend, bucket, key), "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()
        except OSError:
            return None

    def cleanup_rows(self, bucket=None, key=None):
        """[(backend, key, reason, size)] of cleanup_queue rows (of bucket/key)."""
        where = ""
        if bucket is not None:
            where = " WHERE bucket = '%s'" % bucket
            if key is not None:
                where += " AND key = '%s'" % key
        return [(r[0], r[1], r[2], int(r[3])) for r in self.pg.psql(
            "SELECT backend, key, reason, size FROM cleanup_queue%s ORDER BY id" % where)]

    def sums_agree(self):
        """(ok, detail): per backend, bytes_used is the catalogue's sum, nothing reserved,
        and used + orphan bytes are the bytes on disk."""
        q = self.quotas()
        cat = {r[0]: int(r[1]) for r in self.pg.psql(
            "SELECT backend, coalesce(sum(stored_size), 0) FROM object_locations"
            " GROUP BY backend")}
        detail = {}
        ok = True
        for name, root in self.disks.items():
            used, reserved, orphans, _ = q[name]
            disk = fs_bytes(root)
            detail[name] = dict(used=used, catalogue=cat.get(name, 0), reserved=reserved,
                                orphans=orphans, disk=disk)
            ok = ok and used == cat.get(name, 0) and reserved == 0 and used + orphans == disk
        return ok, detail

    def check_sums(self, label, timeout=20):
        """TAP: the quota sums agree (waiting a little for deletes in flight)."""
        wait_until(lambda: self.sums_agree()[0], timeout, 0.2)
        ok, detail = self.sums_agree()
        if not self.t.ok(ok, "%s: quotas agree with the catalogue and the disks" % label):
            self.t.diag(repr(detail))

    # --- the end --------------------------------------------------------------------------

    def log(self):
        return self.daemon.log()

    def finish(self):
        rc = self.daemon.stop(60)
        log = self.daemon.log()
        self.t.is_(rc, 0, "s3muxd stops cleanly")
        bad = [ln for ln in log.splitlines() if re.search(SANITIZER, ln)]
        if not self.t.is_(bad, [], "no sanitizer report in the s3muxd log"):
            self.t.diag(log[-6000:])
