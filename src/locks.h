/*
 * locks.h: the numbered PostgreSQL advisory locks of s3mux (DESIGN.md section 1).
 *
 * Each background role holds its lock(s) with pg_try_advisory_lock while it works; a second
 * instance of the role finds them taken and stands by.  The numbers are part of the public
 * interface (operators look for them in pg_locks): keep them, and give new locks the next
 * free number.  1012 is MIGRATE_LOCK_ID (migrate.h).
 */
#ifndef S3MUX_LOCKS_H
#define S3MUX_LOCKS_H

#define LOCK_REBALANCE		1001	/* rebalancer: periodic rebalance */
#define LOCK_REPLICATION	1002	/* replicator: replication */
#define LOCK_CLEANUP		1003	/* cleanup: cleanup-queue retries */
#define LOCK_MULTIPART_SWEEP	1004	/* reaper: stale multipart sweep */
#define LOCK_LIFECYCLE		1005	/* lifecycle: lifecycle rules */
#define LOCK_DRAIN		1006	/* rebalancer: backend drain */
#define LOCK_USAGE_FLUSH	1007	/* whoever flushes usage counters */
#define LOCK_EXCESS_REPLICAS	1008	/* replicator: excess-replica removal */
#define LOCK_RECONCILE		1009	/* scrubber: reconcile catalogue vs backends */
#define LOCK_SCRUB		1010	/* scrubber: integrity scrub */
#define LOCK_INTENT_REAPER	1011	/* reaper: pending-intent reaper */
/* 1012: migrations (MIGRATE_LOCK_ID in migrate.h) */
#define LOCK_NOTIFY		1013	/* notifier: event delivery */

#endif
