"""Run test code in a fresh interpreter: a single-threaded process, as `harness report` is,
whatever threads the test session has started (a session-wide moto server, for one)."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_fresh(code: str, timeout: float = 300) -> str:
    """Run `code` (dedented) with the repository importable; its stdout; fails on any error."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT),
                                                          "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
