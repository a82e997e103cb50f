"""The code a remote host needs to run tasks: the `harness` and `models` packages as a
versioned tarball. PURE apart from reading the package files; uploading is sync.py's job."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import harness
import models
from harness.strategies import extra_files

PACKAGES = (Path(harness.__file__).parent, Path(models.__file__).parent)


@dataclass(frozen=True)
class Bundle:
    digest: str       # sha256 of the contents: the bundle's version
    data: bytes       # tar.gz


def source_files(roots=PACKAGES) -> list[tuple[str, Path]]:
    """(archive name, path) of every Python/data file of the packages, sorted, and the
    modules of the strategies HARNESS_STRATEGY_PATH adds, in their packages' places."""
    out = []
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".csv", ".json"):
                out.append((f"{root.name}/{p.relative_to(root).as_posix()}", p))
    if roots == PACKAGES:
        out += extra_files()
    return out


def build_bundle(roots=PACKAGES) -> Bundle:
    files = source_files(roots)
    h = hashlib.sha256()
    for name, p in files:
        h.update(name.encode() + b"\0" + p.read_bytes() + b"\0")
    buf = io.BytesIO()
    # Fixed mtimes and owners, and a gzip header without a timestamp (tarfile's "w:gz"
    # writes the current time there): the same sources give the same bytes.
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for name, p in files:
            data = p.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return Bundle(h.hexdigest()[:16], buf.getvalue())
