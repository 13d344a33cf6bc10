/*
 * bgwork.h: run blocking work (fsync, rename) on a few threads so an event loop never waits
 * for the disk.
 *
 * work(arg) runs on a pool thread; done(arg) runs afterwards on the loop's thread, from the
 * event base the pool was made with.  The pool's threads touch nothing but what work() is
 * given; everything else stays on the loop.
 */
#ifndef S3MUX_BGWORK_H
#define S3MUX_BGWORK_H

#include <event2/event.h>

struct bgwork_pool;

struct bgwork_pool *bgwork_pool_new(struct event_base *base, int nthreads);
/* Finishes the queued work (and its done callbacks) first, then stops the threads. */
void bgwork_pool_free(struct bgwork_pool *pool);
void bgwork_run(struct bgwork_pool *pool, void (*work)(void *arg), void (*done)(void *arg),
    void *arg);

#endif
