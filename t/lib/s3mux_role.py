"""Helpers for tests of the background roles run by hand (without s3muxd).

RoleProcess starts one role program in the foreground with its log in a file; the lock
helpers read pg_locks the way `s3muxctl roles` does (a bigint advisory key k < 2^32 shows as
classid 0, objid k, objsubid 1).  Use with the main harness:

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
    from s3mux import *
    from s3mux_role import *
"""
import os
import re
import signal
import subprocess

from s3mux import WORKERS, at_cleanup, read_text, wait_until

ROLE_LOCKS = {
    "replicator": [1002, 1008], "lifecycle": [1005], "cleanup": [1003],
    "scrubber": [1009, 1010], "reaper": [1011, 1004], "notifier": [1013],
    "rebalancer": [1001, 1006],
}


class RoleProcess:
    """s3mux-<role> -c CONFIG -f, run by hand; stdout and stderr go to a log file."""

    def __init__(self, role, config, tag, extra_args=()):
        self.role = role
        self.log_path = os.path.join(os.path.dirname(config), "%s-%s.log" % (role, tag))
        logf = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [os.path.join(WORKERS, "s3mux-" + role), "-c", config, "-f"] + list(extra_args),
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        self.pid = self.proc.pid
        at_cleanup(self.kill)

    def log(self):
        return read_text(self.log_path)

    def count(self, pattern):
        return len(re.findall(pattern, self.log()))

    def wait_log(self, pattern, timeout=10.0, count=1):
        return wait_until(lambda: self.count(pattern) >= count, timeout)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.pid, sig)

    def stop(self, timeout=15):
        """SIGTERM and wait; the exit status, or None when it did not exit in time."""
        if self.alive():
            self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.alive():
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def lock_holders(pg, lock_id):
    """[(backend pid, application_name)] of the sessions holding advisory lock lock_id."""
    rows = pg.psql(
        "SELECT l.pid, coalesce(a.application_name, '') FROM pg_locks l"
        " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0"
        " AND l.objid = %d AND l.objsubid = 1"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        % lock_id)
    return [(int(r[0]), r[1]) for r in rows]


def lock_holder(pg, lock_id):
    """The backend pid holding lock_id, or None."""
    holders = lock_holders(pg, lock_id)
    return holders[0][0] if len(holders) == 1 else None


def sessions(pg, application_name):
    """Backend pids of the sessions with this application_name."""
    return [int(r[0]) for r in pg.psql(
        "SELECT pid FROM pg_stat_activity WHERE application_name = '%s'" % application_name)]
