"""The columnar cache beside each JSONL file: used when it matches the file, ignored (and
rewritten) when it does not, harmless when damaged or missing."""

import shutil

import pytest

from harness.report import cache, load
from harness.report.csvfiles import render_samples_csv
from harness.report.analysis import analyze
from harness.report.render import render_results_csv
from tests.runfixtures import gpu_run, standard_run


def _outputs(root):
    a = analyze(load.load_run(root))
    return render_results_csv(a), render_samples_csv(a)


def test_second_load_reads_the_cache_and_gives_the_same_figures(tmp_path, monkeypatch):
    root = standard_run(tmp_path / "run")
    first = _outputs(root)
    caches = sorted(p.name for p in root.rglob("*" + cache.SUFFIX))
    assert "events.jsonl.cache.npz" in caches and "samples.jsonl.cache.npz" in caches

    def no_parsing(*a, **k):
        raise AssertionError("parsed although the cache matches")

    monkeypatch.setattr(load, "read_split", no_parsing)
    assert _outputs(root) == first


def test_a_changed_file_is_parsed_again_even_at_the_same_size(tmp_path):
    root = standard_run(tmp_path / "run")
    before = _outputs(root)
    samples = root / "hosts" / "h1" / "one" / "sampler" / "samples.jsonl"
    text = samples.read_text()
    changed = text.replace('"cpu_percent": 90.0', '"cpu_percent": 10.0')
    assert changed != text and len(changed) == len(text)
    samples.write_text(changed)
    after = _outputs(root)
    assert after != before
    for p in root.rglob("*" + cache.SUFFIX):
        p.unlink()
    assert _outputs(root) == after  # without any cache: the same


def test_damaged_or_unwritable_cache_changes_nothing(tmp_path):
    root = gpu_run(tmp_path / "run")  # GPU samples are not cached, events are
    want = _outputs(root)
    for p in root.rglob("*" + cache.SUFFIX):
        p.write_bytes(b"not a zip")
    assert _outputs(root) == want
    ro = tmp_path / "ro"
    shutil.copytree(root, ro)
    for p in ro.rglob("*" + cache.SUFFIX):
        p.unlink()
    for d in ro.rglob("*"):
        if d.is_dir():
            d.chmod(0o555)
    try:
        assert _outputs(ro) == want
    finally:
        for d in ro.rglob("*"):
            if d.is_dir():
                d.chmod(0o755)
