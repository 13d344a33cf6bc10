/*
 * pgasync.h: asynchronous PostgreSQL access for the front end's event loop.
 *
 * A small pool of libpq connections driven by libevent: PQconnectStart/PQconnectPoll to
 * connect, PQsendQueryParams to send, PQconsumeInput/PQisBusy/PQgetResult to collect.
 * Queries queue FIFO and go to the next idle connection; each one is a single statement
 * (usually one SQL function call), so each costs one round trip (two the first time a
 * connection sees its SQL text, which it then prepares: see pgasync.c).  A broken connection is
 * reconnected with backoff; its query fails with an error.  After PGA_BREAKER_FAILURES
 * consecutive failures the breaker opens: queries fail at once (the front end answers
 * 503 or falls back to the backends) until a probe connection succeeds.
 */
#ifndef S3MUX_PGASYNC_H
#define S3MUX_PGASYNC_H

#include <stdint.h>
#include <event2/event.h>
#include <libpq-fe.h>

#define PGA_BREAKER_FAILURES 3
#define PGA_PREPARED_MAX 64	/* statements prepared per connection (see pgasync.c) */

struct pga_pool;
struct pga_query;

/*
 * res is the statement's result on success (the callback must not PQclear it), or NULL with
 * errmsg saying why.  The query is freed after the callback returns.
 */
typedef void (*pga_cb)(PGresult *res, const char *errmsg, void *arg);

struct pga_pool *pga_pool_new(struct event_base *base, const char *url, const char *appname,
    int nconns, int64_t timeout_ms);
/* Every query not cancelled gets its callback with an error ("shutting down") first. */
void pga_pool_free(struct pga_pool *pool);

/* Queue a statement; the values are copied.  Never calls cb before returning. */
struct pga_query *pga_query(struct pga_pool *pool, const char *sql, int nparams,
    const char *const *values, pga_cb cb, void *arg);
/* The caller lost interest: cb will not be called (the statement may still run). */
void pga_cancel(struct pga_query *q);

/* 1 while the breaker is open (the database is taken to be down). */
int pga_breaker_open(const struct pga_pool *pool);

#endif
