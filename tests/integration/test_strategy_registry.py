"""A strategy is one control-side module and its worker part (docs/strategies.md): a toy
strategy written into a temporary directory, named by HARNESS_STRATEGY_PATH and nothing else,
is validated, planned, bundled for SSH hosts and run for real by `harness run`, with its
figures in the report; no harness file is edited for it. Over SSH the host has no
HARNESS_STRATEGY_PATH: both modules reach it inside the code bundle, and its warm zygote
imports them from there too."""

import csv
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from harness import pipeline, strategies
from harness.errors import ConfigError, UsageError
from harness.protocol.constants import STRATEGY_PATH_ENV
from harness.stages.bundle import build_bundle
from harness.stages.load import load_inputs
from harness.worker import strategies as host_strategies
from harness.worker.strategies.base import Local
from harness.worker.task_spec import check_usable

ROOT = Path(__file__).resolve().parents[2]

# fanout: N independent single-process workers, one per slot, each training like `single`.
CONTROL = '''"""fanout (a test's toy): independent workers, one per slot, nothing exchanged."""
from harness.strategies.base import NO_EXCHANGE, Placement, Strategy, spread_over_slots


def place(cfg, hosts, ctx):
    return [Placement(task_id=f"worker-{i}", role="worker", index=i, rank=i, host=h.name)
            for i, (h, _) in enumerate(spread_over_slots(hosts, cfg.workers))]


def check(cfg):
    return "ps: strategy 'fanout' has no parameter servers" if cfg.ps else None


STRATEGY = Strategy(name="fanout", summary="independent single-process workers", place=place, check=check,
                    gradients=NO_EXCHANGE)
'''
WORKER = '''"""fanout on a host: each worker trains alone, like single, and leaves a mark."""
import json

from harness.worker.strategies.base import Local


class Trainer(Local):
    def __init__(self, tf, spec):
        super().__init__(tf, spec)
        self.rejoin(spec)

    def rejoin(self, spec):   # also each later task of a kept process (harness/worker/hot.py)
        with open("fanout-part.json", "w") as f:   # the task's own directory
            json.dump({"task_id": spec.task_id, "rank": spec.rank}, f)
'''
WORKLOAD = {"model": "mlp", "dataset": {"name": "digits", "validation_split": 0.25}, "batch_size": 32,
            "epochs": 2, "steps_per_epoch": 10, "learning_rate": 0.1, "optimizer": "momentum",
            "warmup_steps": 2, "log_every": 1}
HOSTS = {"hosts": [{"name": "local", "transport": "local", "slots": 2, "instance_type": "c7i.large"}]}


def toy_dir(tmp_path: Path) -> Path:
    d = tmp_path / "more-strategies"
    (d / "worker").mkdir(parents=True)
    (d / "fanout.py").write_text(CONTROL)
    (d / "worker" / "fanout.py").write_text(WORKER)
    return d


def files(tmp_path: Path, configs=None, **exp) -> tuple[str, str]:
    configs = configs or [{"name": "single", "threads": {"intra_op": 1, "inter_op": 1}},
                          {"name": "fanout", "strategy": "fanout", "workers": 2,
                           "threads": {"intra_op": 1, "inter_op": 1}}]
    doc = {"name": "toy", "workload": WORKLOAD, "configurations": configs, "time_limit_s": 300, **exp}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(HOSTS, sort_keys=False))
    return str(tmp_path / "exp.yaml"), str(tmp_path / "hosts.yaml")


def test_without_the_path_the_toy_is_unknown(tmp_path, monkeypatch):
    monkeypatch.delenv(STRATEGY_PATH_ENV, raising=False)
    e, h = files(tmp_path)
    with pytest.raises(ConfigError) as ei:
        load_inputs(e, h)
    assert "configurations[1].strategy: unknown strategy; expected one of single, horovod, mirrored, " \
           "parameter_server" in ei.value.lines()[0]
    with pytest.raises(host_strategies.UnknownStrategy):
        host_strategies.part("fanout")


