"""bench_procs.py: the processes a benchmark run starts, and how each is stopped.

Every process is started here and recorded; stop_all() (run at exit, and on SIGTERM/SIGINT
through bench.py) stops each one by its pid: SIGTERM, a bounded wait, then SIGKILL, and the
children a daemon left behind (nginx workers, s3mux front ends and roles) by their pids too.
PostgreSQL is stopped with pg_ctl, which signals the postmaster's pid from its pid file.

Services:
  Postgres  a private cluster on a Unix socket in the work directory (as the user s3mux when
            run as root, as PostgreSQL refuses root), fsync on, synchronous_commit as asked
  S3mux     s3muxd -f with a configuration of its own: one fs backend, one credential
  Nginx     one private nginx (own config, pid, logs, temp paths) on 127.0.0.1 with two
            servers: static files from the fs backend's directory (sendfile), and WebDAV PUT
  S3rver    s3rver from t/node (npm), the peer
"""
import os
import pwd
import re
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "t", "lib"))
import s3mux_proc                                                       # noqa: E402
from s3mux_proc import (children_of, free_port, pg_bindir, pid_alive,  # noqa: E402
                        read_text, wait_until)

_started = []           # [(pid, name, stop function)]


def log(msg):
    print("bench: %s" % msg, flush=True)


def run(argv, timeout=120, check=True, **kw):
    """s3mux_proc.run, checked by default: a step that fails stops the benchmark."""
    return s3mux_proc.run(argv, timeout=timeout, check=check, **kw)


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def kill_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def stop_popen(proc, sig=signal.SIGTERM, timeout=15):
    """Stop a child by its pid, then whatever children it left, by theirs."""
    if proc is None or proc.poll() is not None:
        return
    kids = [kid for kid, _ in children_of(proc.pid)]
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    for kid in kids:
        if pid_alive(kid):
            kill_pid(kid, signal.SIGKILL)


def track(pid, name, stop):
    _started.append((pid, name, stop))


def untrack(pid):
    _started[:] = [entry for entry in _started if entry[0] != pid]


def stop_all():
    """Stop every process still recorded, newest first."""
    while _started:
        pid, name, stop = _started.pop()
        try:
            stop()
        except Exception as e:          # keep stopping the others
            log("stopping %s (pid %d): %s" % (name, pid, e))


def spawn(argv, name, log_path, stop_sig=signal.SIGTERM, **kw):
    """Start a long-running process, its output to log_path, recorded for stop_all()."""
    with open(log_path, "a") as logf:
        proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, **kw)
    track(proc.pid, name, lambda: stop_popen(proc, stop_sig))
    return proc


def stop_tracked(proc, sig=signal.SIGTERM):
    stop_popen(proc, sig)
    untrack(proc.pid)


# --- PostgreSQL ------------------------------------------------------------------------------

class Postgres:
    """A private cluster on a Unix socket (no TCP), durable: fsync on."""

    def __init__(self, work, sync_commit):
        self.dir = os.path.join(work, "pg")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()             # only names the socket file
        self.bindir = pg_bindir()
        self.user = "s3mux" if os.geteuid() == 0 else None
        self.sync_commit = sync_commit
        self.pid = None
        os.makedirs(self.dir, mode=0o755)
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def _as_pg(self, argv, timeout=120):
        if self.user:
            argv = ["runuser", "-u", self.user, "--"] + argv
        return run(argv, timeout=timeout)

    def start(self):
        self._as_pg([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "s3mux",
                     "-A", "trust", "-E", "UTF8", "--locale=C"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = ''\nmax_connections = 300\n"
                    "shared_buffers = 256MB\nmax_wal_size = 4GB\n"
                    "synchronous_commit = %s\n" % self.sync_commit)
        self._as_pg([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                     "-l", os.path.join(self.dir, "pg.log"),
                     "-o", "-k %s -p %d" % (self.dir, self.port), "start"])
        self.pid = self.postmaster_pid()
        track(self.pid, "postgres", self.stop)
        self.psql("CREATE DATABASE s3mux", db="postgres")
        return self

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def stop(self):
        """pg_ctl stop; failing that, the postmaster's pid (noted at start): SIGINT (fast
        shutdown), a bounded wait, SIGKILL."""
        if not pid_alive(self.pid):
            return
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._as_pg([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-w", "-t",
                         "60", "-m", "fast", "stop"], timeout=90)
        if pid_alive(self.pid):
            kill_pid(self.pid, signal.SIGINT)
            wait_until(lambda: not pid_alive(self.pid), 30, 0.1)
        if pid_alive(self.pid):
            kill_pid(self.pid, signal.SIGKILL)

    @property
    def url(self):
        return "host=%s port=%d user=s3mux dbname=s3mux" % (self.dir, self.port)

    def conn_args(self, db="s3mux"):
        return ["-h", self.dir, "-p", str(self.port), "-U", "s3mux", "-d", db]

    def psql(self, sql, db="s3mux", timeout=300):
        """Run SQL; the rows as lists of strings."""
        p = run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"] +
                self.conn_args(db) + ["-c", sql], timeout=timeout)
        return [line.split("\t") for line in p.stdout.splitlines() if line != ""]

    def scalar(self, sql):
        rows = self.psql(sql)
        return rows[0][0] if rows else None


# --- s3mux -----------------------------------------------------------------------------------

ACCESS_KEY = "bench"
SECRET_KEY = "bench-secret-key-0123456789"


