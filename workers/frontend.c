/*
 * frontend.c: s3mux-frontend, the S3 HTTP front end (placeholder).
 *
 * The real front end (streamed bodies, SigV4, the catalogue, the backends) is being written.
 * Until it lands, this program holds the front end's place in the process tree: it serves
 * the listening sockets the supervisor hands it and answers every HTTP request with
 * 501 Not Implemented and an S3 XML error body, so that clients get a clear answer instead
 * of a hanging connection.  The admin socket, when there is one, gets the same in JSON.
 *
 * Usage: s3mux-frontend [-fhv] [-c FILE]
 *   -c FILE   configuration (default SYSCONFDIR/s3mux/s3mux.yaml)
 *   -f        log to standard error instead of syslog
 *   -v        debug logging
 * Sockets: the ones named in S3MUX_LISTEN_FDS ("s3=4,admin=5"); run by hand, it binds
 *   listen.s3 and listen.admin itself.
 * Signals: SIGTERM/SIGINT stop accepting and exit once the requests in flight are answered,
 *   within daemon.stop_timeout (a second SIGTERM exits now); SIGHUP re-reads the logging
 *   settings (the supervisor restarts front ends to apply the rest); SIGUSR1 reopens the
 *   log file.  The front end exits at once when the supervisor's end of its link closes.
 * Exit status: 0 after a stop, 1 on a run-time failure, 2 on a configuration error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "child.h"
#include "config.h"
#include "log.h"
#include "proctitle.h"
#include "util.h"

#define FE_EXIT_OK 0
#define FE_EXIT_FAILED 1
#define FE_EXIT_CONFIG CHILD_EXIT_CONFIG
#define FE_MAX_BODY (8 * 1024 * 1024)
#define FE_DRAIN_TICK_MS 100
#define FE_STOP_DEFAULT_MS 10000

#define FE_S3_BODY \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<Error><Code>NotImplemented</Code>" \
	"<Message>s3mux: the S3 front end is not written yet</Message></Error>"
#define FE_ADMIN_BODY \
	"{\"error\":\"NotImplemented\"," \
	"\"message\":\"s3mux: the admin API is not written yet\"}\n"

enum fe_service { FE_S3 = 0, FE_ADMIN, FE_NSERVICES };

struct fe_service_state {
	const char *name;		/* "s3", "admin" */
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
};

struct fe_ctx {
	struct proctitle title;
	struct child_link link;
	char *config_path;
	struct s3mux_config *cfg;
	int foreground;
	int verbose;
	struct event_base *base;
	struct fe_service_state svc[FE_NSERVICES];
	struct event *sig_ev[4];
	struct event *drain_ev;
	int64_t drain_deadline;
	int stopping;
	int inflight;			/* answers not yet written out */
	uint64_t requests;
};

/* ---- options, configuration, logging ------------------------------------------------- */

static void
fe_usage(FILE *out)
{
	fprintf(out,
	    "usage: s3mux-frontend [-fhv] [-c FILE]\n"
	    "  -c, --config FILE  configuration file (default %s/s3mux.yaml)\n"
	    "  -f, --foreground   log to standard error instead of syslog\n"
	    "  -v, --verbose      log debug messages\n"
	    "  -h, --help         show this help\n", S3MUX_SYSCONFDIR);
}

