"""JSONL files read once into columns (numpy arrays), so every figure over thousands of
`sample` and `step` records is array arithmetic instead of a dict per record.

The columns keep exactly what the row-by-row code read: a numeric field is float64 with NaN
where the record had no finite number (missing, null, a string, a bool: `_num` in
metrics.py/utilization.py), plus `is_int` where the JSON value was an integer, because
samples.csv prints integers with str() and floats with '.10g' and the two differ for large
values. Records that are not `sample`/`step` stay plain dicts (they are few). Step records
keep where their lines lie in the file, so `TaskData.of("step")` still returns the exact
dicts for code that wants them: the file is read again (and checked against the key it had
when it was loaded) and those lines parsed, only then. Lines become
records in json_lines.py."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, Callable, Optional, Sequence

import numpy as np

from harness.report import stats
from harness.report.read.json_lines import has_long_digits, loads

NAN = float("nan")
# Fields of a `sample` record kept as columns (docs/events.md); "tasks.x" is sample["tasks"]["x"].
SAMPLE_SCALARS = ("t_wall", "t_mono", "dt_s", "late_s", "cpu_percent", "load1", "mem_used_bytes",
                  "mem_available_bytes", "net_sent_bytes_per_s", "net_recv_bytes_per_s",
                  "disk_read_bytes_per_s", "disk_write_bytes_per_s")
TASK_SCALARS = ("cpu_percent", "rss_bytes", "processes")
# samples.csv's utilization columns, in its order (csvfiles.samples_columns)
CSV_SAMPLE_FIELDS = ("cpu_percent", "load1", "mem_used_bytes", "mem_available_bytes",
                     "net_sent_bytes_per_s", "net_recv_bytes_per_s", "disk_read_bytes_per_s",
                     "disk_write_bytes_per_s")
GPU_FIELDS = ("util_percent", "mem_used_bytes", "mem_total_bytes", "power_w", "temperature_c",
              "sm_clock_mhz")


@dataclass
class Column:
    """One numeric field over n records: float64 values (NaN = no finite number) and which
    of them were JSON integers."""
    values: np.ndarray
    is_int: np.ndarray  # bool

    @staticmethod
    def empty(n: int) -> "Column":
        return Column(np.full(n, NAN), np.zeros(n, dtype=bool))


def number_column(raw: Sequence) -> Column:
    """A Column from JSON values; non-finite, bool and non-numbers become NaN."""
    n = len(raw)
    kinds = set(map(type, raw))
    values = None
    if kinds <= {float, int, type(None)}:
        try:
            values = np.array(raw, dtype=float) if n else np.zeros(0)  # None -> nan
        except OverflowError:  # an integer beyond float64
            values = None
    if values is not None:
        if int not in kinds:
            is_int = np.zeros(n, dtype=bool)
        elif kinds == {int}:
            is_int = np.ones(n, dtype=bool)
        else:  # mixed: compare each value's type, in C
            is_int = np.array(list(map(type, raw)), dtype=object) == int
        if int in kinds and (np.abs(values[is_int]) >= 2.0 ** 53).any():
            values = None  # integers float64 would round: the careful path below
    if values is None:
        values = np.full(n, NAN)
        is_int = np.zeros(n, dtype=bool)
        for i, v in enumerate(raw):
            if type(v) is float or type(v) is int:
                try:
                    values[i] = float(v)
                except OverflowError:
                    continue
                is_int[i] = type(v) is int
    if n and not np.isfinite(values).all():
        bad = ~np.isfinite(values)
        values[bad] = NAN
        is_int[bad] = False
    return Column(values, is_int)


def fields_of(records: list[dict], keys: Sequence[str]) -> list[Sequence]:
    """Per key, its value in every record (None where missing): one C-level lookup of all
    keys per record when every record has them all, else key by key."""
    if not records or not keys:
        return [[None] * len(records) for _ in keys]
    try:
        rows = list(map(itemgetter(*keys), records))
    except KeyError:
        return [_field(records, k) for k in keys]
    return list(zip(*rows)) if len(keys) > 1 else [rows]


def _field(records: list[dict], key: str) -> list:
    try:
        return list(map(itemgetter(key), records))
    except KeyError:
        return [r.get(key) for r in records]


def fmt_cells(col: Column) -> list[str]:
    """samples.csv text of each value: '' for none, str() of an integer, '.10g' of a float
    (csvfiles._csv_value). Low-cardinality columns are formatted once per distinct value and
    spread with numpy's object indexing, so no Python loop runs per cell."""
    vals = col.values
    n = len(vals)
    ok = ~np.isnan(vals)
    if not ok.any():
        return [""] * n
    floats = ok & ~col.is_int
    ints = ok & col.is_int
    if floats.all():  # the common case: every cell a float
        return _fmt_floats(vals)
    out = np.full(n, "", dtype=object)
    if floats.any():
        out[floats] = np.array(_fmt_floats(vals[floats]), dtype=object)
    if ints.any():
        iv = vals[ints]
        if np.abs(iv).max() < 2.0 ** 53:  # exact in float64 and int64: numpy's str() of each, in C
            out[ints] = iv.astype(np.int64).astype(str).astype(object)
        else:
            out[ints] = np.array([str(int(v)) for v in iv.tolist()], dtype=object)
    return out.tolist()


