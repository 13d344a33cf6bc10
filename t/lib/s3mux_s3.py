"""s3mux_s3.py: what the S3 front-end tests share: a private PostgreSQL, a real s3muxd serving
S3 on a loopback port, boto3 clients and command-line client environments for it, and the
catalogue checks every write test ends with (no intent left, no bytes reserved, quota sums
equal to the bytes on the backend).

    env = S3Env(t)          # PgCluster + config + s3muxd, every process stopped at exit
    s3 = env.client()                     # a boto3 client for the demo credential
    env.settled()                         # (pending intents, bytes reserved) once both are 0
"""
import hashlib
import os
import re
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3mux import (Daemon, PgCluster, tempdir, wait_until, write_config)  # noqa: E402

ACCESS_KEY = "demo"
SECRET_KEY = "demo-secret-key"


class S3Env:
    """s3muxd with one fs backend (disk-a) and the demo credential.

    workers: frontend.workers; frontend: more keys of the frontend section ("idle_timeout:
    3s\n"); credentials: extra (access_key, secret, [buckets]) entries; body: extra
    top-level YAML for write_config."""

    def __init__(self, t, workers=2, credentials=(), body="", frontend=""):
        self.t = t
        self.pg = PgCluster()
        self.dir = tempdir()
        self.cfg = write_config(self.dir, self.pg, body=body)
        self.port = write_config.ports[0]
        self.host = "127.0.0.1:%d" % self.port
        self.endpoint = "http://" + self.host
        self.disk = os.path.join(self.dir, "disk-a")
        self.workers = workers
        self._edit_config(workers, frontend, credentials)
        self.daemon = Daemon(self.cfg).start()
        ok = wait_until(lambda: len(self.frontend_pids()) == workers, 30)
        if not ok:
            raise RuntimeError("front ends did not start:\n%s" % self.daemon.log()[-3000:])
        self._check_backends()

    def _edit_config(self, workers, frontend, credentials):
        with open(self.cfg) as f:
            text = f.read()
        section = "frontend:\n  workers: %d\n" % workers
        section += "".join("  %s\n" % line for line in frontend.splitlines() if line.strip())
        text = text.replace("frontend:\n  workers: 2\n", section)
        extra = ""
        for access, secret, buckets in credentials:
            extra += ("  - access_key: %s\n    secret_key: %s\n    buckets: [%s]\n" %
                      (access, secret, ", ".join('"%s"' % b for b in buckets)))
        text = text.replace("backends:\n", extra + "backends:\n", 1)
        with open(self.cfg, "w") as f:
            f.write(text)

    def _check_backends(self):
        # s3muxd registers the configured backends in the catalogue at start
        if not wait_until(lambda: self.pg.scalar(
                "SELECT count(*) FROM backend_quotas WHERE backend = 'disk-a'") == "1", 10):
            raise RuntimeError("s3muxd did not register backend disk-a:\n%s" % self.log_tail())

    # --- processes ----------------------------------------------------------------------

    def frontend_pids(self):
        return [p for p, c in self.daemon.children() if c.startswith("s3muxd: frontend")]

    def log_tail(self, n=4000):
        return self.daemon.log()[-n:]

    def stop(self):
        return self.daemon.stop()

    def finish(self):
        """Stop s3muxd and check what it left: TAP lines for the exit status, for sanitizer
        reports (front ends are built with ASan/UBSan in the test build) and for the
        front end's own warnings."""
        rc = self.daemon.stop(60)
        log = self.daemon.log()
        self.t.is_(rc, 0, "s3muxd stops cleanly")
        bad = [ln for ln in log.splitlines()
               if re.search(r"AddressSanitizer|LeakSanitizer|runtime error:|SUMMARY: ", ln)]
        if not self.t.is_(bad, [], "no sanitizer report in the log"):
            self.t.diag(log[-6000:])
        return [ln for ln in log.splitlines()
                if re.search(r"frontend \d+\[\d+\] (warning|error|fatal)", ln)]

    # --- clients ------------------------------------------------------------------------

    def client(self, access=ACCESS_KEY, secret=SECRET_KEY, retries=0, **cfg):
        import boto3
        from botocore.config import Config
        conf = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"max_attempts": retries + 1, "mode": "standard"},
                      connect_timeout=10, read_timeout=120, **cfg)
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=access,
            aws_secret_access_key=secret, region_name="us-east-1", config=conf)

    def aws_env(self, extra_config=""):
        """Environment for the awscli: a private config, no shared credentials, no proxy."""
        d = os.path.join(self.dir, "awscli")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "config")
        with open(conf, "w") as f:
            f.write("[default]\nregion = us-east-1\ns3 =\n    multipart_threshold = 6GB\n"
                    "    addressing_style = path\n" + extra_config)
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("AWS_") or k.lower().endswith("_proxy"):
                del env[k]
        env.update(AWS_CONFIG_FILE=conf, AWS_SHARED_CREDENTIALS_FILE=os.path.join(d, "none"),
                   AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                   AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                   AWS_PAGER="", NO_PROXY="*")
        return env

    # --- the catalogue ------------------------------------------------------------------

    def pending(self):
        return int(self.pg.scalar("SELECT count(*) FROM pending_objects"))

    def reserved(self):
        return int(self.pg.scalar("SELECT coalesce(sum(bytes_reserved), 0) FROM backend_quotas"))

    def settled(self, timeout=10):
        """Wait (bounded) until no intent is pending and nothing is reserved; return both."""
        wait_until(lambda: self.pending() == 0 and self.reserved() == 0, timeout, 0.1)
        return self.pending(), self.reserved()

    def backend_file_bytes(self):
        """Sum of the sizes of the object files under disk-a (its .tmp excluded)."""
        total = 0
        for root, dirs, files in os.walk(self.disk):
            if root == self.disk and ".tmp" in dirs:
                dirs.remove(".tmp")
            for name in files:
                total += os.path.getsize(os.path.join(root, name))
        return total

    def tmp_files(self):
        tmp = os.path.join(self.disk, ".tmp")
        return sorted(os.listdir(tmp)) if os.path.isdir(tmp) else []

    def quota_row(self):
        """(bytes_used, bytes_reserved, orphan_bytes) of disk-a."""
        row = self.pg.psql("SELECT bytes_used, bytes_reserved, orphan_bytes FROM backend_quotas "
                           "WHERE backend = 'disk-a'")
        return tuple(int(v) for v in row[0]) if row else None

    def locations_bytes(self):
        return int(self.pg.scalar("SELECT coalesce(sum(stored_size), 0) FROM object_locations"))


