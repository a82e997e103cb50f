"""The pure parts of the sandbox's memory limit (harness/sandbox/mem_limit.py); applying it
is run as root by benchmarks/diagnoses.py (memory pressure) and tests/e2e/test_diagnoses_corpus.py."""

import pytest

from harness.errors import UsageError
from harness.sandbox.mem_limit import parse_bytes


def test_sizes_parse_in_powers_of_1024():
    assert parse_bytes("300M") == 300 << 20 and parse_bytes("2G") == 2 << 30 and parse_bytes("1.5g") == 3 << 29
    assert parse_bytes("65536k") == 64 << 20 and parse_bytes("300MiB") == 300 << 20
    assert parse_bytes(str(64 << 20)) == 64 << 20


@pytest.mark.parametrize("text", ["", "lots", "-5M", "1M", "3X"])
def test_bad_sizes_are_one_line_errors(text):
    with pytest.raises(UsageError, match="memory limit"):
        parse_bytes(text)
