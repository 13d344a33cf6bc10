#!/usr/bin/python3
# backend-s3-driver.t: the s3 driver through the backend interface (t/unit/backend_s3_test.c),
# against s3rver, a scripted HTTP server (503/429/500/403 answers, a PUT refused before its
# body, a server that ignores Range) and a port nobody listens on.  Then, from what the
# scripted server saw: the retries counted, a retried PUT carried its whole body, every
# request was signed for the region with the right payload hash and Host.
import hashlib
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import BUILDDIR, TAP, S3rver, free_port, run, tempdir, wait_until  # noqa: E402

t = TAP()
prog = os.path.join(BUILDDIR, "t", "unit", "backend_s3_test")
if not os.access(prog, os.X_OK):
    t.skip_all("%s is not built: run make check in the build tree" % prog)
why = S3rver.available()
if why:
    t.skip_all(why)

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def pattern(n):
    return bytes(((i * 131) ^ (i >> 12)) & 0xff for i in range(n))


def error_xml(code, message):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s"
            "</Message><RequestId>1</RequestId></Error>" % (code, message)).encode()


seen = []           # (method, name, headers, body length, body sha256)
counts = {}
lock = threading.Lock()


class Scripted(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_expect_100(self):
        return True         # do_PUT decides whether to say 100 Continue

    def _begin(self):
        if self.path == "/unit/b/vhost":      # virtual-host style: the bucket is in Host
            name = "vhost@" + self.headers.get("Host", "").split(":")[0]
        else:
            name = self.path.split("/scripted/unit/b/", 1)[-1]
        with lock:
            counts[(self.command, name)] = counts.get((self.command, name), 0) + 1
            n = counts[(self.command, name)]
        return name, n

    def _answer(self, status, body=b"", length=None, close=False, extra=()):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in extra:
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _note(self, name, body=b""):
        with lock:
            seen.append((self.command, name, dict(self.headers.items()), len(body),
                         hashlib.sha256(body).hexdigest()))

    def do_HEAD(self):
        name, n = self._begin()
        self._note(name)
        if name == "503-twice" and n <= 2:
            return self._answer(503)
        if name == "503-twice":
            return self._answer(200, length=42,
                                extra=[("Last-Modified", "Sun, 22 Nov 2026 10:57:00 GMT")])
        self._answer(404)

    def do_DELETE(self):
        name, n = self._begin()
        self._note(name)
        if name == "500-always":
            return self._answer(500, error_xml("InternalError",
                                               "We encountered an internal error."))
        self._answer(204)

    def do_GET(self):
        name, n = self._begin()
        self._note(name)
        if name == "denied":
            return self._answer(403, error_xml("AccessDenied", "Access Denied"))
        if name == "429-once" and n == 1:
            return self._answer(429, error_xml("SlowDown", "Please reduce your request rate."))
        if name == "429-once":
            return self._answer(200, b"hello")
        if name == "ignores-range":
            return self._answer(200, pattern(10000))
        if name == "past-end" and self.headers.get("Range") == "bytes=100-":
            return self._answer(416, error_xml("InvalidRange",
                                               "The requested range is not satisfiable"),
                                extra=[("Content-Range", "bytes */100")])
        if name == "vhost@scripted-vhost.localhost":
            return self._answer(200, b"vhost ok")
        self._answer(404, error_xml("NoSuchKey", "The specified key does not exist."))

    def _read_body(self):
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        length = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(length) if length else b""

    def do_PUT(self):
        name, n = self._begin()
        if name in ("put-503-first", "put-expect-503-first") and n == 1:
            self._note(name)
            return self._answer(503, error_xml("SlowDown", "Please reduce your request rate."),
                                close=True)
        if name == "put-403":
            self._note(name)
            return self._answer(403, error_xml("AccessDenied", "Access Denied"), close=True)
        body = self._read_body()
        self._note(name, body)
        if len(body) < int(self.headers.get("Content-Length", "0")):
            self.close_connection = True        # the client went away mid-body
            return
        self._answer(200, extra=[("ETag", '"%s"' % hashlib.md5(body).hexdigest())])


server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
scripted = "http://127.0.0.1:%d" % server.server_address[1]

s3rver = S3rver("unit-bucket").start()
dead = "http://127.0.0.1:%d" % free_port()

# s3rver over HTTPS with a self-signed certificate for 127.0.0.1
tls = []
certdir = tempdir("s3mux-tls-")
key, cert = os.path.join(certdir, "key.pem"), os.path.join(certdir, "cert.pem")
made = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
            "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1"], timeout=60)
