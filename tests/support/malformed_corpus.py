"""The project's corpus of malformed input files (benchmarks/malformed_corpus.py), loaded
from its file: the benchmark that replays it and the tests share one corpus, and benchmarks/
imports nothing from tests/."""

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "malformed_corpus.py"
_spec = importlib.util.spec_from_file_location("malformed_corpus", _PATH)
_mod = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("malformed_corpus", _mod)   # its dataclasses look their module up there
_spec.loader.exec_module(_mod)

CASES, Case, materialize = _mod.CASES, _mod.Case, _mod.materialize