def _repr_cells(vals: np.ndarray) -> list[str]:
    if np.isnan(vals).any():
        return ["" if v != v else repr(v) for v in vals.tolist()]
    return list(map(repr, vals.tolist()))


def _fmt_floats(vals: np.ndarray) -> list[str]:
    # np.unique sorts: worth it only when a first look finds repeated values
    if len(vals) > 2048 and len(np.unique(vals[:1024])) > 920:
        return list(map(format, vals.tolist(), repeat(".10g")))
    uniq, inv = np.unique(vals, return_inverse=True)
    if len(uniq) < len(vals) // 2:
        texts = np.array(list(map(format, uniq.tolist(), repeat(".10g"))), dtype=object)
        return texts[inv].tolist()
    return list(map(format, vals.tolist(), repeat(".10g")))


@dataclass
class SampleColumns:
    """Every `sample` record of one samples.jsonl, in file order."""
    n: int
    scalars: dict[str, Column]  # SAMPLE_SCALARS and "tasks.<f>"
    per_core: Column  # values reshaped (n, cores); NaN where a row had fewer or a non-number
    cores: int  # the longest cpu_percent_per_core list
    gpu_mean_util: np.ndarray  # per sample: mean util_percent over the GPUs that reported
    gpu_first: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)  # index -> field -> values
    gpu_present: dict[int, np.ndarray] = field(default_factory=dict)  # index -> rows listing it
    gpu_csv: dict[str, Column] = field(default_factory=dict)  # "gpu<index>_<field>" -> column
    gpu_csv_indices: list = field(default_factory=list)  # indices the csv header lists, set order
    text: Optional[tuple[str, str]] = None  # csv_text() newline-joined, once made or from the cache

    def col(self, name: str) -> np.ndarray:
        return self.scalars[name].values

    def csv_text(self) -> tuple[list[str], list[str]]:
        """Per sample, the file's own part of its samples.csv row: "t_wall,t_mono" (repr:
        the shortest exact form) and the cells from cpu_percent through its last per-core
        column, comma-joined. A pure function of the file, so cache.py keeps it; held as two
        newline-joined strings (a list of strings per sample would double the memory)."""
        if self.text is None:
            head = list(map(",".join, zip(_repr_cells(self.col("t_wall")), _repr_cells(self.col("t_mono")))))
            cells = [fmt_cells(self.scalars[f]) for f in CSV_SAMPLE_FIELDS]
            cells += [fmt_cells(self.scalars[f"tasks.{f}"]) for f in TASK_SCALARS]
            if self.cores:  # all cores formatted at once: they share their few distinct values
                flat = fmt_cells(Column(self.per_core.values.reshape(-1), self.per_core.is_int.reshape(-1)))
                cells += np.array(flat, dtype=object).reshape(self.n, self.cores).T.tolist()
            self.text = ("\n".join(head), "\n".join(map(",".join, zip(*cells))))
        head, tail = self.text
        return (head.split("\n"), tail.split("\n")) if self.n else ([], [])

    def rows(self, names) -> list[dict]:
        """Per sample, {name: value} for the named scalar columns: the finite number as
        written (int or float), else None."""
        lists = []
        for name in names:
            c = self.scalars[name]
            vals = c.values.tolist()
            lists.append([None if v != v else (int(v) if i else v) for v, i in zip(vals, c.is_int.tolist())])
        return [dict(zip(names, row)) for row in zip(*lists)] if names else [{} for _ in range(self.n)]

    @staticmethod
    def build(samples: list[dict]) -> "SampleColumns":
        n = len(samples)
        scalars = {k: number_column(v) for k, v in zip(SAMPLE_SCALARS, fields_of(samples, SAMPLE_SCALARS))}
        tasks = [r.get("tasks") for r in samples]
        tasks = [t if type(t) is dict else {} for t in tasks]
        for k, v in zip(TASK_SCALARS, fields_of(tasks, TASK_SCALARS)):
            scalars[f"tasks.{k}"] = number_column(v)
        per_core, cores = _per_core([r.get("cpu_percent_per_core") for r in samples])
        cols = SampleColumns(n=n, scalars=scalars, per_core=per_core, cores=cores,
                             gpu_mean_util=np.full(n, NAN))
        _gpus(cols, [r.get("gpus") for r in samples])
        return cols


