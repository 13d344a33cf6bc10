/*
 * http.c: HTTP/1.1 server connections: http_parser driven from bufferevent input, streamed
 * request bodies with pause/resume, streamed responses with a drain callback.
 *
 * A connection closed while the client may still be sending (a body answered before it was
 * read, the rest of a head refused) lingers: the write side is shut, input is read and
 * discarded for up to HTTP_LINGER_MS, then the socket is closed.  Closing at once would
 * make the kernel reset the connection over the unread bytes, and the client would see the
 * reset instead of the answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <http_parser.h>

#include "http.h"
#include "log.h"
#include "util.h"

#define HTTP_INPUT_HIGH_MARK (256 * 1024)
#define HTTP_OUTPUT_LOW_MARK (128 * 1024)
#define HTTP_MAX_HEADERS 256
#define HTTP_LINGER_MS 5000
#define HTTP_BODY_LOWAT (64 * 1024)	/* a large body is read this much at a time */
#define HTTP_ACCEPT_PAUSE_MS 100	/* out of descriptors: listen again after this */
#define HTTP_SMALL_FILE (16 * 1024)	/* file bodies up to this go out with the headers */

struct http_server {
	struct event_base *base;
	struct event *listen_ev;		/* the listening socket: one accept per wake-up */
	struct event *accept_pause;	/* re-arms listen_ev after EMFILE */
	struct http_server_conf conf;
	http_request_cb on_request;
	void *arg;
	struct http_conn *conns;	/* doubly linked */
	size_t nconns;
	int draining;
	void (*drained)(void *arg);
	void *drained_arg;
	uint32_t id_base;
	uint32_t id_counter;
};

struct http_conn {
	struct http_server *srv;
	struct http_conn *prev, *next;
	struct bufferevent *bev;	/* NULL once the socket is closed */
	struct event *head_timer;
	http_parser parser;
	struct http_request *req;	/* the request being parsed or handled */
	struct strbuf url;
	struct strbuf field;
	struct strbuf value;
	int in_value;
	size_t header_bytes;
	int header_error;		/* 431 when set */
	int headers_done;		/* the parser paused after the head */
	int message_done;		/* the parser paused after the message */
	int dispatching;		/* inside http_conn_process */
	int closing;			/* close once the output is flushed */
	int linger;			/* the client may still be sending: linger at close */
	int lingering;			/* write side shut, discarding input until EOF */
	int rcvlowat;			/* the socket's SO_RCVLOWAT (1: the kernel's default) */
	int64_t linger_deadline;
	char remote[64];
};

static void http_conn_process(struct http_conn *conn);
static void http_conn_end(struct http_conn *conn);
static void http_conn_close(struct http_conn *conn);
static void http_conn_maybe_free(struct http_conn *conn);

const char *
http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	}
	return "Unknown";
}

/* --- requests -------------------------------------------------------------------------- */

static struct http_request *
http_request_new(struct http_conn *conn)
{
	struct http_request *req = xcalloc(1, sizeof(*req));
	struct http_server *srv = conn->srv;
	req->conn = conn;
	req->started_ms = clock_mono_ms();
	snprintf(req->request_id, sizeof(req->request_id), "%08X%08X", srv->id_base,
	    ++srv->id_counter);
	snprintf(req->remote, sizeof(req->remote), "%s", conn->remote);
	return req;
}

