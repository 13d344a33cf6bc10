/*
 * child.c: the child's end of the link to the supervisor s3muxd.
 *
 * A program started by the supervisor finds the number of its end of a socketpair in
 * S3MUX_PARENT_FD.  The child says "ready\n" on it once it works, and watches it for
 * end-of-file: when the supervisor goes away, the pipe closes and the child must exit at
 * once.  The inherited listening sockets of a front end are named in S3MUX_LISTEN_FDS
 * ("s3=4,admin=5").  A program run by hand has neither variable and runs on its own.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "util.h"

/* A descriptor number from the environment: 0..INT_MAX and open, else -1. */
static int
child_parse_fd(const char *text, const char **end)
{
	if (end != NULL)
		*end = text;
	if (!isdigit((unsigned char)*text))
		return -1;
	long v = 0;
	for (; isdigit((unsigned char)*text); text++) {
		v = v * 10 + (*text - '0');
		if (v > INT_MAX)
			return -1;
	}
	if (end != NULL)
		*end = text;
	if (fcntl((int)v, F_GETFD) == -1)
		return -1;
	return (int)v;
}

static void
child_parent_cb(evutil_socket_t fd, short what, void *arg)
{
	struct child_link *link = arg;
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n > 0)
		return;		/* the supervisor sends nothing yet: ignore */
	if (n == -1 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n == -1)
		log_warn("supervisor link");
	event_del(link->parent_ev);
	if (link->on_parent_gone != NULL)
		link->on_parent_gone(link->arg);
}

int
child_link_init(struct child_link *link, struct event_base *base,
    void (*on_parent_gone)(void *arg), void *arg)
{
	link->parent_fd = -1;
	link->parent_ev = NULL;
	link->on_parent_gone = on_parent_gone;
	link->arg = arg;

	const char *env = getenv("S3MUX_PARENT_FD");
	if (env == NULL || *env == '\0')
		return 0;
	const char *end;
	int fd = child_parse_fd(env, &end);
	if (fd == -1 || *end != '\0') {
		log_warnx("S3MUX_PARENT_FD=%s is not an open descriptor", env);
		return -1;
	}
	if (fd_set_nonblock(fd) == -1 || fd_set_cloexec(fd, 1) == -1) {
		log_warn("supervisor link: fd %d", fd);
		return -1;
	}
	link->parent_ev = event_new(base, fd, EV_READ | EV_PERSIST, child_parent_cb, link);
	if (link->parent_ev == NULL || event_add(link->parent_ev, NULL) == -1) {
		log_warnx("supervisor link: cannot watch fd %d", fd);
		if (link->parent_ev != NULL)
			event_free(link->parent_ev);
		link->parent_ev = NULL;
		return -1;
	}
	link->parent_fd = fd;
	return 1;
}

void
child_link_ready(struct child_link *link)
{
	if (link->parent_fd == -1)
		return;
	const char *msg = CHILD_READY_MSG;
	size_t len = strlen(msg);
	for (;;) {
		ssize_t n = write(link->parent_fd, msg, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)len)
			log_warn("supervisor link: cannot say ready");
		return;
	}
}

void
child_link_close(struct child_link *link)
{
	if (link->parent_ev != NULL)
		event_free(link->parent_ev);
	link->parent_ev = NULL;
	if (link->parent_fd != -1)
		close(link->parent_fd);
	link->parent_fd = -1;
}

int
child_listen_fd(const char *name)
{
	const char *p = getenv("S3MUX_LISTEN_FDS");
	size_t nlen = strlen(name);
	while (p != NULL && *p != '\0') {
		const char *eq = strchr(p, '=');
		if (eq == NULL)
			return -1;
		const char *end;
		int fd = child_parse_fd(eq + 1, &end);
		if ((size_t)(eq - p) == nlen && strncmp(p, name, nlen) == 0)
			return fd != -1 && (*end == ',' || *end == '\0') ? fd : -1;
		p = strchr(eq, ',');
		if (p != NULL)
			p++;
	}
	return -1;
}
