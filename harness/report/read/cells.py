"""Numeric JSON values as columns and as samples.csv cells: a Column is one field over many
records (float64, NaN where there was no finite number, and which values were JSON
integers, because samples.csv prints integers with str() and floats with '.10g');
fmt_cells gives a column's csv text without a Python loop per cell. columns.py and
gpu_columns.py build their columns with these."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Sequence

import numpy as np

NAN = float("nan")


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
        return [field_values(records, k) for k in keys]
    return list(zip(*rows)) if len(keys) > 1 else [rows]


def field_values(records: list[dict], key: str) -> list:
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


def repr_cells(vals: np.ndarray) -> list[str]:
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
