"""Configurations on disjoint hosts in parallel: waves (plan), the wave runner, and a real run
on two disjoint host groups whose bill is recomputed independently from the raw records."""

import csv
import json
import threading
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.stages.plan import group_waves
from harness.stages.waves import ConfigOutcome, run_waves


def test_group_waves_keeps_hosts_apart_and_their_order():
    assert group_waves([("a", {"h1"}), ("b", {"h2"}), ("c", {"h3"})]) == (("a", "b", "c"),)
    # c shares h1 with a, so it waits; d is free and joins the first wave
    assert group_waves([("a", {"h1"}), ("b", {"h1", "h2"}), ("c", {"h1"}), ("d", {"h3"})]) == \
        (("a", "d"), ("b",), ("c",))
    # b overlaps a only: it goes right after a's wave, never before it
    assert group_waves([("a", {"h1", "h2"}), ("b", {"h2"}), ("c", {"h3"})]) == (("a", "c"), ("b",))
    assert group_waves([]) == ()


def test_plan_waves_from_experiment_and_flag(tmp_path):
    from harness.config import load_experiment, load_inventory
    from harness.stages.plan import build_plan

    root = Path(__file__).resolve().parents[2]
    exp = load_experiment(root / "experiments/studies/face-recognition-single-vs-parameter-server.yaml")
    inv = load_inventory(root / "hosts/examples/face-recognition-single-vs-parameter-server.yaml")
    seq = build_plan(exp, inv, "r", tmp_path)
    assert not seq.parallel and seq.wave_list() == (("single",), ("ps1-workers2",))
    par = build_plan(exp, inv, "r", tmp_path, parallel=True)
    assert par.parallel and par.wave_list() == (("single",), ("ps1-workers2",))  # both use face-a


def _runner(behaviour, log):
    def run_one(name, scope):
        log.append(("start", name, time.monotonic()))
        kind = behaviour[name]
        if kind == "fail":
            time.sleep(0.05)
            out = ConfigOutcome(name, "failed", "boom")
        elif kind == "crash":
            raise RuntimeError("thread crashed")
        else:  # runs 0.4 s unless stopped
            deadline = time.monotonic() + 0.4
            while time.monotonic() < deadline and not scope.is_set():
                scope.wait(0.01)
            out = ConfigOutcome(name, "stopped" if scope.is_set() else "succeeded", "")
        log.append(("end", name, time.monotonic()))
        return out
    return run_one


def test_a_failure_stops_only_its_configuration_unless_fail_fast():
    log = []
    out = run_waves([("a", "b"), ("c",)], _runner({"a": "fail", "b": "ok", "c": "ok"}, log), threading.Event(),
                    parallel=True, keep_going=False, fail_fast=False)
    assert [(o.name, o.status) for o in out] == [("a", "failed"), ("b", "succeeded"), ("c", "succeeded")]
    log = []
    out = run_waves([("a", "b"), ("c",)], _runner({"a": "fail", "b": "ok", "c": "ok"}, log), threading.Event(),
                    parallel=True, keep_going=False, fail_fast=True)
    assert [(o.name, o.status) for o in out] == [("a", "failed"), ("b", "stopped")]   # c never started
    out = run_waves([("a", "b")], _runner({"a": "crash", "b": "ok"}, []), threading.Event(),
                    parallel=True, keep_going=False, fail_fast=False)
    assert out[0].status == "failed" and "thread crashed" in out[0].reason and out[1].status == "succeeded"


def test_sequential_failure_ends_the_run_unless_keep_going():
    run = _runner({"a": "fail", "b": "ok"}, [])
    assert [o.name for o in run_waves([("a",), ("b",)], run, threading.Event(), parallel=False,
                                      keep_going=False, fail_fast=False)] == ["a"]
    assert [o.name for o in run_waves([("a",), ("b",)], run, threading.Event(), parallel=False,
                                      keep_going=True, fail_fast=False)] == ["a", "b"]


EXPERIMENT = """
name: two-groups
parallel: true
workload:
  model: mlp
  dataset: {name: digits, validation_split: 0.25}
  batch_size: 8
  epochs: 24
  learning_rate: 0.02
  optimizer: momentum
  target_accuracy: 0.5
  warmup_steps: 3
  log_every: 8
configurations:
  - {name: on-a, hosts: [a], threads: {intra_op: 1, inter_op: 1, omp: 1}}
  - {name: on-b, hosts: [b], threads: {intra_op: 1, inter_op: 1, omp: 1}}
"""
HOSTS = """
hosts:
  - {name: a, transport: local, instance_type: c5.large, slots: 1}
  - {name: b, transport: local, instance_type: c7i.large, slots: 1}
"""
CATALOG = Path(__file__).resolve().parents[2] / "harness" / "prices" / "catalog-us-east-1.csv"


