/*
 * replicator.c: s3mux-replicator, the background role that copies objects toward the
 *     replication factor and the replication rules.
 *
 * In this release the role does no work yet: it takes its advisory lock(s) (LOCK_REPLICATION,
 * LOCK_EXCESS_REPLICAS in locks.h), listens on the channel s3mux_replicator and waits, so that
 * the supervisor, the standby logic and the tests have a real process to run.  It will drain
 * event_outbox on its own cursor, copy objects until each has replication.copies copies and
 * mirror the buckets named by replication_rules, and remove excess replicas.
 *
 * Usage: s3mux-replicator [-fhv] [-c FILE] [--once]
 *   -c FILE   configuration (default SYSCONFDIR/s3mux/s3mux.yaml)
 *   -f        log to standard error instead of syslog
 *   --once    one pass, then exit: 0 done, 1 failed or no database, 2 bad configuration,
 *             3 the lock is held by another instance
 *   -v        debug logging
 * Signals: SIGTERM/SIGINT stop after the current item, SIGHUP reloads the configuration,
 * SIGUSR1 reopens the log file.  Everything else is the shared skeleton in src/worker.c;
 * see s3mux-replicator(8).
 */
#include "locks.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	static const int64_t locks[] = { LOCK_REPLICATION, LOCK_EXCESS_REPLICAS };
	static const struct worker_role role = {
		.id = ROLE_REPLICATOR,
		.name = "replicator",
		.locks = locks,
		.nlocks = sizeof(locks) / sizeof(locks[0]),
		.channel = "s3mux_replicator",
		.pass = NULL,
		.no_work_yet = 1,
	};
	return worker_main(argc, argv, &role);
}
