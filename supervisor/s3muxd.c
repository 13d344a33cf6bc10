/*
 * s3muxd.c: the s3mux supervisor: main(), options, start-up and daemonizing.
 *
 * SYNOPSIS
 *	s3muxd [-ftvV] [-c file]
 *
 * DESCRIPTION
 *	s3muxd reads the configuration, takes its pid file, binds the listening sockets,
 *	waits for the database and applies the sql/ migrations, then starts
 *	frontend.workers front ends (s3mux-frontend) and one process per enabled background
 *	role (s3mux-<role>) from the libexec directory, and keeps them running: a child that
 *	dies is started again with exponential backoff, one that dies before doing any work
 *	throttles its slot, one that exits with status 2 is left stopped until a reload.
 *
 * OPTIONS
 *	-c file	the configuration file (default S3MUX_SYSCONFDIR/s3mux.yaml)
 *	-f	stay in the foreground and log to stderr; children log there too
 *	-t	check the configuration file, say whether it is valid, and exit
 *	-v	verbose: log at debug level (passed on to the children)
 *	-V	print the version and exit
 *
 * SIGNALS
 *	SIGHUP		reload the configuration; restart the children one at a time
 *	SIGTERM, SIGINT	stop gracefully within daemon.stop_timeout; a second one kills now
 *	SIGUSR1		reopen the log file; passed on to every child
 *	SIGCHLD		reap children and respawn them as the policy says
 *
 * FILES
 *	S3MUX_SYSCONFDIR/s3mux.yaml	the configuration
 *	daemon.pid_file			the pid file, locked while s3muxd runs
 *	daemon.log_file			the log when daemonized (otherwise syslog)
 *	S3MUX_LIBEXECDIR/s3mux-*	the programs started as children
 *	S3MUX_SQLDIR/NNN_*.sql		the migrations applied at start
 *
 * ENVIRONMENT
 *	S3MUX_LIBEXECDIR, S3MUX_SQLDIR override the directories above.
 *
 * DIAGNOSTICS
 *	Start-up problems (configuration, pid file, listen address) are written to stderr
 *	as "s3muxd: what" and exit with status 1; later ones go to the log.  Usage errors
 *	exit with status 1.
 *
 * SEE ALSO
 *	s3muxd(8), s3mux.yaml(5), src/child.h (the protocol between s3muxd and its children)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proctitle.h"
#include "sup.h"
#include "util.h"

struct sup_options {
	const char *config;
	int foreground;
	int test;
	int verbose;
};

static noreturn void
sup_usage(void)
{
	fprintf(stderr, "usage: s3muxd [-ftvV] [-c file]\n");
	exit(1);
}

static void
sup_options_parse(int argc, char **argv, struct sup_options *opt)
{
	int ch;

	opt->config = S3MUX_SYSCONFDIR "/s3mux.yaml";
	opt->foreground = opt->test = opt->verbose = 0;
	while ((ch = getopt(argc, argv, "c:ftvV")) != -1) {
		switch (ch) {
		case 'c':
			opt->config = optarg;
			break;
		case 'f':
			opt->foreground = 1;
			break;
		case 't':
			opt->test = 1;
			break;
		case 'v':
			opt->verbose = 1;
			break;
		case 'V':
			printf("s3muxd %s\n", S3MUX_VERSION);
			exit(0);
		default:
			sup_usage();
		}
	}
	if (optind != argc)
		sup_usage();
}

/* -t: load the file and say what came of it. */
static int
sup_config_test(const char *path)
{
	char err[1024];
	struct s3mux_config *cfg = config_load(path, err, sizeof(err));

	if (cfg == NULL) {
		fprintf(stderr, "s3muxd: %s\n", err);
		fprintf(stderr, "s3muxd: configuration file %s test failed\n", path);
		return 1;
	}
	config_free(cfg);
	fprintf(stderr, "s3muxd: configuration file %s test is successful\n", path);
	return 0;
}

