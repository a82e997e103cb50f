"""`harness search` on the command line (harness/cli/search.py): --dry-run and one-line
errors; whole searches are in tests/e2e/test_search_run.py."""

import pytest

from harness.cli.commands import main

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
LOCAL = str(ROOT / "hosts" / "local.yaml")
EXP = str(ROOT / "experiments" / "search-local.yaml")


def test_dry_run_shows_the_space_the_first_wave_and_the_worst_case(capsys):
    assert main(["search", "--hosts", LOCAL, "-e", EXP, "--host-hours", "0.05", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "33 configurations" in out and "c7i.large/single-1-t4-b256" in out
    assert "first wave: c7i.large/single-1-t1-b8" in out and "worst-case bill" in out


@pytest.mark.parametrize("argv, message", [
    (["-e", EXP], "--budget USD or --host-hours H"),
    (["-e", EXP, "--budget", "-1"], "--budget -1: must be above 0"),
    (["-e", str(ROOT / "experiments" / "default.yaml"), "--budget", "1"], "no search: section"),
])
def test_bad_input_is_one_line_naming_what_to_fix(capsys, argv, message):
    assert main(["search", "--hosts", LOCAL, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_search_experiment_is_refused_by_harness_run(capsys):
    assert main(["run", "--hosts", LOCAL, "-e", EXP]) == 2
    assert "harness search" in capsys.readouterr().err
