"""A skip that tests/support/skips.py does not allow fails the test run (lost coverage is
never green); an allowed one does not."""

import subprocess
import sys
from pathlib import Path

from tests.support.skips import unexpected

ROOT = Path(__file__).resolve().parents[2]


def test_only_listed_reasons_pass():
    got = unexpected([("t1", "needs root: network namespaces"), ("t2", "No module named 'moto'"),
                      ("t3", "this kernel has netem: --delay works here")])
    assert got == [("t2", "No module named 'moto'")]


def _pytest(tmp_path, body: str) -> subprocess.CompletedProcess:
    f = tmp_path / "test_probe.py"
    f.write_text("import pytest\n\n" + body)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "tests.conftest", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "-c", "/dev/null", str(f)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_an_unexpected_skip_fails_the_run(tmp_path):
    r = _pytest(tmp_path, "def test_a():\n    pytest.skip('chromium is not installed')\n")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "unexpected skip" in r.stdout and "chromium is not installed" in r.stdout


def test_an_allowed_skip_passes(tmp_path):
    r = _pytest(tmp_path, "def test_a():\n    pytest.skip('needs root: namespaces')\n\ndef test_b():\n    pass\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed, 1 skipped" in r.stdout
