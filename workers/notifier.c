/*
 * notifier.c: s3mux-notifier, the background role that delivers event notifications to
 *     webhooks and Slack.
 *
 * In this release the role does no work yet: it takes its advisory lock(s) (LOCK_NOTIFY in
 * locks.h), listens on the channel s3mux_notifier and waits, so that the supervisor, the
 * standby logic and the tests have a real process to run.  It will drain event_outbox on its
 * own cursor and deliver the events to the targets in notifications, with retries, a ledger
 * and a dead-letter table.  Its lock 1013 is not in the DESIGN.md table yet (1012 belongs to
 * the migrations).
 *
 * Usage: s3mux-notifier [-fhv] [-c FILE] [--once]
 *   -c FILE   configuration (default SYSCONFDIR/s3mux/s3mux.yaml)
 *   -f        log to standard error instead of syslog
 *   --once    one pass, then exit: 0 done, 1 failed or no database, 2 bad configuration,
 *             3 the lock is held by another instance
 *   -v        debug logging
 * Signals: SIGTERM/SIGINT stop after the current item, SIGHUP reloads the configuration,
 * SIGUSR1 reopens the log file.  Everything else is the shared skeleton in src/worker.c;
 * see s3mux-notifier(8).
 */
#include "locks.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	static const int64_t locks[] = { LOCK_NOTIFY };
	static const struct worker_role role = {
		.id = ROLE_NOTIFIER,
		.name = "notifier",
		.locks = locks,
		.nlocks = sizeof(locks) / sizeof(locks[0]),
		.channel = "s3mux_notifier",
		.pass = NULL,
		.no_work_yet = 1,
	};
	return worker_main(argc, argv, &role);
}
