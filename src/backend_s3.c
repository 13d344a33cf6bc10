/*
 * backend_s3.c: the s3 driver: objects in a bucket of any S3 service, through libcurl.
 *
 * SUMMARY
 *	The object name "<bucket>/<key>" is stored under the key <prefix><bucket>/<key> of the
 *	configured bucket, addressed path-style (https://host/bucket/key) or virtual-host style
 *	(https://bucket.host/key), the key URI-encoded once, every request signed with SigV4
 *	(service "s3", the backend's region).  TLS peers are verified unless tls_verify is off.
 *
 * DESCRIPTION
 *	Transfers run on libcurl's multi interface, driven by the backend's event base: libcurl
 *	says which sockets to watch and when to wake it (CURLMOPT_SOCKETFUNCTION and
 *	CURLMOPT_TIMERFUNCTION), libevent does the waiting and calls curl_multi_socket_action.
 *	One multi handle per backend, so connections are reused per backend.  Nothing blocks.
 *
 *	Every callback of the interface runs from the loop, never inside the call that asked for
 *	it: completions come from the loop's socket and timer events, the rest from a per-call
 *	"kick" event.  on_start and on_data run inside libcurl's write callback; a get_abort from
 *	inside them is noted and the transfer is freed once libcurl has returned.
 *
 *	PUT streams with Content-Length = size: put_write appends to a buffer that libcurl's read
 *	callback drains, pausing the upload while it is empty; put_write says BACKEND_FULL past
 *	S3DRV_PUT_HIGH and on_writable follows once the buffer is below half of it.  The last
 *	byte of the body is withheld until put_finish, so an upload that is aborted (put_abort,
 *	a failure, the front end going away) never reaches its declared length and the service
 *	discards it: the previous object stays.  A 0-byte body is sent at put_finish.
 *
 *	GET hands each chunk of the body to on_data; when on_data says BACKEND_FULL, the next
 *	chunk is refused with CURL_WRITEFUNC_PAUSE (libcurl keeps it and gives it again after
 *	get_resume unpauses), so at most one chunk arrives after the caller asked for a pause.
 *	A server that ignores Range is coped with by skipping and cutting the whole body.
 *
 *	Retries, with jittered exponential backoff (100 ms, 400 ms, 1.6 s, each +-50%), on
 *	connection errors, 5xx (but 501) and 429: HEAD, DELETE, a GET before on_start, and a PUT
 *	while libcurl has taken none of its body (the body is then still whole in the buffer).
 *
 *	libcurl's global state: every create calls curl_global_init and every destroy
 *	curl_global_cleanup; libcurl counts these calls itself, so the driver keeps no global
 *	state of its own and a program that frees its backends leaves nothing behind.
 *
 * DIAGNOSTICS
 *	A call that fails is logged once, when it fails for good:
 *	"backend NAME: PUT key: HTTP 403 AccessDenied: Access Denied" or "backend NAME: GET key:
 *	Failed to connect to ... (4 tries)".  A missing object is logged at debug level only.
 *	Credentials never reach the log: libcurl's verbose output is never enabled and no
 *	request header is logged.
 *
 * SEE ALSO
 *	backend.h (the interface), sigv4.h (signing), s3mux.yaml(5) (backends, driver s3).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "backend.h"
#include "log.h"
#include "sigv4.h"
#include "util.h"

#define S3DRV_PUT_HIGH		(1024 * 1024)	/* put_write says BACKEND_FULL at this */
#define S3DRV_TRIES		4		/* the first try and three retries */
#define S3DRV_BACKOFF_MS	100		/* before the first retry; x4 each time */
#define S3DRV_ERRBODY_MAX	4096		/* bytes of an error body kept for its code */
#define S3DRV_RECV_BUFFER	(64L * 1024)	/* CURLOPT_BUFFERSIZE */
#define S3DRV_MSG_MAX		256

struct s3drv_req;

/* A socket libcurl asked us to watch. */
struct s3drv_sock {
	struct event *ev;
	struct s3drv_sock *prev, *next;
};

/* One backend: its service, its multi handle, its live requests. */
struct s3drv {
	char *name;
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	char *scheme;			/* "http" or "https" */
	char *host;			/* the URL's authority and the signed Host header */
	char *path_base;		/* "/bucket" path-style, "" virtual-host style */
	char *prefix;
	char *region;
	char *access_key;
	char *secret_key;
	char *ca_file;
	int tls_verify;
	long timeout_ms;
	long low_speed_s;
	uint64_t rng;			/* xorshift64* state for the backoff jitter */
	struct s3drv_req *reqs;
	struct s3drv_sock *socks;
};

enum s3drv_kind {
	S3DRV_PUT,
	S3DRV_GET,
	S3DRV_HEAD,
	S3DRV_DELETE,
};

/* One call: a PUT, a GET, a HEAD (stat) or a DELETE (remove), over one or more tries. */
struct s3drv_req {
	union {
		struct backend_put put;
		struct backend_get get;
	} pub;				/* first: the caller's handle points here */
	struct s3drv *drv;
	struct s3drv_req *prev, *next;
	enum s3drv_kind kind;
	const char *method;
	char *key;			/* the key in the bucket (prefix + name) */
	char *path;			/* "/bucket/key", encoded once */
	void *arg;
	struct backend_put_cbs put_cbs;
	struct backend_get_cbs get_cbs;
	backend_stat_cb stat_cb;
	backend_done_cb done_cb;

