/*
 * backend_fs.c: the fs driver: objects as files in a directory on local disk.
 *
 * The object name "<bucket>/<key>" is stored at <root>/<bucket>/<xx>/<encoded key>, where xx
 * is the first byte of SHA-256(key) in hex (256 directories per bucket) and the encoding
 * keeps [A-Za-z0-9_.-] and writes every other byte, and a leading dot, as %XX.  No key can
 * name a path outside its directory ("../", "/", NUL and non-UTF-8 bytes are all encoded),
 * and the encoding is one-to-one.  An encoded key longer than FS_MAX_COMPONENT is stored as
 * "#<sha256 of the key>" ('#' never starts an encoded name).  Writes go to <root>/.tmp, are
 * fsync'd, renamed into place and the directory fsync'd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/sha.h>

#include "backend.h"
#include "bgwork.h"
#include "log.h"
#include "util.h"

#define FS_MAX_COMPONENT 240
#define FS_SYNC_THREADS 8
#define FS_WRITE_BUF (64 * 1024)	/* body bytes gathered for one write() */
#define FS_TAG_XATTR "user.s3mux.etag"

struct fs_state {
	char *root;
	char *tmpdir;
	struct event_base *base;
	struct bgwork_pool *pool;	/* fsync and rename happen there, off the loop */
};

struct fs_put {
	struct backend_put base;
	struct fs_state *fs;
	int fd;
	char *tmp_path;
	char *final_path;
	struct backend_put_cbs cbs;
	void *arg;
	char *wbuf;			/* FS_WRITE_BUF bytes, allocated on the first small write */
	size_t wlen;			/* bytes in wbuf not yet written */
	int err;
	char message[256];
};

static int
fs_keep_byte(unsigned char c, size_t pos)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return 1;
	return c == '_' || c == '-' || (c == '.' && pos > 0);
}

static void
fs_hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

char *
backend_fs_relpath(const char *name)
{
	const char *slash = strchr(name, '/');
	size_t blen = slash ? (size_t)(slash - name) : strlen(name);
	const char *key = slash ? slash + 1 : "";
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];
	SHA256((const unsigned char *)key, strlen(key), digest);
	fs_hex(digest, sizeof(digest), hex);

	struct strbuf enc;
	strbuf_init(&enc);
	for (size_t i = 0; key[i] != '\0'; i++) {
		unsigned char c = (unsigned char)key[i];
		if (fs_keep_byte(c, i))
			strbuf_append(&enc, &key[i], 1);
		else
			strbuf_printf(&enc, "%%%02X", c);
	}
	char *rel;
	if (enc.len == 0 || enc.len > FS_MAX_COMPONENT)
		rel = xasprintf("%.*s/%.2s/#%s", (int)blen, name, hex, hex);
	else
		rel = xasprintf("%.*s/%.2s/%s", (int)blen, name, hex, enc.data);
	strbuf_free(&enc);
	return rel;
}

