"""s3mux_fs.py: where the fs driver keeps an object, as src/backend_fs.c names it, so tests can
look at a backend's bytes directly (or place a copy by hand)."""
import hashlib
import os

_KEEP = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def fs_relpath(bucket, key):
    raw = key.encode()
    digest = hashlib.sha256(raw).hexdigest()
    enc = "".join(chr(c) if c in _KEEP or (c == ord(".") and i > 0) else "%%%02X" % c
                  for i, c in enumerate(raw))
    name = enc if 0 < len(enc) <= 240 else "#" + digest
    return os.path.join(bucket, digest[:2], name)


def fs_path(root, bucket, key):
    return os.path.join(root, fs_relpath(bucket, key))


def fs_bytes(root):
    """Bytes of every object file under a backend root (its .tmp directory excluded)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.relpath(dirpath, root).split(os.sep)[0] == ".tmp":
            continue
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in filenames)
    return total
