/*
 * worker.c: PLACEHOLDER, being written.
 */
#include "worker.h"
int worker_main(int argc, char **argv, const struct worker_role *role) { (void)argc; (void)argv; (void)role; return 1; }
int worker_should_stop(struct worker_ctx *ctx) { return ctx->stopping; }
