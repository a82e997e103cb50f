"""Warm starts, measured: start-up (results.csv `startup_s`: config_start → first step) of a
configuration's cold first run against its warm repeats (forked from the host's zygote,
harness/worker/warm.py), for the single process and Horovod over Gloo (2 ranks), on this
machine (local host, MLP on digits). Goal: warm ≤ 30 % of cold.

    .venv/bin/python benchmarks/warm_start.py [--repeats 3]
"""

from __future__ import annotations

import argparse
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for label, cfg in CONFIGS.items():
            exp = {"name": f"warm-{label}", "workload": WORKLOAD, "configurations": [cfg], "repeats": args.repeats,
                   "sample_interval_s": 0, "warm_start": True}
            hosts = {"hosts": [{"name": "local", "transport": "local", "slots": 2, "instance_type": "c7i.large"}]}
            (tmp / f"{label}.yaml").write_text(yaml.safe_dump(exp, sort_keys=False))
            (tmp / "h.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
            res = run_experiment(str(tmp / f"{label}.yaml"), str(tmp / "h.yaml"), runs_root=str(tmp / "runs"),
                                 run_id=label)
            if res.status != "succeeded":
                raise SystemExit(f"{label}: run {res.status}: {res.reason}")
            starts = {m.config: m.startup_s for m in analyze_dir(res.run_dir).metrics}
            cold = starts[f"{cfg['name']}@1"]
            warm = [v for k, v in starts.items() if not k.endswith("@1") and v is not None]
            ratio = statistics.mean(warm) / cold
            print(f"{label:13}: cold start-up {cold:.2f} s; warm {', '.join(f'{w:.2f}' for w in warm)} s; "
                  f"warm mean / cold {100 * ratio:.0f} % (goal <= 30 %)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
