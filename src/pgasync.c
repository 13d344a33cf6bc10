/*
 * pgasync.c: a pool of asynchronous libpq connections on a libevent loop.
 *
 * Each connection prepares a statement the first time it runs its SQL text (PQsendPrepare,
 * then PQsendQueryPrepared) and executes it by name after that: the front end sends a few
 * dozen fixed texts, and parsing and planning one afresh for every call was a large part of
 * the catalogue's work per request.  At most PGA_PREPARED_MAX texts are kept per
 * connection (others run unnamed, as before); a dropped connection forgets them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "pgasync.h"
#include "util.h"

enum pga_conn_state {
	PGA_DOWN = 0,		/* waiting to (re)connect */
	PGA_CONNECTING,
	PGA_IDLE,
	PGA_BUSY,
};

struct pga_query {
	struct pga_query *next;
	char *sql;
	int nparams;
	char **values;
	pga_cb cb;
	void *arg;
	int cancelled;
	int64_t queued_ms;
};

/* A statement prepared on one connection. */
struct pga_stmt {
	char *sql;
	char name[24];
};

struct pga_conn {
	struct pga_pool *pool;
	PGconn *pg;
	enum pga_conn_state state;
	struct event *io;		/* socket readiness */
	struct event *timer;		/* reconnect backoff */
	struct pga_query *query;	/* in flight */
	PGresult *result;		/* the first result of the query in flight */
	int64_t backoff_ms;
	int poll_want_write;
	struct pga_stmt stmts[PGA_PREPARED_MAX];
	int nstmts;
	int preparing;			/* the query in flight is its statement's preparation */
};

struct pga_pool {
	struct event_base *base;
	char *url;
	char *appname;
	int64_t timeout_ms;
	struct pga_conn *conns;
	int nconns;
	struct pga_query *head, *tail;
	struct event *sweep;		/* fails queued queries that waited too long */
	int failures;			/* consecutive */
	int breaker_open;
};

static void pga_conn_connect(struct pga_conn *c);
static void pga_dispatch(struct pga_pool *pool);
static void pga_io_cb(evutil_socket_t fd, short what, void *arg);
static void pga_conn_execute(struct pga_conn *c);

static void
pga_query_free(struct pga_query *q)
{
	for (int i = 0; i < q->nparams; i++)
		free(q->values[i]);
	free(q->values);
	free(q->sql);
	free(q);
}

static void
pga_query_complete(struct pga_query *q, PGresult *res, const char *errmsg)
{
	if (!q->cancelled)
		q->cb(res, errmsg, q->arg);
	pga_query_free(q);
}

static void
pga_note_failure(struct pga_pool *pool)
{
	if (++pool->failures >= PGA_BREAKER_FAILURES && !pool->breaker_open) {
		pool->breaker_open = 1;
		log_warnx("database: circuit breaker open after %d consecutive failures",
		    pool->failures);
	}
}

static void
pga_note_success(struct pga_pool *pool)
{
	if (pool->breaker_open)
		log_info("database: circuit breaker closed; the database answers again");
	pool->failures = 0;
	pool->breaker_open = 0;
}

static void
pga_fail_queue(struct pga_pool *pool, const char *why)
{
	struct pga_query *q = pool->head;
	pool->head = pool->tail = NULL;
	while (q != NULL) {
		struct pga_query *next = q->next;
		pga_query_complete(q, NULL, why);
		q = next;
	}
}

/* --- prepared statements --------------------------------------------------------------- */

static const char *
pga_stmt_find(const struct pga_conn *c, const char *sql)
{
	for (int i = 0; i < c->nstmts; i++)
		if (strcmp(c->stmts[i].sql, sql) == 0)
			return c->stmts[i].name;
	return NULL;
}

/* The server forgot them with the session. */
static void
pga_conn_forget(struct pga_conn *c)
{
	for (int i = 0; i < c->nstmts; i++)
		free(c->stmts[i].sql);
	c->nstmts = 0;
	c->preparing = 0;
}

