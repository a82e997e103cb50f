"""The pure parts of the sandbox's CPU quota (harness/sandbox/cpu_quota.py); applying it is
tested as root in tests/e2e/test_sandbox.py."""

import pytest

from harness.errors import UsageError
from harness.sandbox.cpu_quota import PERIOD_US, parse_cores, quota_lines


def test_a_period_of_the_users_choice():
    from harness.errors import UsageError
    from harness.sandbox.cpu_quota import parse_period_ms
    assert parse_period_ms("100") == 100_000 and parse_period_ms("2.5") == 2500
    assert quota_lines(0.3, v2=False, period_us=100_000) == {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "30000"}
    assert quota_lines(0.3, v2=True, period_us=100_000) == {"cpu.max": "30000 100000"}
    for bad in ("0", "1001", "ten"):
        with pytest.raises(UsageError, match="cpu period"):
            parse_period_ms(bad)


def test_quota_lines_for_cgroup_v1_and_v2():
    assert quota_lines(0.25, v2=True) == {"cpu.max": f"2500 {PERIOD_US}"}
    assert quota_lines(2, v2=False) == {"cpu.cfs_period_us": "10000", "cpu.cfs_quota_us": "20000"}
    # the kernel's smallest quota is 1 ms: a longer period below 0.1 cores, never a larger share
    assert quota_lines(0.05, v2=True) == {"cpu.max": "1000 20000"}
    assert quota_lines(0.01, v2=False) == {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "1000"}


@pytest.mark.parametrize("text", ["zero", "", "0", "-1", "5000"])
def test_bad_core_counts_are_one_line_errors(text):
    with pytest.raises(UsageError, match="cpu quota"):
        parse_cores(text)


def test_cores_parse():
    assert parse_cores("0.5") == 0.5 and parse_cores("3") == 3.0