if made.returncode == 0:
    tls = [S3rver("unit-bucket", tls=(key, cert)).start().endpoint, cert]
else:
    t.diag("no HTTPS cases: openssl req failed: %s" % made.stderr.strip())

p = subprocess.run([prog, s3rver.endpoint, "unit-bucket", scripted, dead] + tls,
                   capture_output=True, text=True, timeout=300)
for line in p.stdout.splitlines():
    if line.startswith("1.."):
        continue
    sys.stdout.write(line + "\n")
    if line.startswith("ok ") or line.startswith("not ok "):
        t.n += 1
        t.failed += line.startswith("not ok ")
sys.stdout.flush()
bad = [ln for ln in p.stderr.splitlines()
       if "Sanitizer" in ln or "runtime error:" in ln or "SUMMARY" in ln]
if not t.is_((p.returncode, bad), (0, []), "backend_s3_test exits 0, no sanitizer report"):
    t.diag(p.stderr[-6000:])
t.unlike(p.stderr, r"(?i:authorization|credential=|signature=)|S3RVER",
         "the driver's log holds no credential")
if tls:
    t.is_(len(re.findall(r"backend tls-no-verify: tls_verify is off", p.stderr)), 1,
          "tls_verify off: one warning, at create")


def abort_noted():
    with lock:
        return any(r[0] == "PUT" and r[1] == "put-abort" for r in seen)


# the driver's abort closes its connection; the server's thread notes the short body when it
# reads the end of the stream, which may come a moment after the driver has exited
wait_until(abort_noted, 5)
server.shutdown()
with lock:
    got = dict(counts)
    reqs = list(seen)
t.is_(got.get(("HEAD", "503-twice")), 3, "HEAD 503, 503, 200: three requests")
t.is_(got.get(("DELETE", "500-always")), 4, "DELETE 500 every time: four requests, no more")
t.is_(got.get(("GET", "429-once")), 2, "GET 429 then 200: two requests")
t.is_(got.get(("PUT", "put-expect-503-first")), 2, "PUT refused before its body: tried twice")
t.is_(got.get(("PUT", "put-403")), 1, "PUT answered 403: not retried")
retried = [r for r in reqs if r[0] == "PUT" and r[1] == "put-expect-503-first" and r[3] > 0]
t.is_([(r[3], r[4]) for r in retried],
      [(2 * 1024 * 1024, hashlib.sha256(pattern(2 * 1024 * 1024)).hexdigest())],
      "the retried PUT carried the whole body")
host = scripted.split("//", 1)[1]
vhost = "scripted-vhost.localhost:%d" % server.server_address[1]
wrong = []
for method, name, headers, _, _ in reqs:
    h = {k.lower(): v for k, v in headers.items()}
    auth = h.get("authorization", "")
    payload = "UNSIGNED-PAYLOAD" if method == "PUT" else EMPTY_SHA256
    if not (auth.startswith("AWS4-HMAC-SHA256 Credential=S3RVER/") and
            "/us-east-1/s3/aws4_request" in auth and
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date" in auth and
            h.get("x-amz-content-sha256") == payload and
            h.get("host") == (vhost if name.startswith("vhost@") else host) and
            len(h.get("x-amz-date", "")) == 16):
        wrong.append((method, name, h))
t.is_(wrong, [], "every request is signed (SigV4, us-east-1, s3) with its payload hash and Host")
aborted = [r[3] for r in reqs if r[0] == "PUT" and r[1] == "put-abort"]
t.ok(len(aborted) == 1 and aborted[0] < 100000,
     "put_abort: the server saw the body end short of its length (%r of 100000)" % aborted)
ranged = [r[2].get("Range") for r in reqs if r[1] == "ignores-range"]
t.is_(sorted(ranged), ["bytes=2000-4999", "bytes=9000-"], "GET ranges are asked with Range")
t.done()
