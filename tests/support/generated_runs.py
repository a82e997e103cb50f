"""Synthetic run directories of any size, in the project's schema: the generator of
benchmarks/report_scale.py (one Horovod configuration, a sampler and a training task per
host, records every second), loaded from its file since benchmarks/ is not a package."""

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "report_scale.py"


def generate(root, hosts: int, seconds: int, **kw) -> Path:
    spec = importlib.util.spec_from_file_location("report_scale", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generate(root, hosts, seconds, **kw)
