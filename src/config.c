/*
 * config.c: PLACEHOLDER, being written.
 */
#include <stdio.h>
#include <string.h>
#include "config.h"
static const char *const role_names[ROLE_COUNT] = { "replicator", "lifecycle", "cleanup", "scrubber", "reaper", "notifier", "rebalancer" };
const char *role_name(enum role_id id) { return (unsigned)id < ROLE_COUNT ? role_names[id] : NULL; }
int role_by_name(const char *name) { for (int i = 0; i < ROLE_COUNT; i++) if (strcmp(name, role_names[i]) == 0) return i; return -1; }
struct s3mux_config *config_load(const char *path, char *errbuf, size_t n) { snprintf(errbuf, n, "%s: not implemented", path); return NULL; }
void config_free(struct s3mux_config *cfg) { (void)cfg; }
const struct cfg_backend *config_backend(const struct s3mux_config *cfg, const char *name) { (void)cfg; (void)name; return NULL; }
const struct cfg_credential *config_credential(const struct s3mux_config *cfg, const char *k) { (void)cfg; (void)k; return NULL; }