static enum log_level
sup_log_level(const char *name, int verbose)
{
	if (verbose || name == NULL)
		return verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
	if (strcasecmp(name, "error") == 0)
		return LOG_LEVEL_ERROR;
	if (strcasecmp(name, "warning") == 0 || strcasecmp(name, "warn") == 0)
		return LOG_LEVEL_WARN;
	if (strcasecmp(name, "debug") == 0)
		return LOG_LEVEL_DEBUG;
	return LOG_LEVEL_INFO;
}

/*
 * Point the log where the configuration says: stderr in the foreground, else the log file
 * or syslog.  -1 with the reason in err (when given) if the log file cannot be opened.
 */
int
sup_log_configure(const struct sup_ctx *ctx, char *err, size_t errlen)
{
	const struct s3mux_config *cfg = ctx->cfg;
	enum log_level level = sup_log_level(cfg->daemon.log_level, ctx->verbose);

	if (!ctx->foreground && cfg->daemon.log_file != NULL) {
		if (log_set_file(cfg->daemon.log_file) == -1) {
			if (err != NULL)
				snprintf(err, errlen, "cannot open log file %s: %s",
				    cfg->daemon.log_file, strerror(errno));
			else
				log_warn("cannot open log file %s", cfg->daemon.log_file);
			return -1;
		}
	} else if (!ctx->foreground) {
		if (cfg->daemon.syslog_facility != NULL &&
		    log_set_facility(cfg->daemon.syslog_facility) == -1)
			log_warnx("unknown syslog facility %s", cfg->daemon.syslog_facility);
		log_init("s3muxd", LOG_DEST_SYSLOG, ctx->verbose);
	}
	log_set_level(level);
	return 0;
}

/* Load the configuration, take the pid file, bind the sockets: -1 with a message in err. */
static int
sup_prepare(struct sup_ctx *ctx, char *err, size_t errlen)
{
	ctx->cfg = config_load(ctx->config_path, err, errlen);
	if (ctx->cfg == NULL)
		return -1;
	if (sup_pidfile_lock(&ctx->pidfile, ctx->cfg->daemon.pid_file, err, errlen) == -1)
		return -1;
	if (ctx->cfg->listen.s3 != NULL &&
	    sup_listener_open(&ctx->s3, ctx->cfg->listen.s3, err, errlen) == -1)
		return -1;
	if (ctx->cfg->listen.admin != NULL &&
	    sup_listener_open(&ctx->admin, ctx->cfg->listen.admin, err, errlen) == -1)
		return -1;
	return 0;
}

/* The process that stays: write the pid, point the log. */
static int
sup_settle(struct sup_ctx *ctx, char *err, size_t errlen)
{
	if (sup_pidfile_write(&ctx->pidfile, err, errlen) == -1)
		return -1;
	return sup_log_configure(ctx, err, errlen);
}

static int
sup_stdio_null(void)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd == -1)
		return -1;
	int rc = dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1 ? -1 : 0;
	if (fd > STDERR_FILENO)
		close(fd);
	return rc;
}

/* The parent waits for the daemon to say it settled: exit 0 if it did, 1 if it died. */
static noreturn void
sup_daemon_parent(int fd)
{
	char c;
	ssize_t n;
	do
		n = read(fd, &c, 1);
	while (n == -1 && errno == EINTR);
	_exit(n == 1 ? 0 : 1);
}

/*
 * fork, setsid, chdir /, settle (pid file, log), stdio to /dev/null.  The original
 * process exits once the daemon has written its pid file, so that an init system reading
 * the pid file after the parent exits finds it.  Returns 0 in the daemon, -1 on error.
 */