class S3mux:
    """s3muxd in the foreground with its own configuration; one fs backend."""

    def __init__(self, builddir, work, pg, disk, name="s3mux", workers="auto"):
        self.s3muxd = os.path.join(builddir, "supervisor", "s3muxd")
        self.work = work
        self.pg = pg
        self.disk = disk
        self.name = name
        self.workers = workers
        self.port = free_port()
        self.proc = None
        self.config = os.path.join(work, "%s.yaml" % name)
        self.log_path = os.path.join(work, "%s.log" % name)

    def write_config(self):
        secret = os.path.join(self.work, "bench.secret")
        with open(secret, "w") as f:
            f.write(SECRET_KEY + "\n")
        os.chmod(secret, 0o600)
        os.makedirs(self.disk, exist_ok=True)
        with open(self.config, "w") as f:
            f.write("listen:\n  s3: 127.0.0.1:%d\n"
                    "database:\n  url: \"%s\"\n"
                    "daemon:\n  pid_file: %s\n  stop_timeout: 10s\n"
                    "frontend:\n  workers: %s\n"
                    "replication:\n  copies: 1\n"
                    "credentials:\n  - access_key: %s\n    secret_key_file: %s\n"
                    "    buckets: [\"*\"]\n"
                    "backends:\n  - name: disk-a\n    driver: fs\n    path: %s\n"
                    % (self.port, self.pg.url, os.path.join(self.work, self.name + ".pid"),
                       self.workers, ACCESS_KEY, secret, self.disk))

    def start(self, timeout=60):
        self.write_config()
        self.proc = spawn([self.s3muxd, "-f", "-c", self.config], self.name, self.log_path)
        ok = wait_until(lambda: self.proc.poll() is not None or self._ready(), timeout, 0.1)
        if self.proc.poll() is not None or not ok:
            raise RuntimeError("s3muxd did not start:\n%s" % self.log_tail())
        return self

    def _ready(self):
        said = re.findall(r"starting (\d+) front ends and (\d+) roles", self.log_text())
        if not said or len(self.frontends()) != int(said[-1][0]):
            return False
        return accepts(self.port)

    def log_text(self):
        return read_text(self.log_path)

    def log_tail(self):
        return self.log_text()[-3000:]

    def frontends(self):
        """pids of the front-end workers (their titles say "s3muxd: frontend")."""
        out = []
        return [kid for kid, cmd in children_of(self.proc.pid)
                if cmd.startswith("s3muxd: frontend")]

    def stop(self):
        stop_tracked(self.proc)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port


# --- nginx -----------------------------------------------------------------------------------

NGINX_CONF = """# written by bench/bench_procs.py for one benchmark run
%(user)s
worker_processes %(workers)s;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections 8192; }
http {
    access_log %(dir)s/access.log;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path %(dav)s/.nginx-body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        root %(files)s;
        location / { }
    }
    server {
        listen 127.0.0.1:%(dav_port)d;
        root %(dav)s;
        client_max_body_size 0;
        location / {
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r;
        }
    }
}
"""


class Nginx:
    """A private nginx: static files on port, WebDAV PUTs on dav_port."""

    def __init__(self, work, files, dav, workers):
        self.dir = os.path.join(work, "nginx")
        self.files = files
        self.dav = dav
        self.workers = workers
        self.port = free_port()
        self.dav_port = free_port()
        self.proc = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(os.path.join(self.dav, ".nginx-body"), exist_ok=True)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % {
                "user": "user root;" if os.geteuid() == 0 else "",
                "workers": self.workers, "dir": self.dir, "dav": self.dav,
                "files": self.files, "port": self.port, "dav_port": self.dav_port})
        self.proc = spawn(["nginx", "-c", conf, "-p", self.dir + "/", "-e",
                           os.path.join(self.dir, "error.log"), "-g", "daemon off;"],
                          "nginx", os.path.join(self.dir, "stderr.log"),
                          stop_sig=signal.SIGQUIT)
        ok = wait_until(lambda: self.proc.poll() is not None or
                        (accepts(self.port) and accepts(self.dav_port)), 30, 0.1)
        if self.proc.poll() is not None or not ok:
            raise RuntimeError("nginx did not start; see %s/error.log" % self.dir)
        return self

    def stop(self):
        stop_tracked(self.proc, signal.SIGQUIT)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def dav_url(self):
        return "http://127.0.0.1:%d" % self.dav_port


# --- s3rver ----------------------------------------------------------------------------------

class S3rver:
    """s3rver (npm) on 127.0.0.1 with one bucket; it does not check signatures."""

    ACCESS_KEY = "S3RVER"
    SECRET_KEY = "S3RVER"

    def __init__(self, srcdir, work, bucket):
        self.js = os.path.join(srcdir, "t", "node", "node_modules", "s3rver", "bin",
                               "s3rver.js")
        self.dir = os.path.join(work, "s3rver")
        self.bucket = bucket
        self.port = free_port()
        self.proc = None

    def available(self):
        return os.path.exists(self.js)

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.proc = spawn(["node", self.js, "-d", os.path.join(self.dir, "data"),
                           "-a", "127.0.0.1", "-p", str(self.port), "-s",
                           "--configure-bucket", self.bucket],
                          "s3rver", os.path.join(self.dir, "s3rver.log"))
        ok = wait_until(lambda: self.proc.poll() is not None or accepts(self.port), 30, 0.1)
        if self.proc.poll() is not None or not ok:
            raise RuntimeError("s3rver did not start; see %s/s3rver.log" % self.dir)
        return self

    def stop(self):
        stop_tracked(self.proc)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port