def test_the_toy_is_validated_planned_and_bundled(tmp_path, monkeypatch):
    d = toy_dir(tmp_path)
    monkeypatch.setenv(STRATEGY_PATH_ENV, str(d))
    assert "fanout" in strategies.names() and not strategies.strategy_for("fanout").distributed
    e, h = files(tmp_path)
    _, _, plan = pipeline.load_and_plan(pipeline.RunOptions(e, h, runs_root=str(tmp_path / "runs")), "toy")
    cp = next(c for c in plan.configs if c.name == "fanout")
    assert cp.strategy == "fanout"
    workers = [t for t in cp.tasks if t.role == "worker"]
    assert [(t.task_id, t.rank, t.spec.strategy) for t in workers] == [("worker-0", 0, "fanout"),
                                                                       ("worker-1", 1, "fanout")]
    for t in workers:   # the host side finds its part and accepts the spec
        check_usable(t.spec)
    part = host_strategies.part("fanout")
    assert issubclass(part.Trainer, Local) and part.__file__ == str(d / "worker" / "fanout.py")
    # Its own check and the options it does not take, as for any strategy.
    bad = files(tmp_path, [{"name": "f", "strategy": "fanout", "workers": 2, "ps": 1}])
    with pytest.raises(ConfigError, match="ps: strategy 'fanout' has no parameter servers"):
        load_inputs(*bad)
    bad = files(tmp_path, [{"name": "f", "strategy": "fanout", "workers": 2, "launcher": "mpi"}])
    with pytest.raises(ConfigError, match="launcher: only for strategy horovod, not 'fanout'"):
        load_inputs(*bad)
    # Not distributed: -np leaves it alone.
    with pytest.raises(UsageError, match="no configuration of the experiment is distributed"):
        load_inputs(*files(tmp_path), workers=2)
    # SSH hosts get both modules inside the code bundle, where the harness's own are.
    with tarfile.open(fileobj=io.BytesIO(build_bundle().data)) as tar:
        names = set(tar.getnames())
    assert {"harness/strategies/fanout.py", "harness/worker/strategies/fanout.py"} <= names


def test_a_broken_or_misnamed_module_is_one_line(tmp_path, monkeypatch):
    d = tmp_path / "broken"
    d.mkdir()
    (d / "oops.py").write_text("STRATEGY = 1\n")
    monkeypatch.setenv(STRATEGY_PATH_ENV, str(d))
    with pytest.raises(ConfigError, match=r"oops.py: STRATEGY must be a harness.strategies.base.Strategy named 'oops'"):
        strategies.registry()
    monkeypatch.setenv(STRATEGY_PATH_ENV, "relative/dir")
    with pytest.raises(ConfigError, match="is a relative path"):
        strategies.registry()


@pytest.mark.slow
def test_harness_run_trains_the_toy_and_reports_it(tmp_path):
    d = toy_dir(tmp_path)
    e, h = files(tmp_path)
    runs = tmp_path / "runs"
    env = {**os.environ, STRATEGY_PATH_ENV: str(d)}
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "-e", e, "--hosts", h, "--runs-dir", str(runs),
                           "--run-id", "toy"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = runs / "toy"
    rows = {r["config"]: r for r in csv.DictReader(open(run / "results.csv"))}
    assert rows["fanout"]["status"] == "succeeded" and float(rows["fanout"]["throughput_images_per_s"]) > 0
    for i in (0, 1):   # each worker trained through the toy's own worker part
        task = run / "hosts" / "local" / "fanout" / f"worker-{i}"
        assert json.loads((task / "fanout-part.json").read_text()) == {"task_id": f"worker-{i}", "rank": i}
        steps = [json.loads(line) for line in open(task / "events.jsonl") if '"event": "step"' in line]
        assert sum(s["steps"] for s in steps) == 20
    report = (run / "report.md").read_text()
    # Its figures: scaling against the single-process baseline, and why there is no
    # communication share (the registry says its gradients travel nowhere).
    assert "strategy fanout: no gradients travel between its processes" in report
    assert "images/s of single)" in report
    assert "fanout" in (run / "report.html").read_text()


@pytest.mark.slow
def test_an_ssh_host_gets_the_toy_in_the_code_bundle_and_its_repeat_starts_warm(sshd_hosts, tmp_path, monkeypatch):
    from harness.pipeline import run_experiment
    from harness.transport.ssh import SSHOptions
    from tests.support.sshd_hosts import inventory_dict, write_known_hosts

    monkeypatch.setenv(STRATEGY_PATH_ENV, str(toy_dir(tmp_path)))   # the control side's; sshd gives none
    inv = inventory_dict(sshd_hosts[:1], python=sys.executable, workdir=str(tmp_path / "work"))
    (tmp_path / "ssh-hosts.yaml").write_text(yaml.safe_dump(inv))
    e, _ = files(tmp_path, [{"name": "fanout", "strategy": "fanout", "workers": 1, "threads": {"intra_op": 1}}],
                 repeats=2, sample_interval_s=0)
    opts = SSHOptions(known_hosts=write_known_hosts(sshd_hosts[:1], tmp_path / "known_hosts"), ssh_config=None,
                      harness_known_hosts=tmp_path / "harness_known_hosts")
    res = run_experiment(e, str(tmp_path / "ssh-hosts.yaml"), runs_root=str(tmp_path / "runs"), run_id="ssh",
                         ssh_options=opts)
    assert res.status == "succeeded", res.reason
    host = inv["hosts"][0]["name"]
    for unit, own in (("fanout@1", True), ("fanout@2", None)):
        task = tmp_path / "runs" / "ssh" / "hosts" / host / unit / "worker-0"
        assert json.loads((task / "fanout-part.json").read_text())["task_id"] == "worker-0"
        start = next(json.loads(line) for line in open(task / "events.jsonl") if '"run_start"' in line)
        # both are served by the zygote, which imports the harness from the bundle: the first run
        # started it in its own window (own_zygote), the repeat is warm
        assert start.get("warm") and start["warm"].get("own_zygote") is own, start.get("warm")
