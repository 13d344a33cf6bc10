/*
 * child.h: the link between the supervisor s3muxd and the programs it starts.
 *
 * The supervisor execs each program with:
 *   argv[0]   the process title, "s3muxd: replicator" or "s3muxd: frontend 2"
 *   -c FILE   the configuration file (already validated by the supervisor)
 *   -f        when the supervisor itself runs in the foreground (log to stderr)
 * and these descriptors and environment variables:
 *   fd 3 (S3MUX_PARENT_FD=3)   one end of a socketpair whose other end the supervisor holds.
 *                              The child writes "ready\n" once it has started its work;
 *                              end-of-file on it means the supervisor is gone: exit at once.
 *   S3MUX_LISTEN_FDS           "s3=4,admin=5": listening sockets inherited by front ends.
 *   S3MUX_WORKER_INDEX         the front end's slot number, 0..N-1.
 * Exit status 2 means "configuration error: do not respawn me".
 */
#ifndef S3MUX_CHILD_H
#define S3MUX_CHILD_H

#include <event2/event.h>

#define CHILD_PARENT_FD 3
#define CHILD_EXIT_CONFIG 2
#define CHILD_READY_MSG "ready\n"

struct child_link {
	int parent_fd;			/* -1 when not started by the supervisor */
	struct event *parent_ev;
	void (*on_parent_gone)(void *arg);
	void *arg;
};

/*
 * Set up the link if this process was started by the supervisor.  on_parent_gone runs from
 * the event loop when the supervisor's end closes.  Returns 1 when supervised, 0 when run by
 * hand, -1 on error (logged).
 */
int child_link_init(struct child_link *link, struct event_base *base,
    void (*on_parent_gone)(void *arg), void *arg);
/* Tell the supervisor that this child is up and working.  Harmless when not supervised. */
void child_link_ready(struct child_link *link);
void child_link_close(struct child_link *link);

/* The inherited listening socket called `name` ("s3", "admin"), or -1. */
int child_listen_fd(const char *name);

#endif