static void
http_request_free(struct http_request *req)
{
	for (size_t i = 0; i < req->nheaders; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	free(req->headers);
	free(req->target);
	free(req->path);
	free(req->query);
	free(req);
}

const char *
http_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (strcmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

static char *
http_trim_copy(const char *s, size_t len)
{
	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	char *out = xmalloc(len + 1);
	memcpy(out, s, len);
	out[len] = '\0';
	return out;
}

static int
http_push_header(struct http_conn *conn)
{
	struct http_request *req = conn->req;
	if (conn->field.len == 0)
		return 0;
	if (req->nheaders >= HTTP_MAX_HEADERS) {
		conn->header_error = 1;
		return -1;
	}
	req->headers = xreallocarray(req->headers, req->nheaders + 1, sizeof(*req->headers));
	struct http_header *h = &req->headers[req->nheaders++];
	h->name = http_trim_copy(conn->field.data, conn->field.len);
	for (char *p = h->name; *p; p++)
		*p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
	h->value = http_trim_copy(conn->value.data ? conn->value.data : "", conn->value.len);
	strbuf_reset(&conn->field);
	strbuf_reset(&conn->value);
	conn->in_value = 0;
	return 0;
}

/* --- parser callbacks ------------------------------------------------------------------- */

static int
http_count_head(struct http_conn *conn, size_t len)
{
	conn->header_bytes += len;
	if (conn->header_bytes > conn->srv->conf.max_header_bytes) {
		conn->header_error = 1;
		return -1;
	}
	return 0;
}

static int
http_on_message_begin(http_parser *p)
{
	struct http_conn *conn = p->data;
	conn->req = http_request_new(conn);
	conn->header_bytes = 0;
	conn->in_value = 0;
	strbuf_reset(&conn->url);
	strbuf_reset(&conn->field);
	strbuf_reset(&conn->value);
	if (conn->srv->conf.request_timeout_ms > 0) {
		struct timeval tv = {
			.tv_sec = conn->srv->conf.request_timeout_ms / 1000,
			.tv_usec = (conn->srv->conf.request_timeout_ms % 1000) * 1000,
		};
		evtimer_add(conn->head_timer, &tv);
	}
	return 0;
}

static int
http_on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *conn = p->data;
	if (http_count_head(conn, len) == -1)
		return -1;
	strbuf_append(&conn->url, at, len);
	return 0;
}

static int
http_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *conn = p->data;
	if (http_count_head(conn, len) == -1)
		return -1;
	if (conn->in_value && http_push_header(conn) == -1)
		return -1;
	strbuf_append(&conn->field, at, len);
	return 0;
}

static int
http_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *conn = p->data;
	if (http_count_head(conn, len) == -1)
		return -1;
	conn->in_value = 1;
	strbuf_append(&conn->value, at, len);
	return 0;
}

static void
http_split_target(struct http_request *req, const char *url)
{
	req->target = xstrdup(url);
	const char *q = strchr(url, '?');
	if (q == NULL) {
		req->path = xstrdup(url);
		req->query = xstrdup("");
		return;
	}
	req->path = xmalloc((size_t)(q - url) + 1);
	memcpy(req->path, url, (size_t)(q - url));
	req->path[q - url] = '\0';
	req->query = xstrdup(q + 1);
}

static int
http_on_headers_complete(http_parser *p)
{
	struct http_conn *conn = p->data;
	struct http_request *req = conn->req;
	if (http_push_header(conn) == -1)
		return -1;
	evtimer_del(conn->head_timer);
	http_split_target(req, conn->url.data ? conn->url.data : "/");
	req->method = http_method_str((enum http_method)p->method);
	req->http_minor = p->http_minor;
	req->keep_alive = http_should_keep_alive(p);
	req->chunked = (p->flags & F_CHUNKED) != 0;
	if (!req->chunked && p->content_length != ULLONG_MAX && p->content_length > 0) {
		req->content_length = p->content_length;
		req->has_body = 1;
	}
	if (req->chunked)
		req->has_body = 1;
	const char *expect = http_header(req, "expect");
	req->expect_continue = expect != NULL && strcasecmp(expect, "100-continue") == 0;
	conn->headers_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static int
http_on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *conn = p->data;
	struct http_request *req = conn->req;
	req->bytes_in += len;
	if (req->body_cbs.on_data != NULL && !req->closed)
		req->body_cbs.on_data(req, at, len, req->body_arg);
	if (conn->req != req || req->body_paused)	/* finished in the callback, or paused */
		http_parser_pause(p, 1);
	return 0;
}