/* The preparation sent last succeeded: remember it under the name it was given. */
static void
pga_stmt_add(struct pga_conn *c, const char *sql)
{
	struct pga_stmt *st = &c->stmts[c->nstmts++];
	st->sql = xstrdup(sql);
}

/* --- connections ----------------------------------------------------------------------- */

static void
pga_conn_drop(struct pga_conn *c, const char *why)
{
	if (c->io != NULL) {
		event_free(c->io);
		c->io = NULL;
	}
	if (c->result != NULL) {
		PQclear(c->result);
		c->result = NULL;
	}
	if (c->pg != NULL) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	pga_conn_forget(c);
	struct pga_query *q = c->query;
	c->query = NULL;
	c->state = PGA_DOWN;
	pga_note_failure(c->pool);
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 250;
	if (c->backoff_ms > 5000)
		c->backoff_ms = 5000;
	struct timeval tv = { .tv_sec = c->backoff_ms / 1000, .tv_usec = (c->backoff_ms % 1000) * 1000 };
	evtimer_add(c->timer, &tv);
	if (q != NULL)
		pga_query_complete(q, NULL, why);
	if (c->pool->breaker_open)
		pga_fail_queue(c->pool, "database unavailable (circuit breaker open)");
}

static void
pga_conn_set_io(struct pga_conn *c, short what)
{
	if (c->io != NULL)
		event_free(c->io);
	c->io = NULL;
	if (c->pg == NULL || PQsocket(c->pg) < 0)
		return;
	c->io = event_new(c->pool->base, PQsocket(c->pg), what, pga_io_cb, c);
	event_add(c->io, NULL);
}

static void
pga_conn_ready(struct pga_conn *c)
{
	c->state = PGA_IDLE;
	c->backoff_ms = 0;
	pga_note_success(c->pool);
	PQsetnonblocking(c->pg, 1);
	pga_conn_set_io(c, EV_READ | EV_PERSIST);
	pga_dispatch(c->pool);
}

static void
pga_conn_poll(struct pga_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		pga_conn_set_io(c, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		pga_conn_set_io(c, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		pga_conn_ready(c);
		break;
	default: {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->pg));
		msg[strcspn(msg, "\n")] = '\0';
		log_warnx("database: cannot connect: %s", msg);
		pga_conn_drop(c, msg);
		break;
	}
	}
}

static void
pga_ignore_notice(void *arg, const char *message)
{
}

static void
pga_conn_connect(struct pga_conn *c)
{
	char timeout[32];
	snprintf(timeout, sizeof(timeout), "%lld",
	    (long long)(c->pool->timeout_ms > 0 ? (c->pool->timeout_ms + 999) / 1000 : 10));
	const char *keys[] = { "dbname", "application_name", "connect_timeout", NULL };
	const char *values[] = { c->pool->url, c->pool->appname, timeout, NULL };
	c->pg = PQconnectStartParams(keys, values, 1);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
		pga_conn_drop(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	PQsetNoticeProcessor(c->pg, pga_ignore_notice, NULL);
	c->state = PGA_CONNECTING;
	pga_conn_poll(c);
}

static void
pga_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pga_conn *c = arg;
	if (c->state == PGA_DOWN)
		pga_conn_connect(c);
}

/* The query's preparation is in: run it by name, or fail it with the server's error. */
static int
pga_conn_prepared(struct pga_conn *c)
{
	PGresult *res = c->result;
	c->result = NULL;
	c->preparing = 0;
	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		pga_stmt_add(c, c->query->sql);
		pga_conn_execute(c);
		return 1;
	}
	c->result = res;		/* completed below as the query's error */
	return 0;
}

