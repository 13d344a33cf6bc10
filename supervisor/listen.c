/*
 * listen.c: the listening sockets the supervisor binds and its front ends inherit.
 *
 * An address is HOST:PORT, [IPV6]:PORT, or *:PORT / :PORT for every address.  The socket
 * has SO_REUSEADDR, a backlog of SUP_LISTEN_BACKLOG, is non-blocking and close-on-exec in
 * the supervisor (spawn.c gives each front end its own copy on fd 4 or 5).  The supervisor
 * never accepts on it; keeping it open across front end restarts is what lets a reload
 * replace the front ends without refusing a connection.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sup.h"
#include "util.h"

void
sup_listener_init(struct sup_listener *l, const char *key)
{
	l->key = key;
	l->addr = NULL;
	l->fd = -1;
}

void
sup_listener_close(struct sup_listener *l)
{
	if (l->fd != -1)
		close(l->fd);
	free(l->addr);
	l->addr = NULL;
	l->fd = -1;
}

static int
sup_copy_part(char *dst, size_t dstlen, const char *src, size_t len)
{
	if (len >= dstlen)
		return -1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/* Split HOST:PORT or [HOST]:PORT; -1 when the text has neither form. */
static int
sup_split_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		if (sup_copy_part(host, hostlen, addr + 1, (size_t)(end - addr - 1)) == -1)
			return -1;
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL)
			return -1;
		if (sup_copy_part(host, hostlen, addr, (size_t)(colon - addr)) == -1)
			return -1;
	}
	if (colon[1] == '\0')
		return -1;
	return sup_copy_part(port, portlen, colon + 1, strlen(colon + 1));
}

static int
sup_listen_one(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    ai->ai_protocol);
	if (fd == -1)
		return -1;
	int on = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, SUP_LISTEN_BACKLOG) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Bind and listen on addr; -1 with a message naming the address in err. */
int
sup_listener_open(struct sup_listener *l, const char *addr, char *err, size_t errlen)
{
	char host[256], port[32];

	if (sup_split_addr(addr, host, sizeof(host), port, sizeof(port)) == -1) {
		snprintf(err, errlen, "cannot listen on %s (listen.%s): not HOST:PORT", addr,
		    l->key);
		return -1;
	}
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	struct addrinfo *res;
	const char *node = host[0] == '\0' || strcmp(host, "*") == 0 ? NULL : host;
	int gai = getaddrinfo(node, port, &hints, &res);
	if (gai != 0) {
		snprintf(err, errlen, "cannot listen on %s (listen.%s): %s", addr, l->key,
		    gai_strerror(gai));
		return -1;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		fd = sup_listen_one(ai);
		if (fd == -1)
			saved = errno;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		snprintf(err, errlen, "cannot listen on %s (listen.%s): %s", addr, l->key,
		    strerror(saved));
		return -1;
	}
	l->fd = fd;
	l->addr = xstrdup(addr);
	return 0;
}
