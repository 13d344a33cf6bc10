/*
 * cleanupq.h: deleting claimed cleanup_queue rows, for the background roles.
 *
 * A claim returns rows with a fencing token: claim_cleanups (sql/006_roles.sql) for the
 * cleanup role's passes, claim_cleanup_ids (sql/002_write_path.sql) for rows a role has
 * just queued itself and deletes at once.  cleanupq_delete() deletes one row's bytes on its
 * backend and settles the row with its token: finish_cleanup when the delete worked; when
 * it failed, release_cleanup with a retry delay that doubles per attempt (with jitter), or
 * move_cleanup_to_dlq once the row has used its attempts.  A row whose claim was taken over
 * meanwhile (its token is no longer the current one) is counted as lost and left alone.
 *
 *	PGresult *res = cleanupq_claim_due(conn, owner, 100, grace_ms);
 *	for (int i = 0; res != NULL && i < PQntuples(res); i++) {
 *		struct cleanupq_row row;
 *		cleanupq_row_get(res, i, &row);
 *		cleanupq_delete(conn, set, &row, &policy, &counts);
 *		cleanupq_row_free(&row);
 *	}
 *	PQclear(res);
 */
#ifndef S3MUX_CLEANUPQ_H
#define S3MUX_CLEANUPQ_H

#include <stdint.h>
#include <libpq-fe.h>

#include "backend_set.h"

/* Longest retry delay, whatever the attempt: one day. */
#define CLEANUPQ_RETRY_MAX_MS (24LL * 3600 * 1000)

struct cleanupq_policy {
	int max_attempts;		/* failed deletes before a row is dead-lettered */
	int64_t retry_base_ms;		/* delay after the first failure */
};

struct cleanupq_counts {
	uint64_t deleted;		/* deleted (or already gone) and settled */
	uint64_t failed;		/* failed, released for a retry */
	uint64_t dead;			/* failed for the last time, moved to cleanup_dlq */
	uint64_t reclaimed;		/* claims taken over from a dead claimer */
	uint64_t lost;			/* claims taken over by another while we worked */
};

/* One claimed row; the strings point into the claim's PGresult, except name. */
struct cleanupq_row {
	const char *id;
	const char *token;
	const char *backend;
	char *name;			/* the backend object name: object_name or "bucket/key" */
	int attempts;			/* failed deletes before this claim */
	int reclaimed;			/* the claim was taken over from a dead claimer */
	const char *previous_owner;	/* that claimer, or NULL */
};

/* The policy of roles.cleanup in cfg. */
void cleanupq_policy_from(const struct s3mux_config *cfg, struct cleanupq_policy *policy);

/* Claim up to limit due rows (and dead claims older than grace_ms) for owner; NULL on error. */
PGresult *cleanupq_claim_due(PGconn *conn, const char *owner, int limit, int64_t grace_ms);
/* Claim the unclaimed rows among ids (a PostgreSQL array text, "{4,7}"); NULL on error. */
PGresult *cleanupq_claim_ids(PGconn *conn, const char *owner, const char *ids);

void cleanupq_row_get(PGresult *res, int i, struct cleanupq_row *row);
void cleanupq_row_free(struct cleanupq_row *row);

/* Delete one claimed row's bytes and settle it.  -1 only on a database error (logged). */
int cleanupq_delete(PGconn *conn, struct backend_set *set, const struct cleanupq_row *row,
    const struct cleanupq_policy *policy, struct cleanupq_counts *counts);
/* Give a claimed row back untried (no attempt counted).  -1 on a database error. */
int cleanupq_unclaim(PGconn *conn, const struct cleanupq_row *row);
/* Claim the rows among ids and delete each.  -1 on a database error. */
int cleanupq_delete_ids(PGconn *conn, struct backend_set *set, const char *owner,
    const char *ids, const struct cleanupq_policy *policy, struct cleanupq_counts *counts);

/*
 * The delay before the next try of a row that has now failed attempts + 1 times:
 * d = retry_base * 2^attempts (at most CLEANUPQ_RETRY_MAX_MS), drawn from [d/2, d] by rnd,
 * so that rows that failed together do not all come back together, and each delay is at
 * least the one before.
 */
int64_t cleanupq_retry_delay_ms(const struct cleanupq_policy *policy, int attempts,
    uint32_t rnd);

/* "owner" for claims and intents: "<role>:<host>:<pid>". */
void cleanupq_owner(char *buf, size_t len, const char *role);

#endif
