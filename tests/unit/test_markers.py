"""The quick loop (`./run.sh test -m "not slow"`) stays quick: a test module that trains,
runs a whole `harness run` or builds namespaces must carry the markers (pytest.ini)."""

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# What makes a test slow or privileged, and the markers a module using it needs.
NEEDS = {
    r"\brun_experiment\(": ("slow",),
    # `harness run` from the CLI, not a dry run: a real run trains.
    r'main\(\["run", (?![^\]]*--dry-run)[^\]]*"--run-id"': ("slow",),
    r"\bsandbox\.up\(": ("slow", "root", "netns"),
    r"\bnetns_lab\b": ("root", "netns"),
    r"\bstart_netns_hosts\(": ("root", "netns"),
}


def test_modules_that_train_or_build_namespaces_are_marked():
    missing = []
    for path in sorted(TESTS.glob("*/test_*.py")):
        if path.name == "test_markers.py":
            continue
        text = path.read_text()
        for pattern, marks in NEEDS.items():
            if re.search(pattern, text):
                missing += [f"{path.name}: {pattern} needs @pytest.mark.{m}" for m in marks
                            if f"pytest.mark.{m}" not in text]
    assert not missing, "\n".join(missing)


def test_markers_are_registered():
    ini = (TESTS.parent / "pytest.ini").read_text()
    for m in ("slow", "root", "horovod", "netns"):
        assert re.search(rf"^\s+{m}:", ini, re.M), m
