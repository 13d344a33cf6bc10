#!/usr/bin/python3
"""bench.py: the benchmark run behind bench/run (which builds first and then starts this).

Usage: bench.py --srcdir DIR --builddir DIR [--rounds N] [--seconds S] [--warmup S]
                [--sync-commit on|off|local|...] [--results FILE] [--only ID,ID] [--keep]

Starts, in a temporary directory: PostgreSQL, s3muxd (fs backend), one nginx (static files
from the fs backend's directory; WebDAV PUTs into a directory beside it) and s3rver.  Fills
them with the same objects, then measures each figure for s3mux, its reference and s3rver
in turn, the order alternating from round to round; then listings, then one front end's
memory.  Prints the table and writes the generated part of RESULTS.md.  Every process it
started is stopped by its pid at the end, also on SIGINT/SIGTERM.
"""
import argparse
import atexit
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_figures as bf     # noqa: E402
import bench_procs as bp       # noqa: E402
import bench_report as br      # noqa: E402

MiB = bf.MiB
BUCKET = "bench"
PG_BUCKET = "pgbench"
LIST_BUCKET = "list1m"
OBJECTS = {"g1m-": (256, MiB), "g64m-": (16, 64 * MiB), "g4k-": (2000, 4096)}
PUT_KEYS = {"p1m-": 16, "p4k-": 20}         # keys per connection, overwritten in turn
S3RVER_KEY = "S3RVER:S3RVER"


class Figure:
    """One line of the table: a metric measured for s3mux, a reference and s3rver."""

    def __init__(self, fid, title, metric, ref_name, target=None, target_text="",
                 below=None):
        self.fid = fid
        self.title = title
        self.metric = metric
        self.ref_name = ref_name
        self.target = target            # least ratio s3mux / reference
        self.target_text = target_text
        self.below = below              # or: s3mux's value must stay under this
        self.systems = []               # [(role, function() -> sample)]

    def add(self, role, fn):
        self.systems.append((role, fn))
        return self

    def met(self, row):
        if self.below is not None:
            v = row["med"].get("s3mux")
            return None if v is None else v < self.below
        return None if row["ratio"] is None else row["ratio"] >= self.target


def parse_args():
    ap = argparse.ArgumentParser(description="s3mux benchmark")
    ap.add_argument("--srcdir", required=True)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--sync-commit", default="on")
    ap.add_argument("--results", default=None)
    ap.add_argument("--only", default="", help="figure ids, comma-separated")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--command", default="bench/run")
    a = ap.parse_args()
    if not 1 <= a.rounds <= 9 or not 0.5 <= a.seconds <= 60 or not 0 <= a.warmup <= 30:
        ap.error("rounds 1..9, seconds 0.5..60, warm-up 0..30")
    return a


