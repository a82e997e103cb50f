"""Stage 4, sync: put on each host what its tasks need before they start: the code bundle
(uploaded once per version and reused), the user's script bundle, and the dataset when it
is a local file or folder (or each host downloads an s3:// dataset into its own cache).
Returns, per host, where they are there; bind.py writes that into the tasks."""

from __future__ import annotations

import hashlib
import io
import posixpath
import secrets
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness
from harness.transport import shell
from harness.stages.bundle import Bundle, build_bundle
from harness.config.inventory import Host
from harness.errors import HarnessError
from harness.protocol import layout
from harness.protocol.constants import DEFAULT_WORKDIR
from harness.config.script_bundle import ScriptBundle
from harness.protocol.events import EventLog
from harness.transport.base import Transport
from harness.transport.fanout import fan_out


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


def sync_hosts(hosts: list[Host], transports: dict[str, Transport], dataset: str | None,
               control: EventLog, workload=None) -> dict[str, HostSync]:
    """Code, script and data onto every SSH host, in parallel; what is where on every host.
    Local hosts run the control side's own checkout (and the script where it is)."""
    checkout = str(Path(harness.__file__).resolve().parent.parent)
    out = {h.name: HostSync(pythonpath=checkout) for h in hosts if not needs_sync(h)}
    remote = [h for h in hosts if needs_sync(h)]
    s3_uri = dataset if dataset and dataset.startswith("s3://") else None
    if s3_uri:
        dataset = None   # not a local path to upload: each host downloads it itself, below
    script = None
    if remote and workload is not None and workload.script:
        from harness.config.script_bundle import build_script_bundle

        script = build_script_bundle(workload.script, workload.files)
    if remote:
        out.update(_sync_code(remote, transports, dataset, control, script))
    if s3_uri:
        for name, path in _fetch_s3_dataset(hosts, transports, s3_uri, control, out).items():
            out[name].dataset_path = path
    return out


def _sync_code(remote: list[Host], transports, dataset: str | None, control: EventLog,
               script: ScriptBundle | None) -> dict[str, HostSync]:
    bundle = build_bundle()

    def one(h: Host):
        t = time.monotonic()
        r = sync_host(transports[h.name], h, bundle, dataset, script)
        return r, time.monotonic() - t

    def record(name: str, value) -> HostSync:
        r, seconds = value
        control.emit("sync", host=name, seconds=seconds, uploaded_bytes=r.uploaded_bytes, reused=r.reused,
                     bundle=bundle.digest, **({"script_bundle": script.digest, "script_path": r.script_path,
                                              "script_files": script.files} if script else {}))
        return r

    return _all_or_raise(remote, one, record)


def _fetch_s3_dataset(hosts: list[Host], transports, uri: str, control: EventLog,
                      synced: dict[str, HostSync]) -> dict[str, str]:
    """Every host downloads the dataset once into its own cache (keyed by ETag, size
    verified) with its own AWS credentials (e.g. an instance profile)."""
    from harness.aws.s3 import fetch_command, local_path_from_output

    def one(h: Host):
        t = time.monotonic()
        cache = layout.s3_cache_dir(h.workdir) if h.workdir else None
        argv = fetch_command(h.interpreter, uri, cache)
        cmd = f"PYTHONPATH={shell.q(synced[h.name].pythonpath)} " + " ".join(shell.q(a) for a in argv)
        res = transports[h.name].exec(cmd, timeout=3600)
        if not res.ok:
            tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
            raise HarnessError(f"host {h.name}: could not fetch {uri}: {tail}")
        return local_path_from_output(res.stdout), time.monotonic() - t

    def record(name: str, value) -> str:
        path, seconds = value
        control.emit("dataset_fetch", host=name, uri=uri, path=path, seconds=seconds)
        return path

    return _all_or_raise(hosts, one, record)


def _all_or_raise(hosts: list[Host], one, record) -> dict:
    """`one(host)` on every host in parallel; `record(name, value)` for each success (so
    the hosts that did succeed are in control.jsonl even when another failed), then every
    host's failure in one error. Returns {name: record's result}."""
    out, failed = {}, []
    for name, o in fan_out({h.name: h for h in hosts}, one).items():
        if o.error is not None:
            failed.append(str(o.error))
        else:
            out[name] = record(name, o.value)
    if failed:
        raise HarnessError("; ".join(failed))
    return out
