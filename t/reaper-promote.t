#!/usr/bin/python3
# reaper-promote.t: stale pending intents resolved by s3mux-reaper.
#
# 1. PostgreSQL stops between the backend PUT and the commit: two PUTs stream half their
#    bodies (their intents are written), PostgreSQL is stopped, the rest of the bodies is
#    sent (the bytes reach the backends, each commit fails: 503), PostgreSQL starts again.
#    A later PUT of one of the keys commits elsewhere.  The reaper promotes the other intent
#    (the object reads back, with the MD5 of its bytes as ETag) and drops the superseded
#    one, deleting its bytes at once.
# 2. Two reapers started at once resolve each intent once (one may find the locks held and
#    exit 3); resolve_pending run twice at the same moment for one intent promotes it once,
#    the other call finds it gone.  So the advisory lock is not the only guard.
# 3. A 'delete' intent left by a dead cleanup claim is released, and the row deleted by the
#    cleanup role afterwards.
import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import *  # noqa: E402,F403
from s3mux_roleenv import RoleEnv  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

t = TAP()
# pack: disk-a first while it has room, so a 2 MiB object goes to disk-b and a small one to
# disk-a, whatever else is stored
env = RoleEnv(t, backends=[("disk-a", "1MiB"), ("disk-b", "10GiB")], placement="pack",
              roles={"reaper": {"pending_age": "1s"}})
pg = env.pg
s3 = env.client()
s3.create_bucket(Bucket="bkt")
s3.put_object(Bucket="bkt", Key="warm", Body=b"warm")


def md5(data):
    return hashlib.md5(data).hexdigest()


def intents(key=None):
    where = " WHERE key = '%s'" % key if key else ""
    return int(pg.scalar("SELECT count(*) FROM pending_objects" + where))


