"""JSONL bytes into records, line by line, as a text-mode read of the file sees them:
the same records and bad lines as protocol.events.read_jsonl, plus where each line lies.

Parsing uses orjson when installed (about 3× json.loads here, docs/report_speed.md) and falls
back to json.loads for any line orjson rejects (NaN literals, huge integers, bad UTF-8), so
both give the same records."""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterator, Optional

try:  # a measured win, not a requirement: the fallback gives identical records
    import orjson

    _ORJSON_ERRORS: tuple = (orjson.JSONDecodeError,)
    _fast_loads: Optional[Callable[[bytes], Any]] = orjson.loads
except ImportError:  # pragma: no cover - orjson is in setup.py's requirements
    _fast_loads = None
    _ORJSON_ERRORS = ()

# orjson turns an integer beyond 64 bits into a float; json keeps it exact. Lines with a run
# of 19+ digits (rare: a file is scanned once) go to json.loads.
_LONG_DIGITS = re.compile(rb"(?<![\d.])\d{19,}(?![\d.eE])")  # an integer, not a fraction's digits
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_RUN_OF_19 = b"0" * 19
_NOT_AFTER = frozenset(b".eE")


def has_long_digits(data: bytes) -> bool:
    """Whether _LONG_DIGITS matches in data, without running it over the whole file (the
    regex scans at ~30 MB/s here): find each run of 19+ digits with bytes.find on a copy
    whose digits are all "0", and test the run's neighbours as the regex's look-arounds do
    (fractions such as 0.0001234567890123456 have such runs; integers rarely)."""
    x = data.translate(_DIGITS_AS_ZERO)
    i = x.find(_RUN_OF_19)
    while i >= 0:  # leftmost match, so i is where a maximal run of digits starts
        end = i + 19
        while end < len(x) and x[end] == 48:  # ord("0")
            end += 1
        if (i == 0 or data[i - 1] != 46) and (end == len(x) or data[end] not in _NOT_AFTER):  # 46: "."
            return True
        i = x.find(_RUN_OF_19, end)
    return False


def loads(line: bytes, fast: bool = True) -> Any:
    """One JSON line as json.loads(line.decode('utf-8', 'replace').strip()) would give it."""
    if fast and _fast_loads is not None:
        try:
            return _fast_loads(line)
        except _ORJSON_ERRORS:
            pass
    return json.loads(line.decode("utf-8", errors="replace").strip())


def normalized(data: bytes) -> bytes:
    """The bytes as a text-mode read splits them: a bare CR also ends a line."""
    if b"\r" in data:
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data


def split_records(data: bytes) -> Iterator[tuple[int, Optional[dict], bytes, int]]:
    """(1-based line number, record or None when the line is not a JSON object, raw line,
    where that line starts in normalized(data)) for every non-blank line, numbered as a
    text-mode read of the file numbers them."""
    data = normalized(data)
    long_digits = has_long_digits(data)
    pos = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        start, pos = pos, pos + len(raw) + 1
        line = raw.strip()
        if not line:
            continue
        start += len(raw) - len(raw.lstrip())
        try:
            rec = loads(line, fast=not (long_digits and has_long_digits(line)))
        except (ValueError, RecursionError):
            if line.decode("utf-8", errors="replace").strip():  # str.strip knows more blanks
                yield number, None, line, start
            continue
        yield number, (rec if isinstance(rec, dict) else None), line, start
