"""bench_figures.py: one measurement each: a loadgen run, a pgbench run, a listing's
latency, a front end's memory.  Each returns a sample: a dict with ops_s, mb_s, p50_ms,
p99_ms, p999_ms, ops, errors (and the command that produced it, for RESULTS.md).

A sample with errors is kept and reported as such: loadgen counts a request only when its
status and (for GETs) its length are right, so failures never pass for fast successes.
"""
import hashlib
import os
import signal
import subprocess
import time
import urllib.parse

from bench_procs import ACCESS_KEY, SECRET_KEY, log, run
from s3mux_proc import RssSampler, settled_rss

MiB = 1024 * 1024
_KEEP = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def fs_relpath(bucket, key):
    """Where the fs driver stores (bucket, key) under its root (see src/backend_fs.c):
    <bucket>/<first byte of SHA-256(key) in hex>/<key, bytes outside [A-Za-z0-9_.-] and a
    leading dot as %XX>, or #<SHA-256> when that is empty or longer than 240 bytes."""
    raw = key.encode()
    digest = hashlib.sha256(raw).hexdigest()
    parts = []
    for i, c in enumerate(raw):
        keep = c in _KEEP or (c == ord(".") and i > 0)
        parts.append(chr(c) if keep else "%%%02X" % c)
    name = "".join(parts)
    if not name or len(name) > 240:
        name = "#" + digest
    return "%s/%s/%s" % (bucket, digest[:2], name)


def url_path_of_file(relpath):
    """The URL path nginx maps to relpath under its root (each component %-encoded)."""
    return "/" + "/".join(urllib.parse.quote(p, safe="") for p in relpath.split("/"))


def write_paths(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def parse_kv(line):
    out = {}
    for item in line.split():
        if "=" in item:
            k, v = item.split("=", 1)
            out[k] = float(v) if k not in ("conns",) else int(v)
    return out


class Loadgen:
    """bench/loadgen from the bench build directory."""

    def __init__(self, binary, warmup, seconds):
        self.binary = binary
        self.warmup = warmup
        self.seconds = seconds

    def argv(self, url, mode, conns, size=None, paths=None, prefix=None, keys=None,
             per_conn=False, sign=True, expect="200", warmup=None, seconds=None,
             max_ops=None, min_size=None, hold=None, timeout=60):
        a = [self.binary, "-u", url, "-m", mode, "-c", str(conns),
             "-w", str(self.warmup if warmup is None else warmup),
             "-d", str(self.seconds if seconds is None else seconds), "-e", expect,
             "-t", str(timeout)]
        opt = [("-s", size), ("-f", paths), ("-p", prefix), ("-K", keys), ("-n", max_ops),
               ("-M", min_size), ("-H", hold)]
        a += [x for flag, v in opt if v is not None for x in (flag, str(v))]
        if per_conn:
            a.append("-C")
        if sign:
            cred = sign if isinstance(sign, str) else "%s:%s" % (ACCESS_KEY, SECRET_KEY)
            a += ["-a", cred]
        return a

    def run(self, argv, timeout):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if p.returncode == 2 or not p.stdout.strip():
            raise RuntimeError("loadgen failed: %s\n%s" % (" ".join(argv), p.stderr))
        sample = parse_kv(p.stdout.strip().splitlines()[-1])
        sample["failures"] = [line for line in p.stderr.splitlines() if "failure" in line]
        sample["argv"] = argv
        return sample

    def measure(self, bound=None, **kw):
        """Run loadgen with argv(**kw); bound is the whole run's time limit."""
        argv = self.argv(**kw)
        return self.run(argv, bound or (self.warmup + self.seconds + 90))


def populate(lg, url, prefix, count, size, sign=True, conns=8, expect="200"):
    """PUT count objects prefix0..prefix<count-1> of size bytes; every one must succeed."""
    s = lg.measure(url=url, mode="put", conns=conns, size=size, prefix=prefix, keys=count,
                   max_ops=count, warmup=0, seconds=600, sign=sign, expect=expect,
                   timeout=300)
    if s["ops"] != count or s["errors"]:
        raise RuntimeError("populating %s%s: %d of %d stored; %s" %
                           (url, prefix, s["ops"], count, s["failures"]))
    return s


# --- pgbench: the catalogue's limit for one PUT ---------------------------------------------

PGBENCH_SCRIPT = """\\set n random(0, %(keys)d - 1)
SELECT status, backend, pending_id FROM begin_put(:bucket, 'p4k-c' || :client_id || '-' || :n, :size::bigint, 'pgbench', '{disk-a}'::text[], 'spread', 'put', false::boolean, NULL) \\gset
SELECT status FROM commit_put(:pending_id::bigint, :size::bigint, :etag, NULL, NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL, NULL, :size::bigint, 'none', NULL, 0::int, :event, false::boolean, NULL)
"""


def pgbench_script(work, keys):
    """The two statements one s3mux PUT makes (fe_put.c: begin_put, then commit_put), as
    two transactions, on keys of the client's own like the loadgen's -C."""
    path = os.path.join(work, "put4k.pgbench")
    with open(path, "w") as f:
        f.write(PGBENCH_SCRIPT % {"keys": keys})
    return path


def pgbench_latencies(log_dir, prefix):
    lat = []
    for name in os.listdir(log_dir):
        if not name.startswith(prefix):
            continue
        with open(os.path.join(log_dir, name)) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    lat.append(int(fields[2]) / 1000.0)
        os.unlink(os.path.join(log_dir, name))
    return sorted(lat)


def pct(sorted_values, q):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), int(q * len(sorted_values) + 0.999999)))
    return sorted_values[rank - 1]


