/*
 * frontend.c: s3mux-frontend, the S3 front end: one libevent loop serving many connections.
 *
 * Usage: s3mux-frontend [-fv] [-c FILE]
 *   -c FILE   the configuration (default /etc/s3mux/s3mux.yaml)
 *   -f        log to stderr (the supervisor passes it when it runs in the foreground)
 *   -v        debug logging
 * Started by s3muxd with the listening socket inherited (S3MUX_LISTEN_FDS, child.h); run by
 * hand it binds listen.s3 itself.
 *
 * Signals: SIGTERM, SIGINT stop accepting, finish the requests in flight (bounded by
 * daemon.stop_timeout) and exit; SIGUSR1 reopens the log file; SIGHUP is ignored (the
 * supervisor restarts front ends to reload).  End of file on the supervisor link: exit now.
 * Exit status: 0 after a stop, 1 on a start-up failure, 2 on a configuration error.
 */
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "db.h"
#include "fe.h"
#include "log.h"
#include "usage.h"

struct backend *
fe_backend(struct fe_ctx *fe, const char *name)
{
	for (size_t i = 0; i < fe->nbackends; i++)
		if (strcmp(fe->backends[i]->name, name) == 0)
			return fe->backends[i];
	return NULL;
}

const char *
fe_candidates(struct fe_ctx *fe, const char **why)
{
	int over_limit = 0, n = 0;
	strbuf_reset(&fe->candidates);
	strbuf_puts(&fe->candidates, "{");
	for (size_t i = 0; i < fe->nbackends; i++) {
		struct backend *be = fe->backends[i];
		if (backend_over_limit(be, 1)) {
			over_limit = 1;
			continue;
		}
		if (!backend_available(be))
			continue;
		strbuf_printf(&fe->candidates, "%s\"%s\"", n++ ? "," : "", be->name);
	}
	strbuf_puts(&fe->candidates, "}");
	*why = n > 0 ? NULL : over_limit ? "SlowDown" : "ServiceUnavailable";
	return fe->candidates.data;
}

static int
fe_open_backends(struct fe_ctx *fe)
{
	const struct s3mux_config *cfg = fe->cfg;
	fe->backends = xcalloc(cfg->nbackends, sizeof(*fe->backends));
	for (size_t i = 0; i < cfg->nbackends; i++) {
		char err[256];
		struct backend *be = backend_new(&cfg->backends[i], fe->base, err, sizeof(err));
		if (be == NULL) {
			log_warnx("%s", err);
			continue;
		}
		fe->backends[fe->nbackends++] = be;
	}
	return fe->nbackends > 0 ? 0 : -1;
}

/* --- usage counts ---------------------------------------------------------------------- */

struct fe_usage_call {
	struct fe_ctx *fe;
	struct usage_flush flush;
};

static void
fe_usage_flushed(PGresult *res, const char *errmsg, void *arg)
{
	struct fe_usage_call *call = arg;
	usage_flush_end(&call->flush, call->fe->backends, call->fe->nbackends, res);
	call->fe->usage_flushing = 0;
	free(call);
}

static void
fe_usage_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fe_ctx *fe = arg;
	if (fe->usage_flushing || pga_breaker_open(fe->db))
		return;
	struct fe_usage_call *call = xcalloc(1, sizeof(*call));
	call->fe = fe;
	usage_flush_begin(&call->flush, fe->backends, fe->nbackends);
	fe->usage_flushing = 1;
	pga_query(fe->db, USAGE_SQL, 4, call->flush.params, fe_usage_flushed, call);
}

/* At exit: whatever was counted and not flushed, on a connection of its own. */
static void
fe_usage_final_flush(struct fe_ctx *fe)
{
	if (fe->nbackends == 0)
		return;
	char err[256];
	PGconn *conn = db_connect(fe->cfg->database.url, "frontend",
	    fe->cfg->database.connect_timeout_ms, err, sizeof(err));
	if (usage_flush_now(conn, fe->backends, fe->nbackends) == -1)
		log_warnx("usage counts not saved at exit: %s", conn ? "the query failed" : err);
	if (conn != NULL)
		PQfinish(conn);
}