static int
fs_mkdir_p(char *path, mode_t mode)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, mode);
		*p = '/';
		if (rc == -1 && errno != EEXIST)
			return -1;
	}
	if (mkdir(path, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static void *
fs_create(const struct cfg_backend *conf, struct event_base *base, char *err, size_t errlen)
{
	struct fs_state *fs = xcalloc(1, sizeof(*fs));
	fs->root = xstrdup(conf->path);
	fs->tmpdir = xasprintf("%s/.tmp", conf->path);
	fs->base = base;
	fs->pool = bgwork_pool_new(base, FS_SYNC_THREADS);
	if (fs_mkdir_p(fs->tmpdir, 0750) == -1) {
		snprintf(err, errlen, "backend %s: cannot create %s: %s", conf->name, fs->tmpdir,
		    strerror(errno));
		bgwork_pool_free(fs->pool);
		free(fs->root);
		free(fs->tmpdir);
		free(fs);
		return NULL;
	}
	return fs;
}

static void
fs_destroy(void *state)
{
	struct fs_state *fs = state;
	bgwork_pool_free(fs->pool);
	free(fs->root);
	free(fs->tmpdir);
	free(fs);
}

static char *
fs_path(struct fs_state *fs, const char *name)
{
	char *rel = backend_fs_relpath(name);
	char *path = xasprintf("%s/%s", fs->root, rel);
	free(rel);
	return path;
}

static struct backend_put *
fs_put_start(struct backend *be, const char *name, int64_t size,
    const struct backend_put_cbs *cbs, void *arg)
{
	struct fs_state *fs = be->state;
	uint64_t nonce;
	if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
		nonce = (uint64_t)clock_mono_ms() ^ (uint64_t)getpid() << 32;
	struct fs_put *put = xcalloc(1, sizeof(*put));
	put->base.be = be;
	put->fs = fs;
	put->cbs = *cbs;
	put->arg = arg;
	put->tmp_path = xasprintf("%s/%016llx", fs->tmpdir, (unsigned long long)nonce);
	put->final_path = fs_path(fs, name);
	put->fd = open(put->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (put->fd == -1) {
		log_warn("backend %s: cannot create %s", be->name, put->tmp_path);
		free(put->tmp_path);
		free(put->final_path);
		free(put);
		return NULL;
	}
	return &put->base;
}

/* Write all of p; 0 or an errno value. */
static int
fs_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write what wbuf gathered; 0 or an errno value. */
static int
fs_put_flush(struct fs_put *put)
{
	int err = fs_write_all(put->fd, put->wbuf, put->wlen);
	put->wlen = 0;
	return err;
}

/*
 * Bodies arrive in slices of a few KiB (as fast as the socket delivers them); they are
 * gathered into FS_WRITE_BUF bytes per write(), which saves most of the system calls of a
 * large PUT.  The last bytes are written by fs_put_commit, on the pool.
 */
static int
fs_put_write(struct backend_put *base, const void *data, size_t len)
{
	struct fs_put *put = (struct fs_put *)base;
	if (put->err != 0)
		return -1;
	int err = 0;
	if (put->wlen + len > FS_WRITE_BUF)
		err = fs_put_flush(put);
	if (err == 0 && len >= FS_WRITE_BUF) {
		err = fs_write_all(put->fd, data, len);
	} else if (err == 0) {
		if (put->wbuf == NULL)
			put->wbuf = xmalloc(FS_WRITE_BUF);
		memcpy(put->wbuf + put->wlen, data, len);
		put->wlen += len;
	}
	if (err != 0) {
		put->err = err;
		snprintf(put->message, sizeof(put->message), "write %s: %s", put->tmp_path,
		    strerror(err));
		log_warnx("backend %s: %s", put->base.be->name, put->message);
		return -1;
	}
	return BACKEND_ACCEPTED;
}

static void
fs_put_free(struct fs_put *put)
{
	if (put->fd != -1)
		close(put->fd);
	free(put->wbuf);
	free(put->tmp_path);
	free(put->final_path);
	free(put);
}

static int
fs_fsync_dir(const char *file_path)
{
	char *dir = xstrdup(file_path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd == -1)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* fsync, rename into place, fsync the directory; returns 0 or an errno value. */
static int
fs_put_commit(struct fs_put *put)
{
	int err = fs_put_flush(put);
	if (err != 0)
		return err;
	off_t end = lseek(put->fd, 0, SEEK_CUR);
	if (end != -1 && ftruncate(put->fd, end) == -1)
		return errno;
	/* the tag rides with the bytes; a filesystem without user xattrs just has none */
	if (put->base.tag[0] != '\0')
		fsetxattr(put->fd, FS_TAG_XATTR, put->base.tag, strlen(put->base.tag), 0);
	if (fsync(put->fd) == -1)
		return errno;
	close(put->fd);
	put->fd = -1;
	char *dir = xstrdup(put->final_path);
	*strrchr(dir, '/') = '\0';
	int rc = fs_mkdir_p(dir, 0750);
	free(dir);
	if (rc == -1 || rename(put->tmp_path, put->final_path) == -1)
		return errno;
	if (fs_fsync_dir(put->final_path) == -1)
		return errno;
	return 0;
}

/* On a pool thread: make the bytes durable and visible (no logging, no loop state). */
static void
fs_put_commit_work(void *arg)
{
	struct fs_put *put = arg;
	if (put->err != 0) {
		unlink(put->tmp_path);
		return;
	}
	int err = fs_put_commit(put);
	if (err != 0) {
		put->err = err;
		snprintf(put->message, sizeof(put->message), "commit %s: %s", put->final_path,
		    strerror(err));
		unlink(put->tmp_path);
	}
}

/* Back on the loop. */
static void
fs_put_commit_done(void *arg)
{
	struct fs_put *put = arg;
	if (put->err != 0)
		log_warnx("backend %s: %s", put->base.be->name, put->message);
	put->cbs.on_done(put->arg, put->err, put->err ? put->message : NULL);
	fs_put_free(put);
}

static void
fs_put_finish(struct backend_put *base)
{
	struct fs_put *put = (struct fs_put *)base;
	bgwork_run(put->fs->pool, fs_put_commit_work, fs_put_commit_done, put);
}

static void
fs_put_abort(struct backend_put *base)
{
	struct fs_put *put = (struct fs_put *)base;
	unlink(put->tmp_path);
	fs_put_free(put);
}

static int
fs_open(struct backend *be, const char *name, struct backend_object *obj)
{
	struct fs_state *fs = be->state;
	char *path = fs_path(fs, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return -1;
	struct stat st;
	if (fstat(fd, &st) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	obj->size = (uint64_t)st.st_size;
	obj->mtime = st.st_mtime;
	obj->fd = fd;
	ssize_t n = fgetxattr(fd, FS_TAG_XATTR, obj->tag, sizeof(obj->tag) - 1);
	obj->tag[n > 0 ? n : 0] = '\0';
	return 0;
}

static void
fs_stat(struct backend *be, const char *name, backend_stat_cb cb, void *arg)
{
	struct backend_object obj;
	if (fs_open(be, name, &obj) == -1) {
		int err = errno;
		cb(arg, err, NULL);	/* synchronous: see fs_stat_deferred below */
		return;
	}
	close(obj.fd);
	struct backend_stat st = { .size = obj.size, .mtime = obj.mtime };
	cb(arg, 0, &st);
}

struct fs_stat_call {
	struct backend *be;
	char *name;
	backend_stat_cb cb;
	void *arg;
};

static void
fs_stat_run(evutil_socket_t fd, short what, void *arg)
{
	struct fs_stat_call *call = arg;
	fs_stat(call->be, call->name, call->cb, call->arg);
	free(call->name);
	free(call);
}

/* Answer from the loop, as the interface promises. */
static void
fs_stat_deferred(struct backend *be, const char *name, backend_stat_cb cb, void *arg)
{
	struct fs_stat_call *call = xcalloc(1, sizeof(*call));
	call->be = be;
	call->name = xstrdup(name);
	call->cb = cb;
	call->arg = arg;
	event_base_once(be->base, -1, EV_TIMEOUT, fs_stat_run, call, NULL);
}

static void
fs_remove(struct backend *be, const char *name, backend_done_cb cb, void *arg)
{
	struct fs_state *fs = be->state;
	char *path = fs_path(fs, name);
	int rc = unlink(path);
	int err = rc == -1 && errno != ENOENT ? errno : 0;
	if (rc == 0)
		fs_fsync_dir(path);
	char message[256] = "";
	if (err != 0)
		snprintf(message, sizeof(message), "unlink %s: %s", path, strerror(err));
	free(path);
	backend_defer_done(be->base, cb, arg, err, message);
}

/* --- reads as a stream (for copies between backends; the front end uses open) ----------- */

#define FS_GET_SLICE (256 * 1024)

struct fs_get {
	struct backend_get base;
	int fd;
	uint64_t offset;
	uint64_t left;
	struct backend_get_cbs cbs;
	void *arg;
	struct event *step;
	int paused;
	int started;
	int err;
	char *buf;
};

static void
fs_get_free(struct fs_get *get)
{
	if (get->fd != -1)
		close(get->fd);
	if (get->step != NULL)
		event_free(get->step);
	free(get->buf);
	free(get);
}

static void
fs_get_end(struct fs_get *get, int err, const char *message)
{
	backend_done_cb done = get->cbs.on_done;
	void *arg = get->arg;
	fs_get_free(get);
	done(arg, err, message);
}

/* One slice per loop turn, so a large read never holds the loop for long. */
static void
fs_get_step(evutil_socket_t unused, short what, void *arg)
{
	struct fs_get *get = arg;
	if (get->left == 0) {
		fs_get_end(get, 0, NULL);
		return;
	}
	size_t want = get->left < FS_GET_SLICE ? (size_t)get->left : FS_GET_SLICE;
	ssize_t n = pread(get->fd, get->buf, want, (off_t)get->offset);
	if (n <= 0) {
		int err = n == 0 ? EIO : errno;
		fs_get_end(get, err, n == 0 ? "file shorter than expected" : strerror(err));
		return;
	}
	get->offset += (uint64_t)n;
	get->left -= (uint64_t)n;
	if (get->cbs.on_data(get->arg, get->buf, (size_t)n) == BACKEND_FULL) {
		get->paused = 1;
		return;
	}
	event_active(get->step, EV_TIMEOUT, 0);
}

static void
fs_get_begin(evutil_socket_t unused, short what, void *arg)
{
	struct fs_get *get = arg;
	if (get->err != 0) {
		fs_get_end(get, get->err, strerror(get->err));
		return;
	}
	struct stat st;
	fstat(get->fd, &st);
	struct backend_stat bst = { .size = (uint64_t)st.st_size, .mtime = st.st_mtime };
	get->cbs.on_start(get->arg, &bst);
	event_assign(get->step, get->base.be->base, -1, 0, fs_get_step, get);
	event_active(get->step, EV_TIMEOUT, 0);
}

static struct backend_get *
fs_get_start(struct backend *be, const char *name, uint64_t offset, int64_t length,
    const struct backend_get_cbs *cbs, void *arg)
{
	struct fs_get *get = xcalloc(1, sizeof(*get));
	struct backend_object obj = { .fd = -1 };
	get->base.be = be;
	get->cbs = *cbs;
	get->arg = arg;
	get->fd = -1;
	get->buf = xmalloc(FS_GET_SLICE);
	if (fs_open(be, name, &obj) == -1) {
		get->err = errno;
	} else {
		get->fd = obj.fd;
		get->offset = offset < obj.size ? offset : obj.size;
		uint64_t avail = obj.size - get->offset;
		get->left = length < 0 || (uint64_t)length > avail ? avail : (uint64_t)length;
	}
	get->step = event_new(be->base, -1, 0, fs_get_begin, get);
	event_active(get->step, EV_TIMEOUT, 0);
	return &get->base;
}

static void
fs_get_resume(struct backend_get *base)
{
	struct fs_get *get = (struct fs_get *)base;
	if (!get->paused)
		return;
	get->paused = 0;
	event_active(get->step, EV_TIMEOUT, 0);
}

static void
fs_get_abort(struct backend_get *base)
{
	fs_get_free((struct fs_get *)base);
}

const struct backend_ops backend_fs_ops = {
	.driver = "fs",
	.create = fs_create,
	.destroy = fs_destroy,
	.put_start = fs_put_start,
	.put_write = fs_put_write,
	.put_finish = fs_put_finish,
	.put_abort = fs_put_abort,
	.get_start = fs_get_start,
	.get_resume = fs_get_resume,
	.get_abort = fs_get_abort,
	.open = fs_open,
	.stat = fs_stat_deferred,
	.remove = fs_remove,
};
