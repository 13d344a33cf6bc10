"""s3mux_proc.py: processes and /proc, for the test harness (t/lib/s3mux.py) and bench/.

Nothing here acts when imported (no alarm, no environment, no cleanup hooks), so the
benchmark, which runs longer than a test file may, uses it too.  Every wait is bounded.
"""
import os
import socket
import subprocess
import threading
import time


def wait_until(fn, timeout=10.0, interval=0.05):
    """Call fn until it returns a true value or timeout seconds pass; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def run(argv, timeout=60, check=False, **kw):
    """Run a command with a time bound; return CompletedProcess with text stdout/stderr.
    With check, a non-zero exit raises, quoting the end of what the command said."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(map(str, argv)), p.returncode,
                                                 (p.stderr or p.stdout)[-2000:]))
    return p


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pg_bindir():
    """The newest PostgreSQL server's bin directory (Debian's layout)."""
    versions = sorted((d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()),
                      key=int, reverse=True)
    for v in versions:
        b = os.path.join("/usr/lib/postgresql", v, "bin")
        if os.access(os.path.join(b, "initdb"), os.X_OK):
            return b
    raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")


def children_of(pid):
    """[(pid, cmdline)] of the children of pid (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            out.append((int(entry), cmd))
        except (OSError, IndexError, ValueError):
            continue
    return out


def pid_alive(pid):
    """Whether pid is a live process (not gone, not a zombie)."""
    if pid is None:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def read_text(path):
    """A file's text (a log), or "" while it cannot be read."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def settled_rss(pid, samples=10):
    """A process's settled RSS (KiB): the highest of a few samples 50 ms apart, after half a
    second's rest."""
    time.sleep(0.5)
    values = []
    for _ in range(samples):
        values.append(rss_kib(pid))
        time.sleep(0.05)
    return max(values)


class RssSampler:
    """VmRSS of pid every 50 ms in a thread, until stopped; keeps the peak and the count."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except OSError:
                return
            self.samples += 1
            self._stop.wait(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