/* Bind listen.s3 when run by hand. */
static int
fe_bind(const char *address)
{
	char host[256];
	const char *colon = strrchr(address, ':');
	if (colon == NULL || (size_t)(colon - address) >= sizeof(host))
		return -1;
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	char *h = host;
	if (*h == '[') {
		h++;
		h[strcspn(h, "]")] = '\0';
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	if (getaddrinfo(h, colon + 1, &hints, &ai) != 0)
		return -1;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd == -1 || bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 || listen(fd, 511) == -1) {
		log_warn("frontend: cannot listen on %s", address);
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static void
fe_drained(void *arg)
{
	struct fe_ctx *fe = arg;
	event_base_loopexit(fe->base, NULL);
}

static void
fe_stop(struct fe_ctx *fe)
{
	if (fe->stopping) {
		event_base_loopexit(fe->base, NULL);
		return;
	}
	fe->stopping = 1;
	log_info("stopping: finishing %zu connection(s)", http_server_connections(fe->s3));
	struct timeval bound = {
		.tv_sec = fe->cfg->daemon.stop_timeout_ms / 1000,
		.tv_usec = (fe->cfg->daemon.stop_timeout_ms % 1000) * 1000,
	};
	event_base_loopexit(fe->base, &bound);
	if (fe->admin != NULL)
		http_server_drain(fe->admin, NULL, NULL);
	http_server_drain(fe->s3, fe_drained, fe);
}

static void
fe_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct fe_ctx *fe = arg;
	if (sig == SIGTERM || sig == SIGINT)
		fe_stop(fe);
	else if (sig == SIGUSR1)
		log_reopen();
}

static void
fe_parent_gone(void *arg)
{
	struct fe_ctx *fe = arg;
	log_warnx("the supervisor is gone; exiting");
	event_base_loopbreak(fe->base);
}

static void
fe_signals(struct fe_ctx *fe)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGUSR1, SIGHUP };
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < nitems(sigs); i++) {
		fe->signals[i] = evsignal_new(fe->base, sigs[i], fe_signal_cb, fe);
		event_add(fe->signals[i], NULL);
	}
	fe->nsignals = nitems(sigs);
}

/* GET /backends: this front end's view of each backend (breaker, counts not yet flushed). */
static json_t *
fe_admin_backends(struct fe_ctx *fe)
{
	json_t *list = json_array();
	for (size_t i = 0; i < fe->nbackends; i++) {
		struct backend *be = fe->backends[i];
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:i, s:b, s:b, s:{s:I, s:I, s:I}}",
		    "name", be->name, "driver", be->ops->driver,
		    "breaker", backend_breaker_state(be), "failures", be->failures,
		    "over_read_limit", backend_over_limit(be, 0),
		    "over_write_limit", backend_over_limit(be, 1),
		    "month", "requests", (json_int_t)(be->month.requests + be->pending.requests),
		    "egress_bytes", (json_int_t)(be->month.egress + be->pending.egress),
		    "ingress_bytes", (json_int_t)(be->month.ingress + be->pending.ingress)));
	}
	return json_pack("{s:i, s:s, s:o}", "worker", fe->index, "database",
	    pga_breaker_open(fe->db) ? "unavailable" : "ok", "backends", list);
}

/* The admin listener: a health check and the backends' state; more of the API comes later. */
static void
fe_admin_request(struct http_request *http, void *arg)
{
	struct fe_ctx *fe = arg;
	int get = strcmp(http->method, "GET") == 0;
	json_t *doc;
	int status = 200;
	if (get && strcmp(http->path, "/health") == 0)
		doc = json_pack("{s:s, s:i, s:s}", "status", "ok", "worker", fe->index, "database",
		    pga_breaker_open(fe->db) ? "unavailable" : "ok");
	else if (get && strcmp(http->path, "/backends") == 0)
		doc = fe_admin_backends(fe);
	else {
		doc = json_pack("{s:s, s:s}", "error", "not found", "path", http->path);
		status = 404;
	}
	char *body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	const char *headers[] = { "Content-Type", "application/json", NULL };
	http_response_start(http, status, (int64_t)strlen(body) + 1, headers);
	http_response_write(http, body, strlen(body));
	http_response_write(http, "\n", 1);
	http_response_end(http);
	http_request_finish(http);
	free(body);
}

static int
fe_start_admin(struct fe_ctx *fe, const struct http_server_conf *conf)
{
	int fd = child_listen_fd("admin");
	if (fd == -1 && fe->link.parent_fd == -1 && fe->cfg->listen.admin != NULL)
		fd = fe_bind(fe->cfg->listen.admin);
	if (fd == -1)
		return 0;
	fe->admin = http_server_new(fe->base, fd, conf, fe_admin_request, fe);
	return fe->admin != NULL ? 0 : -1;
}

