"""The code bundle is deterministic, complete and importable on its own."""

import io
import subprocess
import sys
import tarfile

from harness.stages.bundle import build_bundle


def test_bundle_is_deterministic_and_importable(tmp_path):
    a, b = build_bundle(), build_bundle()
    assert a.digest == b.digest and a.data == b.data
    with tarfile.open(fileobj=io.BytesIO(a.data)) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path, filter="data")
    assert "harness/worker/train.py" in names and "models/__init__.py" in names
    assert not any("__pycache__" in n for n in names)
    # The unpacked bundle alone provides the worker entry point and the model registry.
    out = subprocess.run([sys.executable, "-c", "import harness.worker.__main__ as w, models, harness;"
                          "print(harness.__file__)"], cwd="/", env={"PYTHONPATH": str(tmp_path)},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(tmp_path))
