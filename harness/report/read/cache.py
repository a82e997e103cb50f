"""A columnar cache beside each events/samples JSONL file, so rebuilding a report or
comparing runs re-reads a run without parsing its JSON again.

`<file>.cache` holds the file's columns (columns.py), its other records (as JSON text,
which round-trips parsed JSON exactly), its bad line numbers and, for samples, the
samples.csv text of its values (GPU cells too), under a key of the JSONL's size and SHA-256
digest and this module's FORMAT. A cache whose key does not match the file is ignored and
rewritten; one that cannot be read, fails its CRC-32 or cannot be written is ignored. So
deleting it, or a stale one, changes nothing but speed. Files with GPU readings are cached
like the others (since FORMAT 6; an older reader must not take such a cache for a file
without GPUs, hence the new FORMAT).

The container is one read: a magic line, a JSON header (key, CRC-32 of the payload, and
per array its dtype, shape and offset) and the arrays' bytes back to back, 8-byte aligned,
viewed with numpy.frombuffer. (numpy's .npz is a zip with one member per array: opening
3,600 members took most of a warm rebuild's loading time.)"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from harness.report.read.columns import GPU_FIELDS, Column, SampleColumns, StepColumns

FORMAT = 9   # 7: the sample's I/O wait, swap-in and major-fault columns; 8: the cgroup's CPU and memory;
             # 9: the tasks' time on and waiting for a CPU (tasks.sched_run_s, sched_wait_s)
SUFFIX = ".cache"
OLD_SUFFIXES = (".cache.npz",)  # FORMAT 2
MAGIC = b"harness-report-cache\n"
_LEN = struct.Struct("<Q")


def cache_path(path: Path) -> Path:
    return path.with_name(path.name + SUFFIX)


def key_of(data: bytes) -> str:
    # SHA-256: collision-resistant like BLAKE2b and ~3x faster here (the CPU's SHA extensions:
    # 1.4 GB/s against 0.48 GB/s), and every warm rebuild hashes every JSONL byte
    return f"v{FORMAT}:{len(data)}:{hashlib.sha256(data).hexdigest()}"


def _text(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode("utf-8"), dtype=np.uint8)


def _untext(arr: np.ndarray):
    return json.loads(arr.tobytes().decode("utf-8"))


def _pack(key: str, arrays: dict) -> bytes:
    entries, chunks, offset = [], [], 0
    for name, arr in arrays.items():
        arr = np.asarray(arr)  # (ascontiguousarray would make a 0-d array 1-d)
        raw = arr.tobytes(order="C")
        entries.append({"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset,
                        "nbytes": len(raw), "crc32": zlib.crc32(raw)})
        pad = -len(raw) % 8
        chunks.append(raw + b"\0" * pad)
        offset += len(raw) + pad
    payload = b"".join(chunks)
    header = json.dumps({"key": key, "crc32": zlib.crc32(payload), "arrays": entries}).encode("utf-8")
    header += b" " * (-(len(MAGIC) + _LEN.size + len(header)) % 8)  # the payload starts aligned
    return MAGIC + _LEN.pack(len(header)) + header + payload


def _unpack(buf: bytearray, key: str, lazy: Sequence[str] = ()) -> Optional[dict]:
    if buf[:len(MAGIC)] != MAGIC:
        return None
    (hlen,) = _LEN.unpack_from(buf, len(MAGIC))
    start = len(MAGIC) + _LEN.size
    header = json.loads(bytes(buf[start:start + hlen]).decode("utf-8"))
    if header.get("key") != key:
        return None
    payload = memoryview(buf)[start + hlen:]
    if zlib.crc32(payload) != header["crc32"]:
        return None
    out = {}
    for e in header["arrays"]:
        end = e["offset"] + e["nbytes"]
        if end > len(payload):
            return None
        if e["name"] in lazy:
            continue
        # a copy, so the file's buffer is freed on return instead of living as long as any array
        out[e["name"]] = np.frombuffer(payload[e["offset"]:end], dtype=np.dtype(e["dtype"])).reshape(
            tuple(e["shape"])).copy()
    return out


def probably_current(path: Path) -> bool:
    """A cheap look before reading `path`: its cache exists, is of this FORMAT and keys a
    file of path's size. (load() still checks the digest; this only avoids parsing a file
    twice when caches are being made in parallel, prewarm.py.)"""
    try:
        with open(cache_path(path), "rb") as fh:
            head = fh.read(len(MAGIC) + _LEN.size)
            if head[:len(MAGIC)] != MAGIC or len(head) < len(MAGIC) + _LEN.size:
                return False
            (hlen,) = _LEN.unpack_from(head, len(MAGIC))
            key = json.loads(fh.read(min(hlen, 1 << 20)).decode("utf-8")).get("key", "")
        return key.startswith(f"v{FORMAT}:{path.stat().st_size}:")
    except (OSError, ValueError, AttributeError, TypeError, struct.error):
        return False


def load(path: Path, key: str, lazy: Sequence[str] = ()) -> Optional[dict]:
    """The cached arrays of `path` when the cache's key and CRC match, else None; the
    arrays named in `lazy` are left out (text_reader reads them when they are wanted)."""
    try:
        with open(cache_path(path), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            buf = bytearray(size)
            if fh.readinto(buf) != size:
                return None
        return _unpack(buf, key, lazy)
    except _DAMAGED:  # a damaged header (it is outside the CRC)
        return None


_DAMAGED = (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, struct.error,
            UnicodeDecodeError, RecursionError)


def text_reader(path: Path, key: str) -> Callable[[Sequence[str]], Optional[list[str]]]:
    """A reader of the named ASCII text arrays of `path`'s cache, checked against `key` and
    each array's own CRC-32: their strings, or None when the cache no longer holds them
    (replaced, damaged, deleted), and the caller makes them again."""
    def read(names: Sequence[str]) -> Optional[list[str]]:
        try:
            with open(cache_path(path), "rb") as fh:
                head = fh.read(len(MAGIC) + _LEN.size)
                if head[:len(MAGIC)] != MAGIC:
                    return None
                (hlen,) = _LEN.unpack_from(head, len(MAGIC))
                header = json.loads(fh.read(hlen).decode("utf-8"))
                if header.get("key") != key:
                    return None
                entries = {e["name"]: e for e in header["arrays"]}
                out = []
                for name in names:
                    e = entries[name]
                    fh.seek(len(head) + hlen + e["offset"])
                    raw = fh.read(e["nbytes"])
                    if len(raw) != e["nbytes"] or zlib.crc32(raw) != e["crc32"]:
                        return None
                    out.append(raw.decode("ascii"))
                return out
        except _DAMAGED:
            return None
    return read


def save(path: Path, key: str, arrays: dict) -> None:
    """Write the cache atomically; a read-only run directory just goes without."""
    cp = cache_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=cp.name, suffix=".tmp", dir=cp.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_pack(key, arrays))
            os.replace(tmp, cp)
            for old in OLD_SUFFIXES:  # an earlier format's cache of the same file: dead weight
                path.with_name(path.name + old).unlink(missing_ok=True)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass


# --- samples.jsonl ---------------------------------------------------------------------------

def samples_arrays(others: list[dict], bad: list[int], c: SampleColumns) -> dict:
    out = {"others": _text(others), "bad": np.array(bad, dtype=np.int64), "n": np.array(c.n),
           "cores": np.array(c.cores), "per_core_v": c.per_core.values, "per_core_i": c.per_core.is_int,
           "gpu_mean_util": c.gpu_mean_util, "names": _text(list(c.scalars))}
    out["csv_head"], out["csv_tail"] = (_ascii(t) for t in c.joined_text())
    for k, (name, col) in enumerate(c.scalars.items()):
        out[f"s{k}_v"], out[f"s{k}_i"] = col.values, col.is_int
    out.update(_gpu_arrays(c))
    return out


def _ascii(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8)


def _gpu_arrays(c: SampleColumns) -> dict:
    """The GPU columns: samples.csv's (values, integer flags) by name, and per index of the
    figures' first-entry columns whether they are those same arrays (stored once) or their
    own, with the samples listing it; JSON keeps the indices' types (true stays a bool)."""
    out = {"gpu_csv_names": _text(list(c.gpu_csv)), "gpu_csv_indices": _text(c.gpu_csv_indices),
           "gpu_text": _ascii(c.joined_gpu_text())}
    for k, col in enumerate(c.gpu_csv.values()):
        out[f"gc{k}_v"], out[f"gc{k}_i"] = col.values, col.is_int
    shared = []
    for k, (i, by_field) in enumerate(c.gpu_first.items()):
        own = [f for f in GPU_FIELDS if c.gpu_csv.get(f"gpu{i}_{f}", Column.empty(0)).values is not by_field[f]]
        shared.append([i, own])
        for f in own:
            out[f"gf{k}_{f}"] = by_field[f]
        out[f"gp{k}"] = c.gpu_present[i]
    out["gpu_first"] = _text(shared)
    return out


