"""The columnar cache beside each JSONL file: used when it matches the file, ignored (and
rewritten) when it does not, harmless when damaged or missing."""

import json
import shutil

import numpy as np

from harness.report.read import cache, columns, gpu_columns, jsonl_files, rundir as load
from harness.report.write.csvfiles import render_samples_csv
from harness.report.figures.analysis import analyze
from harness.report.write.render import render_results_csv
from tests.support.generated_runs import generate
from tests.support.runfixtures import standard_run
from tests.support.gpu_runs import gpu_run


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
    root = gpu_run(tmp_path / "run")  # GPU samples and events both cached
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


def _no_parsing_or_formatting(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("parsed or formatted although the cache holds it")

    monkeypatch.setattr(jsonl_files, "read_split", refuse)
    monkeypatch.setattr(columns, "fmt_cells", refuse)
    monkeypatch.setattr(gpu_columns, "fmt_cells", refuse)


def test_sampler_files_with_gpu_readings_are_cached_like_the_others(tmp_path, monkeypatch):
    """A GPU host's samples.jsonl gets its cache; the next load reads it (no parsing, no
    formatting of csv cells) and gives the same results.csv and samples.csv."""
    for root in (gpu_run(tmp_path / "fixture"), generate(tmp_path / "gen", 3, 60, gpus=4)):
        first = _outputs(root)
        for samples in root.rglob("samples.jsonl"):
            assert cache.cache_path(samples).is_file(), samples
        with monkeypatch.context() as m:
            _no_parsing_or_formatting(m)
            assert _outputs(root) == first


def _gpu_state(c):
    return (c.gpu_mean_util.tobytes(), c.gpu_csv_indices, [type(i) for i in c.gpu_csv_indices],
            {i: {f: v.tobytes() for f, v in d.items()} for i, d in c.gpu_first.items()},
            {i: p.tolist() for i, p in c.gpu_present.items()},
            {k: (col.values.tobytes(), col.is_int.tolist()) for k, col in c.gpu_csv.items()},
            c.gpu_csv_text())


def test_odd_gpu_readings_come_back_from_the_cache_as_they_were_built(tmp_path):
    """Repeated indices (the figures' columns are then not samples.csv's and are stored on
    their own), true and 1.0 as indices, nulls: the cached columns equal the parsed ones."""
    path = tmp_path / "samples.jsonl"
    lines = []
    for k in range(40):
        gpus = [{"index": 0, "util_percent": float(k)}, {"index": 1, "util_percent": None, "power_w": 55.5}]
        if k % 3 == 0:
            gpus.append({"index": 0, "util_percent": 99.0})  # a repeat: samples.csv shows the last
        if k % 5 == 0:
            gpus += [{"index": True, "util_percent": 7}, {"index": 1.0, "util_percent": 3}, "x"]
        lines.append(json.dumps({"event": "sample", "t_wall": 1000.0 + k, "gpus": gpus}))
    path.write_text("\n".join(lines) + "\n")
    _, _, built = jsonl_files.read_samples(path)
    assert not gpu_columns.GpuColumns(built.gpu_mean_util, built.gpu_first, built.gpu_present,
                                      built.gpu_csv, built.gpu_csv_indices).shared
    z = cache.load(path, cache.key_of(path.read_bytes()))
    assert z is not None
    _, _, cached = cache.samples_from(z)
    assert _gpu_state(cached) == _gpu_state(built)
    assert cached.gpu_first[0]["util_percent"][0] == 0.0 and cached.gpu_csv["gpu0_util_percent"].values[0] == 99.0


def test_one_array_serves_both_readers_when_no_index_repeats(tmp_path):
    root = generate(tmp_path / "gen", 1, 30, gpus=2)
    samples = next(root.rglob("samples.jsonl"))
    for _ in range(2):  # parsed, then from the cache
        _, _, c = jsonl_files.read_samples(samples)
        assert c.gpu_first[1]["power_w"] is c.gpu_csv["gpu1_power_w"].values
        assert np.isnan(c.gpu_csv["gpu1_power_w"].values).sum() < c.n


def test_a_cache_of_the_format_before_gpu_caches_is_not_used(tmp_path):
    """FORMAT 5 never cached a GPU file; a reader of that format must not find one now, and
    this reader does not take a FORMAT 5 cache."""
    root = standard_run(tmp_path / "run")
    want = _outputs(root)
    samples = next(root.rglob("samples.jsonl"))
    data = samples.read_bytes()
    assert cache.key_of(data).startswith(f"v{cache.FORMAT}:")
    old_key = "v5:" + cache.key_of(data).split(":", 1)[1]
    cache.save(samples, old_key, {"n": np.array(0)})  # a well-formed cache under the old key
    assert cache.load(samples, cache.key_of(data)) is None
    assert _outputs(root) == want


def test_a_loaded_run_does_not_hold_the_csv_text_and_does_without_its_cache(tmp_path):
    """From a cache, samples.csv's text is read again when samples.csv is written, not kept
    in memory; a cache deleted or damaged meanwhile makes it be formatted again: the same bytes."""
    root = gpu_run(tmp_path / "run")
    want = _outputs(root)
    run = load.load_run(root)
    gpu_samplers = [s for s in run.samplers if s.cols.gpu_csv]
    assert gpu_samplers and all(s.cols.text is None and s.cols.gpu_text is None for s in run.samplers)
    a = analyze(run)
    assert (render_results_csv(a), render_samples_csv(a)) == want
    assert all(s.cols.text is None and s.cols.gpu_text is None for s in run.samplers)  # read, not kept
    for k, p in enumerate(sorted(root.rglob("samples.jsonl.cache"))):
        if k % 2:
            p.unlink()
        else:  # one bit of the csv tail and of the GPU text: they fail their own CRC-32
            data = bytearray(p.read_bytes())
            hlen = int.from_bytes(data[len(cache.MAGIC):len(cache.MAGIC) + 8], "little")
            start = len(cache.MAGIC) + 8 + hlen
            for e in json.loads(data[len(cache.MAGIC) + 8:start])["arrays"]:
                if e["name"] in ("csv_tail", "gpu_text") and e["nbytes"]:
                    data[start + e["offset"]] ^= 0x01
            p.write_bytes(bytes(data))
    assert render_samples_csv(a) == want[1]
    assert any(s.cols.text is not None for s in run.samplers)  # formatted again, then kept