	CURL *easy;			/* NULL between tries and after the end */
	struct curl_slist *headers;
	struct event *kick;		/* deferred work, run from the loop */
	struct event *retry;		/* the backoff before the next try */
	int tries;
	int in_cb;			/* inside a caller's callback: do not free */
	int aborted;			/* the caller let go: free at the next chance */
	int report;			/* the kick reports the outcome */
	int err;			/* the call failed for good: an errno value */
	char message[S3DRV_MSG_MAX];
	long status;			/* HTTP status of the last try, 0 if none */
	int http_failed;		/* the call failed on an HTTP error status */
	char errbuf[CURL_ERROR_SIZE];
	struct strbuf errbody;		/* the start of a non-2xx body */
	int64_t range_total;		/* Content-Range's total, -1 if none */
	struct backend_stat st;
	char range[64];			/* "bytes=..." or "" */

	/* PUT */
	struct evbuffer *body;
	uint64_t size;
	uint64_t pushed;		/* bytes given by put_write */
	uint64_t handed;		/* bytes given to libcurl */
	int finished;			/* put_finish was called: the last byte may go */
	int read_paused;		/* the read callback returned CURL_READFUNC_PAUSE */
	int want_writable;		/* put_write returned BACKEND_FULL */
	int unpause;			/* the kick unpauses the upload */

	/* GET */
	uint64_t offset;
	int64_t length;
	int started;			/* on_start was called */
	int pause_next;			/* on_data said BACKEND_FULL */
	int paused;			/* the write callback returned CURL_WRITEFUNC_PAUSE */
	int resume;			/* get_resume asked to unpause */
	uint64_t skip;			/* a server ignored Range: bytes to drop first */
	uint64_t left;			/* ... and bytes still wanted, if limited */
	int limited;
};

static void s3drv_check_done(struct s3drv *drv);
static int s3drv_launch(struct s3drv_req *req);
static void s3drv_report(struct s3drv_req *req);

/* --- small helpers --------------------------------------------------------------------- */

static uint64_t
s3drv_random(struct s3drv *drv)
{
	drv->rng ^= drv->rng >> 12;
	drv->rng ^= drv->rng << 25;
	drv->rng ^= drv->rng >> 27;
	return drv->rng * 2685821657736338717ULL;
}

/* The wait before retry number n (1..): 100 ms * 4^(n-1), +-50%. */
static long
s3drv_backoff_ms(struct s3drv *drv, int n)
{
	long base = S3DRV_BACKOFF_MS << (2 * (n - 1));
	return base / 2 + (long)(s3drv_random(drv) % (uint64_t)(base + 1));
}

static void
s3drv_header(struct curl_slist **list, const char *fmt, ...)
{
	va_list ap;
	struct strbuf sb;
	strbuf_init(&sb);
	va_start(ap, fmt);
	strbuf_vprintf(&sb, fmt, ap);
	va_end(ap);
	struct curl_slist *grown = curl_slist_append(*list, sb.data);
	strbuf_free(&sb);
	if (grown == NULL)
		fatalx("curl_slist_append: out of memory");
	*list = grown;
}

/* Copy text to out with XML entities decoded and control characters made '?'. */
static void
s3drv_xml_decode(const char *text, size_t len, char *out, size_t outlen)
{
	static const char *const ent[][2] = {
		{ "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" }, { "&quot;", "\"" },
		{ "&apos;", "'" },
	};
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < outlen; i++) {
		char c = text[i];
		for (size_t e = 0; c == '&' && e < nitems(ent); e++) {
			size_t n = strlen(ent[e][0]);
			if (i + n <= len && strncmp(text + i, ent[e][0], n) == 0) {
				c = ent[e][1][0];
				i += n - 1;
				break;
			}
		}
		out[o++] = (unsigned char)c < 0x20 || c == 0x7f ? '?' : c;
	}
	out[o] = '\0';
}

/* The text of <tag>...</tag> in an S3 error body; "" when absent. */
static void
s3drv_xml_text(const char *xml, const char *tag, char *out, size_t outlen)
{
	char open[32], close[32];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	out[0] = '\0';
	const char *start = strstr(xml, open);
	if (start == NULL)
		return;
	start += strlen(open);
	const char *end = strstr(start, close);
	if (end != NULL)
		s3drv_xml_decode(start, (size_t)(end - start), out, outlen);
}

/* --- libcurl driven by libevent -------------------------------------------------------- */

static void
s3drv_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct s3drv *drv = arg;
	int action = (what & EV_READ ? CURL_CSELECT_IN : 0) |
	    (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;
	curl_multi_socket_action(drv->multi, fd, action, &running);
	s3drv_check_done(drv);
}

