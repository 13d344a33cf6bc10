/*
 * util_test.c: unit tests of src/util.c, printing TAP: sizes ("10GiB"), durations ("90d"),
 * the growable string buffer and small-file reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"

struct size_case {
	const char *text;
	uint64_t bytes;		/* when why is NULL */
	const char *why;	/* the expected reason for refusing text */
};

static const struct size_case size_cases[] = {
	{ "0", 0, NULL },
	{ "1024", 1024, NULL },
	{ "512B", 512, NULL },
	{ "1KB", 1000, NULL },
	{ "3MB", 3000000, NULL },
	{ "10GB", 10000000000ULL, NULL },
	{ "2TB", 2000000000000ULL, NULL },
	{ "64KiB", 65536, NULL },
	{ "5MiB", 5ULL << 20, NULL },
	{ "10GiB", 10ULL << 30, NULL },
	{ "5TiB", 5ULL << 40, NULL },
	{ "7 MiB", 7ULL << 20, NULL },
	{ "  42", 42, NULL },
	{ "18446744073709551615", UINT64_MAX, NULL },
	{ "16777215TiB", 16777215ULL << 40, NULL },
	{ "18446744073709551616", 0, "number is too large" },
	{ "99999999999999999999999GiB", 0, "number is too large" },
	{ "16777216TiB", 0, "value is too large" },
	{ "17179869184GiB", 0, "value is too large" },
	{ "", 0, "expected a whole number followed by a unit" },
	{ "GiB", 0, "expected a whole number followed by a unit" },
	{ "-1", 0, "expected a whole number followed by a unit" },
	{ "10XB", 0, "unknown size unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)" },
	{ "10gib", 0, "unknown size unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)" },
	{ "1.5GiB", 0, "unknown size unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)" },
	{ "10 GiB extra", 0, "unknown size unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)" },
};

struct duration_case {
	const char *text;
	int64_t ms;
	const char *why;
};

#define DAY	86400000LL

static const struct duration_case duration_cases[] = {
	{ "0s", 0, NULL },
	{ "250ms", 250, NULL },
	{ "30s", 30000, NULL },
	{ "5m", 300000, NULL },
	{ "2h", 7200000, NULL },
	{ "90d", 90 * DAY, NULL },
	{ "1w", 7 * DAY, NULL },
	{ "15 m", 900000, NULL },
	{ "9223372036854775807ms", INT64_MAX, NULL },
	{ "106751991167d", 106751991167LL * DAY, NULL },
	{ "9223372036854775808ms", 0, "duration is too long" },
	{ "106751991168d", 0, "duration is too long" },
	{ "18446744073709551615ms", 0, "duration is too long" },
	{ "18446744073709551616ms", 0, "number is too large" },
	{ "1000000000000000000s", 0, "value is too large" },
	{ "10", 0, "a duration needs a unit (ms, s, m, h, d or w)" },
	{ "0", 0, "a duration needs a unit (ms, s, m, h, d or w)" },
	{ "", 0, "expected a whole number followed by a unit" },
	{ "d", 0, "expected a whole number followed by a unit" },
	{ "-5s", 0, "expected a whole number followed by a unit" },
	{ "1y", 0, "unknown duration unit (use ms, s, m, h, d or w)" },
	{ "10S", 0, "unknown duration unit (use ms, s, m, h, d or w)" },
	{ "1.5h", 0, "unknown duration unit (use ms, s, m, h, d or w)" },
	{ "3 days", 0, "unknown duration unit (use ms, s, m, h, d or w)" },
};

static void
test_parse_size(struct tap *t)
{
	for (size_t i = 0; i < nitems(size_cases); i++) {
		const struct size_case *c = &size_cases[i];
		uint64_t bytes = 12345;
		const char *why = NULL;
		int rc = parse_size(c->text, &bytes, &why);
		if (c->why == NULL) {
			TAP_OK(t, rc == 0 && bytes == c->bytes, "parse_size('%s') = %ju (got %ju)",
			    c->text, (uintmax_t)c->bytes, (uintmax_t)bytes);
			continue;
		}
		TAP_OK(t, rc == -1, "parse_size('%s') refused", c->text);
		TAP_STR_EQ(t, why, c->why, "parse_size('%s') says why", c->text);
	}
}

static void
test_parse_duration(struct tap *t)
{
	for (size_t i = 0; i < nitems(duration_cases); i++) {
		const struct duration_case *c = &duration_cases[i];
		int64_t ms = 12345;
		const char *why = NULL;
		int rc = parse_duration(c->text, &ms, &why);
		if (c->why == NULL) {
			TAP_OK(t, rc == 0 && ms == c->ms, "parse_duration('%s') = %jd ms (got %jd)",
			    c->text, (intmax_t)c->ms, (intmax_t)ms);
			continue;
		}
		TAP_OK(t, rc == -1, "parse_duration('%s') refused", c->text);
		TAP_STR_EQ(t, why, c->why, "parse_duration('%s') says why", c->text);
	}
}

