#!/usr/bin/python3
# backend-quota.t: placement honours byte quotas: under `pack` writes fill the first backend
# and overflow to the next; with both full a PUT gets 507 InsufficientStorage; 32 concurrent
# writers never push a backend past its quota; `spread` (after a reload) prefers the emptier
# backend; the catalogue's sums always equal the bytes on the backends.
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import *  # noqa: E402,F403
from s3mux_fs import fs_bytes  # noqa: E402
import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

KIB = 1024
t = TAP()
pg = PgCluster()
d = tempdir()
disks = {n: os.path.join(d, n) for n in ("disk-a", "disk-b")}
for p in disks.values():
    os.makedirs(p)
backends = "backends:\n" + "".join(
    "  - name: %s\n    driver: fs\n    path: %s\n    quota: 1MiB\n" % (n, p)
    for n, p in disks.items())
cfg = write_config(d, pg, backends=backends, body="placement: pack\n")
port = write_config.ports[0]
daemon = Daemon(cfg).start()
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port, aws_access_key_id="demo",
                  aws_secret_access_key="demo-secret-key", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                max_pool_connections=40))


def put(key, size):
    try:
        s3.put_object(Bucket="quota", Key=key, Body=os.urandom(size))
        return "OK"
    except ClientError as e:
        return e.response["Error"]["Code"]


def where(key):
    rows = pg.psql("SELECT backend FROM object_locations WHERE bucket = 'quota' AND key = '%s'"
                   % key)
    return rows[0][0] if rows else None


def quotas():
    return {r[0]: [int(x) for x in r[1:]] for r in pg.psql(
        "SELECT backend, bytes_used, bytes_reserved, orphan_bytes, bytes_limit "
        "FROM backend_quotas")}


def sums_agree(label):
    q = quotas()
    cat = dict((r[0], int(r[1])) for r in pg.psql(
        "SELECT backend, coalesce(sum(stored_size), 0) FROM object_locations GROUP BY backend"))
    for name, root in disks.items():
        used, reserved, orphans, limit = q[name]
        t.is_((used, reserved), (cat.get(name, 0), 0),
              "%s: %s bytes_used equals the catalogue's copies, nothing reserved" % (label, name))
        t.is_(used + orphans, fs_bytes(root),
              "%s: %s used + orphan bytes equal the bytes on disk" % (label, name))
        t.ok(used <= limit, "%s: %s within its quota (%d <= %d)" % (label, name, used, limit))


s3.create_bucket(Bucket="quota")
results = [put("pack/%02d" % i, 100 * KIB) for i in range(10)]
t.is_(results, ["OK"] * 10, "ten 100 KiB objects fit")
t.is_(set(where("pack/%02d" % i) for i in range(10)), {"disk-a"}, "pack: all on disk-a")
t.is_(put("pack/10", 100 * KIB), "OK", "the eleventh object is written")
t.is_(where("pack/10"), "disk-b", "pack: it overflowed to disk-b")
for i in range(11, 20):
    put("pack/%02d" % i, 100 * KIB)
t.is_(put("too-much", 200 * KIB), "InsufficientStorage", "both backends full: 507")
t.is_(where("too-much"), None, "nothing recorded for the refused PUT")
sums_agree("after filling")

s3.delete_object(Bucket="quota", Key="pack/00")
s3.delete_object(Bucket="quota", Key="pack/01")
t.ok(wait_until(lambda: quotas()["disk-a"][2] == 0, 10), "deleted copies' bytes released")
t.is_(put("refill", 150 * KIB), "OK", "room again after deletes")
t.is_(where("refill"), "disk-a", "pack: the freed room on disk-a is used first")
sums_agree("after deletes")

# 32 concurrent writers into what room is left: nobody may overshoot a quota.
for i in range(20):
    try:
        s3.delete_object(Bucket="quota", Key="pack/%02d" % i)
    except ClientError:
        pass
wait_until(lambda: all(v[2] == 0 for v in quotas().values()), 10)
outcomes = []
lock = threading.Lock()


def writer(n):
    for j in range(4):
        r = put("race/%02d-%d" % (n, j), 50 * KIB)
        with lock:
            outcomes.append(r)


threads = [threading.Thread(target=writer, args=(n,)) for n in range(32)]
for th in threads:
    th.start()
for th in threads:
    th.join(120)
ok = outcomes.count("OK")
t.is_(len(outcomes), 128, "128 concurrent PUTs answered")
t.ok(ok > 0 and outcomes.count("InsufficientStorage") > 0,
     "some fit, the rest got 507 (%d ok)" % ok)
t.is_(set(outcomes) - {"OK", "InsufficientStorage", "SlowDown"}, set(), "no other error")
sums_agree("after the race")
stored = sum(int(r[0]) for r in pg.psql("SELECT size FROM objects WHERE key LIKE 'race/%'"))
t.is_(stored, ok * 50 * KIB, "every acknowledged PUT is in the catalogue")

# spread: after a reload, writes go to the emptier backend.
for k in [r[0] for r in pg.psql("SELECT key FROM objects WHERE bucket = 'quota'")]:
    s3.delete_object(Bucket="quota", Key=k)
wait_until(lambda: all(v[0] == 0 and v[2] == 0 for v in quotas().values()), 10)
put("spread/a-fill", 400 * KIB)
with open(cfg) as f:
    text = f.read().replace("placement: pack", "placement: spread")
text = text.replace("path: %s\n    quota: 1MiB" % disks["disk-b"],
                    "path: %s\n    quota: 2MiB" % disks["disk-b"])
with open(cfg, "w") as f:
    f.write(text)
usage_before = pg.psql("SELECT backend, requests FROM backend_usage ORDER BY backend")
daemon.signal(signal.SIGHUP)
t.ok(daemon.wait_log(r"reload complete", 30), "reloaded with placement: spread")
t.is_(quotas()["disk-b"][3], 2 * 1024 * 1024, "the reload applied disk-b's new quota")
usage_after = pg.psql("SELECT backend, requests FROM backend_usage ORDER BY backend")
t.ok(len(usage_after) == len(usage_before) and
     all(int(a[1]) >= int(b[1]) for a, b in zip(usage_after, usage_before)),
     "no usage count was lost over the reload")
first = where("spread/a-fill")
put("spread/next", 100 * KIB)
t.ok(first is not None and where("spread/next") not in (None, first),
     "spread: the next object went to the emptier backend (%s, then %s)" %
     (first, where("spread/next")))
sums_agree("after spread")
t.is_(daemon.stop(), 0, "s3muxd stops cleanly")
t.unlike(daemon.log(), r"AddressSanitizer|runtime error:", "no sanitizer reports")
t.done()