static void
s3drv_sock_free(struct s3drv *drv, struct s3drv_sock *sk)
{
	if (sk->prev != NULL)
		sk->prev->next = sk->next;
	else
		drv->socks = sk->next;
	if (sk->next != NULL)
		sk->next->prev = sk->prev;
	event_free(sk->ev);
	free(sk);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what libcurl wants, or stop watching it. */
static int
s3drv_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct s3drv *drv = userp;
	struct s3drv_sock *sk = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (sk != NULL)
			s3drv_sock_free(drv, sk);
		return 0;
	}
	if (sk == NULL) {
		sk = xcalloc(1, sizeof(*sk));
		sk->ev = event_new(drv->base, -1, 0, s3drv_sock_event, drv);
		sk->next = drv->socks;
		if (drv->socks != NULL)
			drv->socks->prev = sk;
		drv->socks = sk;
		curl_multi_assign(drv->multi, s, sk);
	} else {
		event_del(sk->ev);
	}
	short flags = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
	    (what & CURL_POLL_OUT ? EV_WRITE : 0);
	event_assign(sk->ev, drv->base, s, flags, s3drv_sock_event, drv);
	event_add(sk->ev, NULL);
	return 0;
}

static void
s3drv_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct s3drv *drv = arg;
	int running;
	curl_multi_socket_action(drv->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	s3drv_check_done(drv);
}

/* CURLMOPT_TIMERFUNCTION: wake libcurl after timeout_ms (-1: never). */
static int
s3drv_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct s3drv *drv = userp;
	if (timeout_ms < 0) {
		evtimer_del(drv->timer);
		return 0;
	}
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	evtimer_add(drv->timer, &tv);
	return 0;
}

/* --- requests -------------------------------------------------------------------------- */

static void
s3drv_kick(struct s3drv_req *req)
{
	event_active(req->kick, EV_TIMEOUT, 0);
}

/* Take the easy handle out of the multi handle (which stops an unfinished transfer and
 * closes its connection) and free it. */
static void
s3drv_detach(struct s3drv_req *req)
{
	if (req->easy != NULL) {
		curl_multi_remove_handle(req->drv->multi, req->easy);
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
	curl_slist_free_all(req->headers);
	req->headers = NULL;
}

static void
s3drv_req_free(struct s3drv_req *req)
{
	struct s3drv *drv = req->drv;
	s3drv_detach(req);
	event_free(req->kick);
	event_free(req->retry);
	if (req->body != NULL)
		evbuffer_free(req->body);
	strbuf_free(&req->errbody);
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		drv->reqs = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	free(req->key);
	free(req->path);
	free(req);
}

static void s3drv_kick_event(evutil_socket_t fd, short what, void *arg);
static void s3drv_retry_event(evutil_socket_t fd, short what, void *arg);

static struct s3drv_req *
s3drv_req_new(struct backend *be, enum s3drv_kind kind, const char *method, const char *name,
    void *arg)
{
	struct s3drv *drv = be->state;
	struct s3drv_req *req = xcalloc(1, sizeof(*req));
	req->pub.put.be = be;
	req->drv = drv;
	req->kind = kind;
	req->method = method;
	req->arg = arg;
	req->range_total = -1;
	strbuf_init(&req->errbody);
	req->key = xasprintf("%s%s", drv->prefix, name);
	struct strbuf path;
	strbuf_init(&path);
	strbuf_puts(&path, drv->path_base);
	strbuf_puts(&path, "/");
	sigv4_uri_encode(&path, req->key, strlen(req->key), 1);
	req->path = strbuf_detach(&path);
	req->kick = event_new(drv->base, -1, 0, s3drv_kick_event, req);
	req->retry = evtimer_new(drv->base, s3drv_retry_event, req);
	req->next = drv->reqs;
	if (drv->reqs != NULL)
		drv->reqs->prev = req;
	drv->reqs = req;
	return req;
}

/* Let go of a request: now, or once the libcurl or caller callback we are inside returns. */
static void
s3drv_abandon(struct s3drv_req *req)
{
	if (req->in_cb) {
		req->aborted = 1;
		s3drv_kick(req);
		return;
	}
	s3drv_req_free(req);
}

/* --- outcome --------------------------------------------------------------------------- */

static void
s3drv_log_failure(struct s3drv_req *req)
{
	char tries[32] = "";
	if (req->tries > 1)
		snprintf(tries, sizeof(tries), " (%d tries)", req->tries);
	if (req->err == ENOENT) {
		log_debug("backend %s: %s %s: %s", req->pub.put.be->name, req->method, req->key,
		    req->message);
	} else if (req->http_failed && strncmp(req->message, "HTTP ", 5) != 0) {
		log_warnx("backend %s: %s %s: HTTP %ld %s%s", req->pub.put.be->name, req->method,
		    req->key, req->status, req->message, tries);
	} else {
		log_warnx("backend %s: %s %s: %s%s", req->pub.put.be->name, req->method, req->key,
		    req->message, tries);
	}
}

/* The errno value and message of a try that failed: a libcurl error or an HTTP status. */
static int
s3drv_describe(struct s3drv_req *req, CURLcode rc, char *msg, size_t msglen)
{
	if (rc != CURLE_OK) {
		snprintf(msg, msglen, "%s", req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc));
		return EIO;
	}
	const char *body = req->errbody.data ? req->errbody.data : "";
	char code[64], text[S3DRV_MSG_MAX - 64 - 2];
	s3drv_xml_text(body, "Code", code, sizeof(code));
	s3drv_xml_text(body, "Message", text, sizeof(text));
	int missing = req->status == 404 && req->kind != S3DRV_PUT;
	if (code[0] == '\0' && missing)
		snprintf(code, sizeof(code), "NoSuchKey");
	else if (code[0] == '\0')
		snprintf(code, sizeof(code), "HTTP %ld", req->status);	/* no error body */
	if (text[0] != '\0')
		snprintf(msg, msglen, "%s: %s", code, text);
	else
		snprintf(msg, msglen, "%s", code);
	return missing ? ENOENT : EIO;
}

