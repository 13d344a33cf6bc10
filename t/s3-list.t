#!/usr/bin/python3
# s3-list.t: listings of 3,000 keys in a hierarchy (put by 16 threads), compared page by
# page and key by key with what Python computes: ListObjectsV2 with MaxKeys 1000 and 250,
# with and without Delimiter '/', under prefixes, with StartAfter, FetchOwner, KeyCount,
# IsTruncated and the continuation tokens; ListObjects v1 with Marker/NextMarker;
# encoding-type=url with awkward keys, read raw; ListObjectVersions and GetBucketVersioning
# on an unversioned bucket; ListBuckets with max-buckets, continuation-token and prefix (raw
# requests: Debian's botocore predates them); DeleteObjects of 1000 keys, Quiet and not;
# the plan of a listing page's query.
import os
import re
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from s3mux import TAP  # noqa: E402
from s3mux_s3 import S3Env  # noqa: E402
from s3api import Raw, expect_raw, md5_hex, quoted  # noqa: E402

t = TAP()
try:
    import boto3  # noqa: F401
except ImportError:
    t.skip_all("boto3 is not installed (apt-get install python3-boto3)")

started_file = time.monotonic()
env = S3Env(t)
s3 = env.client()
raw = Raw(env)
B = "list-bucket"
s3.create_bucket(Bucket=B)

