/*
 * scrubber.c: s3mux-scrubber, the background role that verifies stored bytes and reconciles
 *     the catalogue with the backends.
 *
 * In this release the role does no work yet: it takes its advisory lock(s) (LOCK_RECONCILE,
 * LOCK_SCRUB in locks.h), listens on the channel s3mux_scrubber and waits, so that the
 * supervisor, the standby logic and the tests have a real process to run.  It will read stored
 * objects back and check their checksums, and compare the catalogue with the backends'
 * listings.
 *
 * Usage: s3mux-scrubber [-fhv] [-c FILE] [--once]
 *   -c FILE   configuration (default SYSCONFDIR/s3mux/s3mux.yaml)
 *   -f        log to standard error instead of syslog
 *   --once    one pass, then exit: 0 done, 1 failed or no database, 2 bad configuration,
 *             3 the lock is held by another instance
 *   -v        debug logging
 * Signals: SIGTERM/SIGINT stop after the current item, SIGHUP reloads the configuration,
 * SIGUSR1 reopens the log file.  Everything else is the shared skeleton in src/worker.c;
 * see s3mux-scrubber(8).
 */
#include "locks.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	static const int64_t locks[] = { LOCK_RECONCILE, LOCK_SCRUB };
	static const struct worker_role role = {
		.id = ROLE_SCRUBBER,
		.name = "scrubber",
		.locks = locks,
		.nlocks = sizeof(locks) / sizeof(locks[0]),
		.channel = "s3mux_scrubber",
		.pass = NULL,
		.no_work_yet = 1,
	};
	return worker_main(argc, argv, &role);
}