static int
s3drv_transient(CURLcode rc, long status)
{
	switch (rc) {
	case CURLE_OK:
		return (status >= 500 && status != 501) || status == 429;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* Whether the call may be tried again: nothing of it was handed on yet. */
static int
s3drv_may_retry(struct s3drv_req *req, CURLcode rc)
{
	if (req->tries >= S3DRV_TRIES || !s3drv_transient(rc, req->status))
		return 0;
	if (req->kind == S3DRV_GET && req->started)
		return 0;
	if (req->kind == S3DRV_PUT && req->handed > 0)
		return 0;
	return 1;
}

/* What HEAD and GET learn from the response headers: size and mtime. */
static void
s3drv_capture(struct s3drv_req *req)
{
	curl_off_t len = -1, mtime = -1;
	curl_easy_getinfo(req->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
	curl_easy_getinfo(req->easy, CURLINFO_FILETIME_T, &mtime);
	if ((req->status == 206 || req->status == 416) && req->range_total >= 0)
		req->st.size = (uint64_t)req->range_total;
	else
		req->st.size = len >= 0 ? (uint64_t)len : 0;
	req->st.mtime = mtime >= 0 ? (int64_t)mtime : 0;
}

/* A GET's response is a 2xx: tell the caller, and cope with a server that ignored Range.
 * Returns -1 when the caller aborted from on_start. */
static int
s3drv_get_begin(struct s3drv_req *req)
{
	req->started = 1;
	if (req->status == 200 && req->range[0] != '\0') {
		req->skip = req->offset;
		req->limited = req->length >= 0;
		req->left = req->limited ? (uint64_t)req->length : 0;
	}
	req->in_cb = 1;
	req->get_cbs.on_start(req->arg, &req->st);
	req->in_cb = 0;
	return req->aborted ? -1 : 0;
}

/* An answer that ends the call well: a 2xx; for DELETE a 404 too; for GET a 416 for a range
 * that starts at or past the end (like the fs driver, an empty read of the whole size). */
static int
s3drv_success(struct s3drv_req *req)
{
	if (req->status >= 200 && req->status < 300)
		return 1;
	if (req->kind == S3DRV_DELETE)
		return req->status == 404;
	if (req->kind == S3DRV_GET && req->status == 416 && req->range_total >= 0)
		return req->offset >= (uint64_t)req->range_total;
	return 0;
}

/* The end of a try, from s3drv_check_done. */
static void
s3drv_ended(struct s3drv_req *req, CURLcode rc)
{
	req->status = 0;
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->status);
	if (req->aborted) {
		s3drv_req_free(req);
		return;
	}
	if (rc == CURLE_OK && s3drv_success(req)) {
		s3drv_capture(req);
		s3drv_detach(req);
		if (req->kind == S3DRV_PUT && !req->finished) {
			req->err = EIO;
			snprintf(req->message, sizeof(req->message),
			    "the service answered before the end of the body");
			s3drv_log_failure(req);
		}
		s3drv_report(req);
		return;
	}
	char msg[S3DRV_MSG_MAX];
	int err = s3drv_describe(req, rc, msg, sizeof(msg));
	s3drv_detach(req);
	if (err != ENOENT && s3drv_may_retry(req, rc)) {
		long ms = s3drv_backoff_ms(req->drv, req->tries);
		log_debug("backend %s: %s %s: %s; retrying in %ld ms", req->pub.put.be->name,
		    req->method, req->key, msg, ms);
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		evtimer_add(req->retry, &tv);
		return;
	}
	req->err = err;
	req->http_failed = rc == CURLE_OK;
	snprintf(req->message, sizeof(req->message), "%s", msg);
	s3drv_log_failure(req);
	s3drv_report(req);
}

static void
s3drv_check_done(struct s3drv *drv)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(drv->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURLcode rc = msg->data.result;
		char *priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		s3drv_ended((struct s3drv_req *)priv, rc);
	}
}

static void
s3drv_report_done(struct s3drv_req *req)
{
	backend_done_cb cb = req->kind == S3DRV_GET ? req->get_cbs.on_done :
	    req->kind == S3DRV_PUT ? req->put_cbs.on_done : req->done_cb;
	void *arg = req->arg;
	int err = req->err;
	char message[S3DRV_MSG_MAX];
	snprintf(message, sizeof(message), "%s", req->message);
	s3drv_req_free(req);
	cb(arg, err, err ? message : NULL);
}

static void
s3drv_report_stat(struct s3drv_req *req)
{
	backend_stat_cb cb = req->stat_cb;
	void *arg = req->arg;
	int err = req->err;
	struct backend_stat st = req->st;
	s3drv_req_free(req);
	cb(arg, err, err ? NULL : &st);
}

/* A PUT that failed before put_finish waits for the caller's next call; wake it if it
 * waits for room. */
static void
s3drv_report_put(struct s3drv_req *req)
{
	if (req->finished) {
		s3drv_report_done(req);
		return;
	}
	if (req->want_writable) {
		req->want_writable = 0;
		req->put_cbs.on_writable(req->arg);	/* its put_write answers -1 */
	}
}

/* Tell the caller how the call ended (req->err), from the loop; frees req unless it is a
 * PUT still waiting for put_finish. */
static void
s3drv_report(struct s3drv_req *req)
{
	switch (req->kind) {
	case S3DRV_HEAD:
		s3drv_report_stat(req);
		break;
	case S3DRV_GET:
		if (req->err == 0 && !req->started && s3drv_get_begin(req) == -1) {
			s3drv_req_free(req);
			return;
		}
		s3drv_report_done(req);
		break;
	case S3DRV_PUT:
		s3drv_report_put(req);
		break;
	case S3DRV_DELETE:
		s3drv_report_done(req);
		break;
	}
}

static void
s3drv_retry_event(evutil_socket_t fd, short what, void *arg)
{
	struct s3drv_req *req = arg;
	if (s3drv_launch(req) == -1) {
		s3drv_log_failure(req);
		s3drv_report(req);
	}
}

static void
s3drv_put_kick(struct s3drv_req *req)
{
	if (req->unpause && req->read_paused && req->easy != NULL) {
		req->read_paused = 0;
		curl_easy_pause(req->easy, CURLPAUSE_CONT);
	}
	req->unpause = 0;
	if (req->want_writable && (req->err != 0 ||
	    evbuffer_get_length(req->body) < S3DRV_PUT_HIGH / 2)) {
		req->want_writable = 0;
		req->put_cbs.on_writable(req->arg);
	}
}

static void
s3drv_get_kick(struct s3drv_req *req)
{
	if (!req->resume || !req->paused || req->easy == NULL)
		return;
	req->resume = 0;
	req->paused = 0;
	/* libcurl gives the chunk it kept to the write callback right here */
	curl_easy_pause(req->easy, CURLPAUSE_CONT);
	if (req->aborted)
		s3drv_req_free(req);
}

static void
s3drv_kick_event(evutil_socket_t fd, short what, void *arg)
{
	struct s3drv_req *req = arg;
	if (req->aborted) {
		s3drv_req_free(req);
		return;
	}
	if (req->report) {
		req->report = 0;
		s3drv_report(req);
		return;
	}
	if (req->kind == S3DRV_PUT)
		s3drv_put_kick(req);
	else if (req->kind == S3DRV_GET)
		s3drv_get_kick(req);
}

/* A failure found inside a caller's call: log it now, report it from the loop. */
static void
s3drv_fail_later(struct s3drv_req *req, int err, const char *message)
{
	req->err = err;
	snprintf(req->message, sizeof(req->message), "%s", message);
	s3drv_log_failure(req);
	req->report = 1;
	s3drv_kick(req);
}

/* --- libcurl callbacks ----------------------------------------------------------------- */

static long
s3drv_status(struct s3drv_req *req)
{
	long status = 0;
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* CURLOPT_HEADERFUNCTION: note Content-Range's total ("bytes 0-9/1234"). */
static size_t
s3drv_header_cb(char *line, size_t size, size_t nitems, void *userp)
{
	struct s3drv_req *req = userp;
	size_t len = size * nitems;
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		req->range_total = -1;
	} else if (len > 14 && strncasecmp(line, "content-range:", 14) == 0) {
		char value[128];
		size_t n = len - 14 < sizeof(value) - 1 ? len - 14 : sizeof(value) - 1;
		memcpy(value, line + 14, n);
		value[n] = '\0';
		const char *slash = strchr(value, '/');
		char *end;
		if (slash != NULL && slash[1] >= '0' && slash[1] <= '9') {
			unsigned long long total = strtoull(slash + 1, &end, 10);
			if (total <= INT64_MAX)
				req->range_total = (int64_t)total;
		}
	}
	return len;
}

/* Hand a slice of a GET's body on, skipping and cutting for a server that ignored Range.
 * Returns BACKEND_FULL when the caller wants a pause. */
static int
s3drv_get_deliver(struct s3drv_req *req, const char *data, size_t len)
{
	size_t drop = req->skip < len ? (size_t)req->skip : len;
	req->skip -= drop;
	data += drop;
	len -= drop;
	if (req->limited) {
		if (len > req->left)
			len = (size_t)req->left;
		req->left -= len;
	}
	if (len == 0)
		return BACKEND_ACCEPTED;
	return req->get_cbs.on_data(req->arg, data, len);
}

/* CURLOPT_WRITEFUNCTION: a GET's body goes to the caller; an error body is kept (its
 * start) for the S3 error code; other bodies are dropped. */
static size_t
s3drv_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct s3drv_req *req = userp;
	size_t len = size * nmemb;
	if (req->aborted)
		return 0;
	req->status = s3drv_status(req);
	if (req->status < 200 || req->status >= 300) {
		size_t room = S3DRV_ERRBODY_MAX - req->errbody.len;
		strbuf_append(&req->errbody, data, len < room ? len : room);
		return len;
	}
	if (req->kind != S3DRV_GET)
		return len;
	if (req->pause_next) {
		req->pause_next = 0;
		req->paused = 1;
		return CURL_WRITEFUNC_PAUSE;	/* libcurl gives this chunk again on unpause */
	}
	if (!req->started) {
		s3drv_capture(req);
		if (s3drv_get_begin(req) == -1)
			return 0;
	}
	req->in_cb = 1;
	int full = s3drv_get_deliver(req, data, len);
	req->in_cb = 0;
	if (req->aborted)
		return 0;
	if (full == BACKEND_FULL)
		req->pause_next = 1;
	return len;
}