static int
http_on_message_complete(http_parser *p)
{
	struct http_conn *conn = p->data;
	conn->message_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_settings = {
	.on_message_begin = http_on_message_begin,
	.on_url = http_on_url,
	.on_header_field = http_on_header_field,
	.on_header_value = http_on_header_value,
	.on_headers_complete = http_on_headers_complete,
	.on_body = http_on_body,
	.on_message_complete = http_on_message_complete,
};

/* --- connection ------------------------------------------------------------------------ */

static void
http_send_simple_error(struct http_conn *conn, int status)
{
	if (conn->bev == NULL)
		return;
	struct evbuffer *out = bufferevent_get_output(conn->bev);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n"
	    "Server: s3mux\r\n\r\n", status, http_status_text(status));
	conn->closing = 1;
	conn->linger = 1;
}

/* A request that no handler owns any more and a parser error: answer and close. */
static void
http_conn_protocol_error(struct http_conn *conn)
{
	enum http_errno err = HTTP_PARSER_ERRNO(&conn->parser);
	int status = conn->header_error ? 431 : 400;
	if (err == HPE_HEADER_OVERFLOW)
		status = 431;
	log_debug("http: %s: %s", conn->remote, conn->header_error ? "header too large" :
	    http_errno_description(err));
	if (conn->req != NULL && !conn->headers_done) {
		http_request_free(conn->req);
		conn->req = NULL;
		http_send_simple_error(conn, status);
		bufferevent_disable(conn->bev, EV_READ);
		return;
	}
	/* mid-body: the handler owns the request; tell it the connection is gone */
	http_conn_close(conn);
}

static void
http_conn_dispatch_headers(struct http_conn *conn)
{
	struct http_request *req = conn->req;
	conn->headers_done = 0;
	if (conn->srv->draining)
		req->keep_alive = 0;
	bufferevent_disable(conn->bev, EV_READ);
	conn->srv->on_request(req, conn->srv->arg);
}

static void
http_conn_dispatch_end(struct http_conn *conn)
{
	struct http_request *req = conn->req;
	conn->message_done = 0;
	req->body_done = 1;
	bufferevent_disable(conn->bev, EV_READ);
	if (req->body_reading && req->body_cbs.on_end != NULL && !req->closed)
		req->body_cbs.on_end(req, req->body_arg);
}

/*
 * May the parser run now?  Always while a head is coming in; after the head only to deliver
 * a body the handler reads (and has not paused), or to reach the end of a bodiless message.
 */
static int
http_conn_may_parse(const struct http_conn *conn)
{
	const struct http_request *req = conn->req;
	if (conn->bev == NULL || conn->closing)
		return 0;
	if (req == NULL || req->target == NULL)
		return 1;
	if (req->body_done)
		return 0;			/* wait for http_request_finish */
	if (!req->has_body)
		return 1;
	return req->body_reading && !req->body_paused;
}

/* Bytes of a body of known length still to come from the socket; 0 when none is read. */
static uint64_t
http_conn_body_on_wire(const struct http_conn *conn)
{
	const struct http_request *req = conn->req;
	if (req == NULL || !req->body_reading || req->body_paused || req->body_done ||
	    req->chunked || conn->parser.content_length == ULLONG_MAX)
		return 0;
	size_t buffered = evbuffer_get_length(bufferevent_get_input(conn->bev));
	uint64_t left = conn->parser.content_length;	/* body bytes not parsed yet */
	return left > buffered ? left - buffered : 0;
}

/* Set the socket's SO_RCVLOWAT to want (once: the value set is kept); 0 or -1. */
static int
http_conn_put_lowat(struct http_conn *conn, int want)
{
	if (want == conn->rcvlowat)
		return 0;
	evutil_socket_t fd = bufferevent_getfd(conn->bev);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) == -1)
		return -1;
	conn->rcvlowat = want;
	return 0;
}

