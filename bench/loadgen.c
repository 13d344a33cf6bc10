/*
 * loadgen.c: the benchmark's load generator: GETs or PUTs over N keep-alive connections on
 * libcurl's multi interface, signed with SigV4 (the project's sigv4_sign()) when given a key.
 *
 * Usage: loadgen -u http://127.0.0.1:PORT -m get|put [options]
 *   -u URL      the server (loopback only: 127.0.0.1, localhost or [::1])
 *   -m MODE     get: paths from -f; put: paths made from -p and -K
 *   -f FILE     GET paths, one a line ("/bucket/key" or "/bucket?list-type=2"), used in turn
 *   -p PREFIX   PUT paths are PREFIX<i> (i in 0..K-1, in turn); with -C, PREFIX c<conn>-<i>
 *   -K N        PUT: keys (per connection with -C), default 100
 *   -C          PUT: each connection writes keys of its own (no two writers of one key)
 *   -s BYTES    PUT: body size; GET: the exact length every response must have
 *   -M BYTES    GET: the least length every response must have (a listing's page)
 *   -c N        connections (default 8)
 *   -w SECONDS  warm-up, not counted (default 1)
 *   -d SECONDS  the counted window (default 5)
 *   -n N        stop after N counted requests (default: no bound but -d); with -w 0, at
 *               most N requests are issued at all
 *   -a KEY:SECRET  sign requests (SigV4, region us-east-1, UNSIGNED-PAYLOAD for bodies)
 *   -e CODES    the statuses that count as success, comma-separated (default 200)
 *   -H SECONDS  after the run, keep the connections open (idle) this long; prints a
 *               "holding" line first.  For memory figures.
 *   -t SECONDS  per-request timeout (default 60)
 *
 * Output: one line of key=value pairs on stdout: ops (successes counted in the window),
 * errors (failures in the window), warm_errors, seconds (the window), ops_s, mb_s (10^6
 * bytes of successful bodies per second), p50_ms, p99_ms, p999_ms (latency of successes),
 * bytes.  The first few distinct failures go to stderr.  Exit status 0 when no request
 * failed at all, 1 when some did, 2 on bad usage.
 *
 * Counting: a request counts when it completes inside the window [warm-up end, window end);
 * only a request whose status is one of -e and, for GETs, whose body length is right is a
 * success.  Requests still in flight at the window's end are abandoned.  Each distinct path
 * is signed once (the signature stays valid for the 15 minutes S3 allows), so the client's
 * own signing does not take CPU from the server it measures; the server still verifies
 * every request in full.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sigv4.h"

#define LG_MAX_CONNS 4096
#define LG_MAX_EXPECT 8
#define LG_MAX_PATHS 1000000
#define LG_PATTERN_BYTES (1024 * 1024)
#define LG_ERROR_SAMPLES 5
#define LG_LATENCY_CAP (20 * 1000 * 1000)
#define LG_BIG_BODY (256 * 1024)

enum lg_mode { LG_GET, LG_PUT };

struct lg_conf {
	const char *url;		/* "http://127.0.0.1:9000" */
	const char *host;		/* "127.0.0.1:9000", as signed and sent */
	enum lg_mode mode;
	char **paths;			/* GET */
	size_t npaths;
	const char *prefix;		/* PUT */
	long keys;
	int per_conn;
	long long size;			/* PUT body; GET exact length; -1 unchecked */
	long long min_size;		/* GET least length; -1 unchecked */
	int conns;
	double warmup, duration, hold, timeout;
	long long max_ops;
	char *access_key, *secret_key;
	long expect[LG_MAX_EXPECT];
	int nexpect;
};

/* A signed request, made once per distinct path. */
struct lg_signed {
	char *url;
	struct curl_slist *headers;
};

struct lg_stats {
	uint32_t *lat_us;		/* successes in the window */
	size_t nlat, cap;
	unsigned long long ops, errors, warm_errors, bytes;
	long long issued, issued_counted;
	char samples[LG_ERROR_SAMPLES][160];
	int nsamples;
};