static int
sup_daemonize(struct sup_ctx *ctx)
{
	char err[1024];
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC) == -1) {
		fprintf(stderr, "s3muxd: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid == -1) {
		fprintf(stderr, "s3muxd: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(pfd[1]);
		sup_daemon_parent(pfd[0]);
	}
	close(pfd[0]);
	if (setsid() == -1 || chdir("/") == -1) {
		fprintf(stderr, "s3muxd: cannot detach: %s\n", strerror(errno));
		return -1;
	}
	if (sup_settle(ctx, err, sizeof(err)) == -1) {
		fprintf(stderr, "s3muxd: %s\n", err);
		return -1;
	}
	if (sup_stdio_null() == -1) {
		fprintf(stderr, "s3muxd: cannot redirect stdio to /dev/null: %s\n", strerror(errno));
		return -1;
	}
	if (write(pfd[1], "1", 1) != 1)
		log_warn("cannot tell the starting process that the daemon is up");
	close(pfd[1]);
	return 0;
}

static int
sup_loop_init(struct sup_ctx *ctx)
{
	ctx->base = event_base_new();
	if (ctx->base == NULL) {
		log_warnx("cannot create the event base");
		return -1;
	}
	sup_slots_init(ctx);
	if (sup_signals_init(ctx) == -1 || sup_reload_init(ctx) == -1 ||
	    sup_schema_init(ctx) == -1)
		return -1;
	return 0;
}

static int
sup_run(struct sup_ctx *ctx)
{
	char err[1024];

	if (sup_prepare(ctx, err, sizeof(err)) == -1) {
		fprintf(stderr, "s3muxd: %s\n", err);
		return 1;
	}
	if (!ctx->foreground) {
		if (sup_daemonize(ctx) == -1)
			return 1;
	} else if (sup_settle(ctx, err, sizeof(err)) == -1) {
		fprintf(stderr, "s3muxd: %s\n", err);
		return 1;
	}
	proctitle_set(ctx->title, "s3muxd: supervisor");
	if (sup_loop_init(ctx) == -1)
		return 1;
	log_info("s3muxd %s starting (pid %ld, configuration %s)", S3MUX_VERSION,
	    (long)getpid(), ctx->config_path);
	event_base_dispatch(ctx->base);
	log_info("stopped");
	return 0;
}

static void
sup_ctx_init(struct sup_ctx *ctx, const struct sup_options *opt, struct proctitle *title)
{
	char abs[PATH_MAX];

	memset(ctx, 0, sizeof(*ctx));
	ctx->config_path = xstrdup(realpath(opt->config, abs) != NULL ? abs : opt->config);
	ctx->foreground = opt->foreground;
	ctx->verbose = opt->verbose;
	ctx->title = title;
	ctx->state = SUP_WAIT_DB;
	sup_pidfile_init(&ctx->pidfile);
	sup_listener_init(&ctx->s3, "s3");
	sup_listener_init(&ctx->admin, "admin");
}

static void
sup_ctx_free(struct sup_ctx *ctx)
{
	sup_reload_cancel(ctx);
	if (ctx->reload.timer != NULL)
		event_free(ctx->reload.timer);
	if (ctx->db_ev != NULL)
		event_free(ctx->db_ev);
	sup_signals_free(ctx);
	sup_procs_free(ctx);
	sup_slots_free(ctx);
	if (ctx->base != NULL)
		event_base_free(ctx->base);
	sup_listener_close(&ctx->s3);
	sup_listener_close(&ctx->admin);
	sup_pidfile_remove(&ctx->pidfile);
	if (ctx->cfg != NULL)
		config_free(ctx->cfg);
	free(ctx->config_path);
}

int
main(int argc, char **argv)
{
	struct proctitle title;
	struct sup_options opt;
	struct sup_ctx ctx;

	proctitle_init(&title, argc, argv);
	sup_options_parse(argc, argv, &opt);
	log_init("s3muxd", LOG_DEST_STDERR, opt.verbose);
	if (opt.test)
		return sup_config_test(opt.config);
	sup_ctx_init(&ctx, &opt, &title);
	int rc = sup_run(&ctx);
	sup_ctx_free(&ctx);
	return rc;
}
