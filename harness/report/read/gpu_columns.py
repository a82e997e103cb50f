"""The GPU readings of one samples.jsonl as columns, built with numpy over all of the file's
GPU entries at once (a Python loop per sample took 8 of 20 s at 64 hosts × 1 h).

On a GPU host each `sample` has `gpus`: a list with an object per GPU, as
worker/nvml.py gpu_readings writes it (index, then GPU_FIELDS; a failed query is null).
The report reads them by the rules the row-by-row code had, kept exactly:

- mean_util: per sample, math.fsum / n of util_percent over every entry with a finite
  number, whatever its index (NaN: none);
- first, present: per integer index i (bools left out) of any entry in the file, each
  field of the sample's first entry whose index == i (so 1.0 and true match 1), and which
  samples have one; the utilization figures use these;
- csv: per index that is a JSON integer (bools too, printed True/False), each field of the
  sample's last entry with that index: samples.csv's gpu<index>_<field> cells;
- csv_indices: those indices in order of first appearance, equal values once.

Entries that are not objects are skipped; a missing field is a null. A sample whose GPU
count changes (a GPU fell off the bus) just has fewer entries."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import chain, compress
from typing import Sequence

import numpy as np

from harness.protocol import stats
from harness.report.read.cells import NAN, Column, fields_of, fmt_cells, number_column

GPU_FIELDS = ("util_percent", "mem_used_bytes", "mem_total_bytes", "power_w", "temperature_c",
              "sm_clock_mhz")
# math.fsum gives +0.0 for a sum of -0.0s on some Python versions (3.11), -0.0 on others
_FSUM_KEEPS_NEGATIVE_ZERO = math.copysign(1.0, math.fsum([-0.0])) < 0


@dataclass
class GpuColumns:
    mean_util: np.ndarray  # per sample, NaN = no reading
    first: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)  # index -> field -> values
    present: dict[int, np.ndarray] = field(default_factory=dict)  # index -> samples listing it
    csv: dict[str, Column] = field(default_factory=dict)  # "gpu<index>_<field>" -> column
    csv_indices: list = field(default_factory=list)

    @property
    def shared(self) -> bool:
        """first[i][f] is csv["gpu<i>_<f>"].values for every index (no sample lists an index
        twice): one array serves both, in memory and in the cache."""
        for i, by_field in self.first.items():
            for f, values in by_field.items():
                c = self.csv.get(f"gpu{i}_{f}")
                if c is None or c.values is not values:
                    return False
        return True


def gpu_columns(n: int, gpu_lists: Sequence) -> GpuColumns:
    """The columns of n samples' `gpus` values (gpu_lists[k]: sample k's, or None)."""
    out = GpuColumns(mean_util=np.full(n, NAN))
    rows = [k for k, g in enumerate(gpu_lists) if type(g) is list and g]
    if not rows:
        return out
    lists = [gpu_lists[k] for k in rows]
    flat = list(chain.from_iterable(lists))
    row_of = np.repeat(np.array(rows, dtype=np.int64), [len(g) for g in lists])
    if set(map(type, flat)) != {dict}:
        keep = [isinstance(e, dict) for e in flat]
        flat = list(compress(flat, keep))
        row_of = row_of[np.array(keep, dtype=bool)]
    if not flat:
        return out
    raw = fields_of(flat, ("index", *GPU_FIELDS))
    values = {f: number_column(v) for f, v in zip(GPU_FIELDS, raw[1:])}
    first_pos, first_indices, csv_pos, csv_names, out.csv_indices = _index_keys(raw[0])
    out.mean_util = _row_means(values["util_percent"].values, row_of, n)
    csv_at = _chosen(csv_pos, row_of, len(csv_names), last=True)
    for name, at in zip(csv_names, csv_at):
        for f in GPU_FIELDS:
            out.csv[f"{name}_{f}"] = _scatter(n, row_of[at], values[f], at)
    csv_of = {name: j for j, name in enumerate(csv_names)}
    for i, at in zip(first_indices, _chosen(first_pos, row_of, len(first_indices))):
        out.present[i] = np.zeros(n, dtype=bool)
        out.present[i][row_of[at]] = True
        j = csv_of.get(f"gpu{i}")
        if j is not None and np.array_equal(at, csv_at[j]):  # the entries samples.csv shows
            out.first[i] = {f: out.csv[f"gpu{i}_{f}"].values for f in GPU_FIELDS}
        else:
            out.first[i] = {f: _scatter(n, row_of[at], values[f], at).values for f in GPU_FIELDS}
    return out


def _index_keys(idx_raw: Sequence) -> tuple[np.ndarray, list, np.ndarray, list[str], list]:
    """Per entry its position among the indices `first` keys (-1: none) and among the csv
    names (-1: none), with those indices, those names and csv_indices."""
    if set(map(type, idx_raw)) == {int}:  # what the sampler writes: 0, 1, ... in C
        try:
            idx = np.array(idx_raw, dtype=np.int64)
        except OverflowError:
            idx = None
        if idx is not None:
            uniq, at, pos = np.unique(idx, return_index=True, return_inverse=True)
            ints = uniq.tolist()
            return pos, ints, pos, [f"gpu{i}" for i in ints], [ints[k] for k in np.argsort(at, kind="stable")]
    header: dict = {}  # equal values once (True and 1 are equal), first appearance kept
    indices = set()
    names: dict[str, int] = {}
    csv_pos = np.full(len(idx_raw), -1, dtype=np.int64)
    for k, v in enumerate(idx_raw):
        if isinstance(v, int):
            header.setdefault(v, None)
            if not isinstance(v, bool):
                indices.add(v)
            csv_pos[k] = names.setdefault(f"gpu{v}", len(names))
    ints = sorted(indices)
    at = {i: k for k, i in enumerate(ints)}  # 1.0 and True find 1 here, as == does
    first_pos = np.array([at.get(v, -1) if type(v) in (int, bool, float) else -1 for v in idx_raw],
                         dtype=np.int64)
    return first_pos, ints, csv_pos, list(names), list(header)


def _chosen(pos: np.ndarray, row_of: np.ndarray, width: int, last: bool = False) -> list[np.ndarray]:
    """Per key k < width: the entries chosen for it, one per sample that has any (its
    first, or last, entry with key k), in sample order."""
    sel = np.flatnonzero(pos >= 0)
    if last:
        sel = sel[::-1]
    _, at = np.unique(row_of[sel] * width + pos[sel], return_index=True)  # first occurrences
    chosen = sel[at]  # by sample, then key
    keys = pos[chosen]
    order = np.argsort(keys, kind="stable")
    chosen, bounds = chosen[order], np.searchsorted(keys[order], np.arange(width + 1))
    return [chosen[bounds[k]:bounds[k + 1]] for k in range(width)]


def _scatter(n: int, rows: np.ndarray, col: Column, at: np.ndarray) -> Column:
    out = Column.empty(n)
    out.values[rows] = col.values[at]
    out.is_int[rows] = col.is_int[at]
    return out


def _row_means(util: np.ndarray, row_of: np.ndarray, n: int) -> np.ndarray:
    """Per sample, stats.mean of its entries' finite util_percent (NaN: none), to the last
    bit: summed left to right in numpy, with each addition's rounding error found by
    TwoSum; a sample whose sum was exact has math.fsum's result, the others (never, with
    NVML's whole percentages) go through math.fsum itself."""
    out = np.full(n, NAN)
    ok = ~np.isnan(util)
    if not ok.any():
        return out
    util, row_of = util[ok], row_of[ok]
    ids, start, inv = np.unique(row_of, return_index=True, return_inverse=True)
    pos = np.arange(len(util)) - start[inv]
    grid = np.full((len(ids), int(pos.max()) + 1), NAN)
    grid[inv, pos] = util
    acc = grid[:, 0].copy()
    exact = np.ones(len(ids), dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(1, grid.shape[1]):
            v = grid[:, j]
            has = ~np.isnan(v)
            s = acc + v
            bb = s - acc
            exact &= ~has | ((acc - (s - bb)) + (v - bb) == 0)
            acc = np.where(has, s, acc)
    counts = np.bincount(inv)
    if not _FSUM_KEEPS_NEGATIVE_ZERO:
        acc = acc + 0.0  # -0.0 -> 0.0, the rest unchanged
    means = acc / counts
    for k in np.flatnonzero(~exact).tolist():
        means[k] = stats.mean(grid[k, :counts[k]].tolist())
    out[ids] = means
    return out


def own_csv_columns(csv_indices: list) -> list[str]:
    """samples.csv's GPU columns for this file alone (csvfiles.samples_columns' rule)."""
    return [f"gpu{i}_{f}" for i in sorted(set(csv_indices)) for f in GPU_FIELDS]


def csv_text(n: int, csv: dict[str, Column], columns: list[str]) -> str:
    """The GPU cells of each sample for `columns`, comma-joined, one line per sample."""
    if not n or not columns:
        return ""
    blank = [""] * n
    cells = [fmt_cells(csv[name]) if name in csv else blank for name in columns]
    return "\n".join(map(",".join, zip(*cells)))
