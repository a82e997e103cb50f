"""Put on each host what its tasks need before they start: the code bundle (uploaded once
per version and reused), the user's script bundle, and the dataset when it is a local file
or folder."""

from __future__ import annotations

import hashlib
import io
import posixpath
import secrets
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from harness import shell
from harness.bundle import Bundle
from harness.config.inventory import Host
from harness.errors import HarnessError
from harness.protocol import layout
from harness.protocol.constants import DEFAULT_WORKDIR
from harness.script_bundle import ScriptBundle
from harness.transport.base import Transport


@dataclass
class HostSync:
    pythonpath: str                     # where `harness` and `models` import from on the host
    dataset_path: str | None = None     # the dataset's path on the host, when it was copied
    script_path: str | None = None      # the user's script on the host, when one was shipped
    uploaded_bytes: int = 0
    reused: list[str] = field(default_factory=list)


def needs_sync(host: Host) -> bool:
    """Local hosts run the control side's own checkout; SSH hosts get a bundle."""
    return not host.is_local


def _unpack_once(tr: Transport, target: str, make_data, what: str) -> int:
    """Unpack a tar.gz into `target` unless a previous run completed it; bytes uploaded.
    `make_data` is only called when an upload is needed (packing a dataset takes time)."""
    done = posixpath.join(target, ".complete")
    if tr.exec(f"test -f {shell.q(done)}", timeout=30).ok:
        return 0
    # Unpack beside the target, then rename: hosts sharing a workdir (NFS) or two runs at
    # once never see a half-unpacked bundle, and the loser of a race just discards its copy.
    tmp = f"{target}.upload-{secrets.token_hex(4)}.tar.gz"
    data = make_data()
    tr.write_file(tmp, data)
    t, d = shell.q(target), shell.q(done)
    res = tr.exec(f"u=$(mktemp -d {t}.unpack.XXXXXX) && tar -xzf {shell.q(tmp)} -C \"$u\" && touch \"$u/.complete\" "
                  f"&& {{ mv -T \"$u\" {t} 2>/dev/null || rm -rf \"$u\"; }}; rm -f {shell.q(tmp)}; test -f {d}",
                  timeout=600)
    if not res.ok:
        raise HarnessError(f"host {tr.name}: could not unpack the {what} into {target}: "
                           f"{res.stderr.strip() or res.stdout.strip() or 'no .complete marker'}")
    return len(data)


def sync_host(tr: Transport, host: Host, bundle: Bundle, dataset: str | None,
              script: ScriptBundle | None = None) -> HostSync:
    base = host.workdir or DEFAULT_WORKDIR
    code_dir = layout.bundle_dir(base, bundle.digest)
    out = HostSync(pythonpath=code_dir)
    sent = _unpack_once(tr, code_dir, lambda: bundle.data, "harness code bundle")
    out.uploaded_bytes += sent
    if not sent:
        out.reused.append("code")
    if script is not None:
        sdir = layout.script_dir(base, script.digest)
        sent = _unpack_once(tr, sdir, lambda: script.data, f"script bundle of {script.script}")
        out.uploaded_bytes += sent
        if not sent:
            out.reused.append("script")
        out.script_path = posixpath.join(sdir, script.script)
    if dataset:
        path = Path(dataset)
        files = _dataset_files(path)
        ddir = layout.dataset_dir(base, _dataset_digest(path, files))
        sent = _unpack_once(tr, ddir, lambda: _pack_dataset(path, files), f"dataset {dataset}")
        out.uploaded_bytes += sent
        if not sent:
            out.reused.append("dataset")
        out.dataset_path = posixpath.join(ddir, path.name)
    return out


def _dataset_files(path: Path) -> list[tuple[str, Path]]:
    if path.is_file():
        return [(path.name, path)]
    return [(f"{path.name}/{p.relative_to(path).as_posix()}", p) for p in sorted(path.rglob("*")) if p.is_file()]


def _dataset_digest(path: Path, files) -> str:
    # Names, sizes and mtimes: cheap, and changes when the user edits the data.
    h = hashlib.sha256(str(path.resolve()).encode())
    for name, p in files:
        st = p.stat()
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]


def _pack_dataset(path: Path, files) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for name, p in files:
            tar.add(p, arcname=name, recursive=False)
    return buf.getvalue()
