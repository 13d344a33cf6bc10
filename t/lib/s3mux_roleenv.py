"""s3mux_roleenv.py: what the tests of the cleanup and reaper roles share.

RoleEnv starts a private PostgreSQL and a real s3muxd whose front ends serve S3 over fs
backends; the cleanup and reaper roles are disabled in the supervisor's configuration and
run by hand with --once from a second configuration (the same file with them enabled), so
that every pass happens exactly when the test says.

    env = RoleEnv(t, backends=[("disk-a", "10GiB")],
                  roles={"cleanup": {"retry_base": "2s"}})
    s3 = env.client()
    p = env.once("cleanup")            # CompletedProcess; p.out is stdout and stderr
    env.quota("disk-a")                # (bytes_used, bytes_reserved, orphan_bytes)
    env.path("disk-a", "bkt", "k1")    # where the fs driver keeps bkt/k1
    env.finish()                       # stop s3muxd; TAP lines for its exit and sanitizers
"""
import hashlib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3mux import (Daemon, PgCluster, S3MUXCTL, WORKERS, fs_backends,  # noqa: E402
                   frontends_ready, run, tempdir, wait_until, write_config)

ACCESS_KEY = "demo"
SECRET_KEY = "demo-secret-key"
SANITIZER = r"AddressSanitizer|LeakSanitizer|runtime error:|SUMMARY: "
HAND_ROLES = ("cleanup", "reaper")


def _roles_yaml(roles, enabled):
    text = "roles:\n"
    for name in HAND_ROLES:
        text += "  %s:\n    enabled: %s\n" % (name, "true" if enabled else "false")
        for k, v in (roles or {}).get(name, {}).items():
            text += "    %s: %s\n" % (k, v)
    return text


class RoleEnv:
    """PostgreSQL, s3muxd (front ends) and a configuration for the roles run by hand.

    backends: [(name, quota)] of fs backends, in configured order; placement: spread or
    pack; roles: {"cleanup": {key: value}, "reaper": {...}} for both configurations."""

    def __init__(self, t, backends=(("disk-a", "10GiB"),), placement="spread", roles=None):
        self.t = t
        self.pg = PgCluster()
        self.dir = tempdir()
        self.disks, text = fs_backends(self.dir, backends)
        top = "placement: %s\n" % placement
        self.cfg = write_config(self.dir, self.pg, backends=text,
                                body=top + _roles_yaml(roles, False))
        self.port = write_config.ports[0]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.role_cfg = write_config(self.dir, self.pg, backends=text, name="roles.yaml",
                                     body=top + _roles_yaml(roles, True))
        self.daemon = Daemon(self.cfg).start(wait_ready=False)
        if not wait_until(self._ready, 30):
            raise RuntimeError("s3muxd did not start its front ends:\n%s" % self.daemon.log()[-3000:])

    def _ready(self):
        return frontends_ready(self.daemon, self.pg, len(self.disks))

    # --- clients and programs -----------------------------------------------------------

    def client(self):
        import boto3
        from botocore.config import Config
        conf = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name="us-east-1", config=conf)

    def start_once(self, role):
        """Start s3mux-<role> --once; returns the Popen (stdout and stderr together)."""
        return subprocess.Popen([os.path.join(WORKERS, "s3mux-" + role), "-c", self.role_cfg,
                                 "-f", "--once"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def once(self, role, timeout=120):
        """Run one pass of a role; the CompletedProcess gets .out (its whole output)."""
        p = run([os.path.join(WORKERS, "s3mux-" + role), "-c", self.role_cfg, "-f", "--once"],
                timeout=timeout)
        p.out = p.stdout + p.stderr
        return p

    def ctl(self, *args):
        p = run([S3MUXCTL, "-c", self.role_cfg] + list(args))
        p.out = p.stdout + p.stderr
        return p

    def clean_run(self, p, what):
        """TAP: the role exited 0 and printed no sanitizer report."""
        self.t.is_(p.returncode, 0, "%s exits 0" % what)
        if not self.t.unlike(p.out, SANITIZER, "%s: no sanitizer report" % what) or p.returncode:
            self.t.diag(p.out[-4000:])

    # --- the catalogue and the disks ----------------------------------------------------

    def quota(self, backend):
        row = self.pg.psql("SELECT bytes_used, bytes_reserved, orphan_bytes FROM backend_quotas"
                           " WHERE backend = '%s'" % backend)
        return tuple(int(v) for v in row[0])

    def path(self, backend, bucket, key):
        """The fs driver's file for bucket/key (keys of [A-Za-z0-9_.-] only)."""
        assert re.match(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$", key)
        h = hashlib.sha256(key.encode()).hexdigest()[:2]
        return os.path.join(self.disks[backend], bucket, h, key)

    def disk_bytes(self, backend, under=""):
        """Bytes of the files under a backend (or a directory in it), .tmp excluded."""
        root = os.path.join(self.disks[backend], under)
        total = 0
        for top, dirs, files in os.walk(root):
            if ".tmp" in dirs:
                dirs.remove(".tmp")
            total += sum(os.path.getsize(os.path.join(top, f)) for f in files)
        return total

    def finish(self):
        rc = self.daemon.stop(60)
        log = self.daemon.log()
        self.t.is_(rc, 0, "s3muxd stops cleanly")
        bad = [ln for ln in log.splitlines() if re.search(SANITIZER, ln)]
        if not self.t.is_(bad, [], "no sanitizer report in the s3muxd log"):
            self.t.diag(log[-6000:])


def intervals_ms(pg, sql):
    """Run sql returning epoch-milliseconds columns; return rows of ints."""
    return [[int(float(v)) for v in r] for r in pg.psql(sql)]