/*
 * While a body of known length streams, the kernel reports the socket readable only when
 * HTTP_BODY_LOWAT bytes, or the rest of the body, are waiting (SO_RCVLOWAT): a large PUT
 * is then read in pieces of that size, not one small read per arriving segment (profiled
 * on 1 MiB PUTs: a few hundred reads each, most of their cost per call).  A client that
 * closes early still wakes the reader (the end of the stream is always readable), and
 * between requests the mark is back at 1 for the next head.  A client slower than the mark
 * is told from an idle one when the read timeout fires (http_conn_trickling).
 */
static void
http_conn_set_lowat(struct http_conn *conn)
{
	uint64_t on_wire = http_conn_body_on_wire(conn);
	int want = 1;
	if (on_wire > 1)
		want = on_wire < HTTP_BODY_LOWAT ? (int)on_wire : HTTP_BODY_LOWAT;
	http_conn_put_lowat(conn, want);
}

/*
 * Read what waits of a streaming body, up to HTTP_BODY_LOWAT bytes in all, in one readv:
 * libevent 2.1 reads at most 4096 bytes per call (EVBUFFER_MAX_READ), which made a 1 MiB
 * PUT 256 reads.  Only while a body of known length is read; an error or the end of the
 * stream is left for libevent's own next read to report.
 */
static void
http_conn_read_more(struct http_conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	size_t have = evbuffer_get_length(in);
	if (have >= HTTP_BODY_LOWAT)
		return;
	struct evbuffer_iovec vec[2];
	evbuffer_unfreeze(in, 0);	/* a bufferevent keeps its input's end frozen */
	int n = evbuffer_reserve_space(in, (ev_ssize_t)(HTTP_BODY_LOWAT - have), vec, 2);
	if (n <= 0) {
		evbuffer_freeze(in, 0);
		return;
	}
	struct iovec iov[2];
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
	}
	ssize_t got = readv(bufferevent_getfd(conn->bev), iov, n);
	size_t left = got > 0 ? (size_t)got : 0;
	for (int i = 0; i < n; i++) {
		vec[i].iov_len = left < vec[i].iov_len ? left : vec[i].iov_len;
		left -= vec[i].iov_len;
	}
	evbuffer_commit_space(in, vec, got > 0 ? n : 0);
	evbuffer_freeze(in, 0);
}

static void
http_conn_process(struct http_conn *conn)
{
	if (conn->dispatching)
		return;
	conn->dispatching = 1;
	if (http_conn_may_parse(conn) && http_conn_body_on_wire(conn) > 0)
		http_conn_read_more(conn);
	while (http_conn_may_parse(conn)) {
		struct evbuffer *in = bufferevent_get_input(conn->bev);
		struct evbuffer_iovec vec;
		if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1 || vec.iov_len == 0)
			break;
		size_t n = http_parser_execute(&conn->parser, &http_settings, vec.iov_base,
		    vec.iov_len);
		evbuffer_drain(in, n);
		enum http_errno err = HTTP_PARSER_ERRNO(&conn->parser);
		if (err == HPE_PAUSED)
			http_parser_pause(&conn->parser, 0);
		else if (err != HPE_OK) {
			http_conn_protocol_error(conn);
			break;
		}
		if (conn->headers_done)
			http_conn_dispatch_headers(conn);
		if (conn->message_done && conn->req != NULL && conn->req->target != NULL)
			http_conn_dispatch_end(conn);
		else if (conn->message_done && conn->req == NULL)
			conn->message_done = 0;	/* a bodiless request already finished */
	}
	if (conn->bev != NULL) {
		if (http_conn_may_parse(conn))
			bufferevent_enable(conn->bev, EV_READ);
		else
			bufferevent_disable(conn->bev, EV_READ);
		http_conn_set_lowat(conn);
	}
	conn->dispatching = 0;
	if (conn->bev != NULL && conn->closing && conn->req == NULL &&
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0) {
		http_conn_end(conn);	/* finished inside a callback with nothing left to send */
		return;
	}
	http_conn_maybe_free(conn);
}

/* Lingering: throw away what the client still sends; close at the deadline. */
static void
http_conn_discard(struct http_conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (clock_mono_ms() >= conn->linger_deadline)
		http_conn_close(conn);
}

