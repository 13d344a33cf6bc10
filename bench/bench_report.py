"""bench_report.py: medians, ratios against the issue's targets, the printed table, and the
generated part of bench/RESULTS.md.

RESULTS.md keeps whatever is written outside the markers
    <!-- bench/run: begin --> ... <!-- bench/run: end -->
(the analysis: what was profiled, what it found); bench/run replaces only what is between.
"""
import datetime
import os
import platform
import statistics
import subprocess

BEGIN = "<!-- bench/run: begin -->"
END = "<!-- bench/run: end -->"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def machine_info():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {"nproc": os.cpu_count(), "memory": "%.1f GiB" % (mem_kib / 1048576.0),
            "kernel": platform.release(), "cpu": model}


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def versions(srcdir, pg_bindir):
    """Versions of the servers measured, as one line."""
    def out(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    s3rver = "?"
    try:
        import json
        with open(os.path.join(srcdir, "t/node/node_modules/s3rver/package.json")) as f:
            s3rver = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        pass
    return "%s; %s; s3rver %s (node %s); %s" % (
        out(["nginx", "-v"]).replace("nginx version: ", ""),
        out([os.path.join(pg_bindir, "postgres"), "--version"]), s3rver,
        out(["node", "--version"]), out(["curl-config", "--version"]))


def git_info(srcdir):
    def git(*args):
        p = subprocess.run(["git", "-C", srcdir] + list(args), capture_output=True,
                           text=True, timeout=30)
        return p.stdout.rstrip("\n") if p.returncode == 0 else ""
    head = git("rev-parse", "HEAD").strip() or "(not a git checkout)"
    changed = [line for line in git("status", "--porcelain").splitlines() if line.strip()]
    return head, changed


def fmt(value, metric):
    if value is None:
        return "-"
    if metric in ("p50_ms", "p99_ms", "p999_ms"):
        return "%.2f ms" % value
    if metric == "mb_s":
        return "%.0f MB/s" % value
    return "%.0f ops/s" % value


def summarize(fig, samples):
    """samples: {system role: [sample per round]} -> one row of the table."""
    row = {"fig": fig, "med": {}, "lat": {}, "errors": {}, "rounds": {}}
    for role, runs in samples.items():
        row["med"][role] = median([s[fig.metric] for s in runs])
        row["lat"][role] = (median([s["p50_ms"] for s in runs]),
                            median([s["p99_ms"] for s in runs]))
        row["errors"][role] = int(sum(s.get("errors", 0) + s.get("warm_errors", 0)
                                      for s in runs))
        row["rounds"][role] = [s[fig.metric] for s in runs]
    row["ratio"] = ratio(row["med"].get("s3mux"), row["med"].get("ref"))
    row["peer_ratio"] = ratio(row["med"].get("s3mux"), row["med"].get("peer"))
    row["met"] = fig.met(row)
    return row


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def verdict(met):
    return {True: "yes", False: "**no**", None: "-"}[met]


def table_lines(rows):
    head = ("| figure | s3mux | reference | s3mux / ref | target | met | s3mux p50 / p99 | "
            "ref p50 / p99 | s3rver | s3mux / s3rver |")
    lines = [head, "|" + "---|" * 10]
    for row in rows:
        f = row["fig"]
        lat = row["lat"]

        def lat_of(role):
            if role not in lat or lat[role][0] is None:
                return "-"
            return "%.2f / %.2f ms" % lat[role]
        errs = sum(row["errors"].values())
        lines.append("| %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            f.title, " (%d errors)" % errs if errs else "",
            fmt(row["med"].get("s3mux"), f.metric),
            ("%s: %s" % (f.ref_name, fmt(row["med"]["ref"], f.metric))
             if "ref" in row["med"] else "-"),
            "%.2f" % row["ratio"] if row["ratio"] is not None else "-",
            f.target_text, verdict(row["met"]), lat_of("s3mux"), lat_of("ref"),
            fmt(row["med"].get("peer"), f.metric),
            "%.1f" % row["peer_ratio"] if row["peer_ratio"] is not None else "-"))
    return lines


def round_lines(rows):
    lines = ["| figure | system | per round |", "|---|---|---|"]
    for row in rows:
        f = row["fig"]
        for role, values in row["rounds"].items():
            name = {"s3mux": "s3mux", "ref": f.ref_name, "peer": "s3rver"}[role]
            lines.append("| %s | %s | %s |" % (f.title, name,
                                               " · ".join(fmt(v, f.metric) for v in values)))
        mine, ref = row["rounds"].get("s3mux"), row["rounds"].get("ref")
        if mine and ref:
            paired = [ratio(a, b) for a, b in zip(mine, ref)]
            lines.append("| %s | s3mux / %s, same round | %s |" % (
                f.title, f.ref_name, " · ".join("-" if x is None else "%.2f" % x
                                                for x in paired)))
    return lines


