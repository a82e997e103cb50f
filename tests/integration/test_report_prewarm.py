"""A run read for the first time is parsed in two processes: half the files here, half in
a forked child, each writing caches; the report is the same as parsing all in one."""

import hashlib
import shutil

from harness.report.read import cache, jsonl_files, rundir as load, prewarm
from harness.report.figures.analysis import analyze
from harness.report.write.csvfiles import render_results_csv, render_samples_csv
from tests.support.generated_runs import generate
from tests.support.fresh_process import run_fresh


def _outputs(root):
    a = analyze(load.load_run(root))
    return render_results_csv(a), render_samples_csv(a)


def _jobs(root):
    return [(p, jsonl_files.read_samples if p.name == "samples.jsonl" else jsonl_files.read_events)
            for p in sorted(root.rglob("*.jsonl")) if p.name != "control.jsonl"]


def test_cold_files_are_split_between_two_processes_and_all_get_a_cache(tmp_path):
    root = generate(tmp_path / "run", 3, 60)
    log = tmp_path / "parsed.log"
    out = run_fresh(f"""
        import os
        from pathlib import Path
        from harness.report.read import cache, jsonl_files, prewarm
        prewarm.os.cpu_count = lambda: 2
        def logged(read):
            def run(path):
                with open({str(log)!r}, "a") as fh:
                    fh.write(f"{{os.getpid()}} {{path}}\\n")
                return read(path)
            return run
        jobs = [(p, logged(jsonl_files.read_samples if p.name == "samples.jsonl" else jsonl_files.read_events))
                for p in sorted(Path({str(root)!r}).rglob("*.jsonl")) if p.name != "control.jsonl"]
        print(len(jobs), prewarm.warm_caches(jobs), os.getpid(), all(cache.probably_current(p) for p, _ in jobs),
              prewarm.warm_caches(jobs))
    """)
    n, here, parent, all_cached, again = out.split()
    assert (n, here, all_cached, again) == ("6", "3", "True", "0")  # nothing cold the second time
    by_pid: dict = {}
    for line in log.read_text().splitlines():
        pid, path = line.split(" ", 1)
        by_pid.setdefault(pid, []).append(path)
    assert len(by_pid) == 2 and len(by_pid[parent]) == 3  # 3 here, 3 in the child
    assert sorted(p for ps in by_pid.values() for p in ps) == sorted(
        str(p) for p in root.rglob("*.jsonl") if p.name != "control.jsonl")


def test_the_same_report_as_parsing_everything_here(tmp_path, monkeypatch):
    root = generate(tmp_path / "run", 4, 60)
    single = tmp_path / "single"
    shutil.copytree(root, single)
    out = run_fresh(f"""
        import hashlib
        from harness.report.figures import analysis
        from harness.report.write import csvfiles
        from harness.report.read import rundir as load, prewarm
        prewarm.os.cpu_count = lambda: 2
        a = analysis.analyze(load.load_run({str(root)!r}))
        text = csvfiles.render_results_csv(a) + csvfiles.render_samples_csv(a)
        print(hashlib.sha256(text.encode()).hexdigest())
    """)
    monkeypatch.setattr(prewarm.os, "cpu_count", lambda: 1)
    results, samples = _outputs(single)
    assert out.strip() == hashlib.sha256((results + samples).encode()).hexdigest()
    assert len(list(root.rglob("*" + cache.SUFFIX))) == 8  # every file got its cache in the fresh run


def test_read_only_run_directories_are_left_to_the_loader(tmp_path, monkeypatch):
    root = generate(tmp_path / "run", 2, 30)
    monkeypatch.setattr(prewarm.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(prewarm.os, "access", lambda path, mode: False)
    assert prewarm.warm_caches(_jobs(root)) == 0
    assert not list(root.rglob("*" + cache.SUFFIX))


def test_a_cache_of_another_size_or_format_is_not_current(tmp_path):
    root = generate(tmp_path / "run", 1, 30)
    samples = next(root.rglob("samples.jsonl"))
    assert not cache.probably_current(samples)
    load.load_run(root)
    assert cache.probably_current(samples)
    with open(samples, "ab") as fh:
        fh.write(b"\n")
    assert not cache.probably_current(samples)
    cache.cache_path(samples).write_bytes(b"junk")
    assert not cache.probably_current(samples)