static void
test_strbuf_basic(struct tap *t)
{
	struct strbuf sb;
	strbuf_init(&sb);
	TAP_OK(t, sb.data == NULL && sb.len == 0, "strbuf_init: empty, nothing allocated");
	char *s = strbuf_detach(&sb);
	TAP_STR_EQ(t, s, "", "detach of an empty buffer gives \"\"");
	free(s);

	strbuf_puts(&sb, "hello");
	strbuf_append(&sb, ", ", 2);
	strbuf_printf(&sb, "%s #%d", "world", 7);
	TAP_STR_EQ(t, sb.data, "hello, world #7", "puts, append, printf");
	TAP_OK(t, sb.len == strlen("hello, world #7"), "len follows the text");
	strbuf_append(&sb, "", 0);
	TAP_OK(t, sb.len == 15 && sb.data[15] == '\0', "appending nothing keeps the text");

	strbuf_reset(&sb);
	TAP_OK(t, sb.len == 0 && sb.data != NULL && sb.data[0] == '\0',
	    "reset empties, keeps the memory");
	strbuf_append(&sb, "a\0b", 3);
	TAP_OK(t, sb.len == 3 && memcmp(sb.data, "a\0b", 4) == 0,
	    "binary bytes with a NUL, still terminated");
	strbuf_free(&sb);
	TAP_OK(t, sb.data == NULL && sb.len == 0 && sb.cap == 0, "strbuf_free resets");
	strbuf_free(&sb);
	TAP_OK(t, 1, "strbuf_free twice is harmless");
}

static void
test_strbuf_growth(struct tap *t)
{
	struct strbuf sb;
	strbuf_init(&sb);
	for (int i = 0; i < 1000; i++)
		strbuf_printf(&sb, "%04d,", i);
	TAP_OK(t, sb.len == 5000 && sb.cap > sb.len, "grows past its first allocation");
	TAP_OK(t, strncmp(sb.data, "0000,0001,", 10) == 0 &&
	    strcmp(sb.data + 4990, "0998,0999,") == 0, "keeps every byte in order");
	char big[3000];
	memset(big, 'x', sizeof(big));
	strbuf_reset(&sb);
	strbuf_append(&sb, big, sizeof(big));
	strbuf_printf(&sb, "%.*s", 2000, big);
	TAP_OK(t, sb.len == 5000 && sb.data[4999] == 'x' && sb.data[5000] == '\0',
	    "large printf appends");
	char *s = strbuf_detach(&sb);
	TAP_OK(t, strlen(s) == 5000 && sb.data == NULL && sb.len == 0,
	    "detach hands over the string and empties the buffer");
	free(s);
}

static void
test_file_read_small(struct tap *t)
{
	char path[] = "/tmp/s3mux-util-test.XXXXXX";
	int fd = mkstemp(path);
	if (fd == -1 || write(fd, "0123456789\n", 11) != 11) {
		TAP_OK(t, 0, "mkstemp: %s", strerror(errno));
		return;
	}
	close(fd);
	char *s = file_read_small(path, 100);
	TAP_STR_EQ(t, s, "0123456789\n", "file_read_small reads the whole file");
	free(s);
	errno = 0;
	s = file_read_small(path, 5);
	TAP_OK(t, s == NULL && errno == EFBIG, "a file above the bound: EFBIG");
	unlink(path);
	errno = 0;
	s = file_read_small(path, 100);
	TAP_OK(t, s == NULL && errno == ENOENT, "a missing file: ENOENT");
}

static void
test_alloc(struct tap *t)
{
	char *s = xasprintf("%s-%d", "key", 2026);
	TAP_STR_EQ(t, s, "key-2026", "xasprintf");
	free(s);
	s = xstrdup("copy");
	TAP_STR_EQ(t, s, "copy", "xstrdup");
	free(s);
	int *v = xcalloc(4, sizeof(int));
	TAP_OK(t, v[0] == 0 && v[3] == 0, "xcalloc zeroes");
	v = xreallocarray(v, 8, sizeof(int));
	v[7] = 7;
	TAP_OK(t, v[7] == 7, "xreallocarray grows");
	free(v);
}

int
main(void)
{
	struct tap t = { 0, 0 };
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_parse_size(&t);
	test_parse_duration(&t);
	test_strbuf_basic(&t);
	test_strbuf_growth(&t);
	test_file_read_small(&t);
	test_alloc(&t);
	return TAP_DONE(&t);
}
