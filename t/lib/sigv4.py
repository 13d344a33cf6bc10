"""sigv4.py: a small AWS Signature Version 4 signer and a raw HTTP client for the tests that
must send what real S3 clients refuse to send: a wrong secret, a skewed clock, a tampered
aws-chunked body, a bad checksum trailer, a body cut short, a head too large.

Written from the published algorithm (canonical request, string to sign, signing key, chunk
signatures), independent of src/sigv4.c, so the two check each other.

    signer = Signer("demo", "demo-secret-key")
    hdrs = signer.sign("PUT", "/bucket/key", headers={"host": "127.0.0.1:9000"},
                       payload_hash=sha256_hex(body))
    resp = http_raw(port, "PUT", "/bucket/key", hdrs, body)
    resp.status, resp.headers["etag"], resp.code()
"""
import hashlib
import hmac
import re
import socket
import time
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def uri_encode(text, keep_slash=True):
    """AWS URI encoding: unreserved bytes stay, '/' stays with keep_slash, the rest %XX."""
    raw = text.encode() if isinstance(text, str) else bytes(text)
    out = []
    for c in raw:
        if c in _UNRESERVED or (keep_slash and c == 0x2F):
            out.append(chr(c))
        else:
            out.append("%%%02X" % c)
    return "".join(out)


def amz_date(when):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(int(when)))


def _hmac(key, msg):
    return hmac.new(key, msg.encode() if isinstance(msg, str) else msg, hashlib.sha256).digest()


def signing_key(secret, date, region="us-east-1", service="s3"):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def canonical_query(query):
    """The raw query string, decoded, re-encoded and sorted by name then value."""
    pairs = []
    for part in query.split("&") if query else []:
        if part == "":
            continue
        name, _, value = part.partition("=")
        name = urllib.parse.unquote_plus(name)
        value = urllib.parse.unquote_plus(value)
        pairs.append((uri_encode(name, False), uri_encode(value, False)))
    pairs.sort()
    return "&".join("%s=%s" % p for p in pairs)


def canonical_uri(path):
    """S3's canonical URI: the wire path decoded and encoded once; no normalisation."""
    return uri_encode(urllib.parse.unquote_to_bytes(path or "/"), True)


def _canonical_headers(headers, names):
    lines = []
    for n in names:
        values = [" ".join(str(v).split()) for k, v in headers if k.lower() == n]
        lines.append("%s:%s\n" % (n, ",".join(values)))
    return "".join(lines)


