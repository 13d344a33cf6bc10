/*
 * util.c: allocation, size and duration parsing, clocks, fd flags, small files, string buffers.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (p == NULL)
		fatal("malloc %zu", size);
	return p;
}

void *
xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (p == NULL)
		fatal("calloc %zu x %zu", count, size);
	return p;
}

void *
xreallocarray(void *ptr, size_t count, size_t size)
{
	if (size != 0 && count > SIZE_MAX / size)
		fatalx("reallocarray: %zu x %zu overflows", count, size);
	size_t bytes = count * size;
	void *p = realloc(ptr, bytes != 0 ? bytes : 1);
	if (p == NULL)
		fatal("realloc %zu x %zu", count, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		fatal("strdup");
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("vasprintf");
	return s;
}

struct unit {
	const char *name;
	uint64_t factor;
};

/* Split "123unit" into number and unit; the number must be whole and not overflow. */
static int
parse_number_unit(const char *text, uint64_t *number, const char **unit, const char **why)
{
	const char *p = text;
	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p)) {
		*why = "expected a whole number followed by a unit";
		return -1;
	}
	uint64_t n = 0;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned digit = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - digit) / 10) {
			*why = "number is too large";
			return -1;
		}
		n = n * 10 + digit;
	}
	while (isspace((unsigned char)*p))
		p++;
	*number = n;
	*unit = p;
	return 0;
}

static int
apply_unit(uint64_t number, const char *unit, const struct unit *units, size_t nunits,
    uint64_t *out, const char **why, const char *unit_error)
{
	for (size_t i = 0; i < nunits; i++) {
		if (strcmp(unit, units[i].name) != 0)
			continue;
		if (number > UINT64_MAX / units[i].factor) {
			*why = "value is too large";
			return -1;
		}
		*out = number * units[i].factor;
		return 0;
	}
	*why = unit_error;
	return -1;
}

int
parse_size(const char *text, uint64_t *bytes, const char **why)
{
	static const struct unit units[] = {
		{ "", 1 }, { "B", 1 },
		{ "KB", 1000ULL }, { "MB", 1000000ULL }, { "GB", 1000000000ULL },
		{ "TB", 1000000000000ULL },
		{ "KiB", 1ULL << 10 }, { "MiB", 1ULL << 20 }, { "GiB", 1ULL << 30 },
		{ "TiB", 1ULL << 40 },
	};
	uint64_t n;
	const char *unit;
	if (parse_number_unit(text, &n, &unit, why) == -1)
		return -1;
	return apply_unit(n, unit, units, nitems(units), bytes, why,
	    "unknown size unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)");
}

int
parse_duration(const char *text, int64_t *millis, const char **why)
{
	static const struct unit units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "w", 604800000 },
	};
	uint64_t n, ms;
	const char *unit;
	if (parse_number_unit(text, &n, &unit, why) == -1)
		return -1;
	if (*unit == '\0') {
		*why = "a duration needs a unit (ms, s, m, h, d or w)";
		return -1;
	}
	if (apply_unit(n, unit, units, nitems(units), &ms, why,
	    "unknown duration unit (use ms, s, m, h, d or w)") == -1)
		return -1;
	if (ms > INT64_MAX) {
		*why = "duration is too long";
		return -1;
	}
	*millis = (int64_t)ms;
	return 0;
}

int64_t
clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_real_s(void)
{
	return (int64_t)time(NULL);
}

int
fd_set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return -1;
	return 0;
}

int
fd_set_cloexec(int fd, int on)
{
	int flags = fcntl(fd, F_GETFD);
	if (flags == -1)
		return -1;
	flags = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
	return fcntl(fd, F_SETFD, flags);
}

char *
file_read_small(const char *path, size_t max_bytes)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return NULL;
	struct strbuf sb;
	strbuf_init(&sb);
	char chunk[4096];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || sb.len + (size_t)n > max_bytes) {
			int saved = n == -1 ? errno : EFBIG;
			close(fd);
			strbuf_free(&sb);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		strbuf_append(&sb, chunk, (size_t)n);
	}
	close(fd);
	return strbuf_detach(&sb);
}

void
strbuf_init(struct strbuf *sb)
{
	sb->data = NULL;
	sb->len = 0;
	sb->cap = 0;
}

void
strbuf_free(struct strbuf *sb)
{
	free(sb->data);
	strbuf_init(sb);
}

void
strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->data)
		sb->data[0] = '\0';
}

static void
strbuf_reserve(struct strbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->cap)
		return;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < sb->len + extra + 1)
		cap *= 2;
	sb->data = xreallocarray(sb->data, cap, 1);
	sb->cap = cap;
}

void
strbuf_append(struct strbuf *sb, const void *data, size_t len)
{
	strbuf_reserve(sb, len);
	if (len)
		memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

void
strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_append(sb, s, strlen(s));
}

void
strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		fatalx("strbuf_vprintf: bad format");
	strbuf_reserve(sb, (size_t)n);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
}

void
strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	strbuf_vprintf(sb, fmt, ap);
	va_end(ap);
}

char *
strbuf_detach(struct strbuf *sb)
{
	if (sb->data == NULL)
		return xstrdup("");
	char *s = sb->data;
	strbuf_init(sb);
	return s;
}

int
s3mux_in_build_tree(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	size_t blen = strlen(S3MUX_BUILDDIR);
	return strncmp(exe, S3MUX_BUILDDIR, blen) == 0 && exe[blen] == '/';
}

const char *
s3mux_libexecdir(void)
{
	const char *env = getenv("S3MUX_LIBEXECDIR");
	if (env != NULL && *env != '\0')
		return env;
	return s3mux_in_build_tree() ? S3MUX_BUILDDIR "/workers" : S3MUX_LIBEXECDIR;
}
