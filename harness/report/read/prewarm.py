"""A run read for the first time: parse its JSONL files in two processes.

Parsing is CPU-bound Python (threads would share one core). The files whose cache is
missing (cache.probably_current) are dealt, largest first, to this process and to a forked
child (forked.py); each parses its share and writes the caches; the loader then reads every
file through its cache as usual. Where caches cannot be written (a read-only run
directory) or no fork is possible (one core, or other threads running: forked.py), this
does nothing: the loader parses everything itself, as before."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Sequence

from harness.report.read import cache
from harness.report.read.forked import Forked, can_fork, patience

Job = tuple[Path, Callable[[Path], object]]  # a JSONL file and the loader's reader for it


def warm_caches(jobs: Sequence[Job]) -> int:
    """Make the missing caches of `jobs`, half in a forked child; returns how many files
    were parsed here (the child's are not counted)."""
    if not can_fork():  # parsing everything here would parse twice
        return 0
    cold = [(p, read) for p, read in jobs if p.is_file() and not cache.probably_current(p)]
    if len(cold) < 2 or not all(os.access(p.parent, os.W_OK) for p, _ in cold):
        return 0
    cold.sort(key=lambda job: job[0].stat().st_size, reverse=True)
    mine, theirs = cold[0::2], cold[1::2]
    child = Forked(lambda: _parse(theirs), enabled=True)
    try:
        start = time.monotonic()
        _parse(mine)
        child.result(timeout=patience(time.monotonic() - start))  # overrun: parsed here
    finally:
        child.close()
    return len(mine)


def _parse(jobs: Sequence[Job]) -> None:
    for path, read in jobs:
        try:
            read(path)  # parses and writes the cache; the result is read back from it later
        except OSError:
            pass  # the loader meets the same error on its own read and reports it
