/*
 * proctitle.h: set the process title shown by ps ("s3muxd: replicator").
 *
 * Linux keeps argv in one contiguous block; proctitle_init() records it and proctitle_set()
 * writes the title there (clearing the rest), and also sets the short name seen in
 * /proc/PID/comm.  Call proctitle_init() first thing in main().
 */
#ifndef S3MUX_PROCTITLE_H
#define S3MUX_PROCTITLE_H

struct proctitle {
	char *area;
	size_t area_len;
};

void proctitle_init(struct proctitle *pt, int argc, char **argv);
void proctitle_set(struct proctitle *pt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