/* The answer is out: close now, or linger first when the client may still be sending. */
static void
http_conn_end(struct http_conn *conn)
{
	if (conn->lingering)
		return;
	int fd = conn->bev != NULL ? bufferevent_getfd(conn->bev) : -1;
	if (!conn->linger || conn->req != NULL || fd == -1 || shutdown(fd, SHUT_WR) == -1) {
		http_conn_close(conn);
		return;
	}
	conn->lingering = 1;
	conn->linger_deadline = clock_mono_ms() + HTTP_LINGER_MS;
	struct timeval tv = {
		.tv_sec = HTTP_LINGER_MS / 1000,
		.tv_usec = (HTTP_LINGER_MS % 1000) * 1000,
	};
	bufferevent_set_timeouts(conn->bev, &tv, NULL);
	bufferevent_setwatermark(conn->bev, EV_READ, 0, 0);
	bufferevent_disable(conn->bev, EV_WRITE);
	bufferevent_enable(conn->bev, EV_READ);
	http_conn_discard(conn);
}

static void
http_read_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *conn = arg;
	if (conn->lingering)
		http_conn_discard(conn);
	else
		http_conn_process(conn);
}

static void
http_write_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *conn = arg;
	struct http_request *req = conn->req;
	if (conn->lingering)
		return;
	if (conn->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
	    (req == NULL || req->response_done)) {
		http_conn_end(conn);
		return;
	}
	if (req != NULL && req->response_started && !req->response_done && req->on_drain)
		req->on_drain(req, req->cb_arg);
}

/*
 * The read timeout fired while the low mark was up: a client that sent something in that
 * time, only less than the mark, is slow, not idle.  Read it at once (mark back at 1) and
 * go on; 1 when the connection lives on.
 */
static int
http_conn_trickling(struct http_conn *conn)
{
	int pending = 0;
	if (conn->rcvlowat <= 1 || ioctl(bufferevent_getfd(conn->bev), FIONREAD, &pending) == -1 ||
	    pending <= 0 || http_conn_put_lowat(conn, 1) == -1)
		return 0;
	bufferevent_enable(conn->bev, EV_READ);
	return 1;
}

static void
http_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *conn = arg;
	struct http_request *req = conn->req;
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) && req != NULL &&
	    req->body_done && !req->response_done) {
		/* half-close after a complete request: finish the response, then close */
		conn->closing = 1;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && http_conn_trickling(conn))
		return;
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("http: %s: timed out", conn->remote);
	http_conn_close(conn);
}

static void
http_head_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *conn = arg;
	if (conn->req != NULL && conn->req->target == NULL) {
		http_request_free(conn->req);
		conn->req = NULL;
		http_send_simple_error(conn, 408);
		bufferevent_disable(conn->bev, EV_READ);
	}
}

/* The socket is gone: tell the handler, free what nobody owns. */
static void
http_conn_close(struct http_conn *conn)
{
	if (conn->bev != NULL) {
		bufferevent_free(conn->bev);
		conn->bev = NULL;
	}
	struct http_request *req = conn->req;
	if (req != NULL && req->target == NULL) {
		http_request_free(req);	/* head not complete: the handler never saw it */
		conn->req = NULL;
	} else if (req != NULL && !req->closed && req->on_abort != NULL) {
		req->closed = 1;
		/* the handler may finish the request in on_abort: keep conn until below */
		int dispatching = conn->dispatching;
		conn->dispatching = 1;
		req->on_abort(req, req->cb_arg);
		conn->dispatching = dispatching;
	} else if (req != NULL) {
		req->closed = 1;
	}
	http_conn_maybe_free(conn);
}

static void
http_conn_unlink(struct http_conn *conn)
{
	struct http_server *srv = conn->srv;
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		srv->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	srv->nconns--;
	if (srv->draining && srv->nconns == 0 && srv->drained != NULL)
		srv->drained(srv->drained_arg);
}