def on_signal(signum, frame):
    """Stop: the cleanup at exit stops every process; a second signal must not cut it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise SystemExit("bench: stopped by signal %d" % signum)


def make_workdir(keep):
    work = tempfile.mkdtemp(prefix="s3mux-bench-")
    os.chmod(work, 0o755)
    if not keep:
        atexit.register(lambda: shutil.rmtree(work, ignore_errors=True))
    return work


# --- setting up --------------------------------------------------------------------------------

class Env:
    """Everything a figure needs: the services, the loadgen, the paths files."""

    def __init__(self, args):
        self.args = args
        self.work = make_workdir(args.keep)
        self.disk = os.path.join(self.work, "disk-a")
        self.dav = os.path.join(self.work, "dav")
        self.lg = bf.Loadgen(os.path.join(args.builddir, "bench", "loadgen"), args.warmup,
                             args.seconds)
        self.nproc = os.cpu_count() or 1
        self.paths = {}

    def start(self):
        a = self.args
        bp.log("work directory %s" % self.work)
        self.pg = bp.Postgres(self.work, a.sync_commit).start()
        self.s3 = bp.S3mux(a.builddir, self.work, self.pg, self.disk).start()
        for b in (BUCKET, PG_BUCKET):
            self.pg.psql("SELECT create_bucket('%s', '%s', 'us-east-1')" % (b, bp.ACCESS_KEY))
        self.nginx = bp.Nginx(self.work, self.disk, self.dav, self.nproc).start()
        self.s3rver = bp.S3rver(a.srcdir, self.work, BUCKET)
        if self.s3rver.available():
            self.s3rver.start()
        else:
            bp.log("s3rver is not installed (npm ci --prefix t/node): no peer figures")
            self.s3rver = None
        bp.log("s3mux on %s, nginx on %s (dav %s)%s" % (
            self.s3.url, self.nginx.url, self.nginx.dav_url,
            ", s3rver on %s" % self.s3rver.url if self.s3rver else ""))

    def populate(self):
        for prefix, (count, size) in OBJECTS.items():
            t0 = time.monotonic()
            bf.populate(self.lg, self.s3.url, "/%s/%s" % (BUCKET, prefix), count, size)
            if self.s3rver:
                bf.populate(self.lg, self.s3rver.url, "/%s/%s" % (BUCKET, prefix), count,
                            size, sign=S3RVER_KEY)
            self.write_get_paths(prefix, count)
            bp.log("stored %d objects of %d bytes (%.1fs)" % (count, size,
                                                               time.monotonic() - t0))
        bf.fill_list_bucket(self.pg, LIST_BUCKET, bp.ACCESS_KEY, "disk-a")
        self.list_first, self.list_deep = bf.list_paths(self.work, LIST_BUCKET)
        self.pgbench_script = bf.pgbench_script(self.work, PUT_KEYS["p4k-"])

    def write_get_paths(self, prefix, count):
        keys = ["%s%d" % (prefix, i) for i in range(count)]
        s3_lines = ["/%s/%s" % (BUCKET, k) for k in keys]
        disk_lines = [bf.url_path_of_file(bf.fs_relpath(BUCKET, k)) for k in keys]
        self.paths[prefix] = (
            bf.write_paths(os.path.join(self.work, prefix + "s3.paths"), s3_lines),
            bf.write_paths(os.path.join(self.work, prefix + "disk.paths"), disk_lines))


# --- the figures -------------------------------------------------------------------------------

def get_figure(env, fid, title, prefix, conns, metric, target, target_text):
    s3paths, diskpaths = env.paths[prefix]
    size = OBJECTS[prefix][1]
    lg = env.lg
    f = Figure(fid, title, metric, "nginx", target, target_text)
    f.add("s3mux", lambda: lg.measure(url=env.s3.url, mode="get", conns=conns,
                                      paths=s3paths, size=size))
    f.add("ref", lambda: lg.measure(url=env.nginx.url, mode="get", conns=conns,
                                    paths=diskpaths, size=size, sign=False))
    if env.s3rver:
        f.add("peer", lambda: lg.measure(url=env.s3rver.url, mode="get", conns=conns,
                                         paths=s3paths, size=size, sign=S3RVER_KEY))
    return f


def put_args(prefix, conns, size):
    return dict(mode="put", conns=conns, size=size, prefix="/%s/%s" % (BUCKET, prefix),
                keys=PUT_KEYS[prefix], per_conn=True)


def put1m_figure(env):
    lg = env.lg
    kw = put_args("p1m-", 8, MiB)
    f = Figure("put-1m", "PUT 1 MiB, 8 conns", "mb_s", "nginx dav", 0.5, ">= 0.5 x nginx dav")
    f.add("s3mux", lambda: lg.measure(url=env.s3.url, **kw))
    f.add("ref", lambda: lg.measure(url=env.nginx.dav_url, sign=False, expect="201,204", **kw))
    if env.s3rver:
        f.add("peer", lambda: lg.measure(url=env.s3rver.url, sign=S3RVER_KEY, **kw))
    return f


def put4k_figure(env, conns):
    lg = env.lg
    kw = put_args("p4k-", conns, 4096)
    f = Figure("put-4k-%d" % conns, "PUT 4 KiB, %d conns" % conns, "ops_s", "pgbench", 0.7,
               ">= 0.7 x pgbench")
    f.add("s3mux", lambda: lg.measure(url=env.s3.url, **kw))
    f.add("ref", lambda: bf.measure_pgbench(env.pg, env.work, env.pgbench_script, PG_BUCKET,
                                            conns, env.args.warmup, env.args.seconds))
    if env.s3rver:
        f.add("peer", lambda: lg.measure(url=env.s3rver.url, sign=S3RVER_KEY, **kw))
    return f


def list_figure(env, fid, title, paths):
    f = Figure(fid, title, "p50_ms", "-", below=10.0, target_text="p50 < 10 ms")
    f.add("s3mux", lambda: env.lg.measure(url=env.s3.url, mode="get", conns=1, paths=paths,
                                          min_size=100000, max_ops=200))
    return f


def plan(env):
    figs = [
        get_figure(env, "get-1m", "GET 1 MiB, 8 conns", "g1m-", 8, "mb_s", 0.9,
                   ">= 0.9 x nginx"),
        get_figure(env, "get-64m", "GET 64 MiB, 8 conns", "g64m-", 8, "mb_s", 0.9,
                   ">= 0.9 x nginx"),
        put1m_figure(env),
        get_figure(env, "get-4k-8", "GET 4 KiB, 8 conns", "g4k-", 8, "ops_s", 0.25,
                   ">= 0.25 x nginx"),
        get_figure(env, "get-4k-64", "GET 4 KiB, 64 conns", "g4k-", 64, "ops_s", 0.25,
                   ">= 0.25 x nginx"),
        put4k_figure(env, 8),
        put4k_figure(env, 64),
        list_figure(env, "list-first", "ListObjectsV2 first page of 1,000 (1M keys)",
                    env.list_first),
        list_figure(env, "list-deep", "ListObjectsV2 page at key 500,000 (1M keys)",
                    env.list_deep),
    ]
    only = [x for x in env.args.only.split(",") if x]
    return [f for f in figs if not only or f.fid in only]


def settle():
    """Write back what earlier runs left dirty (nginx and s3rver do not fsync their PUTs),
    so that no run pays for another's writeback when it fsyncs."""
    os.sync()
    time.sleep(0.2)


