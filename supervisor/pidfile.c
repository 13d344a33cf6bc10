/*
 * pidfile.c: the supervisor's pid file, held with flock() for as long as it runs.
 *
 * The file is opened (created if missing) and locked with LOCK_EX|LOCK_NB before anything
 * else happens; a second s3muxd on the same file finds the lock taken and refuses to start,
 * naming the pid written there.  The lock lives on the open file description, so it passes
 * to the daemonized process across fork; the descriptor is close-on-exec, so no child
 * holds it.  The pid is written once the process that stays is known, and the file is
 * removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "log.h"
#include "sup.h"
#include "util.h"

void
sup_pidfile_init(struct sup_pidfile *pf)
{
	pf->path = NULL;
	pf->fd = -1;
}

/* The pid written in a locked file by its holder, or "unknown". */
static void
sup_pidfile_peek(int fd, char *pid, size_t pidlen)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	buf[strspn(buf, "0123456789")] = '\0';
	snprintf(pid, pidlen, "%s", buf[0] != '\0' ? buf : "unknown");
}

int
sup_pidfile_lock(struct sup_pidfile *pf, const char *path, char *err, size_t errlen)
{
	if (path == NULL || *path == '\0')
		return 0;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		snprintf(err, errlen, "cannot open pid file %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			char pid[32];
			sup_pidfile_peek(fd, pid, sizeof(pid));
			snprintf(err, errlen, "another s3muxd (pid %s) is running with pid file %s",
			    pid, path);
		} else {
			snprintf(err, errlen, "cannot lock pid file %s: %s", path, strerror(errno));
		}
		close(fd);
		return -1;
	}
	pf->path = xstrdup(path);
	pf->fd = fd;
	return 0;
}

int
sup_pidfile_write(struct sup_pidfile *pf, char *err, size_t errlen)
{
	if (pf->fd == -1)
		return 0;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(pf->fd, 0) == -1 || pwrite(pf->fd, buf, (size_t)n, 0) != n) {
		snprintf(err, errlen, "cannot write pid file %s: %s", pf->path, strerror(errno));
		return -1;
	}
	return 0;
}

void
sup_pidfile_remove(struct sup_pidfile *pf)
{
	if (pf->fd == -1)
		return;
	if (unlink(pf->path) == -1 && errno != ENOENT)
		log_warn("cannot remove pid file %s", pf->path);
	close(pf->fd);
	free(pf->path);
	sup_pidfile_init(pf);
}