struct lg_run;

struct lg_slot {
	struct lg_run *run;
	CURL *easy;
	int index;
	long count;			/* requests this slot issued */
	int busy;
	size_t sig_index;
	double started;
	unsigned long long got;		/* GET body bytes */
	unsigned long long sent;	/* PUT body bytes handed to curl */
};

struct lg_run {
	struct lg_conf *c;
	CURLM *multi;
	struct lg_slot *slots;
	struct lg_signed *sigs;
	size_t nsigs;
	const char *pattern;
	struct lg_stats st;
	double t0, t_warm, t_end;
	double t_stop;			/* -n reached: the window ends there */
	double t_last;			/* the last completion */
	int stopping;
	int ended_idle;			/* nothing left to issue before the window's end */
};

static volatile sig_atomic_t lg_interrupted;

static void
lg_on_signal(int sig)
{
	lg_interrupted = 1;
}

static double
lg_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
lg_usage(const char *why)
{
	fprintf(stderr, "loadgen: %s\nusage: loadgen -u URL -m get|put [-f FILE] [-p PREFIX] "
	    "[-K N] [-C] [-s BYTES] [-M BYTES] [-c N] [-w S] [-d S] [-n N] [-a KEY:SECRET] "
	    "[-e CODES] [-H S] [-t S]\n", why);
	exit(2);
}

/* --- configuration ---------------------------------------------------------------------- */

static char **
lg_read_paths(const char *file, size_t *n)
{
	FILE *f = fopen(file, "r");
	if (f == NULL)
		lg_usage("cannot open the paths file");
	char **paths = NULL, *line = NULL;
	size_t cap = 0, len = 0;
	ssize_t got;
	while (*n < LG_MAX_PATHS && (got = getline(&line, &len, f)) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] != '/')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			paths = xreallocarray(paths, cap, sizeof(*paths));
		}
		paths[(*n)++] = xstrdup(line);
	}
	free(line);
	fclose(f);
	if (*n == 0)
		lg_usage("the paths file holds no path");
	return paths;
}

static void
lg_parse_expect(struct lg_conf *c, const char *list)
{
	char *copy = xstrdup(list), *save = NULL;
	c->nexpect = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok && c->nexpect < LG_MAX_EXPECT;
	    tok = strtok_r(NULL, ",", &save))
		c->expect[c->nexpect++] = strtol(tok, NULL, 10);
	free(copy);
}

/* The URL must name a loopback host; host is set to its "host:port" part. */
static void
lg_check_url(struct lg_conf *c)
{
	static const char *const allowed[] = { "http://127.0.0.1:", "http://localhost:",
		"http://[::1]:" };
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if (strncmp(c->url, allowed[i], strlen(allowed[i])) == 0) {
			c->host = c->url + strlen("http://");
			if (strchr(c->host, '/') != NULL)
				lg_usage("-u takes no path");
			return;
		}
	}
	lg_usage("-u must be http://127.0.0.1:PORT (loopback only)");
}

static void
lg_set_key(struct lg_conf *c, const char *arg)
{
	const char *colon = strchr(arg, ':');
	if (colon == NULL)
		lg_usage("-a takes KEY:SECRET");
	c->access_key = strndup(arg, (size_t)(colon - arg));
	c->secret_key = xstrdup(colon + 1);
}

