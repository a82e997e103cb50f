"""Warm starts, measured: start-up (results.csv `startup_s`: config_start → first step) of a
configuration's cold first run against its warm repeats (forked from the host's zygote,
harness/worker/warm.py), for the single process and Horovod over Gloo (2 ranks), on this
machine (local host, MLP on digits). Goal: warm ≤ 30 % of cold. Each run's start-up is
printed split along the task whose first step ended last (report's StartupSplit, plus the
distribution_ready phase: hvd.init and its rendezvous), so the figures are explained, and
marked: `cold` (the first run, its own process; `cold (own zygote)`: forked from a zygote
started in its own window, whose imports it waited for, so that its processes can be kept),
`fork` (a fresh child of the zygote, which
paid the imports once), `kept` (the previous repeat's processes, model and traced step kept,
weights reset: harness/worker/hot.py).

    .venv/bin/python benchmarks/warm_start.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.pipeline import run_experiment  # noqa: E402
from harness.report.figures.analysis import analyze_dir  # noqa: E402

WORKLOAD = {"model": "mlp", "dataset": {"name": "digits", "validation_split": 0.25}, "batch_size": 32,
            "epochs": 2, "steps_per_epoch": 20, "learning_rate": 0.1, "optimizer": "momentum", "warmup_steps": 2}
CONFIGS = {"single": {"name": "single"},
           "horovod-gloo": {"name": "horovod-gloo", "strategy": "horovod", "workers": 2}}
SHORT = {"launch_s": "launch", "process_start_s": "process", "framework_import_s": "import",
         "distribution_ready": "dist", "data_ready_s": "data", "model_built_s": "model",
         "first_step_s": "step1", "other_s": "other"}


def split(a, m) -> str:
    """`name value` per part of m's start-up; `dist` is part of `other` in the report."""
    s = m.startup
    if s is None:
        return "no split"
    parts = dict(s.parts())
    task = next((t for t in a.run.tasks if t.config == m.config and t.task_id == s.task_id), None)
    dist = next((r.get("seconds") for r in (task.of("phase") if task else []) if r.get("name") == "distribution_ready"),
                None)
    if dist is not None:
        parts["distribution_ready"] = dist
        parts["other_s"] = parts["other_s"] - dist
    order = [k for k in SHORT if k in parts]
    return " ".join(f"{SHORT[k]} {parts[k]:.2f}" for k in order if parts[k] is not None)


def free_port(span: int = 40) -> int:
    """A port base whose next `span` ports no one on this shared machine listens on now (the
    default base_port may be another run's), below the ephemeral range, where Gloo's own
    connections take theirs."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    for base in random.Random().sample(range(20000, min(low, 32000) - span, span), 50):
        try:
            for port in range(base, base + span):
                with socket.socket() as s:
                    s.bind(("0.0.0.0", port))
            return base
        except OSError:
            continue
    raise SystemExit("no free port range found for the rendezvous servers")


def _warm(a, config: str) -> list[dict]:
    """run_start's `warm` record of each of run `config`'s training tasks ({} when cold)."""
    return [(t.first("run_start") or {}).get("warm") or {} for t in a.run.tasks
            if t.config == config and t.role == "worker"]


def kept(a, config: str) -> bool:
    """Whether run `config`'s training tasks ran in kept processes (warm.process_tasks > 1)."""
    ws = _warm(a, config)
    return bool(ws) and all((w.get("process_tasks") or 1) > 1 for w in ws)


def own_zygote(a, config: str) -> bool:
    """Whether run `config`'s tasks were forked from a zygote started in its own window
    (warm.own_zygote: it paid the imports; a cold run whose processes can be kept)."""
    ws = _warm(a, config)
    return bool(ws) and all(w.get("own_zygote") for w in ws)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} cores)", flush=True)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for label, cfg in CONFIGS.items():
            exp = {"name": f"warm-{label}", "workload": WORKLOAD, "configurations": [cfg], "repeats": args.repeats,
                   "sample_interval_s": 0, "warm_start": True, "base_port": free_port()}
            hosts = {"hosts": [{"name": "local", "transport": "local", "slots": 2, "instance_type": "c7i.large"}]}
            (tmp / f"{label}.yaml").write_text(yaml.safe_dump(exp, sort_keys=False))
            (tmp / "h.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
            res = run_experiment(str(tmp / f"{label}.yaml"), str(tmp / "h.yaml"), runs_root=str(tmp / "runs"),
                                 run_id=label)
            if res.status != "succeeded":
                raise SystemExit(f"{label}: run {res.status}: {res.reason}")
            a = analyze_dir(res.run_dir)
            starts = {m.config: m.startup_s for m in a.metrics}
            cold = starts[f"{cfg['name']}@1"]
            for m in a.metrics:
                how = ("cold (own zygote)" if own_zygote(a, m.config) else "cold") if m.config.endswith("@1") \
                    else ("kept" if kept(a, m.config) else "fork")
                print(f"  {m.config:17} {how}: start-up {m.startup_s:.2f} s ({100 * m.startup_s / cold:3.0f} % of cold)"
                      f" = {split(a, m)}", flush=True)
            warm = [v for k, v in starts.items() if not k.endswith("@1") and v is not None]
            ratio = statistics.mean(warm) / cold
            print(f"{label:13}: cold start-up {cold:.2f} s; warm {', '.join(f'{w:.2f}' for w in warm)} s; "
                  f"warm mean / cold {100 * ratio:.0f} %, worst warm repeat {100 * max(warm) / cold:.0f} % "
                  f"(goal: every warm repeat <= 30 %)", flush=True)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
