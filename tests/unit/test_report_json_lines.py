"""JSONL lines into records: orjson and json.loads give the same records, and the quick
scan for long integers (which orjson would read as floats) agrees with its regex."""

import random

import pytest

from harness.report.read import json_lines
from harness.report.read.json_lines import split_records


@pytest.mark.parametrize("fast", [True, False])
def test_json_fallback_gives_the_same_records(monkeypatch, fast):
    if not fast:
        monkeypatch.setattr(json_lines, "_fast_loads", None)
    recs = [r for _, r, _, _ in split_records(b'{"a": 1, "b": 2.5, "c": [1, {"d": null}]}\n{"e": 1e400}\n')]
    assert recs[0] == {"a": 1, "b": 2.5, "c": [1, {"d": None}]}
    assert recs[1] == {"e": float("inf")}


def test_long_digit_scan_agrees_with_the_regex():
    """has_long_digits is a faster _LONG_DIGITS.search: the same answer on every string."""
    rng = random.Random(15)
    hits = 0
    for _ in range(20_000):
        s = bytes(rng.choice(b"1234567890" * 30 + b".eE ,-x") for _ in range(rng.randrange(0, 50)))
        want = json_lines._LONG_DIGITS.search(s) is not None
        hits += want
        assert json_lines.has_long_digits(s) == want, s
    assert 2_000 < hits < 18_000  # both answers well represented
    for s in (b'{"a": 12345678901234567890}', b'{"late_s": 0.0002843947348234123}', b"1234567890123456789e5",
              b"1234567890123456789", b".1234567890123456789"):
        assert json_lines.has_long_digits(s) == (json_lines._LONG_DIGITS.search(s) is not None)
