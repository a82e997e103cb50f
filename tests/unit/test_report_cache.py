"""The columnar cache beside each JSONL file: used when it matches the file, ignored (and
rewritten) when it does not, harmless when damaged or missing."""

import shutil

from harness.report.read import cache, columns, jsonl_files, rundir as load
from harness.report.write.csvfiles import render_samples_csv
from harness.report.figures.analysis import analyze
from harness.report.write.render import render_results_csv
from tests.support.runfixtures import gpu_run, standard_run


def _outputs(root):
    a = analyze(load.load_run(root))
    return render_results_csv(a), render_samples_csv(a)


def test_second_load_reads_the_cache_and_gives_the_same_figures(tmp_path, monkeypatch):
    root = standard_run(tmp_path / "run")
    first = _outputs(root)
    caches = sorted(p.name for p in root.rglob("*" + cache.SUFFIX))
    assert "events.jsonl.cache" in caches and "samples.jsonl.cache" in caches

    def no_parsing(*a, **k):
        raise AssertionError("parsed although the cache matches")

    def no_formatting(*a, **k):
        raise AssertionError("samples.csv text formatted although the cache holds it")

    monkeypatch.setattr(jsonl_files, "read_split", no_parsing)
    monkeypatch.setattr(columns, "fmt_cells", no_formatting)
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
        p.write_bytes(b"not a cache")
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


def test_a_cache_that_fails_its_crc_or_is_cut_short_is_not_used(tmp_path):
    root = standard_run(tmp_path / "run")
    want = _outputs(root)
    samples = next(root.rglob("samples.jsonl"))
    cp = cache.cache_path(samples)
    good = cp.read_bytes()
    key = cache.key_of(samples.read_bytes())
    assert cache.load(samples, key) is not None
    flipped = bytearray(good)
    flipped[-9] ^= 0x40  # one bit of the payload (the last array's bytes)
    hlen = int.from_bytes(good[len(cache.MAGIC):len(cache.MAGIC) + 8], "little")
    start = len(cache.MAGIC) + 8
    as_list = good[:start] + b"[" + b" " * (hlen - 2) + b"]" + good[start + hlen:]  # a header of another shape
    for damaged in (bytes(flipped), good[:-16], good[:40], as_list):
        cp.write_bytes(damaged)
        assert cache.load(samples, key) is None
        assert _outputs(root) == want
        assert cache.load(samples, key) is not None  # rewritten from the JSONL


def test_an_earlier_formats_cache_is_removed_when_the_new_one_is_written(tmp_path):
    root = standard_run(tmp_path / "run")
    samples = next(root.rglob("samples.jsonl"))
    old = samples.with_name(samples.name + ".cache.npz")
    old.write_bytes(b"PK an npz of format 2")
    _outputs(root)
    assert not old.exists() and cache.cache_path(samples).is_file()
