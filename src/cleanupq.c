/*
 * cleanupq.c: deleting claimed cleanup_queue rows, for the background roles (cleanupq.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cleanupq.h"
#include "db.h"
#include "log.h"
#include "util.h"

/* The claim queries answer these columns, in this order. */
enum {
	CQ_ID = 0, CQ_BACKEND, CQ_BUCKET, CQ_KEY, CQ_OBJECT_NAME, CQ_TOKEN, CQ_ATTEMPTS,
	CQ_RECLAIMED, CQ_PREVIOUS_OWNER,
};

static const char cleanupq_claim_due_sql[] =
    "SELECT id, backend, bucket, key, object_name, claim_token, attempts, reclaimed,"
    " previous_owner FROM claim_cleanups($1, $2::int, $3::bigint * interval '1 millisecond')";

/* Rows a role has just queued: no attempt yet, nobody else's claim. */
static const char cleanupq_claim_ids_sql[] =
    "SELECT id, backend, bucket, key, object_name, claim_token, 0, false, NULL::text"
    " FROM claim_cleanup_ids($1::bigint[], $2)";

void
cleanupq_policy_from(const struct s3mux_config *cfg, struct cleanupq_policy *policy)
{
	const struct cfg_role_cleanup *c = &cfg->roles[ROLE_CLEANUP].cleanup;
	policy->max_attempts = c->max_attempts;
	policy->retry_base_ms = c->retry_base_ms;
}

void
cleanupq_owner(char *buf, size_t len, const char *role)
{
	char host[128] = "";
	gethostname(host, sizeof(host) - 1);
	snprintf(buf, len, "%s:%s:%ld", role, host, (long)getpid());
}

PGresult *
cleanupq_claim_due(PGconn *conn, const char *owner, int limit, int64_t grace_ms)
{
	char lim[16], grace[24];
	snprintf(lim, sizeof(lim), "%d", limit);
	snprintf(grace, sizeof(grace), "%" PRId64, grace_ms);
	const char *params[] = { owner, lim, grace };
	return db_query(conn, cleanupq_claim_due_sql, 3, params);
}

PGresult *
cleanupq_claim_ids(PGconn *conn, const char *owner, const char *ids)
{
	const char *params[] = { ids, owner };
	return db_query(conn, cleanupq_claim_ids_sql, 2, params);
}

static const char *
cleanupq_value(PGresult *res, int i, int col)
{
	return PQgetisnull(res, i, col) ? NULL : PQgetvalue(res, i, col);
}

void
cleanupq_row_get(PGresult *res, int i, struct cleanupq_row *row)
{
	row->id = PQgetvalue(res, i, CQ_ID);
	row->token = PQgetvalue(res, i, CQ_TOKEN);
	row->backend = PQgetvalue(res, i, CQ_BACKEND);
	const char *object_name = cleanupq_value(res, i, CQ_OBJECT_NAME);
	row->name = object_name != NULL ? xstrdup(object_name) :
	    backend_object_name(PQgetvalue(res, i, CQ_BUCKET), PQgetvalue(res, i, CQ_KEY));
	row->attempts = atoi(PQgetvalue(res, i, CQ_ATTEMPTS));
	row->reclaimed = strcmp(PQgetvalue(res, i, CQ_RECLAIMED), "t") == 0;
	row->previous_owner = cleanupq_value(res, i, CQ_PREVIOUS_OWNER);
}

void
cleanupq_row_free(struct cleanupq_row *row)
{
	free(row->name);
	row->name = NULL;
}

int64_t
cleanupq_retry_delay_ms(const struct cleanupq_policy *policy, int attempts, uint32_t rnd)
{
	int64_t d = policy->retry_base_ms > 0 ? policy->retry_base_ms : 1;
	for (int i = 0; i < attempts && d < CLEANUPQ_RETRY_MAX_MS; i++)
		d *= 2;
	if (d > CLEANUPQ_RETRY_MAX_MS)
		d = CLEANUPQ_RETRY_MAX_MS;
	int64_t half = d / 2;
	return d - half + (int64_t)(rnd % (uint64_t)(half + 1));
}

static uint32_t
cleanupq_random(void)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)clock_mono_ms() ^ (uint32_t)getpid();
	return r;
}

/*
 * Run a settling call: "SELECT fn($1::bigint, $2::bigint, ...)" answering a boolean.
 * Returns 1 (settled), 0 (the claim is no longer ours) or -1 (database error).
 */