/* Returns -1 to go on, or the exit status to leave with. */
static int
fe_options(struct fe_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = S3MUX_SYSCONFDIR "/s3mux.yaml";
	int ch;
	while ((ch = getopt_long(argc, argv, "c:fvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'f': ctx->foreground = 1; break;
		case 'v': ctx->verbose = 1; break;
		case 'h': fe_usage(stdout); return FE_EXIT_OK;
		default: fe_usage(stderr); return FE_EXIT_CONFIG;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "s3mux-frontend: unexpected argument '%s'\n", argv[optind]);
		fe_usage(stderr);
		return FE_EXIT_CONFIG;
	}
	ctx->config_path = xstrdup(path);
	return -1;
}

static void
fe_apply_log(struct fe_ctx *ctx)
{
	static const struct { const char *name; enum log_level level; } levels[] = {
		{ "error", LOG_LEVEL_ERROR }, { "warning", LOG_LEVEL_WARN },
		{ "warn", LOG_LEVEL_WARN }, { "info", LOG_LEVEL_INFO }, { "debug", LOG_LEVEL_DEBUG },
	};
	const struct s3mux_config *cfg = ctx->cfg;
	const char *fac = cfg->daemon.syslog_facility;
	if (fac != NULL && log_set_facility(fac) == -1)
		log_warnx("unknown syslog facility '%s'", fac);
	if (!ctx->foreground && cfg->daemon.log_file != NULL) {
		if (log_set_file(cfg->daemon.log_file) == -1)
			log_warn("cannot open the log file %s", cfg->daemon.log_file);
	} else {
		log_init("frontend", ctx->foreground ? LOG_DEST_STDERR : LOG_DEST_SYSLOG,
		    ctx->verbose);
	}
	enum log_level level = ctx->verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
	for (size_t i = 0; !ctx->verbose && cfg->daemon.log_level != NULL && i < nitems(levels);
	    i++) {
		if (strcasecmp(cfg->daemon.log_level, levels[i].name) == 0)
			level = levels[i].level;
	}
	log_set_level(level);
}

static int
fe_load_config(struct fe_ctx *ctx)
{
	char err[1024];
	ctx->cfg = config_load(ctx->config_path, err, sizeof(err));
	if (ctx->cfg == NULL) {
		log_warnx("configuration error: %s", err);
		return -1;
	}
	fe_apply_log(ctx);
	return 0;
}

static void
fe_reload(struct fe_ctx *ctx)
{
	char err[1024];
	struct s3mux_config *fresh = config_load(ctx->config_path, err, sizeof(err));
	if (fresh == NULL) {
		log_warnx("not reloading: %s", err);
		return;
	}
	config_free(ctx->cfg);
	ctx->cfg = fresh;
	fe_apply_log(ctx);
	log_info("configuration reloaded from %s (logging settings; the supervisor restarts "
	    "front ends for the rest)", ctx->config_path);
}

/* ---- HTTP -------------------------------------------------------------------------------- */

static void
fe_complete_cb(struct evhttp_request *req, void *arg)
{
	struct fe_ctx *ctx = arg;
	if (ctx->inflight > 0)
		ctx->inflight--;
}

static void
fe_reply(struct fe_ctx *ctx, struct evhttp_request *req, const char *type, const char *body)
{
	ctx->requests++;
	ctx->inflight++;
	evhttp_request_set_on_complete_cb(req, fe_complete_cb, ctx);
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	char id[32];
	snprintf(id, sizeof(id), "%08lX%08" PRIX64, (unsigned long)getpid(), ctx->requests);
	evhttp_add_header(headers, "Content-Type", type);
	evhttp_add_header(headers, "Server", "s3mux");
	evhttp_add_header(headers, "x-amz-request-id", id);
	if (ctx->stopping)
		evhttp_add_header(headers, "Connection", "close");
	struct evbuffer *buf = evbuffer_new();
	if (buf == NULL)
		fatalx("out of memory");
	evbuffer_add(buf, body, strlen(body));
	log_debug("%s: 501 NotImplemented", evhttp_request_get_uri(req));
	evhttp_send_reply(req, 501, "Not Implemented", buf);
	evbuffer_free(buf);
}

static void
fe_s3_cb(struct evhttp_request *req, void *arg)
{
	fe_reply(arg, req, "application/xml", FE_S3_BODY);
}

static void
fe_admin_cb(struct evhttp_request *req, void *arg)
{
	fe_reply(arg, req, "application/json", FE_ADMIN_BODY);
}

/* A listener on the inherited socket `fd`, or bound to "host:port" when fd is -1. */
static struct evconnlistener *
fe_listener(struct fe_ctx *ctx, int fd, const char *addr)
{
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC;
	if (fd != -1) {
		if (fd_set_nonblock(fd) == -1) {
			log_warn("listening socket %d", fd);
			return NULL;
		}
		return evconnlistener_new(ctx->base, NULL, NULL, flags, 0, fd);
	}
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &len) == -1) {
		log_warnx("cannot parse the listen address '%s' (use HOST:PORT)", addr);
		return NULL;
	}
	struct evconnlistener *l = evconnlistener_new_bind(ctx->base, NULL, NULL,
	    flags | LEV_OPT_REUSEABLE, -1, (struct sockaddr *)&ss, len);
	if (l == NULL)
		log_warn("cannot listen on %s", addr);
	return l;
}

