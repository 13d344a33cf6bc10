/*
 * config_test.c: unit tests of the configuration loader (src/config.c), printing TAP.
 *
 * Each case writes a small YAML file into a private temporary directory and loads it: a full
 * valid file must give the expected values (sizes, durations, defaults, paths made absolute),
 * the shipped etc/s3mux.yaml.sample and etc/s3mux-minimal.yaml must load, and every class of
 * mistake must be reported as exactly "FILE:LINE:COLUMN: message".
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"
#include "util.h"

/* The parts of a valid file, for cases that break one thing: 2, 3 and 4 lines. */
#define DB	"database:\n  url: \"dbname=s3mux\"\n"
#define CRED	"credentials:\n  - access_key: demo\n    secret_key: demo-secret\n"
#define BACKEND	"backends:\n  - name: disk-a\n    driver: fs\n    path: disk-a\n"
#define BASE	DB CRED BACKEND		/* 9 lines */

/* A replication rule (7 lines) and a lifecycle rule (5 lines), both with id r1. */
#define REPL_R1 "replication_rules:\n  - id: r1\n    bucket: b\n    target:\n" \
	"      endpoint: https://dr.example.net\n      bucket: dr\n" \
	"      access_key: k\n      secret_key: s\n"
#define LIFE_R1 "lifecycle_rules:\n  - id: r1\n    bucket: logs\n    expire_after: 90d\n"

struct fx {
	struct tap t;
	char *dir;		/* the private temporary directory */
};

/* ---- helpers ---------------------------------------------------------------------------- */

static char *
fx_path(struct fx *fx, const char *name)
{
	return xasprintf("%s/%s", fx->dir, name);
}