def _window(path: Path) -> tuple[float, float]:
    steps = [json.loads(line) for line in path.open() if '"event": "step"' in line]
    return steps[0]["t_wall"] - steps[0]["seconds"], steps[-1]["t_wall"]


@pytest.mark.slow
def test_two_disjoint_host_groups_overlap_and_the_bill_is_recomputable(tmp_path, capsys):
    (tmp_path / "e.yaml").write_text(EXPERIMENT)
    (tmp_path / "h.yaml").write_text(HOSTS)
    rc = main(["run", "-e", str(tmp_path / "e.yaml"), "--hosts", str(tmp_path / "h.yaml"),
               "--runs-dir", str(tmp_path / "runs"), "--run-id", "p"])
    assert rc == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "p"
    control = [json.loads(line) for line in (run / "control.jsonl").open()]
    ev = lambda name, cfg=None: [r for r in control if r["event"] == name and (cfg is None or r.get("config") == cfg)]  # noqa: E731
    assert ev("schedule")[0]["waves"] == [["on-a", "on-b"]]

    # the two configurations were running at the same time ...
    (sa,), (ea,), (sb,), (eb,) = (ev(e, c) for c in ("on-a", "on-b") for e in ("config_start", "config_end"))
    assert max(sa["t_wall"], sb["t_wall"]) < min(ea["t_wall"], eb["t_wall"])
    # ... and so were their training windows (first step start → last step end). Training
    # lasts ~4000 steps (several seconds) so that two processes' start-up jitter on a busy
    # 2-core machine (1.5 s seen in CI with 126 steps) cannot put the windows side by side.
    a0, a1 = _window(run / "hosts" / "a" / "on-a" / "worker-0" / "events.jsonl")
    b0, b1 = _window(run / "hosts" / "b" / "on-b" / "worker-0" / "events.jsonl")
    assert max(a0, b0) < min(a1, b1)
    # the run's wall time is below the sum of the two configurations' durations
    dur = {c: ev("config_end", c)[0]["t_wall"] - ev("config_start", c)[0]["t_wall"] for c in ("on-a", "on-b")}
    run_wall = ev("run_end")[0]["t_wall"] - ev("run_start")[0]["t_wall"]
    assert run_wall < dur["on-a"] + dur["on-b"]

    # independent recomputation of both bills from control.jsonl and the catalog CSV
    price = {r["instance_type"]: float(r["on_demand_usd_per_hour"]) for r in csv.DictReader(CATALOG.open())}
    rate = price["c5.large"] + price["c7i.large"]
    # held: from the start of the connection to the last collection (the whole-run cost model)
    conn = ev("connect")[0]
    wall = max(r["t_wall"] for r in ev("collected")) - (conn["t_wall"] - conn["seconds"])
    fixed = wall - max(dur.values())
    want = {"parallel": rate * wall / 3600, "sequential": rate * (fixed + sum(dur.values())) / 3600}
    assert want["parallel"] < want["sequential"]

    from harness.prices import load_catalog
    from harness.report.figures.cost import fmt_usd
    from harness.report.read.rundir import load_run
    from harness.report.figures.schedule_bill import run_schedule

    rs = run_schedule(load_run(run), load_catalog())
    got = {b.mode: b for b in rs.bills}
    from harness.report.figures.bill import compute_bill

    assert got["parallel"].usd["on_demand"] == compute_bill(load_run(run), load_catalog()).on_demand_usd
    assert got["parallel"].measured and not got["sequential"].measured
    for mode in want:
        assert got[mode].usd["on_demand"] == pytest.approx(want[mode], rel=1e-9)
        assert got[mode].usd["spot"] is None   # no spot price known: never a guess
    report = (run / "report.md").read_text()
    assert "## Schedule and bill" in report
    for mode in want:
        assert fmt_usd(want[mode]) in report
    # the per-type table: two instance types, one row each, with prices from the catalog
    assert "## Per instance type" in report and "$0.085/h" in report and "$0.08925/h" in report
    from harness.report.figures.analysis import analyze_dir
    from harness.report.figures.per_type import type_rows

    a = analyze_dir(run)
    rows = {r.instance_type: r for r in type_rows(a)}
    assert sorted(rows) == ["c5.large", "c7i.large"]
    m = {x.config: x for x in a.metrics}
    for itype, cfg in (("c5.large", "on-a"), ("c7i.large", "on-b")):
        r = rows[itype]
        assert r.images_per_usd == pytest.approx(m[cfg].throughput_images_per_s * 3600 / price[itype])
        assert r.init_s == pytest.approx(m[cfg].startup_s + ev("connect")[0]["seconds"])
        assert r.gpu is None and r.seconds_per_image is not None
    # exactly one row is the fastest (no verdict against itself), the other has one
    assert sum(r.speed_verdict is None for r in rows.values()) == 1