def _per_core(lists: list) -> tuple[Column, int]:
    lens = [len(x) if type(x) is list else 0 for x in lists]
    cores = max(lens, default=0)
    n = len(lists)
    if not cores:
        return Column(np.zeros((n, 0)), np.zeros((n, 0), dtype=bool)), 0
    if min(lens) == cores:
        flat = list(chain.from_iterable(lists))
    else:
        flat = []
        for x, k in zip(lists, lens):
            if k:
                flat.extend(x)
            flat.extend([None] * (cores - k))
    c = number_column(flat)
    return Column(c.values.reshape(n, cores), c.is_int.reshape(n, cores)), cores


def _gpus(cols: SampleColumns, gpu_lists: list) -> None:
    """GPU readings, as the row code read them: utilization takes, per int index, the first
    entry with that index (entry.index == i) and averages util_percent over all entries;
    samples.csv takes the last entry per index (int incl. bool, as it always did)."""
    rows = [(i, g) for i, g in enumerate(gpu_lists) if type(g) is list and g]
    if not rows:
        return
    n = cols.n
    indices: set = set()
    header: dict = {}  # insertion-ordered stand-in for the csv's set of indices
    for _, g in rows:
        for e in g:
            if isinstance(e, dict):
                idx = e.get("index")
                if isinstance(idx, int):
                    header.setdefault(idx, None)
                    if not isinstance(idx, bool):
                        indices.add(idx)
    cols.gpu_csv_indices = list(header)
    first = {i: {f: [None] * n for f in GPU_FIELDS} for i in indices}
    present = {i: np.zeros(n, dtype=bool) for i in indices}
    csv_raw: dict[str, list] = {}
    for row, g in rows:
        entries = [e for e in g if isinstance(e, dict)]
        utils = [u for u in (_num(e.get("util_percent")) for e in entries) if u is not None]
        if utils:
            cols.gpu_mean_util[row] = stats.mean(utils)
        for i in indices:
            e = next((e for e in entries if e.get("index") == i), None)
            if e is not None:
                present[i][row] = True
                for f in GPU_FIELDS:
                    first[i][f][row] = e.get(f)
        for e in entries:
            if isinstance(e.get("index"), int):
                for f in GPU_FIELDS:
                    csv_raw.setdefault(f"gpu{e['index']}_{f}", [None] * n)[row] = e.get(f)
    cols.gpu_first = {i: {f: number_column(v).values for f, v in d.items()} for i, d in first.items()}
    cols.gpu_csv = {k: number_column(v) for k, v in csv_raw.items()}
    cols.gpu_present = present