class Signer:
    """Signs requests for one credential.  clock_offset (seconds) skews every signature."""

    def __init__(self, access_key, secret, region="us-east-1", service="s3", clock_offset=0):
        self.access_key = access_key
        self.secret = secret
        self.region = region
        self.service = service
        self.clock_offset = clock_offset
        # the last signature's context, for chunk signatures
        self.seed_signature = None
        self.key = None
        self.amz_date = None
        self.scope = None

    def _now(self, when):
        return int(time.time() + self.clock_offset if when is None else when)

    def _scope(self, date):
        return "%s/%s/%s/aws4_request" % (date, self.region, self.service)

    def string_to_sign(self, method, path, query, headers, signed, payload_hash, stamp):
        creq = "\n".join([method, canonical_uri(path), canonical_query(query),
                          _canonical_headers(headers, signed), ";".join(signed),
                          payload_hash])
        return "\n".join([ALGORITHM, stamp, self._scope(stamp[:8]),
                          sha256_hex(creq.encode())])

    def sign(self, method, path, query="", headers=None, payload_hash=UNSIGNED_PAYLOAD,
             when=None):
        """Return the headers to send: the given ones (a dict or pairs; "host" required)
        plus x-amz-date, x-amz-content-sha256 and Authorization, every header signed."""
        pairs = list(headers.items() if isinstance(headers, dict) else headers or [])
        stamp = amz_date(self._now(when))
        pairs = [(k, v) for k, v in pairs if k.lower() not in ("x-amz-date", "authorization")]
        pairs.append(("x-amz-date", stamp))
        if not any(k.lower() == "x-amz-content-sha256" for k, _ in pairs):
            pairs.append(("x-amz-content-sha256", payload_hash))
        payload_hash = [v for k, v in pairs if k.lower() == "x-amz-content-sha256"][0]
        signed = sorted({k.lower() for k, _ in pairs if k.lower() != "content-length"})
        sts = self.string_to_sign(method, path, query, pairs, signed, payload_hash, stamp)
        self.key = signing_key(self.secret, stamp[:8], self.region, self.service)
        self.seed_signature = hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()
        self.amz_date = stamp
        self.scope = self._scope(stamp[:8])
        pairs.append(("Authorization", "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
            ALGORITHM, self.access_key, self.scope, ";".join(signed), self.seed_signature)))
        return pairs

    def presign(self, method, host, path, expires=300, when=None, query=""):
        """The path and query of a presigned URL (host is the Host header value)."""
        stamp = amz_date(self._now(when))
        params = [("X-Amz-Algorithm", ALGORITHM),
                  ("X-Amz-Credential", "%s/%s" % (self.access_key, self._scope(stamp[:8]))),
                  ("X-Amz-Date", stamp), ("X-Amz-Expires", str(expires)),
                  ("X-Amz-SignedHeaders", "host")]
        q = "&".join("%s=%s" % (uri_encode(k, False), uri_encode(v, False)) for k, v in params)
        if query:
            q = query + "&" + q
        sts = self.string_to_sign(method, path, q, [("host", host)], ["host"],
                                  UNSIGNED_PAYLOAD, stamp)
        key = signing_key(self.secret, stamp[:8], self.region, self.service)
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        return "%s?%s&X-Amz-Signature=%s" % (path, q, sig)

    def chunk_signature(self, previous, data):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, previous,
                         EMPTY_SHA256, sha256_hex(data)])
        return hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()

    def chunked_body(self, data, chunk_size=65536):
        """An aws-chunked body signed with STREAMING-AWS4-HMAC-SHA256-PAYLOAD, chained from
        the last sign() call's seed signature."""
        out = []
        previous = self.seed_signature
        pieces = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
        for piece in pieces:
            sig = self.chunk_signature(previous, piece)
            out.append(b"%x;chunk-signature=%s\r\n" % (len(piece), sig.encode()))
            out.append(piece + b"\r\n")
            previous = sig
        return b"".join(out)


def unsigned_trailer_body(data, trailers, chunk_size=65536):
    """An aws-chunked body for STREAMING-UNSIGNED-PAYLOAD-TRAILER with trailer pairs."""
    out = []
    for i in range(0, len(data), chunk_size):
        piece = data[i:i + chunk_size]
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    out.append(b"0\r\n")
    for name, value in trailers:
        out.append(("%s:%s\r\n" % (name, value)).encode())
    out.append(b"\r\n")
    return b"".join(out)


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # lower-case name -> value (last one wins)
        self.body = body

    def code(self):
        """The S3 error code of an XML error body, or None."""
        m = re.search(rb"<Code>([^<]*)</Code>", self.body or b"")
        return m.group(1).decode() if m else None

    def __repr__(self):
        return "<Response %d %s %r>" % (self.status, self.code(), self.body[:200])


def _read_head(sock, buf, deadline):
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise TimeoutError("no complete response head in time")
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed before a response head")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers, rest


def read_response(sock, method="GET", timeout=30):
    """Read one response (skipping 100 Continue) from a connected socket."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        status, reason, headers, buf = _read_head(sock, buf, deadline)
        if status != 100:
            break
    if method == "HEAD" or status in (204, 304):
        return Response(status, reason, headers, b"")
    want = int(headers["content-length"]) if "content-length" in headers else None
    while want is None or len(buf) < want:
        if time.monotonic() > deadline:
            raise TimeoutError("response body not complete")
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            break
        buf += data
    return Response(status, reason, headers, buf if want is None else buf[:want])


def connect(port, host="127.0.0.1", timeout=30):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def format_request(method, target, headers, body_len=None):
    pairs = list(headers.items() if isinstance(headers, dict) else headers)
    if body_len is not None and not any(k.lower() == "content-length" for k, _ in pairs):
        pairs.append(("Content-Length", str(body_len)))
    head = "%s %s HTTP/1.1\r\n" % (method, target)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in pairs)
    return (head + "\r\n").encode("utf-8", "surrogateescape")


def http_raw(port, method, target, headers, body=b"", timeout=30):
    """Send one request on a new connection and read the answer."""
    with connect(port, timeout=timeout) as s:
        s.sendall(format_request(method, target, headers, len(body)) + body)
        return read_response(s, method, timeout)
