"""s3api.py: what the S3 API completeness tests share (multipart, copy, listings,
conditionals, tagging, newer SDKs): raw signed requests for what Debian's boto3 cannot send,
extra headers on boto3 calls, multipart ETags computed by the test, S3 XML read without
namespaces, expected errors as TAP lines.

    raw = Raw(env)
    r = raw.request("GET", "/", query={"max-buckets": "2"})     # sigv4.Response
    doc = r.xml()                                                # ElementTree, no namespaces
    with extra_headers(s3, "PutObject", {"If-None-Match": "*"}):
        s3.put_object(...)
    mpu_etag([part1, part2])                                     # '"<md5 of md5s>-2"'
"""
import contextlib
import hashlib
import os
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3mux_s3 import ACCESS_KEY, SECRET_KEY, error_code, http_status  # noqa: E402
from sigv4 import Signer, http_raw, sha256_hex, uri_encode, UNSIGNED_PAYLOAD  # noqa: E402

MiB = 1024 * 1024


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def quoted(hexdigest):
    return '"%s"' % hexdigest


def mpu_etag(parts):
    """The ETag S3 gives a multipart object: the MD5 of the concatenated binary MD5s of the
    parts (bytes, or hex digests), then "-" and the part count; quoted."""
    digests = b"".join(bytes.fromhex(p) if isinstance(p, str) else hashlib.md5(p).digest()
                       for p in parts)
    return '"%s-%d"' % (hashlib.md5(digests).hexdigest(), len(parts))


def file_part_md5s(path, part_size):
    """Hex MD5 of each part_size piece of a file, in order."""
    out = []
    with open(path, "rb") as f:
        while True:
            b = f.read(part_size)
            if not b:
                return out
            out.append(md5_hex(b))


def write_pattern(path, reader):
    """Write a PatternReader (or any reader) to a file in 1 MiB blocks."""
    with open(path, "wb") as f:
        while True:
            b = reader.read(MiB)
            if not b:
                return
            f.write(b)


def strip_ns(elem):
    for e in elem.iter():
        if isinstance(e.tag, str) and "}" in e.tag:
            e.tag = e.tag.split("}", 1)[1]
    return elem


def parse_xml(body):
    return strip_ns(ET.fromstring(body))


def encode_query(query):
    """A query string from a dict or pairs, each name and value URI-encoded; a value of None
    gives a bare name ("?uploads")."""
    pairs = list(query.items() if isinstance(query, dict) else query or [])
    out = []
    for k, v in pairs:
        out.append(uri_encode(k, False) if v is None else
                   "%s=%s" % (uri_encode(k, False), uri_encode(v, False)))
    return "&".join(out)


class RawResponse:
    """A sigv4.Response with the XML parsed on demand."""

    def __init__(self, resp):
        self.resp = resp
        self.status = resp.status
        self.headers = resp.headers
        self.body = resp.body

    def code(self):
        return self.resp.code()

    def xml(self):
        return parse_xml(self.body)

    def __repr__(self):
        return repr(self.resp)


class Raw:
    """Signed requests sent as written (one new connection each)."""

    def __init__(self, env, access=ACCESS_KEY, secret=SECRET_KEY):
        self.env = env
        self.access = access
        self.secret = secret

    def request(self, method, path, query=None, headers=None, body=b"", timeout=60,
                payload_hash=None):
        """path: already URI-encoded ("/bucket/a%20key"); query: dict or pairs."""
        q = encode_query(query) if not isinstance(query, str) else query
        h = {"host": self.env.host}
        h.update(headers or {})
        signer = Signer(self.access, self.secret)
        hdrs = signer.sign(method, path, q, h, payload_hash=payload_hash or sha256_hex(body))
        target = path + ("?" + q if q else "")
        return RawResponse(http_raw(self.env.port, method, target, hdrs, body, timeout))

    def signed_head(self, method, path, query=None, headers=None,
                    payload_hash=UNSIGNED_PAYLOAD):
        """(target, header pairs) of a request whose body the caller sends itself."""
        q = encode_query(query) if not isinstance(query, str) else query
        h = {"host": self.env.host}
        h.update(headers or {})
        hdrs = Signer(self.access, self.secret).sign(method, path, q, h,
                                                     payload_hash=payload_hash)
        return path + ("?" + q if q else ""), hdrs


@contextlib.contextmanager
def extra_headers(client, operation, headers):
    """Add headers to every `operation` request of a boto3 client (signed with it): for
    parameters Debian's botocore does not know yet (If-None-Match on PutObject, ...)."""
    def add(request, **kwargs):
        for k, v in headers.items():
            if k in request.headers:
                del request.headers[k]
            request.headers[k] = v
    event = "before-sign.s3.%s" % operation
    client.meta.events.register(event, add)
    try:
        yield
    finally:
        client.meta.events.unregister(event, add)


def expect_error(t, fn, code, status, name):
    """fn() must raise a botocore ClientError with this code and HTTP status."""
    try:
        got = fn()
    except Exception as e:
        good = t.is_((error_code(e), http_status(e)), (code, status), name)
        if not good:
            t.diag(str(e)[:1000])
        return False
    t.ok(False, name + " (no error raised)")
    t.diag("answered: %r" % (str(got)[:600],))
    return True


def expect_raw(t, resp, status, code, name):
    """A RawResponse must have this status and S3 error code (None: no error body)."""
    good = t.is_((resp.status, resp.code()), (status, code), name)
    if not good:
        t.diag(repr(resp)[:1500])
    return good


def count_files(root):
    """Number of regular files under root (0 if it does not exist)."""
    n = 0
    for _, _, files in os.walk(root):
        n += len(files)
    return n