/* CURLOPT_READFUNCTION: a PUT's body from the buffer, never its last byte before
 * put_finish; pause when there is nothing to give. */
static size_t
s3drv_read_cb(char *dst, size_t size, size_t nitems, void *userp)
{
	struct s3drv_req *req = userp;
	uint64_t allowed = req->finished || req->size == 0 ? req->size : req->size - 1;
	uint64_t can = allowed - req->handed;
	size_t n = size * nitems;
	size_t avail = evbuffer_get_length(req->body);
	if (n > avail)
		n = avail;
	if (n > can)
		n = (size_t)can;
	if (n == 0) {
		if (req->handed == req->size)
			return 0;
		req->read_paused = 1;
		return CURL_READFUNC_PAUSE;
	}
	evbuffer_remove(req->body, dst, n);
	req->handed += n;
	if (req->want_writable && evbuffer_get_length(req->body) < S3DRV_PUT_HIGH / 2)
		s3drv_kick(req);
	return n;
}

/* --- one try: sign, set up, add -------------------------------------------------------- */

static int
s3drv_sign(struct s3drv_req *req)
{
	struct s3drv *drv = req->drv;
	const struct sigv4_credentials cred = {
		.access_key = drv->access_key, .secret_key = drv->secret_key,
		.region = drv->region, .service = "s3",
	};
	const struct sigv4_request sr = {
		.method = req->method, .path = req->path, .path_mode = SIGV4_PATH_AS_IS,
		.payload_hash = req->kind == S3DRV_PUT ? SIGV4_UNSIGNED_PAYLOAD :
		    SIGV4_EMPTY_SHA256,
	};
	struct sigv4_signed sig;
	if (sigv4_sign(&cred, &sr, drv->host, clock_real_s(), &sig) == -1) {
		sigv4_signed_free(&sig);
		return -1;
	}
	s3drv_header(&req->headers, "Host: %s", drv->host);
	s3drv_header(&req->headers, "X-Amz-Date: %s", sig.amz_date);
	s3drv_header(&req->headers, "X-Amz-Content-Sha256: %s", sr.payload_hash);
	s3drv_header(&req->headers, "Authorization: %s", sig.authorization);
	if (req->range[0] != '\0')
		s3drv_header(&req->headers, "Range: %s", req->range);
	sigv4_signed_free(&sig);
	return 0;
}

