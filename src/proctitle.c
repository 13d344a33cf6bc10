/*
 * proctitle.c: rewrite the argv block so that ps shows the role of each s3mux process.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "proctitle.h"

void
proctitle_init(struct proctitle *pt, int argc, char **argv)
{
	pt->area = NULL;
	pt->area_len = 0;
	if (argc < 1 || argv[0] == NULL)
		return;
	char *end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc; i++) {
		if (argv[i] != end)
			break;
		end = argv[i] + strlen(argv[i]) + 1;
	}
	pt->area = argv[0];
	pt->area_len = (size_t)(end - argv[0]);
}

void
proctitle_set(struct proctitle *pt, const char *fmt, ...)
{
	char title[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(title, sizeof(title), fmt, ap);
	va_end(ap);

	/* comm holds 15 bytes: keep the part after "s3muxd: " when it is there */
	const char *comm = strncmp(title, "s3muxd: ", 8) == 0 ? title + 8 : title;
	char shortname[16];
	size_t n = strnlen(comm, sizeof(shortname) - 1);
	memcpy(shortname, comm, n);
	shortname[n] = '\0';
	prctl(PR_SET_NAME, shortname, 0, 0, 0);

	if (pt->area == NULL || pt->area_len < 2)
		return;
	memset(pt->area, 0, pt->area_len);
	snprintf(pt->area, pt->area_len - 1, "%s", title);
}