static int
fe_start(struct fe_ctx *fe)
{
	int fd = child_listen_fd("s3");
	if (fd == -1)
		fd = fe_bind(fe->cfg->listen.s3);
	if (fd == -1)
		return -1;
	const struct http_server_conf conf = {
		.idle_timeout_ms = fe->cfg->frontend.idle_timeout_ms,
		.request_timeout_ms = fe->cfg->frontend.idle_timeout_ms,
		.max_header_bytes = fe->cfg->frontend.max_header_bytes,
	};
	fe->s3 = http_server_new(fe->base, fd, &conf, fe_request, fe);
	if (fe->s3 == NULL || fe_start_admin(fe, &conf) == -1)
		return -1;
	if (fe_open_backends(fe) == -1) {
		log_warnx("no backend could be opened");
		return -1;
	}
	fe->db = pga_pool_new(fe->base, fe->cfg->database.url, "s3mux-frontend", FE_DB_CONNS,
	    fe->cfg->database.connect_timeout_ms);
	fe->usage_timer = event_new(fe->base, -1, EV_PERSIST, fe_usage_timer_cb, fe);
	struct timeval every = { FE_USAGE_FLUSH_MS / 1000, (FE_USAGE_FLUSH_MS % 1000) * 1000 };
	event_add(fe->usage_timer, &every);
	event_active(fe->usage_timer, EV_TIMEOUT, 0);	/* learn this month's totals now */
	return 0;
}

static void
fe_cleanup(struct fe_ctx *fe)
{
	http_server_free(fe->s3);
	http_server_free(fe->admin);
	if (fe->usage_timer != NULL)
		event_free(fe->usage_timer);
	pga_pool_free(fe->db);
	fe_usage_final_flush(fe);
	for (size_t i = 0; i < fe->nbackends; i++)
		backend_free(fe->backends[i]);
	free(fe->backends);
	strbuf_free(&fe->candidates);
	for (size_t i = 0; i < fe->nsignals; i++)
		event_free(fe->signals[i]);
	child_link_close(&fe->link);
	config_free(fe->cfg);
	event_base_free(fe->base);
}

static void
fe_usage(void)
{
	fprintf(stderr, "usage: s3mux-frontend [-fv] [-c file]\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	struct fe_ctx fe = { .index = 0 };
	const char *config_path = S3MUX_SYSCONFDIR "/s3mux.yaml";
	int foreground = 0, verbose = 0, ch;
	proctitle_init(&fe.title, argc, argv);
	while ((ch = getopt(argc, argv, "c:fv")) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'f': foreground = 1; break;
		case 'v': verbose = 1; break;
		default: fe_usage();
		}
	}
	char *path = xstrdup(config_path);
	const char *index = getenv("S3MUX_WORKER_INDEX");
	fe.index = index ? atoi(index) : 0;
	char tag[32];
	snprintf(tag, sizeof(tag), "frontend %d", fe.index);
	log_init(tag, foreground ? LOG_DEST_STDERR : LOG_DEST_SYSLOG, verbose);
	char err[1024];
	fe.cfg = config_load(path, err, sizeof(err));
	free(path);
	if (fe.cfg == NULL) {
		log_warnx("%s", err);
		return CHILD_EXIT_CONFIG;
	}
	if (fe.cfg->daemon.log_file != NULL && log_set_file(fe.cfg->daemon.log_file) == -1)
		log_warn("cannot open log file %s", fe.cfg->daemon.log_file);
	char host[64] = "localhost";
	gethostname(host, sizeof(host) - 1);
	snprintf(fe.owner, sizeof(fe.owner), "frontend:%s:%ld", host, (long)getpid());
	fe.base = event_base_new();
	child_link_init(&fe.link, fe.base, fe_parent_gone, &fe);
	proctitle_set(&fe.title, "s3muxd: frontend %d", fe.index);
	fe_signals(&fe);
	if (fe_start(&fe) == -1) {
		fe_cleanup(&fe);
		return 1;
	}
	child_link_ready(&fe.link);
	log_info("serving S3 (%zu backend(s))", fe.nbackends);
	event_base_dispatch(fe.base);
	log_info("stopped");
	fe_cleanup(&fe);
	return 0;
}
