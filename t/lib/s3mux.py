"""s3mux test harness: TAP output, a private PostgreSQL cluster, and a real s3muxd.

Every test file under t/ is a program that prints TAP (prove runs it).  Python tests use this
module with Debian's /usr/bin/python3 (boto3 comes from python3-boto3).  Every process a test
starts is stopped by its pid at exit, every wait is bounded, and the whole file is killed by
an alarm after S3MUX_TEST_TIMEOUT seconds (default 600).
"""
import atexit
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3mux_proc import (children_of, free_port, pg_bindir, pid_alive, read_text,  # noqa: E402,F401
                        run, wait_until)

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _find_builddir():
    env = os.environ.get("S3MUX_BUILDDIR")
    if env:
        return os.path.abspath(env)
    for cand in ("build-check", "build", "."):
        d = os.path.join(SRCDIR, cand)
        if os.access(os.path.join(d, "supervisor", "s3muxd"), os.X_OK):
            return os.path.abspath(d)
    return os.path.join(SRCDIR, "build-check")


BUILDDIR = _find_builddir()
S3MUXD = os.path.join(BUILDDIR, "supervisor", "s3muxd")
S3MUXCTL = os.path.join(BUILDDIR, "src", "s3muxctl")
WORKERS = os.path.join(BUILDDIR, "workers")
ROLES = ["replicator", "lifecycle", "cleanup", "scrubber", "reaper", "notifier", "rebalancer"]

# ASan: children must not be reported for the leaks of exec'd helpers; keep reports visible.
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=86")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=87")

_cleanups = []


def at_cleanup(fn):
    _cleanups.append(fn)


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # cleanup must go on
            sys.stdout.write("# cleanup error: %s\n" % e)


atexit.register(_run_cleanups)


def _on_alarm(signum, frame):
    sys.stdout.write("not ok - test file timed out\n")
    sys.stdout.flush()
    _run_cleanups()
    os._exit(1)


signal.signal(signal.SIGALRM, _on_alarm)
signal.alarm(int(os.environ.get("S3MUX_TEST_TIMEOUT", "600")))