static void
lg_parse(struct lg_conf *c, int argc, char **argv)
{
	int ch;
	const char *paths_file = NULL, *mode = NULL;
	while ((ch = getopt(argc, argv, "u:m:f:p:K:Cs:M:c:w:d:n:a:e:H:t:")) != -1) {
		switch (ch) {
		case 'u': c->url = optarg; break;
		case 'm': mode = optarg; break;
		case 'f': paths_file = optarg; break;
		case 'p': c->prefix = optarg; break;
		case 'K': c->keys = strtol(optarg, NULL, 10); break;
		case 'C': c->per_conn = 1; break;
		case 's': c->size = strtoll(optarg, NULL, 10); break;
		case 'M': c->min_size = strtoll(optarg, NULL, 10); break;
		case 'c': c->conns = (int)strtol(optarg, NULL, 10); break;
		case 'w': c->warmup = strtod(optarg, NULL); break;
		case 'd': c->duration = strtod(optarg, NULL); break;
		case 'n': c->max_ops = strtoll(optarg, NULL, 10); break;
		case 'a': lg_set_key(c, optarg); break;
		case 'e': lg_parse_expect(c, optarg); break;
		case 'H': c->hold = strtod(optarg, NULL); break;
		case 't': c->timeout = strtod(optarg, NULL); break;
		default: lg_usage("unknown option");
		}
	}
	if (c->url == NULL || mode == NULL)
		lg_usage("-u and -m are required");
	lg_check_url(c);
	c->mode = strcmp(mode, "put") == 0 ? LG_PUT : LG_GET;
	if (strcmp(mode, "put") != 0 && strcmp(mode, "get") != 0)
		lg_usage("-m is get or put");
	if (c->conns < 1 || c->conns > LG_MAX_CONNS || c->keys < 1 || c->duration <= 0 ||
	    c->warmup < 0 || c->timeout <= 0 || c->hold < 0)
		lg_usage("a count or a time is out of range");
	if (c->mode == LG_GET && paths_file == NULL)
		lg_usage("get needs -f");
	if (c->mode == LG_PUT && (c->prefix == NULL || c->size < 0))
		lg_usage("put needs -p and -s");
	if (paths_file != NULL)
		c->paths = lg_read_paths(paths_file, &c->npaths);
}

/* --- signing ---------------------------------------------------------------------------- */

static struct curl_slist *
lg_header(struct curl_slist *list, const char *name, const char *value)
{
	char *line = xasprintf("%s: %s", name, value);
	struct curl_slist *out = curl_slist_append(list, line);
	free(line);
	return out;
}

/* Sign (method, path) once: the headers to send with it, Host excepted (curl sends it). */
static struct curl_slist *
lg_sign(const struct lg_conf *c, const char *method, const char *path)
{
	const char *payload = strcmp(method, "PUT") == 0 ? SIGV4_UNSIGNED_PAYLOAD :
	    SIGV4_EMPTY_SHA256;
	struct curl_slist *h = NULL;
	if (c->mode == LG_PUT)
		h = curl_slist_append(h, "Expect:");	/* no 100-continue round trip, for all */
	if (c->access_key == NULL)
		return h;
	const char *q = strchr(path, '?');
	char *bare = q ? strndup(path, (size_t)(q - path)) : xstrdup(path);
	const struct sigv4_credentials cred = { .access_key = c->access_key,
		.secret_key = c->secret_key, .region = "us-east-1", .service = "s3" };
	const struct sigv4_request req = { .method = method, .path = bare,
		.path_mode = SIGV4_PATH_AS_IS, .query = q ? q + 1 : NULL, .payload_hash = payload };
	struct sigv4_signed sig;
	if (sigv4_sign(&cred, &req, c->host, clock_real_s(), &sig) == -1) {
		fprintf(stderr, "loadgen: cannot sign %s\n", path);
		exit(2);
	}
	h = lg_header(h, "X-Amz-Date", sig.amz_date);
	h = lg_header(h, "X-Amz-Content-Sha256", payload);
	h = lg_header(h, "Authorization", sig.authorization);
	sigv4_signed_free(&sig);
	free(bare);
	return h;
}

/* The index of the next path this slot requests: GET paths in turn, PUT keys in turn. */
static size_t
lg_next_index(struct lg_run *run, struct lg_slot *s)
{
	const struct lg_conf *c = run->c;
	if (c->mode == LG_GET)
		return (size_t)(run->st.issued % (long long)c->npaths);
	if (c->per_conn)
		return (size_t)s->index * (size_t)c->keys + (size_t)(s->count % c->keys);
	return (size_t)(run->st.issued % c->keys);
}