/* The query's last result is in: hand the first one to its callback. */
static void
pga_conn_complete(struct pga_conn *c)
{
	struct pga_query *q = c->query;
	PGresult *first = c->result;
	c->query = NULL;
	c->result = NULL;
	c->state = PGA_IDLE;
	ExecStatusType st = first ? PQresultStatus(first) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		pga_note_success(c->pool);
		pga_query_complete(q, first, NULL);
	} else {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", first ? PQresultErrorMessage(first) :
		    PQerrorMessage(c->pg));
		msg[strcspn(msg, "\n")] = '\0';
		log_warnx("database: %s", msg);
		pga_query_complete(q, NULL, msg);
	}
	PQclear(first);
}

/* Collect what has arrived; complete the query when its last result is in. */
static void
pga_conn_collect(struct pga_conn *c)
{
	if (!PQconsumeInput(c->pg)) {
		pga_conn_drop(c, PQerrorMessage(c->pg));
		return;
	}
	while (c->state == PGA_BUSY && !PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);
		if (res != NULL) {
			if (c->result == NULL)
				c->result = res;
			else
				PQclear(res);
			continue;
		}
		if (c->preparing && pga_conn_prepared(c))
			continue;	/* the execution is on its way */
		pga_conn_complete(c);
	}
	if (c->state == PGA_IDLE && PQstatus(c->pg) == CONNECTION_BAD)
		pga_conn_drop(c, "connection lost");
}

static void
pga_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pga_conn *c = arg;
	switch (c->state) {
	case PGA_CONNECTING:
		pga_conn_poll(c);
		break;
	case PGA_BUSY:
		if ((what & EV_WRITE) && PQflush(c->pg) == 0)
			pga_conn_set_io(c, EV_READ | EV_PERSIST);
		if (what & EV_READ)
			pga_conn_collect(c);
		break;
	case PGA_IDLE:
		/* nothing expected: a notice, or the server closing on us */
		if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD)
			pga_conn_drop(c, "connection lost");
		break;
	case PGA_DOWN:
		break;
	}
	if (c->state == PGA_IDLE)
		pga_dispatch(c->pool);
}

/* Push what libpq buffered; wait for writability when the socket is full. */
static void
pga_conn_flush(struct pga_conn *c)
{
	int flushed = PQflush(c->pg);
	if (flushed == -1)
		pga_conn_drop(c, PQerrorMessage(c->pg));
	else if (flushed == 1)
		pga_conn_set_io(c, EV_READ | EV_WRITE | EV_PERSIST);
}

/* Send the query in flight: by name when prepared, else prepare it first (room allowing). */
static void
pga_conn_execute(struct pga_conn *c)
{
	struct pga_query *q = c->query;
	const char *const *values = (const char *const *)q->values;
	const char *name = pga_stmt_find(c, q->sql);
	int sent;
	if (name != NULL) {
		sent = PQsendQueryPrepared(c->pg, name, q->nparams, values, NULL, NULL, 0);
	} else if (c->nstmts < PGA_PREPARED_MAX) {
		struct pga_stmt *st = &c->stmts[c->nstmts];
		snprintf(st->name, sizeof(st->name), "s3mux_%d", c->nstmts);
		c->preparing = 1;
		sent = PQsendPrepare(c->pg, st->name, q->sql, q->nparams, NULL);
	} else {
		sent = PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, values, NULL, NULL, 0);
	}
	if (!sent) {
		pga_conn_drop(c, PQerrorMessage(c->pg));
		return;
	}
	pga_conn_flush(c);
}

static void
pga_conn_send(struct pga_conn *c, struct pga_query *q)
{
	c->query = q;
	c->state = PGA_BUSY;
	pga_conn_execute(c);
}

/* --- the pool -------------------------------------------------------------------------- */