def _num(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value) if math.isfinite(value) else None
    except OverflowError:
        return None


# --- step records -------------------------------------------------------------------------

_INT62 = 1 << 62


def _step_ints(step_raw: Sequence, steps_raw: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(both integers, step or 0, steps or 1) per record, as metrics._steps reads them:
    isinstance(x, int) (bools pass, as they always did) and |x| < 2**62."""
    if set(map(type, step_raw)) == {int} and set(map(type, steps_raw)) == {int}:
        try:  # the usual case, in C
            a, b = np.array(step_raw, dtype=np.int64), np.array(steps_raw, dtype=np.int64)
        except OverflowError:
            pass
        else:
            ints = (a > -_INT62) & (a < _INT62) & (b > -_INT62) & (b < _INT62)
            return ints, np.where(ints, a, 0), np.where(ints, b, 1)
    n = len(step_raw)
    ints = np.fromiter((isinstance(a, int) and isinstance(b, int) and -_INT62 < a < _INT62 and -_INT62 < b < _INT62
                        for a, b in zip(step_raw, steps_raw)), dtype=bool, count=n)
    step = np.array([int(a) if ok else 0 for a, ok in zip(step_raw, ints.tolist())], dtype=np.int64)
    steps = np.array([int(b) if ok else 1 for b, ok in zip(steps_raw, ints.tolist())], dtype=np.int64)
    return ints, step, steps


@dataclass
class StepColumns:
    """Every `step` record of one events file, in file order. The records themselves are
    not kept: `source` gives the file's bytes again (normalized) when code asks for one as
    a dict, and starts/ends say where each record's line lies in them."""
    n: int
    well_formed: np.ndarray  # bool: metrics._steps would keep it
    step: np.ndarray  # int64 (0 where not well formed)
    steps: np.ndarray  # int64
    images: np.ndarray  # float64
    seconds: np.ndarray
    data_wait_s: np.ndarray  # NaN = none
    t_wall: np.ndarray  # NaN = none
    has_timing: np.ndarray  # bool: the record has a "timing" field (parameter-server chief)
    ints: np.ndarray  # bool: `step` and `steps` are both integers (step/steps hold them)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    source: Optional[Callable[[], bytes]] = None
    _data: Optional[bytes] = None

    def record(self, i: int) -> dict:
        if self._data is None:
            self._data = self.source()
        line = self._data[int(self.starts[i]):int(self.ends[i])]
        return loads(line, fast=not has_long_digits(line))

    def records(self, mask: Optional[np.ndarray] = None) -> list[dict]:
        rows = range(self.n) if mask is None else np.flatnonzero(mask).tolist()
        return [self.record(i) for i in rows]

    @staticmethod
    def build(recs: list[dict], starts: list[int], ends: list[int],
              source: Optional[Callable[[], bytes]] = None) -> "StepColumns":
        n = len(recs)
        step_raw, steps_raw, images, seconds, t_wall, waits = fields_of(
            recs, ("step", "steps", "images", "seconds", "t_wall", "data_wait_s"))
        ints, step, steps = _step_ints(step_raw, steps_raw)
        ints_ok = ints & (steps >= 1)
        images, seconds, t_wall = (number_column(x).values for x in (images, seconds, t_wall))
        with np.errstate(invalid="ignore"):
            ok = ints_ok & ~np.isnan(images) & (seconds > 0) & ~np.isnan(t_wall)
        return StepColumns(
            n=n, well_formed=ok, step=step, steps=steps, images=images, seconds=seconds,
            data_wait_s=number_column(waits).values, t_wall=t_wall,
            has_timing=np.fromiter(("timing" in r for r in recs), dtype=bool, count=n), ints=ints,
            starts=np.array(starts, dtype=np.int64), ends=np.array(ends, dtype=np.int64), source=source)

    @staticmethod
    def empty() -> "StepColumns":
        return StepColumns.build([], [], [])
