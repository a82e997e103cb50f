"""One events.jsonl or samples.jsonl read through its cache (cache.py): parsed only when
the cache does not match the file; `step` and `sample` records become columns (columns.py),
the few other records stay dicts. load.py reads a run with these, prewarm.py makes caches
with them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from harness.errors import HarnessError
from harness.report.read import cache
from harness.report.read.columns import SampleColumns, StepColumns, number_column
from harness.report.read.json_lines import normalized, split_records


class EventList(Sequence):
    """A task's records in file order. Step records live in `steps` (columns) and are turned
    back into dicts from their raw line only when an item or iteration asks for one."""

    def __init__(self, others: Optional[list[dict]] = None, steps: Optional[StepColumns] = None,
                 order: Optional[np.ndarray] = None):
        self.others = others or []
        self.steps = steps if steps is not None else StepColumns.empty()
        # order[i] >= 0: others[order[i]]; < 0: step row -order[i] - 1
        self.order = order if order is not None else np.arange(len(self.others))

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        k = int(self.order[i])
        return self.others[k] if k >= 0 else self.steps.record(-k - 1)

    def __iter__(self) -> Iterator[dict]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other) -> bool:
        return list(self) == list(other) if isinstance(other, (list, EventList)) else NotImplemented

    def t_wall_max(self) -> Optional[float]:
        """The latest finite t_wall of any record (cost.billed_wall's fallback end)."""
        vals = [number_column([r.get("t_wall") for r in self.others]).values, self.steps.t_wall]
        return nanmax(vals)


def nanmax(arrays: list) -> Optional[float]:
    vals = np.concatenate([np.asarray(a, dtype=float) for a in arrays]) if arrays else np.zeros(0)
    vals = vals[~np.isnan(vals)]
    return float(vals.max()) if len(vals) else None


@dataclass
class _Read:
    others: list[dict]
    rows: list[dict]  # the records of the columnar event
    starts: list[int]  # where their lines start and end in the (normalized) file
    ends: list[int]
    order: np.ndarray  # file order: >= 0 index into others, < 0 row -k - 1
    bad: list[int]


def read_split(path: Path, event: str, data: Optional[bytes] = None) -> _Read:
    """Records of a JSONL file split into those whose "event" is `event` and the others;
    bad lines as read_jsonl reports them."""
    data = path.read_bytes() if data is None else data
    got = _Read([], [], [], [], np.zeros(0), [])
    order: list[int] = []
    for number, rec, line, start in split_records(data):
        if rec is None:
            got.bad.append(number)
        elif rec.get("event") == event:
            got.rows.append(rec)
            got.starts.append(start)
            got.ends.append(start + len(line))
            order.append(-len(got.rows))
        else:
            order.append(len(got.others))
            got.others.append(rec)
    got.order = np.array(order, dtype=np.int64)
    return got


class SourceChanged(HarnessError):
    """A run file changed between loading it and reading one of its records again."""


def _reread(path: Path, key: str) -> Callable[[], bytes]:
    """The file's bytes again, normalized as split_records saw them, if they are unchanged."""
    def read() -> bytes:
        data = path.read_bytes()
        if cache.key_of(data) != key:
            raise SourceChanged(f"{path}: changed while the report was being built; run "
                                f"`harness report` again once nothing writes to the run")
        return normalized(data)
    return read


def read_samples(path: Path) -> tuple[list[dict], list[int], SampleColumns]:
    """samples.jsonl through its cache (cache.py): parsed only when the cache does not match."""
    data = path.read_bytes()
    key = cache.key_of(data)
    z = cache.load(path, key, lazy=cache.TEXTS)
    if z is not None:
        return cache.samples_from(z, cache.text_reader(path, key))
    got = read_split(path, "sample", data=data)
    cols = SampleColumns.build(got.rows)
    cache.save(path, key, cache.samples_arrays(got.others, got.bad, cols))
    return got.others, got.bad, cols


def read_events(path: Path) -> tuple[EventList, list[int]]:
    data = path.read_bytes()
    key = cache.key_of(data)
    z = cache.load(path, key)
    if z is not None:
        others, bad, order, steps = cache.events_from(z, _reread(path, key))
        return EventList(others, steps, order), bad
    got = read_split(path, "step", data=data)
    steps = StepColumns.build(got.rows, got.starts, got.ends, _reread(path, key))
    cache.save(path, key, cache.events_arrays(got.others, got.bad, got.order, steps))
    return EventList(got.others, steps, got.order), got.bad