# --- 3,000 keys -----------------------------------------------------------------------------
KEYS = ["t%d/m%02d/k%04d.txt" % (i % 7, (i // 7) % 12, i) for i in range(2898)]
KEYS += ["t3/m04/deep/d%02d" % i for i in range(60)]
KEYS += ["r%02d" % i for i in range(40)]
KEYS += ["t1-extra", "t1.0"]            # '-' and '.' sort before '/'
assert len(set(KEYS)) == 3000
SORTED = sorted(KEYS, key=lambda k: k.encode())
SIZE = {k: len(k) * 3 % 97 for k in KEYS}


def content(k):
    return (k * 5).encode()[:SIZE[k]]


local = threading.local()


def put(k):
    c = getattr(local, "client", None)
    if c is None:
        c = local.client = env.client(retries=2)
    c.put_object(Bucket=B, Key=k, Body=content(k))


t0 = time.monotonic()
with ThreadPoolExecutor(16) as ex:
    list(ex.map(put, KEYS))
t.diag("3,000 put_object by 16 threads: %.1fs" % (time.monotonic() - t0))
t.is_(env.settled(), (0, 0), "3,000 objects put; nothing pending")


# --- the expected listings --------------------------------------------------------------
def expected(prefix="", delimiter="", after=""):
    """Every entry a listing of SORTED yields: ("K", key) or ("P", common prefix), in
    order, after `after` (a position that is never inside a rolled-up group here)."""
    out, last = [], None
    for k in SORTED:
        if not k.startswith(prefix) or (after and k.encode() <= after.encode()):
            continue
        if delimiter:
            i = k.find(delimiter, len(prefix))
            if i >= 0:
                cp = k[:i + len(delimiter)]
                if cp != last:
                    out.append(("P", cp))
                    last = cp
                continue
        out.append(("K", k))
    return out


def entries_v2(resp):
    """The page's entries, keys and prefixes merged in order."""
    es = [("K", c["Key"]) for c in resp.get("Contents", [])]
    es += [("P", p["Prefix"]) for p in resp.get("CommonPrefixes", [])]
    return sorted(es, key=lambda e: e[1].encode())


def walk_v2(label, max_keys, prefix="", delimiter="", start_after=""):
    """List every page and compare each with the expected one; one TAP line."""
    want = expected(prefix, delimiter, start_after)
    pages = [want[i:i + max_keys] for i in range(0, len(want), max_keys)] or [[]]
    kw = {"Bucket": B, "MaxKeys": max_keys}
    if prefix:
        kw["Prefix"] = prefix
    if delimiter:
        kw["Delimiter"] = delimiter
    if start_after:
        kw["StartAfter"] = start_after
    problems, token, n = [], None, 0
    for n in range(len(pages) + 2):
        r = s3.list_objects_v2(**kw, **({"ContinuationToken": token} if token else {}))
        got = entries_v2(r)
        page = pages[n] if n < len(pages) else []
        more = n < len(pages) - 1
        if got != page:
            problems.append("page %d: %d entries, want %d; first difference %s" % (
                n, len(got), len(page),
                next(((a, b) for a, b in zip(got, page) if a != b), "(in length)")))
        if r.get("KeyCount") != len(page):
            problems.append("page %d: KeyCount %s, want %d" % (n, r.get("KeyCount"), len(page)))
        if r.get("IsTruncated") != more:
            problems.append("page %d: IsTruncated %s" % (n, r.get("IsTruncated")))
        if r.get("MaxKeys") != max_keys:
            problems.append("page %d: MaxKeys %s" % (n, r.get("MaxKeys")))
        if (r.get("Prefix") or "") != prefix or (r.get("Delimiter") or "") != delimiter:
            problems.append("page %d: Prefix %r Delimiter %r" % (n, r.get("Prefix"), r.get("Delimiter")))
        if start_after and r.get("StartAfter") != start_after:
            problems.append("page %d: StartAfter %r" % (n, r.get("StartAfter")))
        if token and r.get("ContinuationToken") != token:
            problems.append("page %d: ContinuationToken not echoed" % n)
        if any("Owner" in c for c in r.get("Contents", [])):
            problems.append("page %d: Owner without FetchOwner" % n)
        if more != bool(r.get("NextContinuationToken")):
            problems.append("page %d: NextContinuationToken %r" % (n, r.get("NextContinuationToken")))
        if problems or not more:
            break
        token = r["NextContinuationToken"]
    good = t.ok(not problems and n == len(pages) - 1,
                "ListObjectsV2 %s: %d pages, every entry as expected" % (label, len(pages)))
    if not good:
        t.diag("\n".join(problems[:8]) or "stopped after %d pages" % (n + 1))


walk_v2("MaxKeys 1000, no delimiter", 1000)
walk_v2("MaxKeys 250, no delimiter", 250)
walk_v2("MaxKeys 1000, delimiter /", 1000, delimiter="/")
walk_v2("MaxKeys 3, delimiter /", 3, delimiter="/")
walk_v2("MaxKeys 250, prefix t3/, delimiter /", 250, prefix="t3/", delimiter="/")
walk_v2("MaxKeys 5, prefix t3/, delimiter /", 5, prefix="t3/", delimiter="/")
walk_v2("MaxKeys 250, prefix t3/m04/, delimiter /", 250, prefix="t3/m04/", delimiter="/")
walk_v2("MaxKeys 250, prefix t3/m04/ (no delimiter)", 250, prefix="t3/m04/")
walk_v2("MaxKeys 1000, prefix t1 (t1-extra, t1.0, t1/...)", 1000, prefix="t1")
walk_v2("MaxKeys 7, prefix t1, delimiter /", 7, prefix="t1", delimiter="/")
walk_v2("StartAfter t4/m07/k0004.txt, MaxKeys 250", 250, start_after="t4/m07/k0004.txt")
walk_v2("StartAfter t2, delimiter /", 1000, delimiter="/", start_after="t2")
walk_v2("StartAfter past the last key", 1000, start_after="zzz")
walk_v2("prefix matching nothing", 1000, prefix="nothing/")
r = s3.list_objects_v2(Bucket=B, Prefix="t0/m00/", MaxKeys=5)
t.is_(r.get("KeyCount"), 5, "MaxKeys=5: KeyCount 5")
c0 = r["Contents"][0]
t.is_((c0["Size"], c0["ETag"], c0.get("StorageClass")),
      (SIZE[c0["Key"]], quoted(md5_hex(content(c0["Key"]))), "STANDARD"),
      "Contents: Size, ETag, StorageClass")
r = s3.list_objects_v2(Bucket=B, Prefix="t0/m00/", MaxKeys=5, FetchOwner=True)
owners = {(c.get("Owner") or {}).get("ID") for c in r["Contents"]}
names = {(c.get("Owner") or {}).get("DisplayName") for c in r["Contents"]}
t.is_((owners, names), ({"demo"}, {"demo"}), "FetchOwner=true: every Owner has ID and DisplayName demo")

# --- ListObjects (v1) with Marker / NextMarker ---------------------------------------------


def walk_v1(label, max_keys, prefix="", delimiter="", marker=""):
    want = expected(prefix, delimiter, marker)
    pages = [want[i:i + max_keys] for i in range(0, len(want), max_keys)] or [[]]
    kw = {"Bucket": B, "MaxKeys": max_keys}
    if prefix:
        kw["Prefix"] = prefix
    if delimiter:
        kw["Delimiter"] = delimiter
    problems, n, mk = [], 0, marker
    for n in range(len(pages) + 2):
        r = s3.list_objects(**kw, **({"Marker": mk} if mk else {}))
        got = entries_v2(r)
        page = pages[n] if n < len(pages) else []
        more = n < len(pages) - 1
        if got != page:
            problems.append("page %d: %d entries, want %d; first difference %s" % (
                n, len(got), len(page),
                next(((a, b) for a, b in zip(got, page) if a != b), "(in length)")))
        if r.get("IsTruncated") != more:
            problems.append("page %d: IsTruncated %s" % (n, r.get("IsTruncated")))
        if (r.get("Marker") or "") != mk:
            problems.append("page %d: Marker %r, want %r" % (n, r.get("Marker"), mk))
        if not all(c.get("Owner", {}).get("ID") == "demo" for c in r.get("Contents", [])):
            problems.append("page %d: v1 Contents without Owner" % n)
        nm = r.get("NextMarker")
        if delimiter and more and nm != (page[-1][1] if page else None):
            problems.append("page %d: NextMarker %r, want the last entry %r" % (
                n, nm, page[-1][1] if page else None))
        if nm is not None and not more:
            problems.append("page %d: NextMarker %r on the last page" % (n, nm))
        if problems or not more:
            break
        # with a delimiter, NextMarker; without, the last key (AWS sends NextMarker only
        # with a delimiter)
        mk = nm if delimiter else got[-1][1]
    good = t.ok(not problems and n == len(pages) - 1,
                "ListObjects v1 %s: %d pages, every entry as expected" % (label, len(pages)))
    if not good:
        t.diag("\n".join(problems[:8]) or "stopped after %d pages" % (n + 1))


walk_v1("MaxKeys 1000, no delimiter", 1000)
walk_v1("MaxKeys 250, no delimiter", 250)
walk_v1("MaxKeys 1000, delimiter /", 1000, delimiter="/")
walk_v1("MaxKeys 4, delimiter /", 4, delimiter="/")
walk_v1("MaxKeys 250, prefix t3/, delimiter /", 250, prefix="t3/", delimiter="/")
walk_v1("MaxKeys 2, prefix t3/, delimiter / (NextMarker is a common prefix)", 2, prefix="t3/",
        delimiter="/")
walk_v1("Marker t5/m10/k1000.txt, MaxKeys 300", 300, marker="t5/m10/k1000.txt")
r = s3.list_objects(Bucket=B, Prefix="t6/", MaxKeys=10)
t.ok(r["IsTruncated"] and "NextMarker" not in r,
     "v1 without a delimiter: truncated, no NextMarker (AWS sends it only with a delimiter)")

# --- encoding-type=url with awkward keys (raw: boto3 would decode for us) ----------------
ODD = "list-odd"
s3.create_bucket(Bucket=ODD)
odd = ["a b/c d", "plus+sign", "percent%20literal", "amp&lt<gt>", "ünïcödé/ключ", "tab\tkey",
       "ctl\x01char", "quote\"apos'", "semi;colon=eq?q#hash", "tilde~star*", "nl\nkey",
       "sp/ace /x", "sp/z"]
failed = []
for k in odd:
    try:
        s3.put_object(Bucket=ODD, Key=k, Body=k.encode())
    except Exception as e:
        failed.append((k, str(e)))
t.is_(failed, [], "put_object of %d keys with spaces, +, %%, &, <, >, UTF-8, tab, \\x01, \\n" % len(odd))
SAFE = re.compile(r"[!-~]*")      # printable ASCII, no space


def decoded_raw(resp, path):
    """(decoded values, raw values that are not printable ASCII or hold XML specials)."""
    doc = resp.xml()
    vals = [e.text or "" for e in doc.iterfind(path)]
    bad = [v for v in vals if not SAFE.fullmatch(v) or any(c in v for c in "<>&\"'")]
    return [urllib.parse.unquote_plus(v) for v in vals], bad


r = raw.request("GET", "/" + ODD, {"list-type": "2", "encoding-type": "url"})
t.is_(r.status, 200, "GET ?list-type=2&encoding-type=url: 200")
keys, bad = decoded_raw(r, "Contents/Key")
t.is_(keys, sorted(odd, key=lambda k: k.encode()), "encoding-type=url: every key, decoded, in byte order")
t.is_(bad, [], "encoding-type=url: the raw keys are plain printable ASCII (URL-encoded)")
t.is_(r.xml().findtext("EncodingType"), "url", "encoding-type=url: EncodingType url in the answer")
r = raw.request("GET", "/" + ODD, {"list-type": "2", "encoding-type": "url", "delimiter": "/"})
cps, bad_cp = decoded_raw(r, "CommonPrefixes/Prefix")
keys, bad_k = decoded_raw(r, "Contents/Key")
t.is_((cps, bad_cp), (sorted(["a b/", "ünïcödé/", "sp/"], key=lambda k: k.encode()), []),
      "encoding-type=url with delimiter /: CommonPrefixes encoded, decoded as expected")
t.is_(keys, sorted([k for k in odd if "/" not in k], key=lambda k: k.encode()),
      "... and the keys without /")
r = raw.request("GET", "/" + ODD, {"list-type": "2", "encoding-type": "url", "delimiter": "/",
                                   "prefix": "sp/ace "})
pfx, bad_p = decoded_raw(r, "Prefix")
cps, bad_cp = decoded_raw(r, "CommonPrefixes/Prefix")
t.ok(pfx == ["sp/ace "] and not bad_p and cps == ["sp/ace /"] and not bad_cp,
     "encoding-type=url: the Prefix element is encoded too (%r)" % r.xml().findtext("Prefix"))
r = raw.request("GET", "/" + ODD, {"encoding-type": "url", "marker": "plus+sign"})
keys, bad = decoded_raw(r, "Contents/Key")
t.ok(r.status == 200 and not bad and
     keys == [k for k in sorted(odd, key=lambda k: k.encode()) if k.encode() > b"plus+sign"],
     "ListObjects v1 encoding-type=url with a marker: the keys after it, encoded")
r = raw.request("GET", "/" + ODD, {"list-type": "2", "encoding-type": "bogus"})
expect_raw(t, r, 400, "InvalidArgument", "encoding-type=bogus: InvalidArgument")
got = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ODD, PaginationConfig={"PageSize": 4}):
    got += [c["Key"] for c in page.get("Contents", [])]
t.is_(got, sorted(odd, key=lambda k: k.encode()), "boto3's paginator (encoding-type=url, pages of 4) gets every odd key")

# --- ListObjectVersions and GetBucketVersioning on an unversioned bucket -----------------
v = s3.get_bucket_versioning(Bucket=B)
t.is_((v["ResponseMetadata"]["HTTPStatusCode"], v.get("Status"), v.get("MFADelete")), (200, None, None),
      "GetBucketVersioning of a bucket never versioned: no Status")
r = raw.request("GET", "/" + B, "versioning")
t.ok(r.status == 200 and r.xml().tag == "VersioningConfiguration" and len(list(r.xml())) == 0,
     "GetBucketVersioning raw: an empty VersioningConfiguration")
want = [k for k in SORTED if k.startswith("t3/m04/")]
vs, kw, pages, problems = [], {}, 0, []
for _ in range(50):
    r = s3.list_object_versions(Bucket=B, Prefix="t3/m04/", MaxKeys=25, **kw)
    pages += 1
    vs += r.get("Versions", [])
    if r.get("DeleteMarkers"):
        problems.append("DeleteMarkers in an unversioned bucket")
    if not r["IsTruncated"]:
        break
    if r.get("NextKeyMarker") != r["Versions"][-1]["Key"]:
        problems.append("NextKeyMarker %r is not the last key" % r.get("NextKeyMarker"))
    kw = {"KeyMarker": r["NextKeyMarker"]}
    if r.get("NextVersionIdMarker"):
        kw["VersionIdMarker"] = r["NextVersionIdMarker"]
t.is_(([x["Key"] for x in vs], problems), (want, []),
      "ListObjectVersions MaxKeys 25: %d pages, every key once, in order" % pages)
t.ok(vs and all(x["VersionId"] == "null" and x["IsLatest"] is True and x["Size"] == SIZE[x["Key"]]
                and x["ETag"] == quoted(md5_hex(content(x["Key"]))) and x.get("LastModified")
                for x in vs),
     "ListObjectVersions: VersionId null, IsLatest, Size, ETag, LastModified")
r = s3.list_object_versions(Bucket=B, Prefix="t3/", Delimiter="/")
t.is_([p["Prefix"] for p in r.get("CommonPrefixes", [])], ["t3/m%02d/" % i for i in range(12)],
      "ListObjectVersions with delimiter /: the common prefixes")
r = raw.request("GET", "/" + B, {"versions": None, "prefix": "r0", "max-keys": "3"})
doc = r.xml() if r.status == 200 else None
t.ok(doc is not None and doc.tag == "ListVersionsResult" and
     [e.findtext("VersionId") for e in doc.iterfind("Version")] == ["null"] * 3 and
     doc.findtext("IsTruncated") == "true",
     "GET ?versions raw: ListVersionsResult, VersionId null, IsTruncated")

# --- ListBuckets: max-buckets, continuation-token, prefix (raw) ---------------------------
for i in range(7):
    s3.create_bucket(Bucket="lb-%d" % i)
ALL = sorted([B, ODD] + ["lb-%d" % i for i in range(7)])


def list_buckets_raw(query):
    r = raw.request("GET", "/", query)
    if r.status != 200:
        return r, None, None, None
    doc = r.xml()
    return (r, [b.findtext("Name") for b in doc.iterfind("Buckets/Bucket")],
            doc.findtext("ContinuationToken"), doc.findtext("Prefix"))


def walk_buckets(query, size):
    names, pages, token, problems = [], [], None, []
    for _ in range(20):
        q = dict(query)
        if token:
            q["continuation-token"] = token
        r, page, token, prefix = list_buckets_raw(q)
        if page is None:
            problems.append(repr(r))
            break
        pages.append(len(page))
        names += page
        if "prefix" in query and prefix != query["prefix"]:
            problems.append("Prefix %r not echoed" % prefix)
        if not token:
            break
    return names, pages, problems


names, pages, problems = walk_buckets({"max-buckets": "3"}, 3)
t.is_((names, pages, problems), (ALL, [3, 3, 3], []),
      "ListBuckets max-buckets=3: pages of 3 with a ContinuationToken, every bucket once")
names, pages, problems = walk_buckets({"max-buckets": "2", "prefix": "lb-"}, 2)
t.is_((names, pages, problems), (["lb-%d" % i for i in range(7)], [2, 2, 2, 1], []),
      "ListBuckets prefix=lb- max-buckets=2: the 7 lb- buckets in pages of 2, Prefix echoed")
r, page, token, prefix = list_buckets_raw({"prefix": "list-"})
t.is_((page, token), ([B, ODD], None), "ListBuckets prefix=list-: the two buckets, no token")
r, page, token, prefix = list_buckets_raw({})
t.is_((page, token), (ALL, None), "ListBuckets without parameters: every bucket, no token")
t.is_([b["Name"] for b in s3.list_buckets()["Buckets"]], ALL, "boto3 list_buckets: every bucket")
r = raw.request("GET", "/", {"max-buckets": "0"})
expect_raw(t, r, 400, "InvalidArgument", "ListBuckets max-buckets=0: InvalidArgument")
r = raw.request("GET", "/", {"max-buckets": "10001"})
expect_raw(t, r, 400, "InvalidArgument", "ListBuckets max-buckets=10001: InvalidArgument")

# --- the plan of a listing page --------------------------------------------------------
env.pg.psql("ANALYZE objects")
plan = "\n".join(row[0] for row in env.pg.psql(
    "EXPLAIN SELECT key, size, etag FROM objects WHERE bucket = 'list-bucket' "
    "AND key >= 't3/' ORDER BY key LIMIT 1001"))
t.like(plan, r"Index (Only )?Scan using objects_pkey",
       "a listing page reads the (bucket, key) primary key in order (no sort of the bucket)")
t.diag(plan)

# --- DeleteObjects: 1000 keys, Quiet and not --------------------------------------------
batches = [SORTED[i:i + 1000] for i in range(0, 3000, 1000)]
r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in batches[0]], "Quiet": True})
t.is_((r.get("Deleted", []), r.get("Errors", [])), ([], []),
      "DeleteObjects of 1000 keys, Quiet: no Deleted, no Errors in the answer")
keys = batches[1][:999] + ["no/such/key"]
r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in keys]})
t.is_((sorted(d["Key"] for d in r.get("Deleted", [])), r.get("Errors", [])),
      (sorted(keys), []), "DeleteObjects of 1000 keys (one missing): all 1000 Deleted, no Errors")
rest = batches[1][999:] + batches[2]
deleted = 0
for i in range(0, len(rest), 1000):
    r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in rest[i:i + 1000]]})
    deleted += len(r.get("Deleted", []))
t.is_(deleted, len(rest), "DeleteObjects of the %d others: all Deleted" % len(rest))
r = s3.list_objects_v2(Bucket=B)
t.is_((r.get("KeyCount"), r.get("Contents", []), r["IsTruncated"]), (0, [], False),
      "the bucket is empty: KeyCount 0")
t.is_(env.settled(), (0, 0), "no pending intent, no reserved bytes")
used, reserved, orphans = env.quota_row()
t.is_((used, env.locations_bytes()), (env.backend_file_bytes(), env.backend_file_bytes()),
      "bytes_used = SUM(stored_size) = the bytes on disk-a")
for line in env.finish():
    t.diag("front-end warning: " + line)
t.diag("s3-list.t: %.1fs" % (time.monotonic() - started_file))
t.done()
