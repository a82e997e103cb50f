"""The user's own training script as a shipped bundle: the script and the files beside it
that it needs, content-addressed like the harness's code bundle (harness/stages/bundle.py), so a
host unpacks it once per version and nothing has to exist on a host beforehand.

What travels: `workload.files` when given (files or folders under the script's folder),
else the script's whole folder; always minus IGNORED names, and at most MAX_BYTES in all
(a script at the top of a big repository would otherwise drag the repository along).
PURE apart from reading the files."""

from __future__ import annotations

import fnmatch
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 64 * 1024 * 1024
# Never shipped: version control, caches, environments, earlier results, notebooks' state.
IGNORED = (".git", ".hg", ".svn", "__pycache__", "*.pyc", ".venv", "venv", "env", "node_modules", ".tox",
           ".mypy_cache", ".pytest_cache", ".ipynb_checkpoints", "runs", ".DS_Store")


class ScriptFilesError(ValueError):
    """A message for the user: which path, what is wrong, what to do."""


@dataclass(frozen=True)
class ScriptBundle:
    digest: str          # sha256 of names and contents: the bundle's version
    data: bytes          # tar.gz, names relative to the script's folder
    script: str          # the script's name inside the bundle
    files: int
    bytes: int


def _ignored(rel: Path) -> bool:
    return any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in IGNORED)


def script_files(script: str | Path, files: list[str] | None = None,
                 max_bytes: int = MAX_BYTES) -> list[tuple[str, Path]]:
    """(name relative to the script's folder, path) of everything to ship, sorted.
    `files` are absolute paths (the loader resolved them) inside the script's folder."""
    script = Path(script).resolve()
    root = script.parent
    picked: dict[str, Path] = {script.name: script}
    for entry in (files if files is not None else [str(root)]):
        p = Path(entry).resolve()
        try:
            p.relative_to(root)
        except ValueError:
            raise ScriptFilesError(f"{p} is not inside the script's folder {root}; the script finds its files "
                                   f"relative to itself, so keep them beside it") from None
        if not p.exists():
            raise ScriptFilesError(f"{p} does not exist")
        for f in ([p] if p.is_file() else sorted(p.rglob("*"))):
            rel = f.relative_to(root)
            if f.is_file() and not _ignored(rel):
                picked[rel.as_posix()] = f
    total = sum(f.stat().st_size for f in picked.values())
    if total > max_bytes:
        big = sorted(picked.items(), key=lambda kv: -kv[1].stat().st_size)[:3]
        raise ScriptFilesError(
            f"{len(picked)} files, {total / 2**20:.1f} MiB, more than the {max_bytes / 2**20:.0f} MiB shipped with a "
            f"script (largest: {', '.join(n for n, _ in big)}); list what it needs in workload.files, or put data "
            f"in workload.dataset")
    return sorted(picked.items())


def build_script_bundle(script: str | Path, files: list[str] | None = None,
                        max_bytes: int = MAX_BYTES) -> ScriptBundle:
    entries = script_files(script, files, max_bytes)
    h = hashlib.sha256()
    buf = io.BytesIO()
    size = 0
    # Fixed mtimes and owners: the same files give the same bytes and the same digest.
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for name, p in entries:
            data = p.read_bytes()
            size += len(data)
            h.update(name.encode() + b"\0" + data + b"\0")
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            info.mode = 0o755 if p.stat().st_mode & 0o111 else 0o644
            tar.addfile(info, io.BytesIO(data))
    return ScriptBundle(h.hexdigest()[:16], buf.getvalue(), Path(script).name, len(entries), size)
