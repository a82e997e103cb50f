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

from dataclasses import dataclass, field
from itertools import chain
from typing import Callable, Optional, Sequence

import numpy as np

from harness.report.read.cells import Column, field_values, fields_of, fmt_cells, number_column, repr_cells
from harness.report.read.gpu_columns import GPU_FIELDS, gpu_columns, own_csv_columns
from harness.report.read.gpu_columns import csv_text as gpu_csv_text
from harness.report.read.json_lines import has_long_digits, loads

__all__ = ("CSV_SAMPLE_FIELDS", "GPU_FIELDS", "TASK_SCALARS", "Column", "SampleColumns", "StepColumns",
           "fields_of", "fmt_cells", "number_column")

# Fields of a `sample` record kept as columns (docs/events.md); "tasks.x" is sample["tasks"]["x"].
SAMPLE_SCALARS = ("t_wall", "t_mono", "dt_s", "late_s", "cpu_percent", "load1", "mem_used_bytes",
                  "mem_available_bytes", "net_sent_bytes_per_s", "net_recv_bytes_per_s",
                  "disk_read_bytes_per_s", "disk_write_bytes_per_s", "cpu_iowait_percent",
                  "mem_swap_in_bytes_per_s", "mem_major_faults_per_s", "cgroup_cpu_percent",
                  "cgroup_mem_used_bytes")
TASK_SCALARS = ("cpu_percent", "rss_bytes", "processes", "sched_run_s", "sched_wait_s")
# samples.csv's utilization columns, in its order (csvfiles.samples_columns)
CSV_SAMPLE_FIELDS = ("cpu_percent", "load1", "mem_used_bytes", "mem_available_bytes",
                     "net_sent_bytes_per_s", "net_recv_bytes_per_s", "disk_read_bytes_per_s",
                     "disk_write_bytes_per_s")


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
    gpu_csv_indices: list = field(default_factory=list)  # indices the csv header lists, first seen first
    text: Optional[tuple[str, str]] = None  # joined_text() once made (or read whole from the cache)
    gpu_text: Optional[str] = None  # joined_gpu_text(), likewise
    # the cache's reader of that text (cache.text_reader): then it is read each time it is wanted
    text_source: Optional[Callable[[Sequence[str]], Optional[list[str]]]] = None

    def col(self, name: str) -> np.ndarray:
        return self.scalars[name].values

    def joined_text(self) -> tuple[str, str]:
        """Per sample, the file's own part of its samples.csv row: "t_wall,t_mono" (repr:
        the shortest exact form) and the cells from cpu_percent through its last per-core
        column, comma-joined; as two newline-joined strings (a list of strings per sample
        would double the memory). A pure function of the file, so cache.py keeps it; from a
        cache it is read again each time (it is wanted once, for samples.csv), else kept once
        made."""
        if self.text is not None:
            return self.text
        got = self.text_source(("csv_head", "csv_tail")) if self.text_source is not None else None
        if got is not None:
            return got[0], got[1]
        head = list(map(",".join, zip(repr_cells(self.col("t_wall")), repr_cells(self.col("t_mono")))))
        cells = [fmt_cells(self.scalars[f]) for f in CSV_SAMPLE_FIELDS]
        cells += [fmt_cells(self.scalars[f"tasks.{f}"]) for f in TASK_SCALARS]
        if self.cores:  # all cores formatted at once: they share their few distinct values
            flat = fmt_cells(Column(self.per_core.values.reshape(-1), self.per_core.is_int.reshape(-1)))
            cells += np.array(flat, dtype=object).reshape(self.n, self.cores).T.tolist()
        self.text = ("\n".join(head), "\n".join(map(",".join, zip(*cells))))
        return self.text

    def csv_text(self) -> tuple[list[str], list[str]]:
        """joined_text() per sample."""
        head, tail = self.joined_text()
        return (head.split("\n"), tail.split("\n")) if self.n else ([], [])

    def gpu_csv_columns(self) -> list[str]:
        """The GPU columns samples.csv would have for this file alone."""
        return own_csv_columns(self.gpu_csv_indices)

    def joined_gpu_text(self) -> str:
        """Per sample, its cells of gpu_csv_columns() comma-joined, newline-joined; kept or
        read again like joined_text()."""
        if self.gpu_text is not None:
            return self.gpu_text
        got = self.text_source(("gpu_text",)) if self.text_source is not None else None
        if got is not None:
            return got[0]
        self.gpu_text = gpu_csv_text(self.n, self.gpu_csv, self.gpu_csv_columns())
        return self.gpu_text

    def gpu_csv_text(self) -> list[str]:
        return self.joined_gpu_text().split("\n") if self.n else []

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
        g = gpu_columns(n, field_values(samples, "gpus"))
        return SampleColumns(n=n, scalars=scalars, per_core=per_core, cores=cores, gpu_mean_util=g.mean_util,
                             gpu_first=g.first, gpu_present=g.present, gpu_csv=g.csv,
                             gpu_csv_indices=g.csv_indices)


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
