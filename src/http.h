/*
 * http.h: an HTTP/1.1 server on libevent bufferevents with streamed bodies.
 *
 * Requests are parsed with http_parser.  The handler is called once a request's headers are
 * in; it reads the body (if any) as a stream of slices, pausing the connection when its own
 * sink is full, and writes the response as a stream, told when the output buffer has
 * drained.  Neither side buffers more than a few hundred KiB per connection.  Keep-alive,
 * pipelining, chunked request bodies, Expect: 100-continue, a header size bound and idle /
 * slow-client timeouts are handled here; the handler sees only decoded body bytes.
 *
 * Ownership: the handler owns a request from on_request until it calls
 * http_request_finish(); a connection that closes under it sets req->closed and calls
 * the handler's abort callback, but the memory stays valid until finish.
 */
#ifndef S3MUX_HTTP_H
#define S3MUX_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <event2/event.h>

struct http_server;
struct http_conn;
struct http_request;

struct http_header {
	char *name;			/* lower-cased */
	char *value;			/* trimmed */
};

/* Body callbacks; data points into the connection's buffer and is valid only during the call. */
struct http_body_cbs {
	void (*on_data)(struct http_request *req, const char *data, size_t len, void *arg);
	void (*on_end)(struct http_request *req, void *arg);
};

typedef void (*http_request_cb)(struct http_request *req, void *arg);

struct http_request {
	struct http_conn *conn;
	const char *method;		/* "GET", "PUT", ... */
	char *target;			/* the raw request target */
	char *path;			/* the target up to '?', still percent-encoded */
	char *query;			/* after '?', or "" */
	struct http_header *headers;
	size_t nheaders;
	int http_minor;			/* 1 for HTTP/1.1, 0 for HTTP/1.0 */
	int has_body;			/* Content-Length > 0 or chunked */
	int chunked;
	uint64_t content_length;	/* when !chunked */
	int expect_continue;
	int keep_alive;
	char request_id[17];
	char remote[64];		/* "127.0.0.1:54321" */

	int closed;			/* the connection went away */
	int body_done;			/* all of the body was delivered */
	int response_started;
	int response_done;
	int status;			/* the status sent */
	int64_t content_length_out;	/* the length announced, or -1 */
	uint64_t bytes_in;		/* body bytes delivered */
	uint64_t bytes_out;		/* response body bytes queued */
	int64_t started_ms;

	/* set by the handler */
	void *handler_data;
	http_request_cb on_abort;	/* connection lost before finish */
	http_request_cb on_drain;	/* output buffer fell below the low mark */
	void *cb_arg;

	/* internal */
	struct http_body_cbs body_cbs;
	void *body_arg;
	int body_paused;
	int body_reading;
	struct http_request *next_free;
};

struct http_server_conf {
	int64_t idle_timeout_ms;	/* keep-alive idle and slow-client bound */
	int64_t request_timeout_ms;	/* whole request head must arrive within this */
	size_t max_header_bytes;
	size_t max_connections;
};

struct http_server *http_server_new(struct event_base *base, int listen_fd,
    const struct http_server_conf *conf, http_request_cb on_request, void *arg);
/* Stop accepting; close idle connections; call done when the last connection is gone. */
void http_server_drain(struct http_server *srv, void (*done)(void *arg), void *arg);
void http_server_free(struct http_server *srv);
size_t http_server_connections(const struct http_server *srv);

/* Header look-up by lower-case name; NULL when absent. */
const char *http_header(const struct http_request *req, const char *name);

/*
 * Start receiving the body.  Sends "100 Continue" first when the client asked for it.
 * on_end runs after the last byte (also at once for an empty body).
 */
void http_body_read(struct http_request *req, const struct http_body_cbs *cbs, void *arg);
void http_body_pause(struct http_request *req);
void http_body_resume(struct http_request *req);

/*
 * Responses.  http_response_start queues the status line and headers (pass a NULL-terminated
 * list of name, value pairs plus the content length, or -1 for a body of unknown length sent
 * with Connection: close); then write or add file segments; then end.
 */
void http_response_start(struct http_request *req, int status, int64_t content_length,
    const char *const *headers);
void http_response_write(struct http_request *req, const void *data, size_t len);
/* Queue len bytes of fd from offset (sent with sendfile; a small body is copied, to go out
 * with the headers in one write); takes ownership of fd. */
int http_response_add_file(struct http_request *req, int fd, off_t offset, off_t len);
void http_response_end(struct http_request *req);
/* Bytes queued and not yet sent. */
size_t http_response_pending(const struct http_request *req);
/* Above this many pending bytes a streaming producer should wait for on_drain. */
#define HTTP_OUTPUT_HIGH_MARK (512 * 1024)

/* The handler is done with the request: the connection moves on to the next one. */
void http_request_finish(struct http_request *req);

const char *http_status_text(int status);

#endif
