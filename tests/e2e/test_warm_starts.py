"""Warm starts in whole runs: a configuration's first run on a host starts the zygote in its
own window and waits for its imports (a cold run), so its processes can be kept; its repeats
then run in those kept processes; start-up (config_start to the first step) shows the saving;
nothing warm outlives the run. Figures: benchmarks/warm_start.py."""

import csv
import json
import os
from pathlib import Path

import pytest
import yaml

from harness.pipeline import run_experiment

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path, configuration, repeats=3):
    e = tmp_path / "e.yaml"
    e.write_text(yaml.safe_dump({
        "name": "warm", "repeats": repeats, "sample_interval_s": 0.5,
        "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 32, "epochs": 2,
                     "warmup_steps": 5},
        "configurations": [configuration]}))
    res = run_experiment(str(e), str(ROOT / "hosts" / "local.yaml"), runs_root=str(tmp_path / "runs"),
                         run_id="w", grace_s=5)
    assert res.status == "succeeded", res.reason
    assert res.leftovers == {}, res.leftovers
    return Path(res.run_dir)


def _startup(run: Path) -> dict[str, float]:
    return {r["config"]: float(r["startup_s"]) for r in csv.DictReader(open(run / "results.csv"))}


def _warm_flags(run: Path, config: str) -> list[str]:
    """Per training task: cold (its own process), own (forked from a zygote started in this
    run's window: cold too), fork or kept."""
    out = []
    for events in sorted((run / "hosts" / "local" / config).glob("worker-*/events.jsonl")):
        start = next(json.loads(line) for line in events.read_text().splitlines() if '"run_start"' in line)
        w = start.get("warm") or {}
        out.append("cold" if not w else "own" if w.get("own_zygote") else
                   "kept" if w.get("process_tasks", 1) > 1 else "fork")
    return out


def _starts(run: Path, config: str) -> list[dict]:
    """Per training task (by rank): its run_start, model_built phase and step losses."""
    out = []
    for events in sorted((run / "hosts" / "local" / config).glob("worker-*/events.jsonl")):
        recs = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
        out.append({"start": next(r for r in recs if r["event"] == "run_start"),
                    "built": next(r for r in recs if r["event"] == "phase" and r["name"] == "model_built"),
                    "losses": [r["loss"] for r in recs if r["event"] == "step"][:5]})
    return out


def _kept_from_the_previous_repeat(run: Path, config: str, previous: str, tasks: int = 2) -> None:
    """`config`'s ranks ran in `previous`'s processes (kept: harness/worker/hot.py), reset to the
    same initial weights, as their process's `tasks`-th task: their first losses are those of
    every run before, the cold one too."""
    now, before = _starts(run, config), _starts(run, previous)
    assert {t["start"]["pid"] for t in now} == {t["start"]["pid"] for t in before}
    assert all(t["built"].get("kept") == {"tasks": tasks} and t["start"]["warm"]["process_tasks"] == tasks
               for t in now)
    cold = _starts(run, config.split("@")[0] + "@1")
    for rank, t in enumerate(now):
        assert t["losses"] == pytest.approx(cold[rank]["losses"], rel=1e-4)
        assert before[rank]["losses"] == pytest.approx(cold[rank]["losses"], rel=1e-4)


def _no_process_of(run_id: str) -> bool:
    marker = f"HARNESS_RUN_ID={run_id}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in open(f"/proc/{pid}/environ", "rb").read().split(b"\0"):
                return False
        except OSError:
            pass
    return True


def test_single_repeats_after_the_first_run_start_warm(tmp_path):
    run = _run(tmp_path, {"name": "one", "threads": {"intra_op": 1, "inter_op": 1}})
    assert [_warm_flags(run, f"one@{k}") for k in (1, 2, 3)] == [["own"], ["kept"], ["kept"]]
    s = _startup(run)
    print(f"start-up: cold {s['one@1']:.2f} s, kept {s['one@2']:.2f} s and {s['one@3']:.2f} s")
    assert max(s["one@2"], s["one@3"]) < s["one@1"]
    _kept_from_the_previous_repeat(run, "one@2", "one@1")
    _kept_from_the_previous_repeat(run, "one@3", "one@2", tasks=3)
    control = [json.loads(x) for x in (run / "control.jsonl").read_text().splitlines()]
    kinds = [(r["event"], r.get("error")) for r in control if r["event"].startswith("warm_")]
    # listening before the first run's tasks; ready (its imports done) before the next run starts
    assert kinds == [("warm_start", None), ("warm_listening", None), ("warm_ready", None), ("warm_stop", None)]
    # started in the first run's window, after its config_start and before its tasks
    order = [(r["event"], r.get("config")) for r in control
             if r["event"] in ("config_start", "warm_start", "warm_listening", "task_launch")]
    assert order[:4] == [("config_start", "one@1"), ("warm_start", None), ("warm_listening", None),
                         ("task_launch", "one@1")]
    assert next(r for r in control if r["event"] == "warm_stop")["leftovers"] == []
    assert _no_process_of("w")
    assert "## Warm starts" in (run / "report.md").read_text()
    assert "| one | 1 / 2 (2 kept) |" in (run / "report.md").read_text()


@pytest.mark.horovod
def test_horovod_gloo_ranks_start_warm_in_their_repeats(tmp_path):
    run = _run(tmp_path, {"name": "hvd", "strategy": "horovod", "workers": 2, "launcher": "gloo",
                          "threads": {"intra_op": 1, "inter_op": 1}}, repeats=3)
    assert [_warm_flags(run, f"hvd@{k}") for k in (1, 2, 3)] == [["own"] * 2, ["kept"] * 2, ["kept"] * 2]
    s = _startup(run)
    print(f"Horovod start-up: cold {s['hvd@1']:.2f} s, kept {s['hvd@2']:.2f} s and {s['hvd@3']:.2f} s")
    assert max(s["hvd@2"], s["hvd@3"]) < s["hvd@1"]
    _kept_from_the_previous_repeat(run, "hvd@2", "hvd@1")   # a new rendezvous in the same processes
    _kept_from_the_previous_repeat(run, "hvd@3", "hvd@2", tasks=3)
    assert _no_process_of("w")