static void
s3drv_setup_common(struct s3drv_req *req, CURL *e)
{
	struct s3drv *drv = req->drv;
	char *url = xasprintf("%s://%s%s", drv->scheme, drv->host, req->path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)req);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, drv->timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, drv->low_speed_s);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, drv->tls_verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, drv->tls_verify ? 2L : 0L);
	if (drv->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, drv->ca_file);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s3drv_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s3drv_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_FILETIME, 1L);
}

static void
s3drv_setup_method(struct s3drv_req *req, CURL *e)
{
	switch (req->kind) {
	case S3DRV_PUT:
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->size);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, s3drv_read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, req);
		break;
	case S3DRV_GET:
		curl_easy_setopt(e, CURLOPT_BUFFERSIZE, S3DRV_RECV_BUFFER);
		if (strcmp(req->method, "HEAD") == 0)
			curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		break;
	case S3DRV_HEAD:
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->drv->timeout_ms);
		break;
	case S3DRV_DELETE:
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->drv->timeout_ms);
		break;
	}
}

/* Start a try; -1 (with err and message set) when it cannot start. */
static int
s3drv_launch(struct s3drv_req *req)
{
	req->tries++;
	req->status = 0;
	req->range_total = -1;
	req->errbuf[0] = '\0';
	strbuf_reset(&req->errbody);
	req->read_paused = req->unpause = req->pause_next = req->paused = req->resume = 0;
	req->easy = curl_easy_init();
	if (req->easy == NULL || s3drv_sign(req) == -1) {
		s3drv_detach(req);
		req->err = EIO;
		snprintf(req->message, sizeof(req->message), "cannot set up the request");
		return -1;
	}
	s3drv_setup_common(req, req->easy);
	s3drv_setup_method(req, req->easy);
	CURLMcode mc = curl_multi_add_handle(req->drv->multi, req->easy);
	if (mc != CURLM_OK) {
		s3drv_detach(req);
		req->err = EIO;
		snprintf(req->message, sizeof(req->message), "%s", curl_multi_strerror(mc));
		return -1;
	}
	return 0;
}

/* --- the interface: PUT ---------------------------------------------------------------- */

static struct backend_put *
s3drv_put_start(struct backend *be, const char *name, int64_t size,
    const struct backend_put_cbs *cbs, void *arg)
{
	if (size < 0) {
		log_warnx("backend %s: PUT %s: the size must be known in advance", be->name, name);
		return NULL;
	}
	struct s3drv_req *req = s3drv_req_new(be, S3DRV_PUT, "PUT", name, arg);
	req->put_cbs = *cbs;
	req->size = (uint64_t)size;
	req->body = evbuffer_new();
	/* a 0-byte body has no byte to withhold: it is sent at put_finish */
	if (size > 0 && s3drv_launch(req) == -1) {
		s3drv_log_failure(req);
		s3drv_req_free(req);
		return NULL;
	}
	return &req->pub.put;
}