def _gpu_from(z: dict, cols: SampleColumns) -> None:
    cols.gpu_csv = {name: Column(z[f"gc{k}_v"], z[f"gc{k}_i"]) for k, name in enumerate(_untext(z["gpu_csv_names"]))}
    cols.gpu_csv_indices = _untext(z["gpu_csv_indices"])
    for k, (i, own) in enumerate(_untext(z["gpu_first"])):
        cols.gpu_first[i] = {f: z[f"gf{k}_{f}"] if f in own else cols.gpu_csv[f"gpu{i}_{f}"].values
                             for f in GPU_FIELDS}
        cols.gpu_present[i] = z[f"gp{k}"]


# samples.csv's text: the largest part of a loaded run that only writing samples.csv needs
TEXTS = ("csv_head", "csv_tail", "gpu_text")


def samples_from(z: dict, texts: Optional[Callable] = None) -> tuple[list[dict], list[int], SampleColumns]:
    """The cached samples; the csv text from z, else read through `texts` (text_reader)
    each time it is wanted, so a loaded run does not hold it."""
    names = _untext(z["names"])
    scalars = {name: Column(z[f"s{k}_v"], z[f"s{k}_i"]) for k, name in enumerate(names)}
    n = int(z["n"])
    cols = SampleColumns(n=n, scalars=scalars, per_core=Column(z["per_core_v"], z["per_core_i"]),
                         cores=int(z["cores"]), gpu_mean_util=z["gpu_mean_util"], text_source=texts)
    if all(name in z for name in TEXTS):
        head, tail, gpu = (z[name].tobytes().decode("ascii") for name in TEXTS)
        cols.text, cols.gpu_text = (head, tail), gpu
    _gpu_from(z, cols)
    return _untext(z["others"]), z["bad"].tolist(), cols


# --- events.jsonl ----------------------------------------------------------------------------

STEP_ARRAYS = ("well_formed", "step", "steps", "images", "seconds", "data_wait_s", "t_wall", "has_timing",
               "ints", "starts", "ends")


def events_arrays(others: list[dict], bad: list[int], order: np.ndarray, c: StepColumns) -> dict:
    out = {"others": _text(others), "bad": np.array(bad, dtype=np.int64), "order": order, "n": np.array(c.n)}
    for name in STEP_ARRAYS:
        out[name] = getattr(c, name)
    return out


def events_from(z: dict, source) -> tuple[list[dict], list[int], np.ndarray, StepColumns]:
    """The cached events; `source` gives the file's bytes again when a step record is wanted."""
    steps = StepColumns(n=int(z["n"]), source=source, **{k: z[k] for k in STEP_ARRAYS})
    return _untext(z["others"]), z["bad"].tolist(), z["order"], steps