def outbox_count(pg, bucket):
    return int(pg.scalar("SELECT count(*) FROM event_outbox WHERE bucket = '%s'" % bucket))


def pgbench_argv(pg, script, bucket, clients, seconds, log_prefix=None):
    a = ["pgbench", "-n", "-M", "extended", "-c", str(clients), "-j", "2", "-T",
         str(seconds), "-f", script, "-D", "bucket=%s" % bucket, "-D", "size=4096",
         "-D", "etag=0f343b0931126a20f133d67c2b018a3b",
         "-D", "event=s3:ObjectCreated:Put"] + pg.conn_args()
    if log_prefix:
        a += ["-l", "--log-prefix", log_prefix]
    return a


def measure_pgbench(pg, work, script, bucket, clients, warmup, seconds):
    """pgbench with as many clients as the s3mux run has connections.  A transaction that
    did not commit its object (no event_outbox row) counts as an error."""
    run(pgbench_argv(pg, script, bucket, clients, max(1, int(round(warmup)))),
        timeout=warmup + 120, cwd=work)
    before = outbox_count(pg, bucket)
    prefix = os.path.join(work, "pgbench-log")
    argv = pgbench_argv(pg, script, bucket, clients, int(round(seconds)), prefix)
    p = run(argv, timeout=seconds + 120, check=False, cwd=work)
    lat = pgbench_latencies(work, "pgbench-log")
    committed = outbox_count(pg, bucket) - before
    errors = max(0, len(lat) - committed) + (1 if p.returncode != 0 else 0)
    secs = float(int(round(seconds)))
    return {"ops": len(lat), "errors": errors, "seconds": secs, "ops_s": len(lat) / secs,
            "mb_s": len(lat) * 4096 / secs / 1e6, "p50_ms": pct(lat, 0.5),
            "p99_ms": pct(lat, 0.99), "p999_ms": pct(lat, 0.999), "argv": argv,
            "failures": [] if p.returncode == 0 else [p.stderr.strip()[-300:]]}


# --- memory of one front end ----------------------------------------------------------------