static int
cleanupq_settle(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = db_query(conn, sql, nparams, params);
	if (res == NULL)
		return -1;
	int ok = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return ok;
}

static int
cleanupq_count_lost(const struct cleanupq_row *row, int settled, struct cleanupq_counts *c)
{
	if (settled == 0) {
		log_warnx("cleanup row %s: the claim was taken over before it was settled; "
		    "left to its new holder", row->id);
		c->lost++;
	}
	return settled == -1 ? -1 : 0;
}

static int
cleanupq_finish(PGconn *conn, const struct cleanupq_row *row, struct cleanupq_counts *c)
{
	const char *params[] = { row->id, row->token };
	int settled = cleanupq_settle(conn, "SELECT finish_cleanup($1::bigint, $2::bigint)", 2,
	    params);
	if (settled == 1) {
		log_debug("cleanup row %s: deleted %s on %s", row->id, row->name, row->backend);
		c->deleted++;
	}
	return cleanupq_count_lost(row, settled, c);
}

static int
cleanupq_dead_letter(PGconn *conn, const struct cleanupq_row *row, const char *error,
    struct cleanupq_counts *c)
{
	const char *params[] = { row->id, row->token, error };
	int settled = cleanupq_settle(conn,
	    "SELECT move_cleanup_to_dlq($1::bigint, $2::bigint, $3)", 3, params);
	if (settled == 1) {
		log_warnx("cleanup row %s: delete of %s on %s failed %d times (%s); moved to "
		    "cleanup_dlq", row->id, row->name, row->backend, row->attempts + 1, error);
		c->dead++;
	}
	return cleanupq_count_lost(row, settled, c);
}

static int
cleanupq_retry(PGconn *conn, const struct cleanupq_row *row, const char *error,
    const struct cleanupq_policy *policy, struct cleanupq_counts *c)
{
	int64_t delay = cleanupq_retry_delay_ms(policy, row->attempts, cleanupq_random());
	char ms[24];
	snprintf(ms, sizeof(ms), "%" PRId64, delay);
	const char *params[] = { row->id, row->token, error, ms };
	int settled = cleanupq_settle(conn, "SELECT release_cleanup($1::bigint, $2::bigint, $3, "
	    "$4::bigint * interval '1 millisecond')", 4, params);
	if (settled == 1) {
		log_warnx("cleanup row %s: delete of %s on %s failed (attempt %d of %d): %s; "
		    "next try in %" PRId64 " ms", row->id, row->name, row->backend,
		    row->attempts + 1, policy->max_attempts, error, delay);
		c->failed++;
	}
	return cleanupq_count_lost(row, settled, c);
}

int
cleanupq_delete(PGconn *conn, struct backend_set *set, const struct cleanupq_row *row,
    const struct cleanupq_policy *policy, struct cleanupq_counts *counts)
{
	char error[300];
	struct backend *be = backend_set_find(set, row->backend);
	int rc = -1;
	if (be == NULL)
		snprintf(error, sizeof(error), "backend %s is not in the configuration",
		    row->backend);
	else
		rc = backend_remove_wait(be, row->name, error, sizeof(error));
	if (rc == 0)
		return cleanupq_finish(conn, row, counts);
	if (row->attempts + 1 >= policy->max_attempts)
		return cleanupq_dead_letter(conn, row, error, counts);
	return cleanupq_retry(conn, row, error, policy, counts);
}

int
cleanupq_unclaim(PGconn *conn, const struct cleanupq_row *row)
{
	const char *params[] = { row->id, row->token };
	int settled = cleanupq_settle(conn, "SELECT unclaim_cleanup($1::bigint, $2::bigint)", 2,
	    params);
	return settled == -1 ? -1 : 0;
}

int
cleanupq_delete_ids(PGconn *conn, struct backend_set *set, const char *owner, const char *ids,
    const struct cleanupq_policy *policy, struct cleanupq_counts *counts)
{
	if (ids == NULL || *ids == '\0')
		return 0;
	PGresult *res = cleanupq_claim_ids(conn, owner, ids);
	if (res == NULL)
		return -1;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct cleanupq_row row;
		cleanupq_row_get(res, i, &row);
		rc = cleanupq_delete(conn, set, &row, policy, counts);
		cleanupq_row_free(&row);
	}
	PQclear(res);
	return rc;
}
