"""The malformed-input corpus (tests/support/malformed_corpus.py): every case is exactly one line
on stderr naming the file and the field, exit 2, and nothing written under the runs dir."""

from pathlib import Path

import pytest

from harness.cli import main
from tests.support.malformed_corpus import CASES, Case, materialize

MAX_LINE = 1000  # a line repeats a cut of a huge value, never the value


def test_the_corpus_covers_every_class():
    classes = {c.cls for c in CASES.values()}
    assert {"yaml", "duplicate", "expansion", "bounds", "clip", "key", "control", "planner", "dataset"} <= classes
    assert len(CASES) >= 86


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, name):
    case = CASES[name]
    e, h = materialize(case, tmp_path)
    runs = tmp_path / "runs"
    rc = main(["run", "--experiment", e, "--hosts", h, "--runs-dir", str(runs)])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2, (rc, err[-2000:])
    assert len(lines) == 1, lines[:5]
    line = lines[0]
    assert line.startswith("harness: error: ")
    assert case.expect in line, line[:MAX_LINE]
    assert len(line) < MAX_LINE, line[:200]
    # Names the file it is about (the experiment for planner errors too).
    blamed = Path(e).name if case.cls == "planner" else None
    assert (Path(e).name in line or Path(h).name in line) if blamed is None else blamed in line
    assert not runs.exists()
    assert out == ""


@pytest.mark.parametrize("flag, value", [("--lease", "1e9"), ("--grace", "-1"), ("--repeats", "100000"),
                                         ("--lease", "soon")])
def test_out_of_range_numbers_on_the_command_line_exit_2(tmp_path, capsys, flag, value):
    e, h = materialize(Case("cli", ""), tmp_path)  # the good experiment and inventory
    with pytest.raises(SystemExit) as ei:
        main(["run", "--experiment", e, "--hosts", h, "--runs-dir", str(tmp_path / "runs"), flag, value])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and ("outside" in err or "not a number" in err)
    assert not (tmp_path / "runs").exists()
