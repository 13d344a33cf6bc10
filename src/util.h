/*
 * util.h: small helpers shared by every s3mux program: allocation that cannot return NULL,
 * parsing of sizes ("10GiB") and durations ("90d"), clocks, file descriptor flags, and a
 * growable string buffer.
 */
#ifndef S3MUX_UTIL_H
#define S3MUX_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xreallocarray(void *ptr, size_t count, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Parse a byte size: a whole number with an optional unit B, KB, MB, GB, TB (powers of 1000)
 * or KiB, MiB, GiB, TiB (powers of 1024).  Returns 0, or -1 with *why set to a reason.
 */
int parse_size(const char *text, uint64_t *bytes, const char **why);

/*
 * Parse a duration: a whole number with a unit ms, s, m, h, d or w ("90d", "30s", "250ms").
 * Returns 0 with the value in milliseconds, or -1 with *why set to a reason.
 */
int parse_duration(const char *text, int64_t *millis, const char **why);

/* Milliseconds on the monotonic clock; seconds since the epoch on the real-time clock. */
int64_t clock_mono_ms(void);
int64_t clock_real_s(void);

int fd_set_nonblock(int fd);
int fd_set_cloexec(int fd, int on);

/* Read a whole small file (a secret, a pid) into a new string; NULL and errno on error. */
char *file_read_small(const char *path, size_t max_bytes);

/* A growable byte string, always NUL-terminated. */
struct strbuf {
	char *data;
	size_t len;
	size_t cap;
};

void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
void strbuf_append(struct strbuf *sb, const void *data, size_t len);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap);
/* Hand the buffer's string to the caller and leave sb empty. */
char *strbuf_detach(struct strbuf *sb);

/* 1 when this program is the one built in the build tree (not an installed copy). */
int s3mux_in_build_tree(void);
/* Where the role programs are: $S3MUX_LIBEXECDIR, else BUILDDIR/workers from the build
 * tree, else the installed libexec directory. */
const char *s3mux_libexecdir(void);
#endif
