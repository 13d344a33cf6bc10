/*
 * backend_set.h: every configured backend, for a background role.
 *
 * A role's pass runs outside any event loop and uses the blocking forms of the backend calls
 * (backend_remove_wait, backend_stat_wait, backend.h), which run a backend's own event base
 * until the call completes.  A set gives its backends one private event base that nothing
 * else dispatches, so those calls never run the role skeleton's events (signals, NOTIFY,
 * timers) from inside a pass.
 */
#ifndef S3MUX_BACKEND_SET_H
#define S3MUX_BACKEND_SET_H

#include <stddef.h>

#include "backend.h"
#include "config.h"

struct backend_set;

/* A backend for each of cfg->backends; NULL with the reason in err when one cannot be made. */
struct backend_set *backend_set_new(const struct s3mux_config *cfg, char *err, size_t errlen);
void backend_set_free(struct backend_set *set);
/* The backend of that name, or NULL when the configuration has none. */
struct backend *backend_set_find(const struct backend_set *set, const char *name);

#endif
