/*
 * config.h: the validated configuration of s3mux, parsed from one YAML file.
 *
 * config_load() reads the file with libyaml, checks every key against the schema in
 * config.c and fills a struct s3mux_config.  Errors name file, line and column
 * ("s3mux.yaml:12:5: unknown key 'qouta' in backends[1]").  Relative paths in the file are
 * taken relative to the directory that holds the file.  Every key is documented in
 * s3mux.yaml(5).
 */
#ifndef S3MUX_CONFIG_H
#define S3MUX_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum placement_strategy {
	PLACEMENT_SPREAD = 0,
	PLACEMENT_PACK,
};

enum backend_driver {
	BACKEND_DRIVER_FS = 0,
	BACKEND_DRIVER_S3,
};

enum codec_kind {
	CODEC_NONE = 0,
	CODEC_ZSTD,
};

enum conflict_policy {
	CONFLICT_NEWER_WINS = 0,
	CONFLICT_SKIP_IF_DEST_EXISTS,
	CONFLICT_OVERWRITE,
};

enum notify_kind {
	NOTIFY_WEBHOOK = 0,
	NOTIFY_SLACK,
};

/* The background roles, in the order the supervisor starts them. */
enum role_id {
	ROLE_REPLICATOR = 0,
	ROLE_LIFECYCLE,
	ROLE_CLEANUP,
	ROLE_SCRUBBER,
	ROLE_REAPER,
	ROLE_NOTIFIER,
	ROLE_REBALANCER,
	ROLE_COUNT
};

/* "replicator", "lifecycle", ...; NULL for an id out of range. */
const char *role_name(enum role_id id);
/* -1 for an unknown name. */
int role_by_name(const char *name);

/* Monthly usage limits of a backend; 0 means no limit. */
struct cfg_limits {
	uint64_t requests_per_month;
	uint64_t egress_per_month;
	uint64_t ingress_per_month;
};

/* How to reach an S3 service: used by s3 backends and by replication targets. */
struct cfg_s3_endpoint {
	char *endpoint;			/* "https://s3.example.net" */
	char *region;			/* default "us-east-1" */
	char *bucket;
	char *prefix;			/* key prefix inside the bucket; "" for none */
	int path_style;			/* default 1 */
	char *access_key;
	char *secret_key;		/* from secret_key_file or secret_key */
	char *ca_file;			/* NULL: the system's CAs */
	int tls_verify;			/* default 1 */
};

struct cfg_backend {
	char *name;
	enum backend_driver driver;
	char *path;			/* fs: the directory (absolute after loading) */
	struct cfg_s3_endpoint s3;	/* s3: the service */
	uint64_t quota;			/* bytes; 0 means no quota */
	struct cfg_limits limits;
	int64_t timeout_ms;		/* per backend request; default 60s */
};

struct cfg_credential {
	char *access_key;
	char *secret_key;		/* from secret_key_file or secret_key */
	char *display_name;		/* default: the access key */
	char **buckets;			/* bucket names or "*" */
	size_t nbuckets;
};

struct cfg_bucket {
	char *name;
	enum codec_kind compression;
	char *encryption;		/* a key id from keys, or NULL */
	uint64_t quota;			/* soft quota in bytes; 0 means none */
};

struct cfg_key {
	char *id;
	char *file;			/* 32 raw bytes */
};

struct cfg_replication_rule {
	char *id;
	char *bucket;
	char *prefix;
	struct cfg_s3_endpoint target;
	enum conflict_policy conflict;
	int propagate_delete;		/* the key "delete" */
};

struct cfg_lifecycle_rule {
	char *id;
	char *bucket;
	char *prefix;
	int64_t expire_after_ms;	/* 0: no expiry */
	int64_t transition_after_ms;	/* 0: no transition */
	char *to_backend;		/* required with transition_after */
};

struct cfg_notification {
	char *id;
	enum notify_kind kind;
	char *url;
	char *secret;			/* HMAC key, from secret_file; NULL for none */
	char **events;			/* "s3:ObjectCreated:*", ... */
	size_t nevents;
	char **buckets;			/* empty: every bucket */
	size_t nbuckets;
};

