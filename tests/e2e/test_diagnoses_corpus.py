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


@pytest.mark.parametrize("case", ["input_bound", "shared_cores"])
def test_an_induced_cause_on_this_host_is_named_first(tmp_path, case):
    expected, first, claimed, check = _bench().run_case(case, True, tmp_path)
    assert first == expected, claimed
    assert check.severity is not None and check.action


def _sandbox_unavailable():
    from harness.sandbox import cpu_quota, mem_limit, netns, sshd
    return (netns.netns_unavailable_reason() or sshd.available()
            or (None if cpu_quota.hierarchy() and mem_limit.hierarchy() else "no cgroup cpu/memory controller"))


@pytest.mark.root
@pytest.mark.netns
@pytest.mark.skipif(_sandbox_unavailable() is not None, reason=str(_sandbox_unavailable()))
@pytest.mark.parametrize("case, host", [("straggler", "sb1"), ("communication_bound", None),
                                        ("memory_pressure", "sb0")])
def test_an_induced_cause_on_sandbox_hosts_is_named_first_with_its_host(tmp_path, case, host):
    # straggler: a 0.4-core quota beside a 1-core one; communication: 50 Mbit/s links;
    # memory: a 200 MiB limit with swap. Each on a fresh 2-host sandbox, removed after.
    expected, first, claimed, check = _bench().run_case(case, True, tmp_path)
    assert first == expected and check.host == host, claimed
    if case == "straggler":
        # the fast rank's waiting is neither communication nor a batch too small (rules_steps,
        # rules_samples), and the quota'd host reads its group's CPU, not the machine's
        assert not [c for c in claimed if c.split("@")[0] in ("communication-bound", "batch size")], claimed