/* New bytes, or the last byte allowed: wake a paused upload, from the loop (put_write may
 * be called inside another transfer's libcurl callback, as backend_copy does). */
static void
s3drv_put_unpause(struct s3drv_req *req)
{
	if (req->read_paused && req->easy != NULL && !req->unpause) {
		req->unpause = 1;
		s3drv_kick(req);
	}
}

static int
s3drv_put_write(struct backend_put *put, const void *data, size_t len)
{
	struct s3drv_req *req = (struct s3drv_req *)put;
	if (req->err != 0)
		return -1;
	if (len > req->size - req->pushed) {
		evtimer_del(req->retry);
		s3drv_detach(req);
		req->err = EIO;
		snprintf(req->message, sizeof(req->message), "more than the %llu bytes declared",
		    (unsigned long long)req->size);
		s3drv_log_failure(req);
		return -1;
	}
	evbuffer_add(req->body, data, len);
	req->pushed += len;
	s3drv_put_unpause(req);
	if (evbuffer_get_length(req->body) >= S3DRV_PUT_HIGH) {
		req->want_writable = 1;
		return BACKEND_FULL;
	}
	return BACKEND_ACCEPTED;
}

static void
s3drv_put_finish(struct backend_put *put)
{
	struct s3drv_req *req = (struct s3drv_req *)put;
	req->finished = 1;
	req->want_writable = 0;
	if (req->err == 0 && req->pushed != req->size) {
		evtimer_del(req->retry);
		s3drv_detach(req);
		char msg[96];
		snprintf(msg, sizeof(msg), "the body ended after %llu of %llu bytes",
		    (unsigned long long)req->pushed, (unsigned long long)req->size);
		s3drv_fail_later(req, EIO, msg);
		return;
	}
	if (req->err != 0) {
		req->report = 1;		/* logged when it failed */
		s3drv_kick(req);
		return;
	}
	if (req->size == 0) {
		if (s3drv_launch(req) == -1) {
			char msg[S3DRV_MSG_MAX];
			snprintf(msg, sizeof(msg), "%s", req->message);
			s3drv_fail_later(req, EIO, msg);
		}
		return;
	}
	s3drv_put_unpause(req);			/* the last byte may go now */
}

static void
s3drv_put_abort(struct backend_put *put)
{
	/* the body is short of its length: the service drops what it got */
	s3drv_abandon((struct s3drv_req *)put);
}

/* --- the interface: GET ---------------------------------------------------------------- */

static void
s3drv_get_range(struct s3drv_req *req)
{
	unsigned long long first = req->offset;
	if (req->length < 0 && first > 0)
		snprintf(req->range, sizeof(req->range), "bytes=%llu-", first);
	else if (req->length > 0)
		snprintf(req->range, sizeof(req->range), "bytes=%llu-%llu", first,
		    first + (unsigned long long)req->length - 1);
}

static struct backend_get *
s3drv_get_start(struct backend *be, const char *name, uint64_t offset, int64_t length,
    const struct backend_get_cbs *cbs, void *arg)
{
	/* nothing to read: a HEAD says whether the object is there and its size */
	struct s3drv_req *req = s3drv_req_new(be, S3DRV_GET, length == 0 ? "HEAD" : "GET", name,
	    arg);
	req->get_cbs = *cbs;
	req->offset = offset;
	req->length = length;
	s3drv_get_range(req);
	if (s3drv_launch(req) == -1) {
		char msg[S3DRV_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s", req->message);
		s3drv_fail_later(req, EIO, msg);
	}
	return &req->pub.get;
}

static void
s3drv_get_resume(struct backend_get *get)
{
	struct s3drv_req *req = (struct s3drv_req *)get;
	if (req->paused) {
		req->resume = 1;
		s3drv_kick(req);	/* unpausing hands data on at once: do it from the loop */
	} else {
		req->pause_next = 0;
	}
}

static void
s3drv_get_abort(struct backend_get *get)
{
	s3drv_abandon((struct s3drv_req *)get);
}

/* --- the interface: stat, remove ------------------------------------------------------- */

static void
s3drv_begin(struct s3drv_req *req)
{
	if (s3drv_launch(req) == -1) {
		char msg[S3DRV_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s", req->message);
		s3drv_fail_later(req, EIO, msg);
	}
}

static void
s3drv_stat(struct backend *be, const char *name, backend_stat_cb cb, void *arg)
{
	struct s3drv_req *req = s3drv_req_new(be, S3DRV_HEAD, "HEAD", name, arg);
	req->stat_cb = cb;
	s3drv_begin(req);
}

static void
s3drv_remove(struct backend *be, const char *name, backend_done_cb cb, void *arg)
{
	struct s3drv_req *req = s3drv_req_new(be, S3DRV_DELETE, "DELETE", name, arg);
	req->done_cb = cb;
	s3drv_begin(req);
}

/* --- create, destroy ------------------------------------------------------------------- */

/* "https://host[:port][/]" → scheme and authority; -1 for anything else. */
static int
s3drv_parse_endpoint(const char *endpoint, char **scheme, char **authority)
{
	const char *sep = strstr(endpoint, "://");
	if (sep == NULL)
		return -1;
	size_t slen = (size_t)(sep - endpoint);
	if (!(slen == 4 && strncasecmp(endpoint, "http", 4) == 0) &&
	    !(slen == 5 && strncasecmp(endpoint, "https", 5) == 0))
		return -1;
	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	if (alen == 0 || (auth[alen] != '\0' && strcmp(auth + alen, "/") != 0))
		return -1;
	*scheme = xasprintf("%.*s", (int)slen, endpoint);
	for (char *p = *scheme; *p; p++)
		*p = (char)(*p | 0x20);
	*authority = xasprintf("%.*s", (int)alen, auth);
	return 0;
}

static uint64_t
s3drv_seed(void)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)clock_mono_ms() ^ ((uint64_t)getpid() << 32);
	return seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
}