static void
http_conn_maybe_free(struct http_conn *conn)
{
	if (conn->bev != NULL || conn->req != NULL || conn->dispatching)
		return;
	event_free(conn->head_timer);
	strbuf_free(&conn->url);
	strbuf_free(&conn->field);
	strbuf_free(&conn->value);
	http_conn_unlink(conn);
	free(conn);
}

static void
http_conn_set_timeouts(struct http_conn *conn)
{
	int64_t ms = conn->srv->conf.idle_timeout_ms;
	if (ms <= 0)
		return;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	bufferevent_set_timeouts(conn->bev, &tv, &tv);
}

static void
http_format_remote(char *buf, size_t size, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(buf, size, "%s:%d", host, port);
}

static void
http_conn_new(struct http_server *srv, int fd, const struct sockaddr *sa)
{
	if (srv->draining || (srv->conf.max_connections && srv->nconns >= srv->conf.max_connections)) {
		close(fd);
		return;
	}
	struct http_conn *conn = xcalloc(1, sizeof(*conn));
	conn->srv = srv;
	http_format_remote(conn->remote, sizeof(conn->remote), sa);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	conn->rcvlowat = 1;
	conn->head_timer = evtimer_new(srv->base, http_head_timeout_cb, conn);
	http_parser_init(&conn->parser, HTTP_REQUEST);
	conn->parser.data = conn;
	conn->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = conn;
	srv->conns = conn;
	srv->nconns++;
	bufferevent_setcb(conn->bev, http_read_cb, http_write_cb, http_event_cb, conn);
	bufferevent_setwatermark(conn->bev, EV_READ, 0, HTTP_INPUT_HIGH_MARK);
	bufferevent_setwatermark(conn->bev, EV_WRITE, HTTP_OUTPUT_LOW_MARK, 0);
	http_conn_set_timeouts(conn);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
}

/*
 * One connection per wake-up of the listening socket.  Every front end polls the same
 * socket, and a new connection wakes each of them; taking one at a time (libevent's
 * listener takes all that wait) lets an idle front end take the next while a busy one is
 * still serving, so a burst of connections spreads over the workers instead of landing on
 * whichever woke first.  Out of descriptors, the server stops listening for
 * HTTP_ACCEPT_PAUSE_MS (the socket would otherwise wake it again at once).
 */
static void
http_listen_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct http_server *srv = arg;
	struct sockaddr_storage ss;
	socklen_t slen = sizeof(ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd != -1) {
		http_conn_new(srv, fd, (const struct sockaddr *)&ss);
		return;
	}
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		log_warn("http: cannot accept; listening again in %d ms", HTTP_ACCEPT_PAUSE_MS);
		event_del(srv->listen_ev);
		struct timeval tv = { 0, HTTP_ACCEPT_PAUSE_MS * 1000 };
		evtimer_add(srv->accept_pause, &tv);
	}
	/* EAGAIN: another front end took it; ECONNABORTED and the like: the client gave up */
}

static void
http_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *srv = arg;
	if (!srv->draining)
		event_add(srv->listen_ev, NULL);
}

/* --- body ------------------------------------------------------------------------------ */

static void
http_send_continue(struct http_request *req)
{
	struct http_conn *conn = req->conn;
	if (!req->expect_continue || req->response_started || conn->bev == NULL)
		return;
	req->expect_continue = 0;
	evbuffer_add_printf(bufferevent_get_output(conn->bev), "HTTP/1.1 100 Continue\r\n\r\n");
}

void
http_body_read(struct http_request *req, const struct http_body_cbs *cbs, void *arg)
{
	struct http_conn *conn = req->conn;
	req->body_cbs = *cbs;
	req->body_arg = arg;
	req->body_reading = 1;
	/* also for an empty body: a client waiting for it (botocore) may otherwise misread the
	   final response that comes instead */
	http_send_continue(req);
	if (req->body_done) {
		if (cbs->on_end != NULL)
			cbs->on_end(req, arg);
		return;
	}
	http_conn_process(conn);
}