def wait_port(port, timeout=10):
    def can():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    return wait_until(can, timeout)


def tool(name):
    """The path of a command-line client, or None."""
    return shutil.which(name)


def file_sha256(path, bufsize=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(bufsize)
            if not b:
                return h.hexdigest()
            h.update(b)


def stream_sha256(body, bufsize=1 << 20):
    """Hash a streamed botocore body chunk by chunk; returns (hex digest, length)."""
    h = hashlib.sha256()
    n = 0
    for chunk in body.iter_chunks(bufsize):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


class PatternReader:
    """A file-like body of `size` deterministic pseudo-random bytes, produced on the fly in
    1 MiB blocks (never held whole); seekable, so that SDKs can size and rewind it.  Two
    readers with the same size and seed produce the same bytes (sha256() says which)."""

    BLOCK = 1 << 20

    def __init__(self, size, seed=b"s3mux"):
        self.size = size
        self.seed = seed
        self.pos = 0
        self._base = None
        self._cached = (-1, b"")

    def _block(self, i):
        # one random block per seed, rotated by a different amount for each block index
        if self._base is None:
            self._base = hashlib.shake_256(self.seed).digest(self.BLOCK)
        if self._cached[0] != i:
            k = (i * 7919 + 1) % self.BLOCK
            self._cached = (i, self._base[k:] + self._base[:k])
        return self._cached[1]

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        out = []
        while n > 0:
            i, off = divmod(self.pos, self.BLOCK)
            take = min(n, self.BLOCK - off)
            out.append(self._block(i)[off:off + take])
            self.pos += take
            n -= take
        return b"".join(out)

    def seek(self, off, whence=0):
        self.pos = off if whence == 0 else (self.pos + off if whence == 1 else self.size + off)
        return self.pos

    def tell(self):
        return self.pos

    def __len__(self):
        return self.size

    def sha256(self):
        """The digest of the whole pattern (computed by reading a private copy)."""
        h = hashlib.sha256()
        r = PatternReader(self.size, self.seed)
        while True:
            b = r.read(self.BLOCK)
            if not b:
                return h.hexdigest()
            h.update(b)

    def __iter__(self):
        while True:
            b = self.read(self.BLOCK)
            if not b:
                return
            yield b


def todo_ok(t, cond, name, why):
    """A TAP TODO test: reported, not counted as a failure (a known bug, named in why)."""
    t.n += 1
    sys.stdout.write("%sok %d - %s # TODO %s\n" % ("" if cond else "not ", t.n, name, why))
    sys.stdout.flush()
    return bool(cond)


def error_code(exc):
    """The S3 error code of a botocore ClientError, or the exception's class name."""
    resp = getattr(exc, "response", None)
    if resp:
        return resp.get("Error", {}).get("Code")
    return type(exc).__name__


def http_status(exc):
    resp = getattr(exc, "response", None)
    return resp.get("ResponseMetadata", {}).get("HTTPStatusCode") if resp else None


def elapsed(start):
    return "%.1fs" % (time.monotonic() - start)