def run_figure(fig, rounds, commands):
    samples = {role: [] for role, _ in fig.systems}
    for r in range(rounds):
        order = fig.systems if r % 2 == 0 else list(reversed(fig.systems))
        for role, fn in order:
            settle()
            s = fn()
            samples[role].append(s)
            if r == 0:
                commands.append(("%s, %s" % (fig.title, {"s3mux": "s3mux", "ref": fig.ref_name,
                                                         "peer": "s3rver"}[role]), s["argv"]))
            bp.log("%-44s round %d %-9s %s p50 %.2f ms p99 %.2f ms%s" % (
                fig.title, r + 1, role, br.fmt(s[fig.metric], fig.metric), s["p50_ms"],
                s["p99_ms"], " ERRORS %d %s" % (s["errors"], s.get("failures"))
                if s.get("errors") else ""))
    return br.summarize(fig, samples)


def run_memory(env, rounds, commands):
    """Memory rounds, each on a fresh one-worker s3mux (the main one is stopped first)."""
    env.s3.stop()
    out = []
    for r in range(rounds):
        fe = bp.S3mux(env.args.builddir, env.work, env.pg, env.disk, name="s3mux-mem",
                      workers=1).start()
        try:
            m = bf.measure_memory(env.lg, fe, env.paths["g4k-"][0])
        finally:
            fe.stop()
        out.append(m)
        if r == 0:
            for title, argv in zip(("memory: 1,000 idle connections", "memory: 1 GiB PUT",
                                    "memory: 1 GiB GET"), m["argv"]):
                commands.append((title, argv))
        bp.log("memory round %d: idle %.1f MiB, +%.1f MiB with %d connections, "
               "+%.1f MiB PUT, +%.1f MiB GET" % (r + 1, m["idle_mib"], m["conns_mib"],
                                                 m["conns_seen"], m["put_mib"], m["get_mib"]))
    return out


def main():
    args = parse_args()
    started = time.monotonic()
    began = float(os.environ.get("BENCH_T0", "0") or 0)   # bench/run's start, build included
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    load_before = br.load_average()
    env = Env(args)
    # registered after the work directory's removal, so it runs before it (last in, first
    # out): every process is stopped while its files are still there
    atexit.register(bp.stop_all)
    env.start()
    env.populate()
    commands, rows = [], []
    for fig in plan(env):
        rows.append(run_figure(fig, args.rounds, commands))
    memory = []
    if not args.only or "memory" in args.only.split(","):
        memory = run_memory(env, args.rounds, commands)
    ctx = {"date": br.now_text(), "machine": br.machine_info(), "git": br.git_info(args.srcdir),
           "command": args.command, "rounds": args.rounds, "seconds": args.seconds,
           "warmup": args.warmup,
           "elapsed": time.time() - began if began else time.monotonic() - started,
           "sync_commit": args.sync_commit, "s3mux_workers": "auto (%d)" % env.nproc,
           "nginx_workers": env.nproc, "rows": rows, "memory": memory,
           "commands": commands, "work": env.work, "builddir": args.builddir,
           "load_before": load_before, "load_after": br.load_average(),
           "versions": br.versions(args.srcdir, env.pg.bindir)}
    text = br.render(ctx)
    print("\n" + text)
    if args.results:
        br.write_results(args.results, text)
        bp.log("wrote %s" % args.results)
    bp.log("done in %.1f minutes" % ((time.monotonic() - started) / 60.0))


if __name__ == "__main__":
    main()