void
http_body_pause(struct http_request *req)
{
	req->body_paused = 1;
	if (req->conn->bev != NULL)
		bufferevent_disable(req->conn->bev, EV_READ);
}

void
http_body_resume(struct http_request *req)
{
	if (!req->body_paused)
		return;
	req->body_paused = 0;
	http_conn_process(req->conn);
}

/* --- responses ------------------------------------------------------------------------- */

static void
http_format_date(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void
http_response_start(struct http_request *req, int status, int64_t content_length,
    const char *const *headers)
{
	struct http_conn *conn = req->conn;
	req->response_started = 1;
	req->status = status;
	req->content_length_out = content_length;
	if (content_length < 0 || conn->srv->draining)
		req->keep_alive = 0;
	if (req->has_body && !req->body_done && !req->body_reading)
		req->keep_alive = 0;	/* the body was never read: close after this */
	if (req->expect_continue)
		req->keep_alive = 0;	/* answered without 100 Continue: some clients (botocore)
					   keep stale state on such a connection; start afresh */
	if (conn->bev == NULL)
		return;
	char date[64];
	http_format_date(date, sizeof(date));
	struct evbuffer *out = bufferevent_get_output(conn->bev);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: s3mux\r\n"
	    "x-amz-request-id: %s\r\nx-amz-id-2: %s\r\n", status, http_status_text(status), date,
	    req->request_id, req->request_id);
	for (size_t i = 0; headers != NULL && headers[i] != NULL && headers[i + 1] != NULL; i += 2)
		evbuffer_add_printf(out, "%s: %s\r\n", headers[i], headers[i + 1]);
	if (content_length >= 0)
		evbuffer_add_printf(out, "Content-Length: %lld\r\n", (long long)content_length);
	evbuffer_add_printf(out, "%s\r\n", req->keep_alive ? "" : "Connection: close\r\n");
}

static int
http_is_head(const struct http_request *req)
{
	return req->method != NULL && strcmp(req->method, "HEAD") == 0;
}

void
http_response_write(struct http_request *req, const void *data, size_t len)
{
	if (req->conn->bev == NULL || http_is_head(req) || len == 0)
		return;
	evbuffer_add(bufferevent_get_output(req->conn->bev), data, len);
	req->bytes_out += len;
}

/*
 * A small file body is copied into the output buffer: the headers and the body then leave
 * in one write, one TCP segment, where sendfile would send them as two (profiled for 4 KiB
 * GETs: the second send and the peer's second wake-up were a tenth of the front end's
 * time).  Returns 0, or -1 when the file could not be read as a whole (nothing is queued).
 */
static int
http_copy_small_file(struct evbuffer *out, int fd, off_t offset, off_t len)
{
	struct evbuffer_iovec vec;
	if (evbuffer_reserve_space(out, (ev_ssize_t)len, &vec, 1) != 1 ||
	    vec.iov_len < (size_t)len)
		return -1;
	ssize_t n;
	do
		n = pread(fd, vec.iov_base, (size_t)len, offset);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)len)
		return -1;
	vec.iov_len = (size_t)len;
	return evbuffer_commit_space(out, &vec, 1);
}

int
http_response_add_file(struct http_request *req, int fd, off_t offset, off_t len)
{
	if (req->conn->bev == NULL || http_is_head(req) || len == 0) {
		close(fd);
		return 0;
	}
	struct evbuffer *out = bufferevent_get_output(req->conn->bev);
	if (len <= HTTP_SMALL_FILE && http_copy_small_file(out, fd, offset, len) == 0) {
		close(fd);
		req->bytes_out += (uint64_t)len;
		return 0;
	}
	if (evbuffer_add_file(out, fd, offset, len) == -1) {
		close(fd);
		return -1;
	}
	req->bytes_out += (uint64_t)len;
	return 0;
}

