/*
 * bgwork.c: a small pool of threads for blocking work, handing completions back to the
 * event loop through a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "bgwork.h"
#include "log.h"
#include "util.h"

struct bgwork_item {
	struct bgwork_item *next;
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
};

struct bgwork_list {
	struct bgwork_item *head, *tail;
};

struct bgwork_pool {
	struct event_base *base;
	pthread_t *threads;
	int nthreads;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct bgwork_list todo;	/* under lock */
	struct bgwork_list finished;	/* under lock */
	int stopping;			/* under lock */
	int pipe[2];			/* a byte per finished item wakes the loop */
	struct event *ev;
};

static void
bgwork_push(struct bgwork_list *list, struct bgwork_item *item)
{
	item->next = NULL;
	if (list->tail)
		list->tail->next = item;
	else
		list->head = item;
	list->tail = item;
}

static struct bgwork_item *
bgwork_pop(struct bgwork_list *list)
{
	struct bgwork_item *item = list->head;
	if (item != NULL) {
		list->head = item->next;
		if (list->head == NULL)
			list->tail = NULL;
	}
	return item;
}

static void *
bgwork_thread(void *arg)
{
	struct bgwork_pool *pool = arg;
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct bgwork_item *item = bgwork_pop(&pool->todo);
		if (item == NULL && pool->stopping)
			break;
		if (item == NULL) {
			pthread_cond_wait(&pool->wake, &pool->lock);
			continue;
		}
		pthread_mutex_unlock(&pool->lock);
		item->work(item->arg);
		pthread_mutex_lock(&pool->lock);
		bgwork_push(&pool->finished, item);
		char byte = 1;
		while (write(pool->pipe[1], &byte, 1) == -1 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* On the loop: run the done callbacks of what the threads finished. */
static void
bgwork_drain(struct bgwork_pool *pool)
{
	char buf[64];
	while (read(pool->pipe[0], buf, sizeof(buf)) > 0)
		;
	for (;;) {
		pthread_mutex_lock(&pool->lock);
		struct bgwork_item *item = bgwork_pop(&pool->finished);
		pthread_mutex_unlock(&pool->lock);
		if (item == NULL)
			break;
		item->done(item->arg);
		free(item);
	}
}

static void
bgwork_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	bgwork_drain(arg);
}

struct bgwork_pool *
bgwork_pool_new(struct event_base *base, int nthreads)
{
	struct bgwork_pool *pool = xcalloc(1, sizeof(*pool));
	pool->base = base;
	if (pipe2(pool->pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("bgwork: pipe");
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	pool->ev = event_new(base, pool->pipe[0], EV_READ | EV_PERSIST, bgwork_ready_cb, pool);
	event_add(pool->ev, NULL);
	pool->threads = xcalloc((size_t)nthreads, sizeof(*pool->threads));
	/* the threads block every signal (they inherit this mask): signals are the loop's */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&pool->threads[i], NULL, bgwork_thread, pool) != 0)
			fatal("bgwork: pthread_create");
		pool->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pool;
}

void
bgwork_run(struct bgwork_pool *pool, void (*work)(void *arg), void (*done)(void *arg),
    void *arg)
{
	struct bgwork_item *item = xcalloc(1, sizeof(*item));
	item->work = work;
	item->done = done;
	item->arg = arg;
	pthread_mutex_lock(&pool->lock);
	bgwork_push(&pool->todo, item);
	pthread_cond_signal(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
}

void
bgwork_pool_free(struct bgwork_pool *pool)
{
	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = 1;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	bgwork_drain(pool);		/* the last done callbacks, on this thread */
	event_free(pool->ev);
	close(pool->pipe[0]);
	close(pool->pipe[1]);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->wake);
	free(pool->threads);
	free(pool);
}
