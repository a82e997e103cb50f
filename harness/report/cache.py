"""A columnar cache beside each events/samples JSONL file, so rebuilding a report or
comparing runs re-reads a run without parsing its JSON again.

`<file>.cache.npz` holds the file's columns (columns.py), its other records (as JSON text,
which round-trips parsed JSON exactly) and its bad line numbers, under a key of the JSONL's
size and BLAKE2b digest and this module's FORMAT. A cache whose key does not match the file
is ignored and rewritten; one that cannot be read or written is ignored. So deleting it, or
a stale one, changes nothing but speed. Files with GPU readings are not cached (their
columns are irregular); they are parsed every time."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from harness.report.columns import Column, SampleColumns, StepColumns

FORMAT = 2
SUFFIX = ".cache.npz"


def cache_path(path: Path) -> Path:
    return path.with_name(path.name + SUFFIX)


def key_of(data: bytes) -> str:
    return f"v{FORMAT}:{len(data)}:{hashlib.blake2b(data, digest_size=20).hexdigest()}"


def _text(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode("utf-8"), dtype=np.uint8)


def _untext(arr: np.ndarray):
    return json.loads(arr.tobytes().decode("utf-8"))


def load(path: Path, key: str) -> Optional[dict]:
    """The cached arrays of `path` when the cache's key matches, else None."""
    cp = cache_path(path)
    try:
        with np.load(cp, allow_pickle=False) as z:
            if _untext(z["key"]) != key:
                return None
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None
    except Exception:  # a damaged zip raises its own errors (BadZipFile, ...): just re-parse
        return None


def save(path: Path, key: str, arrays: dict) -> None:
    """Write the cache atomically; a read-only run directory just goes without."""
    cp = cache_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=cp.name, suffix=".tmp", dir=cp.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, key=_text(key), **arrays)
            os.replace(tmp, cp)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass


# --- samples.jsonl ---------------------------------------------------------------------------

def samples_arrays(others: list[dict], bad: list[int], c: SampleColumns) -> Optional[dict]:
    if c.gpu_first or c.gpu_csv or c.gpu_csv_indices:
        return None
    out = {"others": _text(others), "bad": np.array(bad, dtype=np.int64), "n": np.array(c.n),
           "cores": np.array(c.cores), "per_core_v": c.per_core.values, "per_core_i": c.per_core.is_int,
           "gpu_mean_util": c.gpu_mean_util, "names": _text(list(c.scalars))}
    for k, (name, col) in enumerate(c.scalars.items()):
        out[f"s{k}_v"], out[f"s{k}_i"] = col.values, col.is_int
    return out


def samples_from(z: dict) -> tuple[list[dict], list[int], SampleColumns]:
    names = _untext(z["names"])
    scalars = {name: Column(z[f"s{k}_v"], z[f"s{k}_i"]) for k, name in enumerate(names)}
    n = int(z["n"])
    cols = SampleColumns(n=n, scalars=scalars, per_core=Column(z["per_core_v"], z["per_core_i"]),
                         cores=int(z["cores"]), gpu_mean_util=z["gpu_mean_util"])
    return _untext(z["others"]), z["bad"].tolist(), cols


# --- events.jsonl ----------------------------------------------------------------------------

STEP_ARRAYS = ("well_formed", "step", "steps", "images", "seconds", "data_wait_s", "t_wall", "has_timing",
               "ints", "offsets")


def events_arrays(others: list[dict], bad: list[int], order: np.ndarray, c: StepColumns) -> dict:
    out = {"others": _text(others), "bad": np.array(bad, dtype=np.int64), "order": order,
           "n": np.array(c.n), "blob": np.frombuffer(c.blob, dtype=np.uint8)}
    for name in STEP_ARRAYS:
        out[name] = getattr(c, name)
    return out


def events_from(z: dict) -> tuple[list[dict], list[int], np.ndarray, StepColumns]:
    steps = StepColumns(n=int(z["n"]), blob=z["blob"].tobytes(), **{k: z[k] for k in STEP_ARRAYS})
    return _untext(z["others"]), z["bad"].tolist(), z["order"], steps