/* roles.cleanup: the keys only the cleanup role has. */
struct cfg_role_cleanup {
	int max_attempts;		/* deletes tried before a row is dead-lettered; default 8 */
	int64_t retry_base_ms;		/* first retry delay, doubled per attempt; default 30s */
	int64_t claim_grace_ms;		/* a claim older than this is a dead claimer's; 5m */
	int batch;			/* rows claimed at a time; default 100 */
	int64_t pass_limit_ms;		/* a pass stops claiming after this long; default 1m */
};

/* roles.reaper: the keys only the reaper has. */
struct cfg_role_reaper {
	int64_t pending_age_ms;		/* an intent older than this is stale; default 1h */
	int64_t multipart_age_ms;	/* an upload older than this is abandoned; default 7d */
	uint64_t etag_max_bytes;	/* promoted objects up to this size get their MD5; 1GiB */
};

/* roles.replicator: the keys only the replicator has. */
struct cfg_role_replicator {
	int batch_size;			/* outbox events and sweep objects per query; 500 */
	int parallel;			/* copies streaming at once; 8 */
};

/*
 * Settings of a background role under roles.<name>: the shared keys, then the sub-struct of
 * the role's own keys (only that role's schema accepts them; the others stay zero).
 */
struct cfg_role {
	int enabled;			/* default 1 */
	int64_t sweep_interval_ms;	/* periodic backstop pass; 0 disables it */
	int64_t standby_retry_ms;	/* how often a standby retries the advisory lock */
	struct cfg_role_cleanup cleanup;
	struct cfg_role_reaper reaper;
	struct cfg_role_replicator replicator;
};

struct s3mux_config {
	char *path;			/* the file this came from */
	char *dir;			/* its directory: base of relative paths */

	struct {
		char *s3;		/* "127.0.0.1:9000" */
		char *admin;		/* "127.0.0.1:9001"; NULL: no admin listener */
	} listen;

	struct {
		char *url;		/* libpq conninfo or URI */
		int64_t connect_timeout_ms;
	} database;

	struct {
		int workers;		/* 0 in the file means "auto": the number of CPUs */
		int64_t idle_timeout_ms;
		int64_t request_timeout_ms;
		uint64_t max_header_bytes;
		uint64_t max_object_bytes;
	} frontend;

	struct {
		char *pid_file;
		int64_t stop_timeout_ms;	/* graceful stop bound; default 30s */
		char *log_file;		/* NULL: syslog when daemonized */
		char *syslog_facility;	/* default "daemon" */
		char *log_level;	/* error, warning, info, debug */
	} daemon;

	enum placement_strategy placement;

	struct {
		int copies;		/* default 1 */
	} replication;

	struct cfg_role roles[ROLE_COUNT];

	struct cfg_credential *credentials;
	size_t ncredentials;
	struct cfg_backend *backends;
	size_t nbackends;
	struct cfg_bucket *buckets;
	size_t nbuckets;
	struct cfg_key *keys;
	size_t nkeys;
	struct cfg_replication_rule *replication_rules;
	size_t nreplication_rules;
	struct cfg_lifecycle_rule *lifecycle_rules;
	size_t nlifecycle_rules;
	struct cfg_notification *notifications;
	size_t nnotifications;
};

/*
 * Load and validate `path`.  On success returns a new config.  On failure returns NULL and
 * writes a message of the form "FILE:LINE:COLUMN: what is wrong" (or "FILE: what is wrong"
 * when no position applies) into errbuf.  Warnings (a secrets file readable by others) are
 * logged with log_warnx() and do not fail the load.
 */
struct s3mux_config *config_load(const char *path, char *errbuf, size_t errbuf_size);
void config_free(struct s3mux_config *cfg);

/* Look-ups by name; NULL when absent. */
const struct cfg_backend *config_backend(const struct s3mux_config *cfg, const char *name);
const struct cfg_credential *config_credential(const struct s3mux_config *cfg,
    const char *access_key);

#endif