static struct evhttp *
fe_http_new(struct fe_ctx *ctx, void (*cb)(struct evhttp_request *, void *))
{
	struct evhttp *http = evhttp_new(ctx->base);
	if (http == NULL)
		return NULL;
	int64_t idle = ctx->cfg->frontend.idle_timeout_ms;
	evhttp_set_timeout(http, idle > 0 ? (int)((idle + 999) / 1000) : 60);
	evhttp_set_max_body_size(http, FE_MAX_BODY);
	if (ctx->cfg->frontend.max_header_bytes > 0)
		evhttp_set_max_headers_size(http, (ev_ssize_t)ctx->cfg->frontend.max_header_bytes);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(http, cb, ctx);
	return http;
}

/* Serve one socket: inherited when supervised, else bound from the configuration. */
static int
fe_serve(struct fe_ctx *ctx, enum fe_service which, const char *addr, int supervised,
    void (*cb)(struct evhttp_request *, void *))
{
	struct fe_service_state *svc = &ctx->svc[which];
	int fd = child_listen_fd(svc->name);
	if (fd == -1 && (supervised || addr == NULL)) {
		if (which == FE_ADMIN)
			return 0;
		log_warnx("no %s listening socket: the supervisor passes it in S3MUX_LISTEN_FDS, "
		    "or set listen.s3 in %s", svc->name, ctx->config_path);
		return -1;
	}
	struct evconnlistener *l = fe_listener(ctx, fd, addr);
	if (l == NULL)
		return -1;
	svc->http = fe_http_new(ctx, cb);
	if (svc->http == NULL || (svc->bound = evhttp_bind_listener(svc->http, l)) == NULL) {
		log_warnx("cannot serve HTTP on the %s socket", svc->name);
		evconnlistener_free(l);
		return -1;
	}
	log_info("serving %s on %s", svc->name, fd != -1 ? "the inherited socket" : addr);
	return 0;
}

/* ---- stopping ------------------------------------------------------------------------------ */

static void
fe_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fe_ctx *ctx = arg;
	if (ctx->inflight > 0 && clock_mono_ms() < ctx->drain_deadline)
		return;
	if (ctx->inflight > 0)
		log_warnx("%d request(s) still in flight after the stop timeout: exiting anyway",
		    ctx->inflight);
	event_base_loopbreak(ctx->base);
}

static void
fe_stop(struct fe_ctx *ctx)
{
	if (ctx->stopping) {
		log_info("second stop request: exiting now");
		event_base_loopbreak(ctx->base);
		return;
	}
	ctx->stopping = 1;
	for (int i = 0; i < FE_NSERVICES; i++) {
		if (ctx->svc[i].bound != NULL)
			evhttp_del_accept_socket(ctx->svc[i].http, ctx->svc[i].bound);
		ctx->svc[i].bound = NULL;
	}
	int64_t bound = ctx->cfg->daemon.stop_timeout_ms;
	ctx->drain_deadline = clock_mono_ms() + (bound > 0 ? bound : FE_STOP_DEFAULT_MS);
	log_info("stopping: no longer accepting; %d request(s) in flight", ctx->inflight);
	struct timeval tick = { 0, FE_DRAIN_TICK_MS * 1000 };
	event_add(ctx->drain_ev, &tick);
	event_active(ctx->drain_ev, EV_TIMEOUT, 0);
}

