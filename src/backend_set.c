/*
 * backend_set.c: every configured backend on one private event base, for a background role
 * (backend_set.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend_set.h"
#include "util.h"

struct backend_set {
	struct event_base *base;
	struct backend **backends;
	size_t n;
};

struct backend_set *
backend_set_new(const struct s3mux_config *cfg, char *err, size_t errlen)
{
	struct backend_set *set = xcalloc(1, sizeof(*set));
	set->base = event_base_new();
	if (set->base == NULL) {
		snprintf(err, errlen, "cannot create an event base for the backends");
		free(set);
		return NULL;
	}
	set->backends = xcalloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*set->backends));
	for (size_t i = 0; i < cfg->nbackends; i++) {
		set->backends[i] = backend_new(&cfg->backends[i], set->base, err, errlen);
		if (set->backends[i] == NULL) {
			backend_set_free(set);
			return NULL;
		}
		set->n++;
	}
	return set;
}

void
backend_set_free(struct backend_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++)
		backend_free(set->backends[i]);
	free(set->backends);
	event_base_free(set->base);
	free(set);
}

struct backend *
backend_set_find(const struct backend_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->backends[i]->name, name) == 0)
			return set->backends[i];
	}
	return NULL;
}