static void
s3drv_free(struct s3drv *drv)
{
	while (drv->reqs != NULL)
		s3drv_req_free(drv->reqs);
	if (drv->multi != NULL)
		curl_multi_cleanup(drv->multi);
	while (drv->socks != NULL)
		s3drv_sock_free(drv, drv->socks);
	if (drv->timer != NULL)
		event_free(drv->timer);
	free(drv->name);
	free(drv->scheme);
	free(drv->host);
	free(drv->path_base);
	free(drv->prefix);
	free(drv->region);
	free(drv->access_key);
	if (drv->secret_key != NULL)
		OPENSSL_cleanse(drv->secret_key, strlen(drv->secret_key));
	free(drv->secret_key);
	free(drv->ca_file);
	free(drv);
	curl_global_cleanup();
}

static void
s3drv_set_service(struct s3drv *drv, const struct cfg_s3_endpoint *s3, char *authority)
{
	struct strbuf sb;
	strbuf_init(&sb);
	if (s3->path_style) {
		drv->host = authority;
		strbuf_puts(&sb, "/");
		sigv4_uri_encode(&sb, s3->bucket, strlen(s3->bucket), 0);
		drv->path_base = strbuf_detach(&sb);
	} else {
		drv->host = xasprintf("%s.%s", s3->bucket, authority);
		drv->path_base = xstrdup("");
		free(authority);
		strbuf_free(&sb);
	}
	drv->prefix = xstrdup(s3->prefix ? s3->prefix : "");
	drv->region = xstrdup(s3->region ? s3->region : "us-east-1");
	drv->access_key = xstrdup(s3->access_key ? s3->access_key : "");
	drv->secret_key = xstrdup(s3->secret_key ? s3->secret_key : "");
	drv->ca_file = s3->ca_file ? xstrdup(s3->ca_file) : NULL;
	drv->tls_verify = s3->tls_verify;
}

static void *
s3drv_create(const struct cfg_backend *conf, struct event_base *base, char *err, size_t errlen)
{
	const struct cfg_s3_endpoint *s3 = &conf->s3;
	char *scheme, *authority;
	if (s3->endpoint == NULL || s3->bucket == NULL || *s3->bucket == '\0' ||
	    s3drv_parse_endpoint(s3->endpoint, &scheme, &authority) == -1) {
		snprintf(err, errlen, "backend %s: endpoint must be http(s)://host[:port] and a "
		    "bucket is needed", conf->name);
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "backend %s: libcurl cannot start", conf->name);
		free(scheme);
		free(authority);
		return NULL;
	}
	struct s3drv *drv = xcalloc(1, sizeof(*drv));
	drv->name = xstrdup(conf->name);
	drv->base = base;
	drv->scheme = scheme;
	s3drv_set_service(drv, s3, authority);
	drv->timeout_ms = conf->timeout_ms > 0 ? (long)conf->timeout_ms : 60000;
	drv->low_speed_s = (drv->timeout_ms + 999) / 1000;
	drv->rng = s3drv_seed();
	drv->timer = evtimer_new(base, s3drv_timer_event, drv);
	drv->multi = curl_multi_init();
	if (drv->multi == NULL) {
		snprintf(err, errlen, "backend %s: curl_multi_init failed", conf->name);
		s3drv_free(drv);
		return NULL;
	}
	curl_multi_setopt(drv->multi, CURLMOPT_SOCKETFUNCTION, s3drv_socket_cb);
	curl_multi_setopt(drv->multi, CURLMOPT_SOCKETDATA, drv);
	curl_multi_setopt(drv->multi, CURLMOPT_TIMERFUNCTION, s3drv_timer_cb);
	curl_multi_setopt(drv->multi, CURLMOPT_TIMERDATA, drv);
	if (!drv->tls_verify)
		log_warnx("backend %s: tls_verify is off: the identity of %s is not checked",
		    conf->name, s3->endpoint);
	return drv;
}

/* Whatever is still under way is dropped without a callback. */
static void
s3drv_destroy(void *state)
{
	s3drv_free(state);
}

const struct backend_ops backend_s3_ops = {
	.driver = "s3",
	.create = s3drv_create,
	.destroy = s3drv_destroy,
	.put_start = s3drv_put_start,
	.put_write = s3drv_put_write,
	.put_finish = s3drv_put_finish,
	.put_abort = s3drv_put_abort,
	.get_start = s3drv_get_start,
	.get_resume = s3drv_get_resume,
	.get_abort = s3drv_get_abort,
	.open = NULL,
	.stat = s3drv_stat,
	.remove = s3drv_remove,
};