static void
fe_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct fe_ctx *ctx = arg;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		log_info("%s received", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		fe_stop(ctx);
		break;
	case SIGHUP:
		fe_reload(ctx);
		break;
	case SIGUSR1:
		log_reopen();
		break;
	}
}

static void
fe_parent_gone(void *arg)
{
	struct fe_ctx *ctx = arg;
	log_warnx("supervisor gone: exiting");
	event_base_loopbreak(ctx->base);
}

/* ---- set-up and tear-down ------------------------------------------------------------------ */

static int
fe_events_init(struct fe_ctx *ctx)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	ctx->base = event_base_new();
	if (ctx->base == NULL) {
		log_warnx("cannot create the event loop");
		return -1;
	}
	for (size_t i = 0; i < nitems(sigs); i++) {
		ctx->sig_ev[i] = evsignal_new(ctx->base, sigs[i], fe_signal_cb, ctx);
		if (ctx->sig_ev[i] == NULL || event_add(ctx->sig_ev[i], NULL) == -1) {
			log_warnx("cannot watch signal %d", sigs[i]);
			return -1;
		}
	}
	ctx->drain_ev = event_new(ctx->base, -1, EV_PERSIST, fe_drain_cb, ctx);
	if (ctx->drain_ev == NULL) {
		log_warnx("cannot create the drain timer");
		return -1;
	}
	return 0;
}

static void
fe_cleanup(struct fe_ctx *ctx)
{
	for (int i = 0; i < FE_NSERVICES; i++) {
		if (ctx->svc[i].http != NULL)
			evhttp_free(ctx->svc[i].http);
	}
	child_link_close(&ctx->link);
	for (size_t i = 0; i < nitems(ctx->sig_ev); i++) {
		if (ctx->sig_ev[i] != NULL)
			event_free(ctx->sig_ev[i]);
	}
	if (ctx->drain_ev != NULL)
		event_free(ctx->drain_ev);
	if (ctx->base != NULL)
		event_base_free(ctx->base);
	if (ctx->cfg != NULL)
		config_free(ctx->cfg);
	free(ctx->config_path);
	libevent_global_shutdown();
}

static int
fe_run(struct fe_ctx *ctx)
{
	int supervised = child_link_init(&ctx->link, ctx->base, fe_parent_gone, ctx);
	if (supervised == -1)
		return FE_EXIT_FAILED;
	if (fe_serve(ctx, FE_S3, ctx->cfg->listen.s3, supervised, fe_s3_cb) == -1 ||
	    fe_serve(ctx, FE_ADMIN, ctx->cfg->listen.admin, supervised, fe_admin_cb) == -1)
		return FE_EXIT_FAILED;
	const char *index = getenv("S3MUX_WORKER_INDEX");
	log_info("front end %s ready (placeholder: every request gets 501 NotImplemented)",
	    index != NULL ? index : "0");
	child_link_ready(&ctx->link);
	if (event_base_dispatch(ctx->base) == -1) {
		log_warnx("event loop failed");
		return FE_EXIT_FAILED;
	}
	log_info("stopped after %" PRIu64 " request(s)", ctx->requests);
	return FE_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct fe_ctx ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.link.parent_fd = -1;
	ctx.svc[FE_S3].name = "s3";
	ctx.svc[FE_ADMIN].name = "admin";
	proctitle_init(&ctx.title, argc, argv);
	signal(SIGPIPE, SIG_IGN);

	int rc = fe_options(&ctx, argc, argv);
	if (rc == -1) {
		log_init("frontend", ctx.foreground ? LOG_DEST_STDERR : LOG_DEST_SYSLOG, ctx.verbose);
		if (getenv("S3MUX_PARENT_FD") == NULL)
			proctitle_set(&ctx.title, "s3muxd: frontend");
		if (fe_load_config(&ctx) == -1)
			rc = FE_EXIT_CONFIG;
		else if (fe_events_init(&ctx) == -1)
			rc = FE_EXIT_FAILED;
		else
			rc = fe_run(&ctx);
	}
	fe_cleanup(&ctx);
	return rc;
}
