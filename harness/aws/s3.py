"""s3:// URIs: datasets fetched on the hosts, checkpoints and run directories uploaded.

Datasets are downloaded by the host itself (`harness/worker/s3_fetch.py`, once per host,
cached by ETag); `fetch_command` builds that command for the transport to run. Uploads
run wherever the files are: `upload_checkpoint` on the host that wrote the checkpoint,
`upload_run_dir` on the control machine at the end of a run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from harness.aws.session import AwsSettings, aws_errors, client
from harness.errors import UsageError

_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<key>.*))?$")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key → (bucket, key); the key may be "" (the bucket's root)."""
    m = _URI.match(uri or "")
    if not m:
        raise UsageError(f"{uri!r}: not an S3 URI; expected s3://bucket/key (lower-case bucket name)")
    return m.group("bucket"), m.group("key") or ""


def join_key(prefix: str, *parts: str) -> str:
    return "/".join(p.strip("/") for p in (prefix, *parts) if p.strip("/"))


def fetch_command(python: str, uri: str, cache_dir: Optional[str] = None, region: Optional[str] = None) -> list[str]:
    """argv that downloads `uri` on a host and prints the local path as its last stdout line."""
    parse_s3_uri(uri)
    argv = [python, "-m", "harness.worker.s3_fetch", uri]
    if cache_dir:
        argv += ["--cache-dir", cache_dir]
    if region:
        argv += ["--region", region]
    return argv


def local_path_from_output(stdout: str) -> str:
    """The local path that s3_fetch printed (its last non-empty stdout line)."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("s3_fetch printed no path")
    return lines[-1].strip()


def s3_client(settings: AwsSettings):
    return client("s3", settings)


def upload_file(s3, path: str | Path, uri: str) -> str:
    """Upload one file to exactly `uri`; returns the URI."""
    bucket, key = parse_s3_uri(uri)
    if not key or key.endswith("/"):
        key = join_key(key, Path(path).name)
    with aws_errors(f"upload {path} to s3://{bucket}/{key}"):
        s3.upload_file(str(path), bucket, key)
    return f"s3://{bucket}/{key}"


def checkpoint_files(ckpt_path: str | Path) -> list[Path]:
    """The files of a TensorFlow checkpoint saved as `<dir>/ckpt-N`: ckpt-N.index,
    ckpt-N.data-*, and the directory's `checkpoint` state file when present."""
    p = Path(ckpt_path)
    files = sorted(f for f in p.parent.glob(p.name + ".*") if f.is_file())
    state = p.parent / "checkpoint"
    return files + ([state] if files and state.is_file() else [])


def upload_checkpoint(s3, ckpt_path: str | Path, uri_prefix: str) -> list[str]:
    """Upload a checkpoint's files under `uri_prefix`; returns their URIs."""
    files = checkpoint_files(ckpt_path)
    if not files:
        raise UsageError(f"{ckpt_path}: no checkpoint files ({Path(ckpt_path).name}.index / .data-*) found")
    bucket, prefix = parse_s3_uri(uri_prefix)
    return [upload_file(s3, f, f"s3://{bucket}/{join_key(prefix, f.name)}") for f in files]


@dataclass(frozen=True)
class Upload:
    uri: str  # s3://bucket/prefix/<run-id>/
    files: int
    bytes: int


def upload_run_dir(s3, run_dir: str | Path, uri_prefix: str) -> Upload:
    """Upload every file of a run directory to <uri_prefix>/<run-id>/, keeping the layout."""
    root = Path(run_dir)
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory; pass runs/<run-id>")
    bucket, prefix = parse_s3_uri(uri_prefix)
    base = join_key(prefix, root.name)
    n = size = 0
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        key = join_key(base, f.relative_to(root).as_posix())
        with aws_errors(f"upload {f} to s3://{bucket}/{key}"):
            s3.upload_file(str(f), bucket, key)
        n += 1
        size += f.stat().st_size
    return Upload(f"s3://{bucket}/{base}/", n, size)