def established(port):
    """Established TCP connections whose local port is port (from /proc/net/tcp)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state = fields[1], fields[3]
                    if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                        n += 1
        except OSError:
            continue
    return n


def hold_connections(lg, url, paths, conns, pid, port):
    """Open conns keep-alive connections (one small GET each), hold them idle, and sample
    the front end's RSS meanwhile.  Returns (RSS KiB, connections seen by the kernel)."""
    argv = lg.argv(url=url, mode="get", conns=conns, paths=paths, max_ops=conns, warmup=0,
                   seconds=60, hold=30, size=4096)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()          # the result line, then "holding"
        holding = proc.stdout.readline()
        result = parse_kv(first)
        if not holding.startswith("holding") or result.get("ops") != conns:
            raise RuntimeError("holding %d connections failed: %s %s" % (conns, first,
                                                                         proc.stderr.read()))
        rss = settled_rss(pid)
        return rss, established(port), argv
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def reset_peak(pid):
    """Reset the kernel's peak RSS (VmHWM) of pid to its RSS now; False if not allowed."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def transfer_peak(lg, pid, **kw):
    """One transfer while sampling the front end's RSS: (sample, RSS before, peak).  The
    peak is the kernel's own (VmHWM, reset first) where it can be reset, so no spike falls
    between two samples; the 50 ms samples are the fallback."""
    before = settled_rss(pid)
    exact = reset_peak(pid)
    with RssSampler(pid) as sampler:
        sample = lg.measure(bound=900, **kw)
    peak = max(sampler.peak, vm_hwm_kib(pid)) if exact else sampler.peak
    return sample, before, peak


def measure_memory(lg, fe, paths4k):
    """One round on a fresh one-worker s3mux: idle RSS; the peak while one 1 GiB PUT
    streams, then one 1 GiB GET (each over the RSS just before it); then the RSS holding
    1,000 idle keep-alive connections (over the RSS before they opened)."""
    pid = fe.frontends()[0]
    url = fe.url
    for i in range(3):                          # pools and buffers exist before the baseline
        lg.measure(url=url, mode="get", conns=1, paths=paths4k, max_ops=20, warmup=0,
                   seconds=30, size=4096)
    idle = settled_rss(pid)
    gib = 1024 * MiB
    put, put_before, put_peak = transfer_peak(
        lg, pid, url=url, mode="put", conns=1, size=gib, prefix="/bench/mem-big-", keys=1,
        max_ops=1, warmup=0, seconds=300, timeout=300)
    big = write_paths(paths4k + ".big", ["/bench/mem-big-0"])
    get, get_before, get_peak = transfer_peak(
        lg, pid, url=url, mode="get", conns=1, size=gib, paths=big, max_ops=1, warmup=0,
        seconds=300, timeout=300)
    conns_before = settled_rss(pid)
    held, seen, hold_argv = hold_connections(lg, url, paths4k, 1000, pid, fe.port)
    ok = not put["errors"] and not get["errors"] and put["ops"] == 1 and get["ops"] == 1
    return {"idle_mib": idle / 1024.0, "conns_mib": (held - conns_before) / 1024.0,
            "conns_seen": seen, "put_mib": (put_peak - put_before) / 1024.0,
            "get_mib": (get_peak - get_before) / 1024.0, "put_mb_s": put["mb_s"],
            "get_mb_s": get["mb_s"], "ok": ok, "peak_mib": max(put_peak, get_peak,
                                                               held) / 1024.0,
            "argv": [hold_argv, put["argv"], get["argv"]]}


# --- listings ---------------------------------------------------------------------------------

LIST_KEYS = 1000000


def list_key(i):
    return "k/%07d" % i


def fill_list_bucket(pg, bucket, owner, backend):
    """1,000,000 catalogued objects in one bucket, straight into the tables (as commit_put
    leaves them, without files: listings never read the backends)."""
    t0 = time.monotonic()
    pg.psql("SET synchronous_commit = off; "
            "INSERT INTO buckets (name, owner) VALUES ('%(b)s', '%(o)s'); "
            "INSERT INTO objects (bucket, key, version, size, etag, created_at) "
            "SELECT '%(b)s', 'k/' || lpad(i::text, 7, '0'), nextval('object_version_seq'), "
            "1024, md5(i::text), now() FROM generate_series(0, %(n)d - 1) i; "
            "INSERT INTO object_locations (bucket, key, backend, version, stored_size) "
            "SELECT bucket, key, '%(be)s', version, size FROM objects WHERE bucket = '%(b)s'; "
            "UPDATE backend_quotas SET bytes_used = bytes_used + 1024::bigint * %(n)d "
            "WHERE backend = '%(be)s'"
            % {"b": bucket, "o": owner, "n": LIST_KEYS, "be": backend}, timeout=900)
    pg.psql("VACUUM ANALYZE objects", timeout=600)
    pg.psql("VACUUM ANALYZE object_locations", timeout=600)
    pg.psql("CHECKPOINT", timeout=600)
    log("%d keys in bucket %s in %.1fs" % (LIST_KEYS, bucket, time.monotonic() - t0))


def list_paths(work, bucket):
    """The first page, and a page from the middle (continuation token of key 500,000)."""
    token = list_key(LIST_KEYS // 2).encode().hex()
    first = write_paths(os.path.join(work, "list-first.paths"),
                        ["/%s?list-type=2&max-keys=1000" % bucket])
    deep = write_paths(os.path.join(work, "list-deep.paths"),
                       ["/%s?continuation-token=%s&list-type=2&max-keys=1000" % (bucket, token)])
    return first, deep