static char *
lg_path_of(const struct lg_conf *c, size_t i)
{
	if (c->mode == LG_GET)
		return xstrdup(c->paths[i]);
	if (c->per_conn)
		return xasprintf("%sc%zu-%zu", c->prefix, i / (size_t)c->keys, i % (size_t)c->keys);
	return xasprintf("%s%zu", c->prefix, i);
}

static struct lg_signed *
lg_signed_for(struct lg_run *run, size_t i)
{
	struct lg_signed *sg = &run->sigs[i];
	if (sg->url != NULL)
		return sg;
	char *path = lg_path_of(run->c, i);
	sg->url = xasprintf("%s%s", run->c->url, path);
	sg->headers = lg_sign(run->c, run->c->mode == LG_PUT ? "PUT" : "GET", path);
	free(path);
	return sg;
}

/* --- transfers --------------------------------------------------------------------------- */

static size_t
lg_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct lg_slot *s = arg;
	s->got += size * n;
	return size * n;		/* the body is counted, not kept */
}

static size_t
lg_read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct lg_slot *s = arg;
	struct lg_run *run = s->run;
	unsigned long long left = (unsigned long long)run->c->size - s->sent;
	size_t off = (size_t)(s->sent % LG_PATTERN_BYTES);
	size_t want = size * n;
	if (want > left)
		want = (size_t)left;
	if (want > LG_PATTERN_BYTES - off)
		want = LG_PATTERN_BYTES - off;
	memcpy(buf, run->pattern + off, want);
	s->sent += want;
	return want;
}

static void
lg_setup_easy(struct lg_run *run, struct lg_slot *s)
{
	const struct lg_conf *c = run->c;
	s->easy = curl_easy_init();
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)(c->timeout * 1000));
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, lg_write_cb);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	/* large bodies move in large slices: fewer system calls on the client's side */
	if (c->size >= LG_BIG_BODY || c->min_size >= LG_BIG_BODY)
		curl_easy_setopt(s->easy, CURLOPT_BUFFERSIZE, 256L * 1024);
	if (c->mode == LG_PUT) {
		curl_easy_setopt(s->easy, CURLOPT_UPLOAD, 1L);
		if (c->size >= LG_BIG_BODY)
			curl_easy_setopt(s->easy, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
		curl_easy_setopt(s->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->size);
		curl_easy_setopt(s->easy, CURLOPT_READFUNCTION, lg_read_cb);
		curl_easy_setopt(s->easy, CURLOPT_READDATA, s);
	}
}

static int
lg_may_issue(const struct lg_run *run, double now)
{
	const struct lg_conf *c = run->c;
	if (run->stopping || lg_interrupted || now >= run->t_end)
		return 0;
	if (c->max_ops > 0 && c->warmup == 0 && run->st.issued_counted >= c->max_ops)
		return 0;
	return 1;
}

static void
lg_issue(struct lg_run *run, struct lg_slot *s)
{
	double now = lg_now();
	if (!lg_may_issue(run, now))
		return;
	s->sig_index = lg_next_index(run, s);
	struct lg_signed *sg = lg_signed_for(run, s->sig_index);
	curl_easy_setopt(s->easy, CURLOPT_URL, sg->url);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, sg->headers);
	s->got = 0;
	s->sent = 0;
	s->started = now;
	s->busy = 1;
	s->count++;
	run->st.issued++;
	if (now >= run->t_warm)
		run->st.issued_counted++;
	curl_multi_add_handle(run->multi, s->easy);
}

/* --- results ---------------------------------------------------------------------------- */

static void
lg_note_error(struct lg_stats *st, const char *what)
{
	for (int i = 0; i < st->nsamples; i++)
		if (strcmp(st->samples[i], what) == 0)
			return;
	if (st->nsamples < LG_ERROR_SAMPLES)
		snprintf(st->samples[st->nsamples++], sizeof(st->samples[0]), "%s", what);
}

