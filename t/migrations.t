#!/usr/bin/python3
# migrations.t: sql/ migrations apply to a fresh database, a second run is a no-op, and two
# processes migrating at once (s3muxctl, then two supervisors) apply each file exactly once.
import glob
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import *  # noqa: E402,F403

t = TAP()
files = sorted(os.path.basename(f) for f in glob.glob(os.path.join(SRCDIR, "sql", "[0-9]*_*.sql")))
t.ok(len(files) >= 1, "there are migrations in sql/ (%d)" % len(files))

pg = PgCluster()
d = tempdir()
cfg = write_config(d, pg)

p = run([S3MUXCTL, "-c", cfg, "migrate"])
t.is_(p.returncode, 0, "s3muxctl migrate on a fresh database succeeds")
rows = pg.psql("SELECT version, name FROM schema_migrations ORDER BY version")
t.is_([r[1] for r in rows], files, "every file recorded once, in order")
for table in ("objects", "object_locations", "backend_quotas", "pending_objects",
              "cleanup_queue", "cleanup_dlq", "event_outbox"):
    t.is_(pg.scalar("SELECT to_regclass('%s') IS NOT NULL" % table), "t", "table %s exists" % table)

stamps = pg.psql("SELECT version, applied_at FROM schema_migrations ORDER BY version")
p = run([S3MUXCTL, "-c", cfg, "migrate"])
t.is_(p.returncode, 0, "a second run succeeds")
t.is_(pg.psql("SELECT version, applied_at FROM schema_migrations ORDER BY version"), stamps,
      "a second run applies nothing")

# Two s3muxctl at once on a fresh database.
pg.psql("CREATE DATABASE race1", db="postgres")
cfg_race = write_config(d, pg, name="race1.yaml")
with open(cfg_race) as f:
    text = f.read().replace("dbname=s3mux", "dbname=race1")
with open(cfg_race, "w") as f:
    f.write(text)
procs = [subprocess.Popen([S3MUXCTL, "-c", cfg_race, "migrate"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) for _ in range(2)]
outs = [pr.communicate(timeout=60) for pr in procs]
t.is_([pr.returncode for pr in procs], [0, 0], "two concurrent migrate runs both succeed")
if any(pr.returncode for pr in procs):
    t.diag("\n".join(o[0] for o in outs))
t.is_(pg.psql("SELECT name FROM schema_migrations ORDER BY version", db="race1"),
      [[f] for f in files], "each file applied exactly once by the racing pair")

# Two supervisors starting at once on another fresh database.
pg.psql("CREATE DATABASE race2", db="postgres")
daemons = []
for i in range(2):
    sub = os.path.join(d, "sup%d" % i)
    os.makedirs(sub)
    c = write_config(sub, pg)
    with open(c) as f:
        text = f.read().replace("dbname=s3mux", "dbname=race2")
    with open(c, "w") as f:
        f.write(text)
    daemons.append(Daemon(c))
for dm in daemons:
    dm.start(wait_ready=False)
for dm in daemons:
    t.ok(dm.wait_log(r"migrations|schema", 30), "supervisor %d reports on the schema" % dm.pid)
t.is_(pg.psql("SELECT name FROM schema_migrations ORDER BY version", db="race2"),
      [[f] for f in files], "two supervisors at once: each file applied exactly once")
for dm in daemons:
    t.unlike(dm.log(), r"migrate: .* failed", "no migration failed in supervisor %d" % dm.pid)
    t.is_(dm.stop(), 0, "supervisor stops cleanly")
t.done()
