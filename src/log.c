/*
 * log.c: logging to stderr, syslog or a file, tagged with the program's role.
 *
 * The logging settings are this process's logging context: one struct, set once at start
 * and changed only by log_set_*() and log_reopen() from the process's own event loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct log_ctx {
	char tag[64];
	enum log_dest dest;
	enum log_level level;
	int facility;
	char path[4096];
	FILE *file;
};

static struct log_ctx log_ctx = {
	.tag = "s3mux", .dest = LOG_DEST_STDERR, .level = LOG_LEVEL_INFO, .facility = LOG_DAEMON,
};

void
log_set_tag(const char *tag)
{
	snprintf(log_ctx.tag, sizeof(log_ctx.tag), "%s", tag);
}

void
log_init(const char *tag, enum log_dest dest, int verbose)
{
	log_set_tag(tag);
	log_ctx.dest = dest;
	log_ctx.level = verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
	if (dest == LOG_DEST_SYSLOG)
		openlog(log_ctx.tag, LOG_PID | LOG_NDELAY, log_ctx.facility);
	tzset();
}

void
log_set_level(enum log_level level)
{
	log_ctx.level = level;
}

int
log_set_facility(const char *name)
{
	static const struct { const char *name; int value; } facilities[] = {
		{ "daemon", LOG_DAEMON }, { "user", LOG_USER },
		{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
		{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
		{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	};
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		if (strcasecmp(name, facilities[i].name) == 0) {
			log_ctx.facility = facilities[i].value;
			return 0;
		}
	}
	return -1;
}

int
log_set_file(const char *path)
{
	if (path == NULL)
		return 0;
	FILE *f = fopen(path, "a");
	if (f == NULL)
		return -1;
	setvbuf(f, NULL, _IOLBF, 0);
	if (log_ctx.file != NULL)
		fclose(log_ctx.file);
	log_ctx.file = f;
	snprintf(log_ctx.path, sizeof(log_ctx.path), "%s", path);
	log_ctx.dest = LOG_DEST_FILE;
	return 0;
}

void
log_reopen(void)
{
	if (log_ctx.dest != LOG_DEST_FILE || log_ctx.path[0] == '\0')
		return;
	char path[sizeof(log_ctx.path)];
	memcpy(path, log_ctx.path, sizeof(path));
	if (log_set_file(path) == -1)
		log_warn("log: cannot reopen %s", path);
}

static const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR: return "error";
	case LOG_LEVEL_WARN: return "warning";
	case LOG_LEVEL_INFO: return "info";
	case LOG_LEVEL_DEBUG: return "debug";
	}
	return "?";
}

static void
log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	if (level > log_ctx.level)
		return;
	char msg[2048];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n >= 0 && errnum != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));

	if (log_ctx.dest == LOG_DEST_SYSLOG) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		syslog(prio[level], "%s", msg);
		return;
	}
	FILE *out = log_ctx.dest == LOG_DEST_FILE && log_ctx.file ? log_ctx.file : stderr;
	char stamp[32];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(out, "%s.%03ld %s[%ld] %s: %s\n", stamp, now.tv_nsec / 1000000L, log_ctx.tag,
	    (long)getpid(), log_level_name(level), msg);
	fflush(out);
}

#define LOG_BODY(level, errnum) do {			\
	int saved_errno = errno;			\
	va_list ap;					\
	va_start(ap, fmt);				\
	log_emit((level), (errnum), fmt, ap);		\
	va_end(ap);					\
	errno = saved_errno;				\
} while (0)

void log_warn(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_WARN, errno); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_WARN, 0); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_INFO, 0); }
void log_debug(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_DEBUG, 0); }

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, errno);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, 0);
	exit(1);
}