/* Why the finished request failed, or NULL when it is a success. */
static const char *
lg_check(const struct lg_run *run, struct lg_slot *s, CURLcode rc, char *why, size_t len)
{
	const struct lg_conf *c = run->c;
	if (rc != CURLE_OK) {
		snprintf(why, len, "curl: %s", curl_easy_strerror(rc));
		return why;
	}
	long status = 0;
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	int ok = 0;
	for (int i = 0; i < c->nexpect; i++)
		ok |= status == c->expect[i];
	if (!ok) {
		snprintf(why, len, "status %ld", status);
		return why;
	}
	if (c->mode == LG_GET && c->size >= 0 && s->got != (unsigned long long)c->size) {
		snprintf(why, len, "length %llu, not %lld", s->got, c->size);
		return why;
	}
	if (c->mode == LG_GET && c->min_size >= 0 && s->got < (unsigned long long)c->min_size) {
		snprintf(why, len, "length %llu, under %lld", s->got, c->min_size);
		return why;
	}
	return NULL;
}

static void
lg_record(struct lg_run *run, struct lg_slot *s, CURLcode rc, double now)
{
	struct lg_stats *st = &run->st;
	char why[160];
	const char *bad = lg_check(run, s, rc, why, sizeof(why));
	run->t_last = now;
	if (bad != NULL)
		lg_note_error(st, bad);
	if (now < run->t_warm) {
		st->warm_errors += bad != NULL;
		return;
	}
	if (bad != NULL) {
		st->errors++;
		return;
	}
	st->ops++;
	st->bytes += run->c->mode == LG_GET ? s->got : s->sent;
	if (st->nlat == st->cap && st->cap < LG_LATENCY_CAP) {
		st->cap = st->cap ? st->cap * 2 : 65536;
		st->lat_us = xreallocarray(st->lat_us, st->cap, sizeof(*st->lat_us));
	}
	if (st->nlat < st->cap)
		st->lat_us[st->nlat++] = (uint32_t)((now - s->started) * 1e6);
	if (run->c->max_ops > 0 && (long long)st->ops >= run->c->max_ops) {
		run->stopping = 1;
		run->t_stop = now;
	}
}

static void
lg_collect(struct lg_run *run)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(run->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct lg_slot *s;
		CURLcode rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
		double now = lg_now();
		curl_multi_remove_handle(run->multi, s->easy);
		s->busy = 0;
		lg_record(run, s, rc, now);
		lg_issue(run, s);
	}
}

static int
lg_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile, in milliseconds. */
static double
lg_pct(const struct lg_stats *st, double q)
{
	if (st->nlat == 0)
		return 0;
	size_t rank = (size_t)(q * (double)st->nlat + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > st->nlat)
		rank = st->nlat;
	return st->lat_us[rank - 1] / 1000.0;
}

static void
lg_report(struct lg_run *run)
{
	struct lg_stats *st = &run->st;
	double end = run->t_end;
	if (run->t_stop > 0)
		end = run->t_stop;
	else if (run->ended_idle && run->t_last < run->t_end)
		end = run->t_last;
	double secs = end - run->t_warm;
	if (secs <= 0)
		secs = 1e-9;
	qsort(st->lat_us, st->nlat, sizeof(*st->lat_us), lg_cmp_u32);
	printf("ops=%llu errors=%llu warm_errors=%llu seconds=%.3f ops_s=%.1f mb_s=%.2f "
	    "p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f bytes=%llu conns=%d\n", st->ops, st->errors,
	    st->warm_errors, secs, (double)st->ops / secs, (double)st->bytes / secs / 1e6,
	    lg_pct(st, 0.50), lg_pct(st, 0.99), lg_pct(st, 0.999), st->bytes, run->c->conns);
	for (int i = 0; i < st->nsamples; i++)
		fprintf(stderr, "loadgen: failure: %s\n", st->samples[i]);
	fflush(stdout);
}

/* --- the run ---------------------------------------------------------------------------- */