class TAP:
    """Minimal TAP producer: the plan is printed at the end (done())."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name=""):
        """A name ending in "# TODO reason" marks a known failure: reported, not counted."""
        self.n += 1
        if not cond and "# TODO" not in name:
            self.failed += 1
        sys.stdout.write("%sok %d - %s\n" % ("" if cond else "not ", self.n, name))
        sys.stdout.flush()
        return bool(cond)

    def is_(self, got, expected, name=""):
        good = self.ok(got == expected, name)
        if not good:
            self.diag("     got: %r" % (got,))
            self.diag("expected: %r" % (expected,))
        return good

    def like(self, text, pattern, name=""):
        good = self.ok(text is not None and re.search(pattern, text) is not None, name)
        if not good:
            self.diag("%r\n  does not match /%s/" % ((text or "")[-2000:], pattern))
        return good

    def unlike(self, text, pattern, name=""):
        good = self.ok(text is None or re.search(pattern, text) is None, name)
        if not good:
            self.diag("%r\n  matches /%s/" % ((text or "")[-2000:], pattern))
        return good

    def diag(self, msg):
        for line in str(msg).splitlines():
            sys.stdout.write("# %s\n" % line)
        sys.stdout.flush()

    def skip_all(self, why):
        sys.stdout.write("1..0 # SKIP %s\n" % why)
        sys.exit(0)

    def done(self):
        sys.stdout.write("1..%d\n" % self.n)
        sys.stdout.flush()
        _run_cleanups()
        sys.exit(1 if self.failed else 0)


def tempdir(prefix="s3mux-t-"):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    if not os.environ.get("S3MUX_KEEP_TMP"):
        at_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def pg_user():
    """The unprivileged OS user that runs PostgreSQL when the tests run as root."""
    if os.geteuid() != 0:
        return None
    return os.environ.get("S3MUX_PG_OSUSER", "s3mux")


class PgCluster:
    """A private PostgreSQL cluster on a Unix socket in a temp directory (no TCP)."""

    def __init__(self, dbname="s3mux"):
        self.dir = tempdir("s3mux-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sock = self.dir
        self.port = free_port()  # only names the socket file
        self.dbname = dbname
        self.bindir = pg_bindir()
        self.user = pg_user()
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._as_pg([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "s3mux",
                     "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"], timeout=120)
        with open(os.path.join(self.dir, "extra.conf"), "w") as f:
            f.write("fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n"
                    "max_connections = 200\nlisten_addresses = ''\n")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("include '%s'\n" % os.path.join(self.dir, "extra.conf"))
        self.start()
        at_cleanup(self.stop)
        self.psql("CREATE DATABASE %s" % dbname, db="postgres")

    def _as_pg(self, argv, timeout=60):
        if self.user:
            argv = ["runuser", "-u", self.user, "--"] + argv
        return run(argv, timeout=timeout, check=True)

    @property
    def url(self):
        return "host=%s port=%d user=s3mux dbname=%s" % (self.sock, self.port, self.dbname)

    def start(self):
        self._as_pg([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                     "-l", os.path.join(self.dir, "pg.log"),
                     "-o", "-k %s -p %d" % (self.sock, self.port), "start"], timeout=90)

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._as_pg([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-w", "-t",
                         "60", "-m", mode, "stop"], timeout=90)

    def psql(self, sql, db=None):
        """Run SQL; return rows as lists of strings (unaligned, tab-separated)."""
        p = run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                 "-h", self.sock, "-p", str(self.port), "-U", "s3mux",
                 "-d", db or self.dbname, "-c", sql], timeout=60)
        if p.returncode != 0:
            raise RuntimeError("psql: %s" % p.stderr.strip())
        return [line.split("\t") for line in p.stdout.splitlines() if line != ""]

    def scalar(self, sql):
        rows = self.psql(sql)
        return rows[0][0] if rows else None


def write_config(dirpath, pg, body="", s3_port=None, admin_port=None, name="s3mux.yaml",
                 backends=None):
    """Write a config with a demo credential and one fs backend, plus `body` (YAML text
    appended at the top level).  Returns the path.  `backends` replaces the backends block."""
    s3_port = s3_port or free_port()
    admin_port = admin_port or free_port()
    secret = os.path.join(dirpath, "demo.secret")
    with open(secret, "w") as f:
        f.write("demo-secret-key\n")
    os.chmod(secret, 0o600)
    if backends is None:
        disk = os.path.join(dirpath, "disk-a")
        os.makedirs(disk, exist_ok=True)
        backends = ("backends:\n  - name: disk-a\n    driver: fs\n    path: %s\n"
                    "    quota: 10GiB\n" % disk)
    text = ("listen:\n  s3: 127.0.0.1:%d\n  admin: 127.0.0.1:%d\n"
            "database:\n  url: \"%s\"\n"
            "daemon:\n  pid_file: %s\n  stop_timeout: 10s\n"
            "frontend:\n  workers: 2\n"
            "credentials:\n  - access_key: demo\n    secret_key_file: %s\n"
            "    buckets: [\"*\"]\n"
            "%s%s" % (s3_port, admin_port, pg.url, os.path.join(dirpath, "s3muxd.pid"),
                      secret, backends, body))
    path = os.path.join(dirpath, name)
    with open(path, "w") as f:
        f.write(text)
    path_ports = (s3_port, admin_port)
    write_config.ports = path_ports
    return path


def fs_backends(dirpath, backends):
    """fs backends [(name, quota)] under dirpath: ({name: path}, the backends: YAML)."""
    disks = {}
    text = "backends:\n"
    for name, quota in backends:
        disks[name] = os.path.join(dirpath, name)
        os.makedirs(disks[name], exist_ok=True)
        text += ("  - name: %s\n    driver: fs\n    path: %s\n    quota: %s\n"
                 % (name, disks[name], quota))
    return disks, text


def frontends_ready(daemon, pg, nbackends):
    """s3muxd has a front end up and has registered its backends (raises if it exited)."""
    if daemon.proc.poll() is not None:
        raise RuntimeError("s3muxd exited:\n%s" % daemon.log()[-3000:])
    fronts = [p for p, c in daemon.children() if c.startswith("s3muxd: frontend")]
    try:
        n = int(pg.scalar("SELECT count(*) FROM backend_quotas"))
    except RuntimeError:
        return False
    return len(fronts) >= 1 and n == nbackends


class Daemon:
    """A real s3muxd in the foreground (-f), its log captured in a file."""

    def __init__(self, config, extra_args=(), log_name="s3muxd.log"):
        self.config = config
        self.extra_args = list(extra_args)
        self.log_path = os.path.join(os.path.dirname(config), log_name)
        self.proc = None
        self.pid = None

    def start(self, wait_ready=True, timeout=30):
        logf = open(self.log_path, "a")
        self.proc = subprocess.Popen([S3MUXD, "-f", "-c", self.config] + self.extra_args,
                                     stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        self.pid = self.proc.pid
        at_cleanup(self.kill)
        if wait_ready:
            ok = wait_until(lambda: self.proc.poll() is not None or self._all_started(), timeout)
            if self.proc.poll() is not None:
                raise RuntimeError("s3muxd exited %s:\n%s" % (self.proc.returncode,
                                                              self.log()[-3000:]))
            if not ok:
                raise RuntimeError("s3muxd did not start its children:\n%s" % self.log()[-3000:])
        return self

    def _all_started(self):
        """Every child the supervisor said it starts ("starting N front ends and M roles")
        is running: this log's last such line, since the log file may hold earlier runs."""
        said = re.findall(r"starting (\d+) front ends and (\d+) roles", self.log())
        if not said:
            return False
        fronts, roles = (int(x) for x in said[-1])
        kids = self.children()
        return (len(self.role_children()) == roles and
                len([c for _, c in kids if c.startswith("s3muxd: frontend")]) == fronts)

    def log(self):
        return read_text(self.log_path)

    def wait_log(self, pattern, timeout=10.0):
        return wait_until(lambda: re.search(pattern, self.log()), timeout)

    def children(self):
        return children_of(self.pid) if self.pid else []

    def role_children(self):
        return [(p, c) for p, c in self.children()
                if any(c.startswith("s3muxd: " + r) for r in ROLES)]

    def child(self, title):
        """pid of the child whose title starts with "s3muxd: <title>", or None."""
        for p, c in self.children():
            if c.startswith("s3muxd: " + title):
                return p
        return None

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.wait_exit(timeout)
        return self.proc.returncode if self.proc else None

    def kill(self):
        """Last-resort cleanup: the supervisor and every child it still has, by pid."""
        if not self.proc:
            return
        kids = [p for p, _ in self.children()]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for p in kids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