void
http_response_end(struct http_request *req)
{
	struct http_conn *conn = req->conn;
	req->response_done = 1;
	if (!http_is_head(req) && req->content_length_out >= 0 &&
	    req->bytes_out != (uint64_t)req->content_length_out)
		req->keep_alive = 0;	/* short body: the client must see the connection end */
	if (!req->keep_alive)
		conn->closing = 1;
	if (conn->bev != NULL && conn->closing &&
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
		bufferevent_trigger(conn->bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

size_t
http_response_pending(const struct http_request *req)
{
	if (req->conn->bev == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(req->conn->bev));
}

void
http_request_finish(struct http_request *req)
{
	struct http_conn *conn = req->conn;
	if (!req->response_done && !req->closed) {
		log_warnx("http: %s: request %s finished without a response", conn->remote,
		    req->request_id);
		conn->closing = 1;
	}
	if (!req->body_done && req->has_body) {
		conn->closing = 1;	/* unread body bytes would be taken for the next request */
		conn->linger = 1;
	}
	conn->req = NULL;
	http_request_free(req);
	if (conn->bev == NULL) {
		http_conn_maybe_free(conn);
		return;
	}
	if (conn->closing) {
		bufferevent_disable(conn->bev, EV_READ);
		/* inside http_conn_process the parser still reads the input: end after it */
		if (!conn->dispatching &&
		    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
			http_conn_end(conn);
		return;
	}
	if (conn->srv->draining) {
		http_conn_close(conn);
		return;
	}
	http_conn_process(conn);
}

/* --- server ---------------------------------------------------------------------------- */

struct http_server *
http_server_new(struct event_base *base, int listen_fd, const struct http_server_conf *conf,
    http_request_cb on_request, void *arg)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	srv->base = base;
	srv->conf = *conf;
	if (srv->conf.max_header_bytes == 0)
		srv->conf.max_header_bytes = 64 * 1024;
	srv->on_request = on_request;
	srv->arg = arg;
	if (getrandom(&srv->id_base, sizeof(srv->id_base), 0) != sizeof(srv->id_base))
		srv->id_base = (uint32_t)getpid() ^ (uint32_t)clock_mono_ms();
	fd_set_nonblock(listen_fd);
	fd_set_cloexec(listen_fd, 1);
	srv->listen_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST, http_listen_cb, srv);
	srv->accept_pause = evtimer_new(base, http_accept_resume_cb, srv);
	if (srv->listen_ev == NULL || srv->accept_pause == NULL ||
	    event_add(srv->listen_ev, NULL) == -1) {
		log_warnx("http: cannot listen on fd %d", listen_fd);
		if (srv->listen_ev != NULL)
			event_free(srv->listen_ev);
		if (srv->accept_pause != NULL)
			event_free(srv->accept_pause);
		free(srv);
		return NULL;
	}
	return srv;
}

size_t
http_server_connections(const struct http_server *srv)
{
	return srv->nconns;
}

void
http_server_drain(struct http_server *srv, void (*done)(void *arg), void *arg)
{
	srv->draining = 1;
	srv->drained = done;
	srv->drained_arg = arg;
	event_del(srv->listen_ev);
	event_del(srv->accept_pause);
	struct http_conn *next;
	for (struct http_conn *conn = srv->conns; conn != NULL; conn = next) {
		next = conn->next;
		if (conn->req == NULL && conn->bev != NULL)
			http_conn_close(conn);	/* idle keep-alive connection */
	}
	if (srv->nconns == 0 && done != NULL)
		done(arg);
}

void
http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	srv->drained = NULL;
	/* close every connection; handlers still holding a request are told (on_abort) */
	struct http_conn *next;
	for (struct http_conn *conn = srv->conns; conn != NULL; conn = next) {
		next = conn->next;
		if (conn->bev != NULL)
			http_conn_close(conn);
	}
	while (srv->conns != NULL) {
		/* a handler that did not finish its request: reclaim it */
		struct http_conn *conn = srv->conns;
		struct http_request *req = conn->req;
		conn->req = NULL;
		if (req != NULL)
			http_request_free(req);
		http_conn_maybe_free(conn);
	}
	event_free(srv->listen_ev);
	event_free(srv->accept_pause);
	free(srv);
}
