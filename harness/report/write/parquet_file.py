"""samples.parquet: samples.csv's rows and columns for pandas users, typed and at full
precision (samples.csv prints floats to 10 significant digits).

Types: config and host are dictionary-encoded strings (pandas: category); in_training_window
is a boolean; every other column is float64 (bytes and counts are exact integers up to
2^53). A blank samples.csv cell is a null here. Written with pyarrow, to a temporary file
renamed into place, so a failed write never leaves half a file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from harness.report.figures.analysis import RunAnalysis
from harness.report.read.columns import CSV_SAMPLE_FIELDS, TASK_SCALARS
from harness.report.write.csvfiles import samples_columns

FILE = "samples.parquet"


def import_pyarrow() -> bool:
    """Import pyarrow's Parquet writer (a dependency in setup.py), e.g. before forking;
    without it the report goes on without samples.parquet and says so on stderr."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as e:
        print(f"harness: {FILE} not written: pyarrow cannot be imported ({e}); "
              f"pip install 'pyarrow>=17,<26'", file=sys.stderr)
        return False
    return True


def _numeric(s, name: str) -> np.ndarray:
    """The column `name` of samples.csv for one sampler, as float64 (NaN = blank)."""
    c = s.cols
    if name in ("t_wall", "t_mono"):
        return c.col(name)
    if name in CSV_SAMPLE_FIELDS:
        return c.scalars[name].values
    if name.startswith("tasks_") and name[6:] in TASK_SCALARS:
        return c.scalars[f"tasks.{name[6:]}"].values
    if name.startswith("cpu") and name.endswith("_percent") and name[3:-8].isdigit():
        i = int(name[3:-8])
        return c.per_core.values[:, i] if i < c.cores else np.full(c.n, np.nan)
    col = c.gpu_csv.get(name)
    return col.values if col is not None else np.full(c.n, np.nan)


def _window(s, window: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(flag, known) per sample: in the training window, and whether that is known."""
    t = s.cols.col("t_wall")
    if window[0] is None:
        return np.zeros(s.cols.n, dtype=bool), np.zeros(s.cols.n, dtype=bool)
    with np.errstate(invalid="ignore"):
        return (t >= window[0]) & (t <= window[1]), ~np.isnan(t)


def samples_table(a: RunAnalysis):
    """A pyarrow Table of samples.csv's rows, in its order."""
    import pyarrow as pa

    columns = samples_columns(a.run)
    window = {m.config: (m.training_start_t_wall, m.training_end_t_wall) for m in a.metrics}
    samplers = [s for s in a.run.samplers if s.cols.n]
    arrays = []
    for name in columns:
        if name in ("config", "host"):
            labels = [getattr(s, name) for s in samplers]
            dictionary = sorted(set(labels))
            codes = np.repeat([dictionary.index(x) for x in labels], [s.cols.n for s in samplers])
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32), type=pa.int32()),
                                                         pa.array(dictionary, type=pa.string())))
        elif name == "in_training_window":
            parts = [_window(s, window.get(s.config, (None, None))) for s in samplers]
            flag = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=bool)
            known = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=bool)
            arrays.append(pa.array(flag, type=pa.bool_(), mask=~known))
        else:
            values = (np.concatenate([_numeric(s, name) for s in samplers]) if samplers
                      else np.zeros(0))
            missing = np.isnan(values)
            arrays.append(pa.array(values, type=pa.float64(), mask=missing if missing.any() else None))
    return pa.Table.from_arrays(arrays, names=columns)


def write_samples_parquet(a: RunAnalysis, path: Path) -> Path:
    import pyarrow.parquet as pq

    table = samples_table(a)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # created as open() would: the umask applies
    try:
        # snappy, pandas' default, and dictionaries only for the two text columns (measured
        # values rarely repeat): 0.25 s for 230,000 rows × 33 columns here, 28 MB; zstd with
        # dictionaries everywhere is 30 % smaller but twice as slow
        pq.write_table(table, str(tmp), compression="snappy", use_dictionary=["config", "host"])
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
