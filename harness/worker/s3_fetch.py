"""Runs ON a host: fetch an s3:// dataset into a local cache once, print its local path.

    python -m harness.worker.s3_fetch s3://bucket/data/training.csv [--cache-dir DIR]
    python -m harness.worker.s3_fetch s3://bucket/data/cifar-10-batches-py/   # a prefix

An object is cached under <cache>/<ETag>/<file name>: the same content is downloaded
once per host whatever the run. A prefix (URI ending in "/") is cached as a folder keyed
by the hash of its listing (keys, ETags, sizes). Sizes are checked against S3's, files
appear only complete (written aside, then renamed), and concurrent tasks on the same host
take a file lock so only one downloads. The last line of stdout is the local path.

Stdlib only, plus boto3 when installed on the host (credentials: the host's instance
profile or its own AWS configuration). It imports nothing else from the harness, so it can
also be copied to a host and run as a plain script."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional

ENDPOINT_ENV = "HARNESS_AWS_ENDPOINT_URL"
CACHE_ENV = "HARNESS_S3_CACHE"
DEFAULT_CACHE = "~/.cache/harness/s3"
COMPLETE = ".complete"

EXIT_USAGE, EXIT_NO_BOTO3, EXIT_S3, EXIT_SIZE = 2, 3, 4, 5


class FetchError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Fetched:
    path: Path
    downloaded: bool  # False: served from the cache
    bytes: int


def parse_uri(uri: str) -> tuple[str, str]:
    m = re.match(r"^s3://([^/]+)/(.*)$", uri)
    if not m or not m.group(2):
        raise FetchError(f"{uri!r}: expected s3://bucket/key or s3://bucket/prefix/", EXIT_USAGE)
    return m.group(1), m.group(2)


def _safe_rel(rel: str) -> PurePosixPath:
    # A key like "a/../../etc/x" must not write outside the cache.
    p = PurePosixPath(rel)
    if p.is_absolute() or any(part in ("", ".", "..") for part in p.parts):
        raise FetchError(f"object key part {rel!r} is not a plain relative path; refusing to write it", EXIT_S3)
    return p


def _etag_dir(etag: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "", etag) or "noetag"


def _redact(text: str) -> str:
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        v = os.environ.get(name)
        if v and len(v) >= 8:
            text = text.replace(v, "[redacted]")
    return text


def make_client(region: Optional[str] = None, endpoint_url: Optional[str] = None):
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise FetchError("boto3 is not installed on this host: `pip install boto3` in the training "
                         "environment, or copy the dataset to the host and give its local path", EXIT_NO_BOTO3) from None
    cfg = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 5, "mode": "standard"})
    return boto3.client("s3", region_name=region, endpoint_url=endpoint_url or os.environ.get(ENDPOINT_ENV) or None,
                        config=cfg)


@contextlib.contextmanager
def _locked(lock_path: Path):
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename still keeps files whole
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _s3_call(what: str, fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except Exception as e:
        resp = getattr(e, "response", None) or {}
        err = resp.get("Error", {}) if isinstance(resp, dict) else {}
        if err:
            code = err.get("Code", "?")
            hint = {"404": "no such object", "NoSuchKey": "no such object", "NoSuchBucket": "no such bucket",
                    "403": "access denied (the host's IAM role needs s3:GetObject and s3:ListBucket)",
                    "AccessDenied": "access denied (the host's IAM role needs s3:GetObject and s3:ListBucket)"}.get(code, "")
            raise FetchError(_redact(f"{what}: {code} {err.get('Message', '')} {hint}".strip()), EXIT_S3) from None
        raise FetchError(_redact(f"{what}: {type(e).__name__}: {e}"), EXIT_S3) from None


def _download(s3, bucket: str, key: str, dest: Path, size: int) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    try:
        _s3_call(f"download s3://{bucket}/{key}", s3.download_file, bucket, key, tmp)
        got = os.path.getsize(tmp)
        if got != size:
            raise FetchError(f"s3://{bucket}/{key}: downloaded {got} bytes, S3 says {size}; try again", EXIT_SIZE)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch_object(s3, bucket: str, key: str, cache: Path) -> Fetched:
    head = _s3_call(f"head s3://{bucket}/{key}", s3.head_object, Bucket=bucket, Key=key)
    etag, size = head.get("ETag", ""), int(head["ContentLength"])
    dest = cache / _etag_dir(etag) / _safe_rel(PurePosixPath(key).name)
    with _locked(cache / ".locks" / f"{_etag_dir(etag)}.lock"):
        if dest.is_file() and dest.stat().st_size == size:
            return Fetched(dest, False, size)
        _download(s3, bucket, key, dest, size)
    return Fetched(dest, True, size)


def fetch_prefix(s3, bucket: str, prefix: str, cache: Path) -> Fetched:
    objects = []
    pager = s3.get_paginator("list_objects_v2")
    for page in _s3_call(f"list s3://{bucket}/{prefix}", lambda: list(pager.paginate(Bucket=bucket, Prefix=prefix))):
        for o in page.get("Contents", []):
            if not o["Key"].endswith("/"):  # "folder" marker objects hold nothing
                objects.append((str(_safe_rel(o["Key"][len(prefix):])), o["Key"], o.get("ETag", ""), int(o["Size"])))
    if not objects:
        raise FetchError(f"s3://{bucket}/{prefix}: no objects under this prefix", EXIT_S3)
    objects.sort()
    listing = json.dumps([(rel, etag, size) for rel, _, etag, size in objects]).encode()
    name = "prefix-" + hashlib.sha256(listing).hexdigest()[:32]
    dest = cache / name
    total = sum(o[3] for o in objects)
    with _locked(cache / ".locks" / f"{name}.lock"):
        if (dest / COMPLETE).is_file() and all((dest / rel).is_file() and (dest / rel).stat().st_size == size
                                               for rel, _, _, size in objects):
            return Fetched(dest, False, total)
        tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{name}.", suffix=".part"))
        try:
            for rel, key, _, size in objects:
                _download(s3, bucket, key, tmp / rel, size)
            (tmp / COMPLETE).write_text(listing.decode(), encoding="utf-8")
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return Fetched(dest, True, total)


def fetch(uri: str, cache_dir: Optional[str | Path] = None, s3=None) -> Fetched:
    """Download `uri` (object, or prefix ending in "/") into the cache unless already there."""
    bucket, key = parse_uri(uri)
    cache = Path(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    s3 = s3 or make_client()
    return fetch_prefix(s3, bucket, key, cache) if key.endswith("/") else fetch_object(s3, bucket, key, cache)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.worker.s3_fetch",
                                 description="Download an s3:// object or prefix once into a local cache; print its path.")
    ap.add_argument("uri")
    ap.add_argument("--cache-dir", help=f"cache folder (default ${CACHE_ENV} or {DEFAULT_CACHE})")
    ap.add_argument("--region", help="bucket region (default: the host's AWS configuration)")
    ap.add_argument("--endpoint-url", help=f"S3 endpoint (default ${ENDPOINT_ENV}, else AWS)")
    args = ap.parse_args(argv)
    try:
        s3 = make_client(args.region, args.endpoint_url)
        got = fetch(args.uri, args.cache_dir, s3)
    except FetchError as e:
        print(f"s3_fetch: error: {e}", file=sys.stderr)
        return e.code
    how = "downloaded" if got.downloaded else "cached"
    print(f"s3_fetch: {how} {args.uri} ({got.bytes} bytes)", file=sys.stderr)
    print(got.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