NODE_DIR = os.path.join(SRCDIR, "t", "node")
S3RVER_JS = os.path.join(NODE_DIR, "node_modules", "s3rver", "bin", "s3rver.js")


class S3rver:
    """s3rver (npm; an S3 server s3mux did not write) on 127.0.0.1, its data in a temp
    directory, one bucket configured at start, silent.  It accepts the access key S3RVER
    (secret S3RVER) and does not check SigV4 signatures.  stop() and start() again keep the
    port and the data; cleanup stops it by pid.  available() says why it cannot run.
    tls=(key file, certificate file) serves HTTPS."""

    ACCESS_KEY = "S3RVER"
    SECRET_KEY = "S3RVER"

    @staticmethod
    def available():
        if not shutil.which("node"):
            return "node is not installed (apt-get install nodejs)"
        if not os.path.exists(S3RVER_JS):
            return "s3rver is not installed (npm ci --prefix t/node; ./bootstrap check does it)"
        return None

    def __init__(self, bucket, port=None, tls=None):
        self.bucket = bucket
        self.tls = tls
        self.port = port or free_port()
        self.dir = tempdir("s3mux-s3rver-")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "s3rver.log")
        self.proc = None
        at_cleanup(self.stop)

    @property
    def endpoint(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def start(self, timeout=30):
        logf = open(self.log_path, "a")
        tls = ["--key", self.tls[0], "--cert", self.tls[1]] if self.tls else []
        self.proc = subprocess.Popen(["node", S3RVER_JS, "-d", self.data, "-a", "127.0.0.1",
                                      "-p", str(self.port), "-s"] + tls +
                                     ["--configure-bucket", self.bucket],
                                     stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()

        def accepts():
            if self.proc.poll() is not None:
                return True
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        ok = wait_until(accepts, timeout, 0.1)
        if self.proc.poll() is not None or not ok:
            self.stop()
            raise RuntimeError("s3rver did not start:\n%s" % self.log()[-3000:])
        return self

    def log(self):
        return read_text(self.log_path)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def client(self):
        """A boto3 client for s3rver itself (path-style)."""
        import boto3
        from botocore.config import Config
        conf = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"total_max_attempts": 1}, connect_timeout=10,
                      read_timeout=120)
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=self.SECRET_KEY, region_name="us-east-1", config=conf)