class HeldPut:
    """A PUT through a presigned URL whose body is sent in two halves, on command."""

    def __init__(self, key, body):
        self.key = key
        self.body = body
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "bkt", "Key": key},
                                        ExpiresIn=600)
        u = urllib.parse.urlsplit(url)
        head = ("PUT %s?%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
                % (u.path, u.query, env.port, len(body)))
        self.sock = socket.create_connection(("127.0.0.1", env.port), timeout=60)
        at_cleanup(self.sock.close)
        self.sock.sendall(head.encode() + body[:len(body) // 2])

    def finish(self):
        self.sock.sendall(self.body[len(self.body) // 2:])
        data = b""
        while b"\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else None


# --- 1. PostgreSQL stops between the backend PUT and the commit ---------------------------
small = os.urandom(64 * 1024)
big = os.urandom(2 * 1024 * 1024)
held = [HeldPut("promote-me", small), HeldPut("superseded", big)]
t.ok(wait_until(lambda: intents() == 2, 15), "both PUTs have their intents")
pg.stop()
statuses = [h.finish() for h in held]
t.is_(statuses, [503, 503], "with PostgreSQL down, both commits fail: 503")
pg.start()
t.ok(wait_until(lambda: s3.head_object(Bucket="bkt", Key="warm") is not None, 30),
     "PostgreSQL is back and the front end answers")
t.is_(intents(), 2, "the two intents are left behind")
t.ok(os.path.exists(env.path("disk-a", "bkt", "promote-me")) and
     os.path.exists(env.path("disk-b", "bkt", "superseded")),
     "their bytes reached disk-a and disk-b")
t.is_(pg.scalar("SELECT count(*) FROM objects WHERE key IN ('promote-me', 'superseded')"),
      "0", "neither object is in the catalogue")

later = b"a later write"


def put_later():
    try:
        s3.put_object(Bucket="bkt", Key="superseded", Body=later)
        return True
    except ClientError:   # the front end may not have reconnected to PostgreSQL yet
        return False


t.ok(wait_until(put_later, 30, 0.5), "a later PUT of 'superseded' succeeds")
t.is_(pg.scalar("SELECT backend FROM object_locations WHERE key = 'superseded'"), "disk-a",
      "a later PUT of 'superseded' commits on disk-a")
time.sleep(1.1)                       # roles.reaper.pending_age
p = env.once("reaper")
env.clean_run(p, "the reaper")
t.like(p.out, r"reaper pass: 1 promoted, 1 dropped, 0 released, 0 no-op, 0 failed; "
       r"0 upload\(s\) aborted, 0 forgotten; 1 deleted, 0 left for cleanup",
       "one intent promoted, one dropped, its bytes deleted")
t.like(p.out, r"intent \d+ \(bkt/promote-me on disk-a\): promoted as version \d+, %d bytes, "
       r"ETag '%s'" % (len(small), md5(small)), "the promotion is logged with size and ETag")
t.like(p.out, r"intent \d+ \(bkt/superseded on disk-b\): superseded; dropped, its bytes "
       r"queued for deletion", "the superseded intent is logged")
got = s3.get_object(Bucket="bkt", Key="promote-me")
t.ok(got["Body"].read() == small, "the promoted object reads back")
t.is_(got["ETag"], '"%s"' % md5(small), "with the MD5 of its bytes as ETag")
t.ok(s3.get_object(Bucket="bkt", Key="superseded")["Body"].read() == later,
     "the superseded key keeps the later write")
t.ok(not os.path.exists(env.path("disk-b", "bkt", "superseded")),
     "the superseded bytes are gone from disk-b")
t.is_(intents(), 0, "no intent left")
t.is_(env.quota("disk-a"), (len(small) + len(later) + 4, 0, 0), "disk-a: used, nothing reserved")
t.is_(env.quota("disk-b"), (0, 0, 0), "disk-b: empty, nothing reserved, no orphans")
t.is_(pg.scalar("SELECT count(*) FROM event_outbox WHERE key = 'promote-me' AND "
                "event = 's3:ObjectCreated:Put'"), "1", "the promotion announced the object")
p = env.once("reaper")
t.like(p.out, r"reaper pass: 0 promoted, 0 dropped, 0 released, 0 no-op, 0 failed",
       "a second pass finds nothing to do")


# --- 2. racing reapers -----------------------------------------------------------------------
def stale_write(key, data):
    """An intent whose writer died after its bytes reached disk-a (begin_put, then the file)."""
    pid = pg.psql("SELECT pending_id FROM begin_put('bkt', '%s', %d, 'frontend:dead:1', "
                  "'{disk-a}', 'pack')" % (key, len(data)))[0][0]
    path = env.path("disk-a", "bkt", key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return pid


race = {"race%d" % i: os.urandom(1000 + i) for i in range(1, 4)}
for k, data in race.items():
    stale_write(k, data)
time.sleep(1.1)
procs = [env.start_once("reaper") for _ in range(2)]
outs = [pr.communicate(timeout=120)[0] for pr in procs]
rcs = sorted(pr.returncode for pr in procs)
t.ok(rcs in ([0, 0], [0, 3]), "two reapers at once: both done, or one finds the locks held "
     "(%r)" % rcs)
if 3 in rcs:
    t.like(outs[[pr.returncode for pr in procs].index(3)], r"lock 1011 held by another instance",
           "the loser says which lock")
promoted = sum(int(m) for o in outs for m in re.findall(r"reaper pass: (\d+) promoted", o))
t.is_(promoted, 3, "the three intents were promoted once in all")
t.is_(pg.psql("SELECT key, count(*) FROM event_outbox WHERE key LIKE 'race%' GROUP BY key "
              "ORDER BY key"), [[k, "1"] for k in sorted(race)], "one event per key")
t.ok(all(s3.get_object(Bucket="bkt", Key=k)["Body"].read() == d for k, d in race.items()),
     "every raced object reads back")

# resolve_pending twice at the same moment, without the advisory lock
data = os.urandom(1234)
pid = stale_write("twice", data)
st = os.stat(env.path("disk-a", "bkt", "twice"))
time.sleep(1.1)
psql = ["psql", "-X", "-q", "-A", "-t", "-h", pg.sock, "-p", str(pg.port), "-U", "s3mux",
        "-d", pg.dbname]
holder = subprocess.Popen(psql, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
at_cleanup(lambda: holder.poll() is None and holder.kill())
holder.stdin.write("BEGIN;\nSELECT 1 FROM pending_objects WHERE id = %s FOR UPDATE;\n" % pid)
holder.stdin.flush()
wait_until(lambda: pg.scalar("SELECT count(*) FROM pg_locks l JOIN pg_class c ON "
                             "c.oid = l.relation WHERE c.relname = 'pending_objects' AND "
                             "l.mode = 'RowShareLock'") != "0", 10)
sql = ("SELECT outcome FROM resolve_pending(%s, '1 second', %d, %d, '%s')"
       % (pid, len(data), int(st.st_mtime), md5(data)))
racers = [subprocess.Popen(psql + ["-c", sql], stdout=subprocess.PIPE, text=True)
          for _ in range(2)]
t.ok(wait_until(lambda: pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                                  "wait_event_type = 'Lock' AND query LIKE '%resolve_pending%'")
                == "2", 10), "both calls wait on the intent")
holder.stdin.write("ROLLBACK;\n")
holder.stdin.close()
holder.wait(timeout=10)
answers = sorted(r.communicate(timeout=30)[0].strip() for r in racers)
t.is_(answers, ["gone", "promoted"], "one call promotes, the other finds it gone")
t.is_(pg.scalar("SELECT count(*) FROM event_outbox WHERE key = 'twice'"), "1",
      "the object was recorded once")

# --- 3. a dead cleanup claim's intent ----------------------------------------------------------
pg.psql("SELECT delete_object('bkt', 'warm')")
row = pg.psql("SELECT id FROM claim_cleanups('cleanup:deadhost:1', 10, '1 hour')")[0][0]
time.sleep(1.1)
p = env.once("reaper")
env.clean_run(p, "the reaper with a dead claim's intent")
t.like(p.out, r"reaper pass: 0 promoted, 0 dropped, 1 released, 0 no-op, 0 failed",
       "the delete intent is released")
t.is_(pg.psql("SELECT claimed_at IS NULL, claim_token IS NULL FROM cleanup_queue WHERE id = %s"
              % row), [["t", "t"]], "its row is unclaimed, due for the cleanup role")
t.is_(intents(), 0, "no intent left")
p = env.once("cleanup")
env.clean_run(p, "the cleanup role after the release")
t.like(p.out, r"cleanup pass: 1 deleted, 0 failed, 0 dead-lettered, 0 reclaimed",
       "the cleanup role deletes it")
t.ok(not os.path.exists(env.path("disk-a", "bkt", "warm")), "the bytes are gone")
used = sum(len(d) for d in race.values()) + len(small) + len(later) + len(data)
t.is_(env.quota("disk-a"), (used, 0, 0), "disk-a's quota matches what it holds")
t.is_(env.disk_bytes("disk-a"), used, "and so do its files")
env.finish()
t.done()