MEMORY_TARGETS = [
    ("idle_mib", "front-end worker idle (RSS)", 16.0, "< 16 MiB"),
    ("conns_mib", "+ 1,000 idle keep-alive connections", 32.0, "< 32 MiB more"),
    ("put_mib", "+ one 1 GiB PUT streaming (peak rise)", 16.0, "< 16 MiB more"),
    ("get_mib", "+ one 1 GiB GET streaming (peak rise)", 16.0, "< 16 MiB more"),
]


def memory_lines(mem_rounds):
    lines = ["| memory (one front end, frontend.workers: 1) | median | per round | target | met |",
             "|---|---|---|---|---|"]
    for key, title, bound, text in MEMORY_TARGETS:
        values = [m[key] for m in mem_rounds]
        med = median(values)
        met = None if med is None else med < bound
        lines.append("| %s | %.1f MiB | %s | %s | %s |" % (
            title, med if med is not None else 0.0,
            " · ".join("%.1f" % v for v in values), text, verdict(met)))
    seen = [m["conns_seen"] for m in mem_rounds]
    rates = ["%.0f / %.0f" % (m["put_mb_s"], m["get_mb_s"]) for m in mem_rounds]
    peaks = ["%.1f" % m["peak_mib"] for m in mem_rounds]
    lines.append("")
    lines.append("Order in each round: idle, the 1 GiB PUT, the 1 GiB GET, then the 1,000 "
                 "connections; each rise is over the RSS just before that step.  Highest "
                 "RSS per round (MiB): %s.  Connections established at the front end's port "
                 "while held: %s.  1 GiB PUT / GET rates (MB/s) per round: %s.  Every memory "
                 "round's transfers succeeded: %s." % (", ".join(peaks),
                                                       ", ".join(str(s) for s in seen),
                                                       ", ".join(rates),
                                               "yes" if all(m["ok"] for m in mem_rounds)
                                               else "**no**"))
    return lines


def shorten(argv, work, builddir):
    text = " ".join(argv)
    return text.replace(work, "$WORK").replace(builddir, "$BUILD")


def command_lines(commands, work, builddir):
    lines = []
    for title, argv in commands:
        lines.append("- %s:" % title)
        lines.append("  `%s`" % shorten(argv, work, builddir))
    return lines


def render(ctx):
    """The generated part of RESULTS.md, as text."""
    m = ctx["machine"]
    head, changed = ctx["git"]
    out = [BEGIN, "", "## Run of %s" % ctx["date"], "",
           "- machine: %s CPUs (%s), %s memory, Linux %s" % (m["nproc"], m["cpu"], m["memory"],
                                                             m["kernel"]),
           "- commit: `%s`%s" % (head, " with %d changed file(s) in the work tree" %
                                 len(changed) if changed else ""),
           "- command: `%s` (%d rounds of %gs after a %gs warm-up; took %.1f minutes)" % (
               ctx["command"], ctx["rounds"], ctx["seconds"], ctx["warmup"],
               ctx["elapsed"] / 60.0),
           "- PostgreSQL: fsync on, synchronous_commit = %s; s3mux front ends: %s; "
           "nginx workers: %s" % (ctx["sync_commit"], ctx["s3mux_workers"],
                                  ctx["nginx_workers"]),
           "- versions: %s" % ctx["versions"],
           "- load average (1, 5, 15 min) at the start: %s; at the end: %s (other work on "
           "the machine shows here)" % (ctx["load_before"], ctx["load_after"]),
           "", "### Throughput and latency (medians over the rounds)", ""]
    out += table_lines(ctx["rows"])
    out += ["", "### Memory", ""]
    out += memory_lines(ctx["memory"]) if ctx["memory"] else ["(not measured)"]
    out += ["", "### Every round", ""] + round_lines(ctx["rows"])
    out += ["", "### Commands (round 1 of each; $WORK is the run's temporary directory, "
            "$BUILD the bench build directory)", ""]
    out += command_lines(ctx["commands"], ctx["work"], ctx["builddir"])
    if changed:
        out += ["", "Work tree changes at the time of the run: " +
                ", ".join("`%s`" % c[3:] for c in changed)]
    out += ["", END]
    return "\n".join(out) + "\n"


RESULTS_HEADER = """# Benchmark results

bench/run writes the part between the markers below; the rest of this file is kept as it is.
"""


def write_results(path, generated):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        text = RESULTS_HEADER + "\n" + BEGIN + "\n" + END + "\n"
    if BEGIN in text and END in text:
        before = text[:text.index(BEGIN)]
        after = text[text.index(END) + len(END):].lstrip("\n")
        text = before + generated + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + generated
    with open(path, "w") as f:
        f.write(text)


def now_text():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
