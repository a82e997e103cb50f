"""samples.parquet holds samples.csv's rows and columns, typed and at full precision: a
blank cell is a null, t_wall/t_mono are the same numbers, other values agree to the 10
digits the CSV prints, and in_training_window is a boolean."""

import csv
import io
import math

import pyarrow.parquet as pq
import pytest

from harness.report.figures.analysis import analyze
from harness.report.write.csvfiles import render_samples_csv
from harness.report.read.rundir import load_run
from harness.report.write.parquet_file import samples_table, write_samples_parquet
from tests.support.runfixtures import standard_run
from tests.support.gpu_runs import gpu_run


def _both(root):
    a = analyze(load_run(root))
    path = write_samples_parquet(a, root / "samples.parquet")
    rows = list(csv.DictReader(io.StringIO(render_samples_csv(a))))
    return pq.read_table(path), rows


@pytest.mark.parametrize("make", [standard_run, gpu_run])
def test_parquet_matches_samples_csv(tmp_path, make):
    table, rows = _both(make(tmp_path / "run"))
    assert table.num_rows == len(rows) > 0
    assert table.column_names == list(rows[0])
    cols = table.to_pydict()
    for name, values in cols.items():
        for row, v in zip(rows, values):
            cell = row[name]
            if cell == "":
                assert v is None, (name, v)
            elif name in ("config", "host"):
                assert v == cell
            elif name == "in_training_window":
                assert v is (cell == "1")
            elif name in ("t_wall", "t_mono"):
                assert v == float(cell)  # repr in the CSV: exact
            else:
                assert math.isclose(v, float(cell), rel_tol=1e-9), (name, v, cell)
    assert str(table.schema.field("host").type) == "dictionary<values=string, indices=int32, ordered=0>"
    assert str(table.schema.field("in_training_window").type) == "bool"


def test_rewriting_gives_the_same_bytes_and_no_leftover_temporary(tmp_path):
    root = standard_run(tmp_path / "run")
    a = analyze(load_run(root))
    first = write_samples_parquet(a, root / "samples.parquet").read_bytes()
    assert write_samples_parquet(a, root / "samples.parquet").read_bytes() == first
    assert sorted(p.name for p in root.iterdir() if "parquet" in p.name) == ["samples.parquet"]


def test_a_run_without_samples_gives_an_empty_table_with_the_columns(tmp_path):
    root = standard_run(tmp_path / "run")
    for p in root.rglob("samples.jsonl"):
        p.unlink()
    t = samples_table(analyze(load_run(root)))
    assert t.num_rows == 0 and t.column_names[:5] == ["config", "host", "t_wall", "t_mono", "in_training_window"]