static int
lg_any_busy(const struct lg_run *run)
{
	for (int i = 0; i < run->c->conns; i++)
		if (run->slots[i].busy)
			return 1;
	return 0;
}

static void
lg_abandon(struct lg_run *run)
{
	for (int i = 0; i < run->c->conns; i++) {
		if (run->slots[i].busy) {
			curl_multi_remove_handle(run->multi, run->slots[i].easy);
			run->slots[i].busy = 0;
		}
	}
}

/* The event loop; bounded by the window's end plus one request timeout. */
static void
lg_loop(struct lg_run *run)
{
	double hard_end = run->t_end + run->c->timeout;
	for (int i = 0; i < run->c->conns; i++)
		lg_issue(run, &run->slots[i]);
	while (lg_any_busy(run)) {
		int running;
		curl_multi_perform(run->multi, &running);
		lg_collect(run);
		double now = lg_now();
		if (run->stopping || now >= run->t_end || now >= hard_end)
			break;
		if (lg_interrupted) {
			run->ended_idle = 1;
			break;
		}
		curl_multi_poll(run->multi, NULL, 0, 50, NULL);
	}
	if (!lg_any_busy(run))
		run->ended_idle = 1;
	lg_abandon(run);
}

/* Keep the connections open, idle, for the memory figures. */
static void
lg_hold(struct lg_run *run)
{
	if (run->c->hold <= 0)
		return;
	printf("holding conns=%d\n", run->c->conns);
	fflush(stdout);
	double until = lg_now() + run->c->hold;
	while (!lg_interrupted && lg_now() < until)
		usleep(50 * 1000);
}

static char *
lg_make_pattern(void)
{
	char *p = xmalloc(LG_PATTERN_BYTES);
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < LG_PATTERN_BYTES; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (char)(x >> 24);
	}
	return p;
}

static void
lg_setup(struct lg_run *run, struct lg_conf *c)
{
	run->c = c;
	run->multi = curl_multi_init();
	curl_multi_setopt(run->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->conns);
	curl_multi_setopt(run->multi, CURLMOPT_MAXCONNECTS, (long)c->conns);
	run->slots = xcalloc((size_t)c->conns, sizeof(*run->slots));
	run->nsigs = c->mode == LG_GET ? c->npaths :
	    (size_t)c->keys * (c->per_conn ? (size_t)c->conns : 1);
	run->sigs = xcalloc(run->nsigs, sizeof(*run->sigs));
	run->pattern = lg_make_pattern();
	for (int i = 0; i < c->conns; i++) {
		run->slots[i].run = run;
		run->slots[i].index = i;
		lg_setup_easy(run, &run->slots[i]);
	}
	run->t0 = lg_now();
	run->t_warm = run->t0 + c->warmup;
	run->t_end = run->t_warm + c->duration;
}

static void
lg_teardown(struct lg_run *run)
{
	for (int i = 0; i < run->c->conns; i++)
		curl_easy_cleanup(run->slots[i].easy);
	curl_multi_cleanup(run->multi);
	for (size_t i = 0; i < run->nsigs; i++) {
		free(run->sigs[i].url);
		curl_slist_free_all(run->sigs[i].headers);
	}
	free(run->sigs);
	free(run->slots);
	free((char *)run->pattern);
	free(run->st.lat_us);
}

int
main(int argc, char **argv)
{
	struct lg_conf conf = { .keys = 100, .size = -1, .min_size = -1, .conns = 8,
		.warmup = 1, .duration = 5, .timeout = 60, .expect = { 200 }, .nexpect = 1 };
	lg_parse(&conf, argc, argv);
	signal(SIGTERM, lg_on_signal);
	signal(SIGINT, lg_on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 2;
	struct lg_run run = { .t_stop = 0 };
	lg_setup(&run, &conf);
	lg_loop(&run);
	lg_report(&run);
	lg_hold(&run);
	int failed = run.st.errors > 0 || run.st.warm_errors > 0;
	lg_teardown(&run);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
