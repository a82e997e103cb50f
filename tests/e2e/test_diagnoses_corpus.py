"""Runs with a known cause (benchmarks/diagnoses.py, its fast form): a CPU hog beside the
training is diagnosed first as a noisy neighbour, and the same run without the hog gets no
CPU diagnosis; a slow start is stopped and diagnosed as max initialization time. Real runs
on this machine: a busy shared machine is a real noisy neighbour and fails the clean half."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CPU_RULES = ("noisy neighbour", "CPU bottleneck", "shared cores")


def _bench():
    spec = importlib.util.spec_from_file_location("diagnoses_bench", ROOT / "benchmarks" / "diagnoses.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_cpu_hog_is_a_noisy_neighbour_and_without_it_there_is_no_cpu_diagnosis(tmp_path):
    bench = _bench()
    _, first, claimed, check = bench.run_case("noisy_neighbour", True, tmp_path)
    assert first == "noisy neighbour", claimed
    assert check.host == "local" and "other processes" in check.evidence and check.action
    _, first, claimed, _ = bench.run_case("clean_single", True, tmp_path)
    assert not [c for c in claimed if c.split("@")[0] in CPU_RULES], claimed


def test_a_slow_start_is_stopped_and_diagnosed_first(tmp_path):
    _, first, claimed, check = _bench().run_case("max_init", True, tmp_path)
    assert first == "max initialization time" and check.severity == 1.0, claimed