static void
fx_write(struct fx *fx, const char *name, const char *text, mode_t mode)
{
	char *path = fx_path(fx, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		printf("Bail out! cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fchmod(fd, mode);
	close(fd);
	free(path);
}

static void
fx_mkdir(struct fx *fx, const char *name)
{
	char *path = fx_path(fx, name);
	mkdir(path, 0700);
	free(path);
}

static int
fx_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Load `yaml` from a file `name`; the config or NULL with the message in err. */
static struct s3mux_config *
fx_load(struct fx *fx, const char *name, const char *yaml, char *err, size_t errsize)
{
	fx_write(fx, name, yaml, 0600);
	char *path = fx_path(fx, name);
	struct s3mux_config *cfg = config_load(path, err, errsize);
	free(path);
	return cfg;
}

/* The load must fail with exactly "PATH:" followed by want. */
static void
fx_error(struct fx *fx, const char *what, const char *yaml, const char *want)
{
	char err[1024] = "";
	struct s3mux_config *cfg = fx_load(fx, "bad.yaml", yaml, err, sizeof(err));
	char *path = fx_path(fx, "bad.yaml");
	char *expected = xasprintf("%s:%s", path, want);
	TAP_OK(&fx->t, cfg == NULL, "%s: refused", what);
	TAP_STR_EQ(&fx->t, err, expected, "%s: message", what);
	config_free(cfg);
	free(expected);
	free(path);
}

/* The load must fail with "PATH:" + prefix, and the message must contain fragment. */
static void
fx_error_like(struct fx *fx, const char *what, const char *yaml, const char *prefix,
    const char *fragment)
{
	char err[1024] = "";
	struct s3mux_config *cfg = fx_load(fx, "bad.yaml", yaml, err, sizeof(err));
	char *path = fx_path(fx, "bad.yaml");
	char *expected = xasprintf("%s:%s", path, prefix);
	TAP_OK(&fx->t, cfg == NULL, "%s: refused", what);
	TAP_OK(&fx->t, strncmp(err, expected, strlen(expected)) == 0 &&
	    strstr(err, fragment) != NULL, "%s: message '%s'", what, err);
	config_free(cfg);
	free(expected);
	free(path);
}

/* Run fn with stderr going to a file; return what was written (to free). */
static char *
fx_capture_stderr(struct fx *fx, struct s3mux_config *(*fn)(struct fx *, char *, size_t),
    struct s3mux_config **out, char *err, size_t errsize)
{
	char *path = fx_path(fx, "stderr.txt");
	fflush(stderr);
	int saved = dup(2);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	*out = fn(fx, err, errsize);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char *text = file_read_small(path, 1 << 20);
	free(path);
	return text != NULL ? text : xstrdup("");
}

/* ---- the full valid file ---------------------------------------------------------------- */

static const char full_yaml[] =
	"# every section, with relative paths\n"
	"listen:\n"
	"  s3: 0.0.0.0:9100\n"
	"  admin: \"[::1]:9101\"\n"
	"database:\n"
	"  url: \"host=/tmp dbname=t\"\n"
	"  connect_timeout: 2500ms\n"
	"frontend:\n"
	"  workers: 3\n"
	"  request_timeout: 1h\n"
	"  max_object_size: 1GiB\n"
	"daemon:\n"
	"  log_file: logs/s3muxd.log\n"
	"  syslog_facility: local3\n"
	"  log_level: debug\n"
	"placement: pack\n"
	"replication:\n"
	"  copies: 2\n"
	"roles:\n"
	"  replicator: { enabled: false }\n"
	"  scrubber:\n"
	"    sweep_interval: 1d\n"
	"  reaper:\n"
	"    sweep_interval: 0s\n"
	"    standby_retry: 250ms\n"
	"    pending_age: 2h\n"
	"    multipart_age: 1d\n"
	"    etag_max_size: 0\n"
	"  cleanup:\n"
	"    max_attempts: 3\n"
	"    retry_base: 2s\n"
	"    claim_grace: 1m\n"
	"    batch: 10\n"
	"    pass_limit: 30s\n"
	"  notifier:\n"
	"credentials:\n"
	"  - access_key: demo\n"
	"    secret_key_file: ./secrets/demo.secret\n"
	"  - access_key: backup\n"
	"    secret_key: \"inline secret\"\n"
	"    display_name: Backups\n"
	"    buckets: [db-archive, logs]\n"
	"backends:\n"
	"  - name: disk-a\n"
	"    driver: fs\n"
	"    path: data/disk-a\n"
	"    quota: 50GiB\n"
	"  - name: provider-b\n"
	"    driver: s3\n"
	"    endpoint: https://s3.example.net\n"
	"    bucket: s3mux-b\n"
	"    path_style: false\n"
	"    access_key: AKIA\n"
	"    secret_key_file: secrets/b.secret\n"
	"    ca_file: /etc/ssl/certs/ca.pem\n"
	"    quota: 10GB\n"
	"    limits: { requests_per_month: 1000000, egress_per_month: 30GiB,"
	" ingress_per_month: 100GB }\n"
	"    timeout: 2m\n"
	"buckets:\n"
	"  - name: releases\n"
	"    compression: zstd\n"
	"    encryption: key-2026\n"
	"    quota: 100GiB\n"
	"  - name: plain\n"
	"keys:\n"
	"  - id: key-2026\n"
	"    file: keys/key-2026.bin\n"
	"replication_rules:\n"
	"  - id: releases-to-dr\n"
	"    bucket: releases\n"
	"    prefix: v1/\n"
	"    target: { endpoint: \"http://dr.example.net:9000\", region: eu-west-1,"
	" bucket: releases-dr, prefix: mirror/, access_key: DR, secret_key: drsecret,"
	" tls_verify: false }\n"
	"    conflict: skip-if-dest-exists\n"
	"    delete: true\n"
	"lifecycle_rules:\n"
	"  - id: expire-db-archive\n"
	"    bucket: db-archive\n"
	"    prefix: dumps/\n"
	"    expire_after: 90d\n"
	"  - id: logs-to-cold\n"
	"    bucket: logs\n"
	"    transition_after: 30d\n"
	"    expire_after: 52w\n"
	"    to_backend: provider-b\n"
	"notifications:\n"
	"  - id: ops\n"
	"    kind: slack\n"
	"    url: https://hooks.example.net/T000/B000\n"
	"    events: [\"s3:ObjectCreated:*\", \"s3:ObjectRemoved:*\"]\n"
	"    buckets: [releases]\n"
	"  - id: hook\n"
	"    kind: webhook\n"
	"    url: https://h.example.net/\n"
	"    secret_file: secrets/hook.secret\n";

#define DAY_MS	(86400LL * 1000)

static void
test_full_sections(struct fx *fx, const struct s3mux_config *c)
{
	struct tap *t = &fx->t;
	char *want = fx_path(fx, "full.yaml");
	TAP_STR_EQ(t, c->path, want, "path is absolute");
	TAP_STR_EQ(t, c->dir, fx->dir, "dir is the file's directory");
	free(want);
	TAP_STR_EQ(t, c->listen.s3, "0.0.0.0:9100", "listen.s3");
	TAP_STR_EQ(t, c->listen.admin, "[::1]:9101", "listen.admin with IPv6");
	TAP_STR_EQ(t, c->database.url, "host=/tmp dbname=t", "database.url");
	TAP_OK(t, c->database.connect_timeout_ms == 2500, "connect_timeout 2500ms");
	TAP_OK(t, c->frontend.workers == 3, "frontend.workers");
	TAP_OK(t, c->frontend.idle_timeout_ms == 60000, "idle_timeout default 60s");
	TAP_OK(t, c->frontend.request_timeout_ms == 3600000, "request_timeout 1h");
	TAP_OK(t, c->frontend.max_header_bytes == 65536, "max_header_size default 64KiB");
	TAP_OK(t, c->frontend.max_object_bytes == 1073741824ULL, "max_object_size 1GiB");
	want = fx_path(fx, "s3muxd.pid");
	TAP_STR_EQ(t, c->daemon.pid_file, want, "pid_file default, next to the config");
	free(want);
	want = fx_path(fx, "logs/s3muxd.log");
	TAP_STR_EQ(t, c->daemon.log_file, want, "log_file made absolute");
	free(want);
	TAP_OK(t, c->daemon.stop_timeout_ms == 30000, "stop_timeout default 30s");
	TAP_STR_EQ(t, c->daemon.syslog_facility, "local3", "syslog_facility");
	TAP_STR_EQ(t, c->daemon.log_level, "debug", "log_level");
	TAP_OK(t, c->placement == PLACEMENT_PACK, "placement pack");
	TAP_OK(t, c->replication.copies == 2, "replication.copies");
}

static void
test_full_roles(struct fx *fx, const struct s3mux_config *c)
{
	struct tap *t = &fx->t;
	TAP_OK(t, c->roles[ROLE_REPLICATOR].enabled == 0, "roles.replicator disabled");
	TAP_OK(t, c->roles[ROLE_REPLICATOR].sweep_interval_ms == 300000,
	    "roles.replicator sweep_interval default 5m");
	TAP_OK(t, c->roles[ROLE_SCRUBBER].sweep_interval_ms == DAY_MS, "scrubber sweep 1d");
	TAP_OK(t, c->roles[ROLE_REAPER].sweep_interval_ms == 0, "reaper sweep 0s: off");
	TAP_OK(t, c->roles[ROLE_REAPER].standby_retry_ms == 250, "reaper standby_retry");
	const struct cfg_role_reaper *rp = &c->roles[ROLE_REAPER].reaper;
	TAP_OK(t, rp->pending_age_ms == 2 * 3600000 && rp->multipart_age_ms == DAY_MS &&
	    rp->etag_max_bytes == 0, "roles.reaper: pending_age, multipart_age, etag_max_size");
	const struct cfg_role_cleanup *cl = &c->roles[ROLE_CLEANUP].cleanup;
	TAP_OK(t, cl->max_attempts == 3 && cl->retry_base_ms == 2000 &&
	    cl->claim_grace_ms == 60000 && cl->batch == 10 && cl->pass_limit_ms == 30000,
	    "roles.cleanup: max_attempts, retry_base, claim_grace, batch, pass_limit");
	TAP_OK(t, c->roles[ROLE_CLEANUP].enabled == 1 &&
	    c->roles[ROLE_CLEANUP].sweep_interval_ms == 300000,
	    "a role with keys of its own still gets the shared defaults");
	TAP_OK(t, c->roles[ROLE_NOTIFIER].enabled == 1 &&
	    c->roles[ROLE_NOTIFIER].standby_retry_ms == 5000, "an empty role gets defaults");
	TAP_OK(t, c->roles[ROLE_LIFECYCLE].enabled == 1 &&
	    c->roles[ROLE_LIFECYCLE].sweep_interval_ms == 300000 &&
	    c->roles[ROLE_LIFECYCLE].standby_retry_ms == 5000, "an absent role gets defaults");
}

static void
test_full_credentials(struct fx *fx, const struct s3mux_config *c)
{
	struct tap *t = &fx->t;
	TAP_OK(t, c->ncredentials == 2, "two credentials");
	TAP_STR_EQ(t, c->credentials[0].secret_key, "s3cr3t", "secret read, newline stripped");
	TAP_STR_EQ(t, c->credentials[0].display_name, "demo", "display_name defaults to key");
	TAP_OK(t, c->credentials[0].nbuckets == 1, "buckets default: one entry");
	TAP_STR_EQ(t, c->credentials[0].buckets[0], "*", "buckets default: *");
	TAP_STR_EQ(t, c->credentials[1].secret_key, "inline secret", "inline secret_key");
	TAP_STR_EQ(t, c->credentials[1].display_name, "Backups", "display_name");
	TAP_OK(t, c->credentials[1].nbuckets == 2, "two buckets");
	TAP_STR_EQ(t, c->credentials[1].buckets[1], "logs", "bucket list order");
	TAP_OK(t, config_credential(c, "backup") == &c->credentials[1], "config_credential");
	TAP_OK(t, config_credential(c, "nobody") == NULL, "config_credential: absent");
}

static void
test_full_backends(struct fx *fx, const struct s3mux_config *c)
{
	struct tap *t = &fx->t;
	const struct cfg_backend *a = config_backend(c, "disk-a");
	const struct cfg_backend *b = config_backend(c, "provider-b");
	TAP_OK(t, c->nbackends == 2 && a == &c->backends[0] && b == &c->backends[1],
	    "config_backend finds both");
	TAP_OK(t, config_backend(c, "disk-z") == NULL, "config_backend: absent");
	if (a == NULL || b == NULL)
		return;
	char *want = fx_path(fx, "data/disk-a");
	TAP_STR_EQ(t, a->path, want, "fs path made absolute");
	free(want);
	TAP_OK(t, a->driver == BACKEND_DRIVER_FS && a->quota == 50ULL << 30, "fs quota 50GiB");
	TAP_OK(t, a->timeout_ms == 60000 && a->limits.requests_per_month == 0,
	    "backend defaults: timeout 60s, no limits");
	TAP_OK(t, b->driver == BACKEND_DRIVER_S3, "driver s3");
	TAP_STR_EQ(t, b->s3.endpoint, "https://s3.example.net", "s3 endpoint");
	TAP_STR_EQ(t, b->s3.region, "us-east-1", "region default");
	TAP_STR_EQ(t, b->s3.prefix, "", "prefix default empty");
	TAP_OK(t, b->s3.path_style == 0 && b->s3.tls_verify == 1, "path_style, tls_verify");
	TAP_STR_EQ(t, b->s3.secret_key, "bsecret", "s3 secret from a file without newline");
	TAP_STR_EQ(t, b->s3.ca_file, "/etc/ssl/certs/ca.pem", "absolute ca_file kept");
	TAP_OK(t, b->quota == 10000000000ULL, "quota 10GB is decimal");
	TAP_OK(t, b->limits.requests_per_month == 1000000 &&
	    b->limits.egress_per_month == 30ULL << 30 &&
	    b->limits.ingress_per_month == 100000000000ULL, "monthly limits");
	TAP_OK(t, b->timeout_ms == 120000, "timeout 2m");
}

static void
test_full_policy(struct fx *fx, const struct s3mux_config *c)
{
	struct tap *t = &fx->t;
	TAP_OK(t, c->nbuckets == 2 && c->buckets[0].compression == CODEC_ZSTD &&
	    c->buckets[0].quota == 100ULL << 30, "bucket compression and quota");
	TAP_STR_EQ(t, c->buckets[0].encryption, "key-2026", "bucket encryption");
	TAP_OK(t, c->buckets[1].compression == CODEC_NONE && c->buckets[1].encryption == NULL &&
	    c->buckets[1].quota == 0, "bucket defaults");
	char *want = fx_path(fx, "keys/key-2026.bin");
	TAP_OK(t, c->nkeys == 1, "one key");
	TAP_STR_EQ(t, c->keys[0].file, want, "key file made absolute");
	free(want);
	const struct cfg_replication_rule *r = &c->replication_rules[0];
	TAP_OK(t, c->nreplication_rules == 1 && r->conflict == CONFLICT_SKIP_IF_DEST_EXISTS &&
	    r->propagate_delete == 1, "replication rule conflict and delete");
	TAP_STR_EQ(t, r->prefix, "v1/", "replication rule prefix");
	TAP_STR_EQ(t, r->target.endpoint, "http://dr.example.net:9000", "target endpoint");
	TAP_STR_EQ(t, r->target.region, "eu-west-1", "target region");
	TAP_STR_EQ(t, r->target.prefix, "mirror/", "target prefix");
	TAP_STR_EQ(t, r->target.secret_key, "drsecret", "target secret");
	TAP_OK(t, r->target.tls_verify == 0 && r->target.path_style == 1, "target booleans");
	const struct cfg_lifecycle_rule *l = c->lifecycle_rules;
	TAP_OK(t, c->nlifecycle_rules == 2 && l[0].expire_after_ms == 90 * DAY_MS &&
	    l[0].transition_after_ms == 0 && l[0].to_backend == NULL, "expire rule");
	TAP_OK(t, l[1].transition_after_ms == 30 * DAY_MS && l[1].expire_after_ms == 52 * 7 *
	    DAY_MS, "transition rule durations");
	TAP_STR_EQ(t, l[1].to_backend, "provider-b", "transition rule backend");
	TAP_STR_EQ(t, l[1].prefix, "", "lifecycle prefix default");
	const struct cfg_notification *n = c->notifications;
	TAP_OK(t, c->nnotifications == 2 && n[0].kind == NOTIFY_SLACK && n[0].nevents == 2 &&
	    n[0].nbuckets == 1 && n[0].secret == NULL, "slack notification");
	TAP_STR_EQ(t, n[0].events[1], "s3:ObjectRemoved:*", "notification events");
	TAP_OK(t, n[1].kind == NOTIFY_WEBHOOK && n[1].nevents == 0 && n[1].nbuckets == 0,
	    "webhook with every event and bucket");
	TAP_STR_EQ(t, n[1].secret, "hmac", "webhook secret, CRLF stripped");
}

static void
test_full(struct fx *fx)
{
	char err[1024] = "";
	fx_mkdir(fx, "secrets");
	fx_write(fx, "secrets/demo.secret", "s3cr3t\n", 0600);
	fx_write(fx, "secrets/b.secret", "bsecret", 0400);
	fx_write(fx, "secrets/hook.secret", "hmac\r\n", 0600);
	struct s3mux_config *c = fx_load(fx, "full.yaml", full_yaml, err, sizeof(err));
	TAP_OK(&fx->t, c != NULL, "full config loads: %s", c ? "yes" : err);
	if (c == NULL)
		return;
	test_full_sections(fx, c);
	test_full_roles(fx, c);
	test_full_credentials(fx, c);
	test_full_backends(fx, c);
	test_full_policy(fx, c);
	config_free(c);
}

static void
test_defaults(struct fx *fx)
{
	struct tap *t = &fx->t;
	char err[1024] = "";
	struct s3mux_config *c = fx_load(fx, "small.yaml", BASE, err, sizeof(err));
	TAP_OK(t, c != NULL, "smallest config loads: %s", c ? "yes" : err);
	if (c == NULL)
		return;
	TAP_STR_EQ(t, c->listen.s3, "127.0.0.1:9000", "listen.s3 default");
	TAP_OK(t, c->listen.admin == NULL, "no admin listener by default");
	TAP_OK(t, c->database.connect_timeout_ms == 10000, "connect_timeout default 10s");
	TAP_OK(t, c->frontend.workers == 0, "workers default auto (0)");
	TAP_OK(t, c->frontend.request_timeout_ms == 900000, "request_timeout default 15m");
	TAP_OK(t, c->frontend.max_object_bytes == 5ULL << 40, "max_object_size default 5TiB");
	TAP_OK(t, c->daemon.log_file == NULL, "no log_file by default");
	TAP_STR_EQ(t, c->daemon.syslog_facility, "daemon", "syslog_facility default");
	TAP_STR_EQ(t, c->daemon.log_level, "info", "log_level default");
	TAP_OK(t, c->placement == PLACEMENT_SPREAD, "placement default spread");
	TAP_OK(t, c->replication.copies == 1, "copies default 1");
	int all = 1;
	for (int i = 0; i < ROLE_COUNT; i++)
		all &= c->roles[i].enabled == 1 && c->roles[i].sweep_interval_ms == 300000 &&
		    c->roles[i].standby_retry_ms == 5000;
	TAP_OK(t, all, "every role: enabled, sweep 5m, standby retry 5s");
	const struct cfg_role_cleanup *cl = &c->roles[ROLE_CLEANUP].cleanup;
	TAP_OK(t, cl->max_attempts == 8 && cl->retry_base_ms == 30000 &&
	    cl->claim_grace_ms == 300000 && cl->batch == 100 && cl->pass_limit_ms == 60000,
	    "roles.cleanup defaults: 8 attempts, 30s, 5m grace, batch 100, 1m per pass");
	const struct cfg_role_reaper *rp = &c->roles[ROLE_REAPER].reaper;
	TAP_OK(t, rp->pending_age_ms == 3600000 && rp->multipart_age_ms == 7 * DAY_MS &&
	    rp->etag_max_bytes == 1ULL << 30, "roles.reaper defaults: 1h, 7d, 1GiB");
	TAP_OK(t, c->nbuckets == 0 && c->nkeys == 0 && c->nreplication_rules == 0 &&
	    c->nlifecycle_rules == 0 && c->nnotifications == 0, "optional lists empty");
	config_free(c);
	config_free(NULL);
	c = fx_load(fx, "auto.yaml", "frontend: { workers: auto }\nlisten:\n  admin: ~\n" BASE,
	    err, sizeof(err));
	TAP_OK(t, c != NULL && c->frontend.workers == 0 && c->listen.admin == NULL,
	    "workers: auto is 0; a null value is the default");
	config_free(c);
}

/* ---- the shipped samples ---------------------------------------------------------------- */

/* The text of a shipped file with /etc/s3mux/ taken out, so its secrets are found here. */
static char *
fx_shipped(const char *name)
{
	char *path = xasprintf("%s/etc/%s", S3MUX_SRCDIR, name);
	char *text = file_read_small(path, 1 << 20);
	free(path);
	if (text == NULL)
		return NULL;
	struct strbuf sb;
	strbuf_init(&sb);
	const char *p = text, *hit;
	while ((hit = strstr(p, "/etc/s3mux/")) != NULL) {
		strbuf_append(&sb, p, (size_t)(hit - p));
		p = hit + strlen("/etc/s3mux/");
	}
	strbuf_puts(&sb, p);
	free(text);
	return strbuf_detach(&sb);
}

static void
test_samples(struct fx *fx)
{
	struct tap *t = &fx->t;
	static const char *const secrets[] = {
		"demo.secret", "backup.secret", "provider-b.secret", "dr.secret", "indexer.secret",
	};
	for (size_t i = 0; i < nitems(secrets); i++)
		fx_write(fx, secrets[i], "sample-secret\n", 0600);
	char err[1024] = "";
	char *text = fx_shipped("s3mux.yaml.sample");
	TAP_OK(t, text != NULL, "etc/s3mux.yaml.sample is readable");
	struct s3mux_config *c = text ? fx_load(fx, "sample.yaml", text, err, sizeof(err)) : NULL;
	TAP_OK(t, c != NULL, "etc/s3mux.yaml.sample loads: %s", c ? "yes" : err);
	TAP_OK(t, c != NULL && c->nbackends == 2 && c->ncredentials == 2 && c->nbuckets == 1 &&
	    c->nkeys == 1 && c->nreplication_rules == 1 && c->nlifecycle_rules == 2 &&
	    c->nnotifications == 2 && c->replication.copies == 2 &&
	    c->roles[ROLE_REBALANCER].enabled == 0 && c->listen.admin != NULL,
	    "the sample has every section");
	config_free(c);
	free(text);
	text = fx_shipped("s3mux-minimal.yaml");
	c = text ? fx_load(fx, "minimal.yaml", text, err, sizeof(err)) : NULL;
	TAP_OK(t, c != NULL, "etc/s3mux-minimal.yaml loads: %s", c ? "yes" : err);
	TAP_OK(t, c != NULL && c->nbackends == 1 &&
	    strcmp(c->backends[0].path, "/var/lib/s3mux/disk-a") == 0 &&
	    strcmp(c->credentials[0].secret_key, "sample-secret") == 0,
	    "the minimal config: one disk, one key");
	config_free(c);
	free(text);
}

/* ---- errors ----------------------------------------------------------------------------- */

struct fx_case {
	const char *what;
	const char *yaml;
	const char *want;	/* the message after "FILE:" */
};

static const struct fx_case fx_cases[] = {
	/* unknown keys */
	{ "unknown top-level key", "lisen:\n  s3: 127.0.0.1:9000\n" BASE,
	    "1:1: unknown key 'lisen'" },
	{ "unknown key in a section", "listen:\n  s3: 127.0.0.1:9000\n  admn: 127.0.0.1:9001\n"
	    BASE, "3:3: unknown key 'admn' in listen" },
	{ "unknown key in a list entry", BASE "  - name: disk-b\n    driver: fs\n"
	    "    path: disk-b\n    qouta: 10GiB\n", "13:5: unknown key 'qouta' in backends[1]" },
	{ "unknown key in a nested mapping", BASE "    limits: {egres_per_month: 1GiB}\n",
	    "10:14: unknown key 'egres_per_month' in backends[0].limits" },
	{ "unknown key in a role", "roles:\n  cleanup:\n    enable: false\n" BASE,
	    "3:5: unknown key 'enable' in roles.cleanup" },
	{ "another role's key", "roles:\n  replicator:\n    max_attempts: 3\n" BASE,
	    "3:5: unknown key 'max_attempts' in roles.replicator" },
	{ "a role key out of range", "roles:\n  cleanup:\n    max_attempts: 0\n" BASE,
	    "3:19: expected a value above zero for 'max_attempts'" },
	{ "unknown role", "roles:\n  replicatr: {}\n" BASE, "2:3: unknown role 'replicatr' in "
	    "roles (the roles are replicator, lifecycle, cleanup, scrubber, reaper, notifier and "
	    "rebalancer)" },
	/* wrong types */
	{ "sequence for a mapping", "listen:\n  - 127.0.0.1:9000\n" BASE,
	    "2:3: expected a mapping for 'listen', got a sequence" },
	{ "mapping for a string", "database:\n  url: {a: b}\n" CRED BACKEND,
	    "2:8: expected a string for 'url', got a mapping" },
	{ "mapping for a list", DB CRED "backends:\n  name: disk-a\n",
	    "7:3: expected a sequence for 'backends', got a mapping" },
	{ "scalar list entry", BASE "  - disk-b\n",
	    "10:5: expected a mapping for backends[1], got a scalar" },
	{ "scalar for a string list", DB "credentials:\n  - access_key: demo\n    secret_key: s\n"
	    "    buckets: releases\n" BACKEND,
	    "6:14: expected a sequence of strings for 'buckets', got a scalar" },
	{ "boolean", "roles:\n  replicator:\n    enabled: yes\n" BASE,
	    "3:14: expected a boolean (true or false) for 'enabled'" },
	{ "boolean in a target", BASE REPL_R1 "      path_style: maybe\n",
	    "18:19: expected a boolean (true or false) for 'path_style'" },
	{ "workers", "frontend:\n  workers: many\n" BASE,
	    "2:12: expected auto or a number from 1 to 4096 for 'workers', got 'many'" },
	{ "workers zero", "frontend:\n  workers: 0\n" BASE,
	    "2:12: expected auto or a number from 1 to 4096 for 'workers', got '0'" },
	{ "number too large", "replication:\n  copies: 99999999999\n" BASE,
	    "2:11: expected a whole number from 0 to 2147483647 for 'copies', got '99999999999'" },
	{ "number not a number", BASE "    limits: {requests_per_month: lots}\n",
	    "10:34: expected a whole number from 0 to 18446744073709551615 for "
	    "'requests_per_month', got 'lots'" },
	{ "zero copies", "replication:\n  copies: 0\n" BASE,
	    "2:11: expected a value above zero for 'copies'" },
	{ "empty string", "database:\n  url: \"\"\n" CRED BACKEND,
	    "2:8: expected a non-empty string for 'url'" },
	{ "URL without scheme", DB CRED "backends:\n  - name: b\n    driver: s3\n"
	    "    endpoint: s3.example.net\n", "9:15: expected an http:// or https:// URL for "
	    "'endpoint', got 's3.example.net'" },
	{ "top level not a mapping", "- a\n- b\n",
	    "1:1: expected a mapping at the top of the file, got a sequence" },
	/* missing keys */
	{ "missing fs path", DB CRED "backends:\n  - name: disk-a\n    driver: fs\n",
	    "7:5: missing required key 'path' in backends[0] (driver fs)" },
	{ "missing s3 secret", DB CRED "backends:\n  - name: b\n    driver: s3\n"
	    "    endpoint: https://s3.example.net\n    bucket: b\n    access_key: k\n",
	    "7:5: missing required key 'secret_key_file' or 'secret_key' in backends[0] "
	    "(driver s3)" },
	{ "missing s3 bucket", DB CRED "backends:\n  - name: b\n    driver: s3\n"
	    "    endpoint: https://s3.example.net\n", "7:5: missing required key 'bucket' in "
	    "backends[0] (driver s3)" },
	{ "missing driver", DB CRED "backends:\n  - name: b\n    path: x\n",
	    "7:5: missing required key 'driver' in backends[0]" },
	{ "missing section", DB CRED, "1:1: missing required key 'backends'" },
	{ "missing credential secret", DB "credentials:\n  - access_key: demo\n" BACKEND,
	    "4:5: missing required key 'secret_key_file' or 'secret_key' in credentials[0]" },
	{ "missing database.url", "database:\n  connect_timeout: 5s\n" CRED BACKEND,
	    "2:3: missing required key 'url' in database" },
	{ "null database", "database:\n" CRED BACKEND,
	    "1:1: missing required key 'database'" },
	{ "no credentials", DB "credentials: []\n" BACKEND,
	    "3:14: expected at least one entry in 'credentials'" },
	{ "missing target", BASE "replication_rules:\n  - id: r\n    bucket: b\n",
	    "11:5: missing required key 'target' in replication_rules[0]" },
	{ "missing target key", BASE "replication_rules:\n  - id: r\n    bucket: b\n"
	    "    target: {endpoint: \"https://x\", bucket: y, secret_key: z}\n",
	    "13:13: missing required key 'access_key' in replication_rules[0].target" },
	{ "lifecycle without an action", BASE "lifecycle_rules:\n  - id: x\n    bucket: logs\n",
	    "11:5: a lifecycle rule needs 'expire_after' or 'transition_after' in "
	    "lifecycle_rules[0]" },
	{ "transition without a backend", BASE "lifecycle_rules:\n  - id: x\n    bucket: logs\n"
	    "    transition_after: 30d\n", "11:5: missing required key 'to_backend' in "
	    "lifecycle_rules[0] (with transition_after)" },
	/* keys that do not fit */
	{ "s3 key on an fs backend", BASE "    endpoint: https://s3.example.net\n",
	    "10:5: key 'endpoint' does not apply in backends[0] (driver fs)" },
	{ "to_backend without a transition", BASE "lifecycle_rules:\n  - id: x\n"
	    "    bucket: logs\n    expire_after: 1d\n    to_backend: disk-a\n",
	    "14:5: key 'to_backend' does not apply in lifecycle_rules[0] (without "
	    "transition_after)" },
	{ "both secrets", DB "credentials:\n  - access_key: demo\n    secret_key: a\n"
	    "    secret_key_file: demo.secret\n" BACKEND,
	    "6:5: give either 'secret_key' or 'secret_key_file' in credentials[0], not both" },
	{ "expiry before transition", BASE "lifecycle_rules:\n  - id: x\n    bucket: logs\n"
	    "    expire_after: 7d\n    transition_after: 30d\n    to_backend: disk-a\n",
	    "13:19: 'expire_after' must be longer than 'transition_after' in "
	    "lifecycle_rules[0]" },
	{ "bad event name", BASE "notifications:\n  - id: n\n    kind: webhook\n"
	    "    url: https://h.example.net/\n    events: [ObjectCreated]\n",
	    "14:14: expected an S3 event name such as s3:ObjectCreated:* in 'events', got "
	    "'ObjectCreated'" },
	/* sizes and durations */
	{ "bad size unit", BASE "    quota: 10XB\n", "10:12: expected a size such as 10GiB for "
	    "'quota': unknown size unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)" },
	{ "size overflow", "frontend:\n  max_object_size: 17179869184GiB\n" BASE,
	    "2:20: expected a size such as 10GiB for 'max_object_size': value is too large" },
	{ "size not a number", BASE "    quota: lots\n", "10:12: expected a size such as 10GiB "
	    "for 'quota': expected a whole number followed by a unit" },
	{ "duration without unit", "database:\n  url: x\n  connect_timeout: 10\n" CRED BACKEND,
	    "3:20: expected a duration such as 90d for 'connect_timeout': a duration needs a "
	    "unit (ms, s, m, h, d or w)" },
	{ "duration bad unit", "roles:\n  scrubber:\n    sweep_interval: 1y\n" BASE,
	    "3:21: expected a duration such as 90d for 'sweep_interval': unknown duration unit "
	    "(use ms, s, m, h, d or w)" },
	{ "duration overflow", "daemon:\n  stop_timeout: 106751991168d\n" BASE,
	    "2:17: expected a duration such as 90d for 'stop_timeout': duration is too long" },
	{ "zero duration", "daemon:\n  stop_timeout: 0s\n" BASE,
	    "2:17: expected a duration above zero for 'stop_timeout'" },
	/* keywords */
	{ "bad placement", "placement: sprad\n" BASE,
	    "1:12: expected spread or pack for 'placement', got 'sprad'" },
	{ "bad compression", BASE "buckets:\n  - name: b\n    compression: lz4\n",
	    "12:18: expected none or zstd for 'compression', got 'lz4'" },
	{ "bad conflict", BASE REPL_R1 "    conflict: newest\n", "18:15: expected newer-wins, "
	    "skip-if-dest-exists or overwrite for 'conflict', got 'newest'" },
	{ "bad driver", DB CRED "backends:\n  - name: b\n    driver: ftp\n",
	    "8:13: expected fs or s3 for 'driver', got 'ftp'" },
	{ "bad notification kind", BASE "notifications:\n  - id: n\n    kind: email\n",
	    "12:11: expected webhook or slack for 'kind', got 'email'" },
	{ "bad log level", "daemon:\n  log_level: verbose\n" BASE,
	    "2:14: expected error, warning, info or debug for 'log_level', got 'verbose'" },
	{ "bad facility", "daemon:\n  syslog_facility: kern\n" BASE, "2:20: expected daemon, "
	    "user, local0, local1, local2, local3, local4, local5, local6 or local7 for "
	    "'syslog_facility', got 'kern'" },
	/* duplicates */
	{ "duplicate top-level key", "placement: pack\nplacement: spread\n" BASE,
	    "2:1: duplicate key 'placement' (first at line 1)" },
	{ "duplicate key in a list entry", BASE "    path: disk-b\n",
	    "10:5: duplicate key 'path' in backends[0] (first at line 9)" },
	{ "duplicate role", "roles:\n  reaper: {}\n  reaper: {}\n" BASE,
	    "3:3: duplicate key 'reaper' in roles (first at line 2)" },
	/* addresses */
	{ "port out of range", "listen:\n  s3: 127.0.0.1:99999\n" BASE,
	    "2:7: expected an address host:port for 's3', got '127.0.0.1:99999': the port must "
	    "be a number from 1 to 65535" },
	{ "port zero", "listen:\n  s3: 127.0.0.1:0\n" BASE, "2:7: expected an address host:port "
	    "for 's3', got '127.0.0.1:0': the port must be a number from 1 to 65535" },
	{ "no port", "listen:\n  admin: localhost\n" BASE,
	    "2:10: expected an address host:port for 'admin', got 'localhost': no port" },
	{ "no host", "listen:\n  s3: \":9000\"\n" BASE, "2:7: expected an address host:port for "
	    "'s3', got ':9000': no host (use 0.0.0.0 or [::] for every address)" },
	{ "bare IPv6", "listen:\n  s3: \"::1:9000\"\n" BASE, "2:7: expected an address "
	    "host:port for 's3', got '::1:9000': an IPv6 address goes in brackets, as in "
	    "[::1]:9000" },
	{ "same address twice", "listen:\n  s3: 127.0.0.1:9000\n  admin: 127.0.0.1:9000\n" BASE,
	    "3:10: 'admin' must differ from 's3' in listen" },
	/* references between sections */
	{ "unknown to_backend", BASE "lifecycle_rules:\n  - id: cold\n    bucket: logs\n"
	    "    transition_after: 30d\n    to_backend: disk-z\n", "14:17: unknown backend "
	    "'disk-z' for 'to_backend' in lifecycle_rules[0]; define it under 'backends'" },
	{ "unknown encryption key", BASE "buckets:\n  - name: releases\n    encryption: key-x\n",
	    "12:17: unknown key id 'key-x' for 'encryption' in buckets[0]; define it under "
	    "'keys'" },
	{ "duplicate backend name", BASE "  - name: disk-a\n    driver: fs\n    path: other\n",
	    "10:11: duplicate backend name 'disk-a' in backends[1] (first in backends[0])" },
	{ "duplicate access key", DB "credentials:\n  - access_key: demo\n    secret_key: a\n"
	    "  - access_key: demo\n    secret_key: b\n" BACKEND,
	    "6:17: duplicate access key 'demo' in credentials[1] (first in credentials[0])" },
	{ "duplicate rule id", BASE REPL_R1 LIFE_R1,
	    "19:9: duplicate rule id 'r1' in lifecycle_rules[0] (first in replication_rules[0])" },
	{ "duplicate bucket", BASE "buckets:\n  - name: a\n  - name: a\n",
	    "12:11: duplicate bucket name 'a' in buckets[1] (first in buckets[0])" },
	{ "copies above backends", "replication:\n  copies: 3\n" BASE,
	    "2:11: 'copies' is 3 but only 1 backend is configured" },
	/* YAML itself */
	{ "second document", BASE "---\nplacement: pack\n",
	    "11:1: only one YAML document is allowed" },
	{ "undefined alias", "placement: *p\n" BASE, "1:12: found undefined alias" },
};

static void
test_errors(struct fx *fx)
{
	for (size_t i = 0; i < nitems(fx_cases); i++)
		fx_error(fx, fx_cases[i].what, fx_cases[i].yaml, fx_cases[i].want);
}

static void
test_yaml_syntax(struct fx *fx)
{
	fx_error(fx, "mapping value in a scalar", "listen:\n  s3: a: b\n" BASE,
	    "2:8: mapping values are not allowed in this context");
	fx_error(fx, "unterminated quote", BASE "placement: \"pack\n",
	    "11:1: found unexpected end of stream (while scanning a quoted scalar at line 10, "
	    "column 12)");
	fx_error_like(fx, "tab indentation", BASE "listen:\n\ts3: x\n", "11:1: ",
	    "found character that cannot start any token");
	fx_error_like(fx, "unclosed flow sequence", "placement: [pack\n" BASE, "2:9: ",
	    "did not find expected ',' or ']'");
	fx_error_like(fx, "bad UTF-8", "placement: \xff\n" BASE, " ",
	    "invalid leading UTF-8 octet");
}

static void
test_files(struct fx *fx)
{
	struct tap *t = &fx->t;
	char err[1024] = "";
	char *path = fx_path(fx, "absent.yaml");
	char *want = xasprintf("%s: cannot open: %s", path, strerror(ENOENT));
	struct s3mux_config *c = config_load(path, err, sizeof(err));
	TAP_OK(t, c == NULL, "a missing file is refused");
	TAP_STR_EQ(t, err, want, "cannot open: message");
	free(path);
	free(want);

	path = fx_path(fx, "bad.yaml");
	want = xasprintf("%s: missing required key 'database'", path);
	c = fx_load(fx, "bad.yaml", "", err, sizeof(err));
	TAP_OK(t, c == NULL, "an empty file is refused");
	TAP_STR_EQ(t, err, want, "empty file: message");
	free(want);
	c = fx_load(fx, "bad.yaml", "# only a comment\n", err, sizeof(err));
	TAP_OK(t, c == NULL && strstr(err, "missing required key 'database'") != NULL,
	    "a file of comments is refused");
	free(path);

	char small[16];
	c = fx_load(fx, "bad.yaml", "placement: sprad\n" BASE, small, sizeof(small));
	TAP_OK(t, c == NULL && strlen(small) == sizeof(small) - 1, "a short errbuf is cut, "
	    "NUL-terminated");
	c = fx_load(fx, "bad.yaml", "placement: sprad\n" BASE, NULL, 0);
	TAP_OK(t, c == NULL, "no errbuf at all");
}

/* ---- secrets files ---------------------------------------------------------------------- */

static void
test_secret_errors(struct fx *fx)
{
	char *dir = fx->dir;
	char *want = xasprintf("5:5: cannot read secrets file %s/missing.secret for "
	    "'secret_key_file': %s", dir, strerror(ENOENT));
	fx_error(fx, "missing secrets file", DB "credentials:\n  - access_key: demo\n"
	    "    secret_key_file: missing.secret\n" BACKEND, want);
	free(want);
	fx_mkdir(fx, "secret-dir");
	want = xasprintf("5:5: cannot read secrets file %s/secret-dir for 'secret_key_file': %s",
	    dir, strerror(EISDIR));
	fx_error(fx, "secrets file is a directory", DB "credentials:\n  - access_key: demo\n"
	    "    secret_key_file: secret-dir\n" BACKEND, want);
	free(want);
	fx_write(fx, "empty.secret", "\n", 0600);
	want = xasprintf("5:5: secrets file %s/empty.secret for 'secret_key_file' is empty", dir);
	fx_error(fx, "empty secrets file", DB "credentials:\n  - access_key: demo\n"
	    "    secret_key_file: empty.secret\n" BACKEND, want);
	free(want);
	want = xasprintf("14:5: cannot read secrets file %s/hook.secret for 'secret_file': %s",
	    dir, strerror(ENOENT));
	fx_error(fx, "missing webhook secret", BASE "notifications:\n  - id: n\n"
	    "    kind: webhook\n    url: https://h.example.net/\n    secret_file: hook.secret\n",
	    want);
	free(want);
}

static struct s3mux_config *
fx_load_open_secret(struct fx *fx, char *err, size_t errsize)
{
	fx_write(fx, "open.secret", "shared\n", 0644);
	return fx_load(fx, "warn.yaml", DB "credentials:\n  - access_key: demo\n"
	    "    secret_key_file: open.secret\n" BACKEND, err, errsize);
}

static struct s3mux_config *
fx_load_closed_secret(struct fx *fx, char *err, size_t errsize)
{
	fx_write(fx, "closed.secret", "private\n", 0600);
	return fx_load(fx, "warn.yaml", DB "credentials:\n  - access_key: demo\n"
	    "    secret_key_file: closed.secret\n" BACKEND, err, errsize);
}

static void
test_secret_modes(struct fx *fx)
{
	struct tap *t = &fx->t;
	char err[1024] = "";
	struct s3mux_config *c;
	char *out = fx_capture_stderr(fx, fx_load_open_secret, &c, err, sizeof(err));
	char *path = fx_path(fx, "warn.yaml");
	char *want = xasprintf("%s:5:5: secrets file %s/open.secret is readable by others; "
	    "chmod 600 it", path, fx->dir);
	TAP_OK(t, c != NULL && strcmp(c->credentials[0].secret_key, "shared") == 0,
	    "a secrets file readable by others still loads");
	TAP_OK(t, strstr(out, want) != NULL, "and warns: '%s'", want);
	if (strstr(out, want) == NULL)
		printf("# stderr was: %s\n", out);
	config_free(c);
	free(out);
	free(want);
	free(path);
	out = fx_capture_stderr(fx, fx_load_closed_secret, &c, err, sizeof(err));
	TAP_OK(t, c != NULL && out[0] == '\0', "a mode 600 secrets file loads without warning");
	config_free(c);
	free(out);
}

/* ---- main ------------------------------------------------------------------------------- */

int
main(void)
{
	struct fx fx = { .t = { 0, 0 } };
	const char *tmp = getenv("TMPDIR");
	char *templ = xasprintf("%s/s3mux-config-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fx.dir = mkdtemp(templ);
	if (fx.dir == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_full(&fx);
	test_defaults(&fx);
	test_samples(&fx);
	test_errors(&fx);
	test_yaml_syntax(&fx);
	test_files(&fx);
	test_secret_errors(&fx);
	test_secret_modes(&fx);
	if (getenv("S3MUX_KEEP_TMP") == NULL)
		nftw(fx.dir, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("# kept %s\n", fx.dir);
	free(templ);
	return TAP_DONE(&fx.t);
}
