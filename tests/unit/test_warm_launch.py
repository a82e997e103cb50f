"""When the run's zygotes are started and awaited (harness/stages/warm_launch.py WarmStarts);
the start and the waits themselves are stubbed here (integration: tests/e2e/test_warm_starts.py)."""

import threading
from pathlib import Path

import yaml

from harness.config import load_experiment, load_inventory
from harness.stages import warm_launch
from harness.stages.plan import build_plan

ROOT = Path(__file__).resolve().parents[2]


def _warm(tmp_path, monkeypatch, configurations, repeats=2):
    e = tmp_path / "e.yaml"
    e.write_text(yaml.safe_dump({
        "name": "w", "repeats": repeats, "sample_interval_s": 1, "configurations": configurations,
        "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 8, "epochs": 1}}))
    plan = build_plan(load_experiment(e), load_inventory(ROOT / "hosts" / "local.yaml"), "r1", tmp_path / "r1")
    calls = []

    def start(todo, *args):
        calls.append(("start", [z.name for z in todo]))
        return {z.name: (z, 100 + i) for i, z in enumerate(todo)}

    monkeypatch.setattr(warm_launch, "start", start)
    monkeypatch.setattr(warm_launch, "wait_listening",
                        lambda fresh, *a, **k: calls.append(("listening", sorted(fresh))) or fresh)
    return plan, warm_launch.WarmStarts(plan, {}, {}, None, idle_s=60), calls


def test_an_own_zygote_starts_with_its_first_run_and_is_awaited_after_it_even_when_it_failed(tmp_path, monkeypatch):
    plan, warm, calls = _warm(tmp_path, monkeypatch, [{"name": "a"}])
    (z,) = plan.zygotes
    first, second = plan.configs
    warm.before(first)
    assert calls == [("start", [z.name]), ("listening", [z.name])]
    warm.before(first)   # never twice
    assert len(calls) == 2
    # its imports may outlast a failed first run: the next run waits for them unless the run stops
    assert list(warm.after(first, go_on=False)) == [z.name]
    assert warm.after(first, go_on=False, stopping=True) == {}
    assert list(warm.after(second, go_on=True)) == []   # not the first run of it
    warm.before(second)
    assert len(calls) == 2


def test_a_zygote_after_a_first_run_that_keeps_nothing_starts_once_even_from_two_threads(tmp_path, monkeypatch):
    # two configurations run once each: the zygote starts after the first, while it is collected
    plan, warm, calls = _warm(tmp_path, monkeypatch, [{"name": "a"}, {"name": "b"}], repeats=1)
    (z,) = plan.zygotes
    assert not z.own_run
    first = plan.configs[0]
    warm.before(first)
    assert calls == []
    assert warm.after(first, go_on=False) == {}   # a failed first run: nothing to start
    done = []
    threads = [threading.Thread(target=lambda: done.append(warm.after(first, go_on=True))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [("start", [z.name])] and sorted(len(d) for d in done) == [0, 1]
