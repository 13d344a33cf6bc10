/*
 * cleanup.c: s3mux-cleanup, the background role that retries backend deletes from the cleanup
 *     queue.
 *
 * In this release the role does no work yet: it takes its advisory lock(s) (LOCK_CLEANUP in
 * locks.h), listens on the channel s3mux_cleanup and waits, so that the supervisor, the
 * standby logic and the tests have a real process to run.  It will claim cleanup_queue rows,
 * retry the backend deletes with backoff and move the rows that exhaust their retries to
 * cleanup_dlq.
 *
 * Usage: s3mux-cleanup [-fhv] [-c FILE] [--once]
 *   -c FILE   configuration (default SYSCONFDIR/s3mux/s3mux.yaml)
 *   -f        log to standard error instead of syslog
 *   --once    one pass, then exit: 0 done, 1 failed or no database, 2 bad configuration,
 *             3 the lock is held by another instance
 *   -v        debug logging
 * Signals: SIGTERM/SIGINT stop after the current item, SIGHUP reloads the configuration,
 * SIGUSR1 reopens the log file.  Everything else is the shared skeleton in src/worker.c;
 * see s3mux-cleanup(8).
 */
#include "locks.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	static const int64_t locks[] = { LOCK_CLEANUP };
	static const struct worker_role role = {
		.id = ROLE_CLEANUP,
		.name = "cleanup",
		.locks = locks,
		.nlocks = sizeof(locks) / sizeof(locks[0]),
		.channel = "s3mux_cleanup",
		.pass = NULL,
		.no_work_yet = 1,
	};
	return worker_main(argc, argv, &role);
}