static void
pga_dispatch(struct pga_pool *pool)
{
	for (int i = 0; i < pool->nconns && pool->head != NULL; i++) {
		struct pga_conn *c = &pool->conns[i];
		if (c->state != PGA_IDLE)
			continue;
		struct pga_query *q = pool->head;
		pool->head = q->next;
		if (pool->head == NULL)
			pool->tail = NULL;
		q->next = NULL;
		if (q->cancelled) {
			pga_query_free(q);
			i--;
			continue;
		}
		pga_conn_send(c, q);
	}
}

static void
pga_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pga_pool *pool = arg;
	int64_t now = clock_mono_ms();
	struct pga_query **link = &pool->head, *q;
	pool->tail = NULL;
	while ((q = *link) != NULL) {
		if (q->cancelled || now - q->queued_ms > pool->timeout_ms) {
			*link = q->next;
			pga_query_complete(q, NULL, "database did not answer in time");
			continue;
		}
		pool->tail = q;
		link = &q->next;
	}
}

struct pga_pool *
pga_pool_new(struct event_base *base, const char *url, const char *appname, int nconns,
    int64_t timeout_ms)
{
	struct pga_pool *pool = xcalloc(1, sizeof(*pool));
	pool->base = base;
	pool->url = xstrdup(url);
	pool->appname = xstrdup(appname);
	pool->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	pool->nconns = nconns > 0 ? nconns : 1;
	pool->conns = xcalloc((size_t)pool->nconns, sizeof(*pool->conns));
	for (int i = 0; i < pool->nconns; i++) {
		struct pga_conn *c = &pool->conns[i];
		c->pool = pool;
		c->timer = evtimer_new(base, pga_timer_cb, c);
		pga_conn_connect(c);
	}
	pool->sweep = event_new(base, -1, EV_PERSIST, pga_sweep_cb, pool);
	struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };
	event_add(pool->sweep, &tv);
	return pool;
}

void
pga_pool_free(struct pga_pool *pool)
{
	if (pool == NULL)
		return;
	/* every query still wanted is told that it will not run, so its caller can clean up */
	for (int i = 0; i < pool->nconns; i++) {
		struct pga_conn *c = &pool->conns[i];
		if (c->query != NULL) {
			pga_query_complete(c->query, NULL, "shutting down");
			c->query = NULL;
		}
		if (c->io != NULL)
			event_free(c->io);
		if (c->result != NULL)
			PQclear(c->result);
		if (c->pg != NULL)
			PQfinish(c->pg);
		pga_conn_forget(c);
		event_free(c->timer);
	}
	pga_fail_queue(pool, "shutting down");
	event_free(pool->sweep);
	free(pool->conns);
	free(pool->url);
	free(pool->appname);
	free(pool);
}

static void
pga_fail_fast_cb(evutil_socket_t fd, short what, void *arg)
{
	pga_query_complete(arg, NULL, "database unavailable (circuit breaker open)");
}

struct pga_query *
pga_query(struct pga_pool *pool, const char *sql, int nparams, const char *const *values,
    pga_cb cb, void *arg)
{
	struct pga_query *q = xcalloc(1, sizeof(*q));
	q->sql = xstrdup(sql);
	q->nparams = nparams;
	q->values = xcalloc((size_t)(nparams > 0 ? nparams : 1), sizeof(char *));
	for (int i = 0; i < nparams; i++)
		q->values[i] = values[i] ? xstrdup(values[i]) : NULL;
	q->cb = cb;
	q->arg = arg;
	q->queued_ms = clock_mono_ms();
	if (pool->breaker_open) {
		/* fail at once, but from the loop, never inside the caller's call */
		event_base_once(pool->base, -1, EV_TIMEOUT, pga_fail_fast_cb, q, NULL);
		return q;
	}
	if (pool->tail)
		pool->tail->next = q;
	else
		pool->head = q;
	pool->tail = q;
	pga_dispatch(pool);
	return q;
}

void
pga_cancel(struct pga_query *q)
{
	if (q != NULL)
		q->cancelled = 1;
}

int
pga_breaker_open(const struct pga_pool *pool)
{
	return pool->breaker_open;
}
