/*
 * log.h: the one logging API of every s3mux program.
 *
 * Lines go to stderr in the foreground, to syslog when daemonized, or to a log file when
 * one is configured; each line is tagged with the program's role.  log_warn() appends the
 * errno text; fatal() is for start-up failures and broken invariants only.
 */
#ifndef S3MUX_LOG_H
#define S3MUX_LOG_H

#include <stdarg.h>
#include <stdnoreturn.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_dest {
	LOG_DEST_STDERR = 0,
	LOG_DEST_SYSLOG,
	LOG_DEST_FILE,
};

/* Start logging as `tag` (e.g. "s3muxd", "replicator"); verbose raises the level to debug. */
void log_init(const char *tag, enum log_dest dest, int verbose);
/* Switch to a log file (append); NULL keeps the current destination. Returns -1 on error. */
int log_set_file(const char *path);
/* Syslog facility by name ("daemon", "local0".."local7"); returns -1 for an unknown name. */
int log_set_facility(const char *name);
void log_set_level(enum log_level level);
void log_set_tag(const char *tag);
/* Reopen the log file after rotation (SIGUSR1). */
void log_reopen(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
