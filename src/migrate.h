/*
 * migrate.h: apply the numbered SQL migrations in sql/ to the catalogue.
 *
 * Files are named NNN_name.sql and applied in order, each in its own transaction, under the
 * advisory lock MIGRATE_LOCK_ID, and recorded in the table schema_migrations.  Applying
 * again is a no-op; two processes migrating at once apply each file once.
 */
#ifndef S3MUX_MIGRATE_H
#define S3MUX_MIGRATE_H

#include <libpq-fe.h>

#define MIGRATE_LOCK_ID 1012

/* The sql/ directory: $S3MUX_SQLDIR, else the source tree when run from the build tree,
 * else the installed one. */
const char *migrate_sqldir(void);
/* Apply what is missing; *applied counts the files applied now.  -1 on error (logged). */
int migrate_apply(PGconn *conn, const char *sqldir, int *applied);

#endif
