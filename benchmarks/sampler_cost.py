"""What the utilization sampler costs (issues 5, 10: host and process readings through
psutil): its own CPU use at 1 s and 0.2 s, and training throughput with and without it.
Prints figures; asserts nothing.

    .venv/bin/python benchmarks/sampler_cost.py [--seconds 20] [--reps 3] [--epochs N] [--config NAME]

Cost: a sampler runs alone for --seconds at each interval, beside one idle process carrying
the run's id (so the task-process readings are exercised too); the figures come from its own
sampler_end record. Throughput: the real training worker for one configuration of
experiments/default.yaml on hosts/local.yaml (task.json as harness.stages.plan builds it), run
alternately without and with a sampler at 0.2 s (ABBA order, so a steady drift of the
machine's load hits both arms alike); then one longer run in which the sampler is paused and
resumed every second, which also cancels load that changes between runs, and a control run
whose sampler sleeps throughout (the ratio's noise floor on this machine).
Throughput = sum(images) / sum(seconds) over step records after warm-up (first step index >
warmup_steps), the report's rule. Goal: <= 0.1 % of a core at 1 s; ratio >= 0.99."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.config import load_experiment, load_inventory  # noqa: E402
from harness.protocol.events import read_events  # noqa: E402
from harness.protocol.spec import TaskSpec  # noqa: E402
from harness.stages.plan import Task, build_plan  # noqa: E402


def _start(task_dir: Path, spec: dict, env: dict) -> subprocess.Popen:
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / "task.json").write_text(json.dumps(spec))
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "harness.worker", "--task", "task.json"], cwd=task_dir,
                            env=full, stdout=subprocess.DEVNULL, stderr=open(task_dir / "stderr.log", "wb"))


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _last(path: Path, event: str) -> dict | None:
    recs = [r for r in read_events(path) if r["event"] == event]
    return recs[-1] if recs else None


def sampler_alone(interval: float, seconds: float, work: Path) -> dict:
    run_id = f"bench-cost-{uuid.uuid4().hex[:8]}"
    env = {"HARNESS_RUN_ID": run_id}
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"],
                            env={**os.environ, **env, "HARNESS_TASK": "c/worker-0"})
    d = work / f"cost-{interval}"
    # Through the protocol's TaskSpec, as the planner builds it: the worker refuses an
    # unversioned spec.
    spec = TaskSpec(run_id=run_id, experiment="bench", config="c", strategy="sampler", task_id="sampler",
                    role="sampler", host="local", events="samples.jsonl", interval_s=interval).to_dict()
    try:
        proc = _start(d, spec, {**env, "HARNESS_TASK": "c/sampler"})
        time.sleep(seconds)
        rc = _stop(proc)
    finally:
        idle.kill()
        idle.wait()
    end = _last(d / "samples.jsonl", "sampler_end") or {}
    tracked = [r["tasks"]["processes"] for r in read_events(d / "samples.jsonl") if r["event"] == "sample"]
    return {**end, "rc": rc, "tracked": max(tracked, default=0)}


def throughput(events: Path, warmup: int) -> tuple[float, int, float]:
    steps = [r for r in read_events(events) if r["event"] == "step" and r["step"] - r["steps"] + 1 > warmup]
    images = sum(r["images"] for r in steps)
    seconds = sum(r["seconds"] for r in steps)
    return (images / seconds if seconds else float("nan")), images, seconds


def train_once(train: Task, sampler: Task, work: Path, rep: int, with_sampler: bool) -> dict:
    # A fresh run id per repetition: each sampler tracks only its own training process.
    run_id = f"bench-train-{uuid.uuid4().hex[:8]}"
    d = work / f"train-{rep}-{'with' if with_sampler else 'without'}"
    s_proc = None
    if with_sampler:
        spec = {**sampler.spec, "run_id": run_id, "interval_s": 0.2}
        s_proc = _start(d / "sampler", spec, {**sampler.env, "HARNESS_RUN_ID": run_id})
    t = time.monotonic()
    proc = _start(d / "worker", {**train.spec, "run_id": run_id}, {**train.env, "HARNESS_RUN_ID": run_id})
    rc = proc.wait()
    wall = time.monotonic() - t
    out = {"with": with_sampler, "rc": rc, "wall_s": wall}
    if s_proc is not None:
        out["sampler_rc"] = _stop(s_proc)
        end = _last(d / "sampler" / "samples.jsonl", "sampler_end") or {}
        out["sampler_core_percent"] = 100 * end.get("loop_core_fraction", float("nan"))
        samples = [r for r in read_events(d / "sampler" / "samples.jsonl") if r["event"] == "sample"]
        out["task_cpu_percent_median"] = median(r["tasks"]["cpu_percent"] for r in samples) if samples else None
    if rc != 0:
        print(f"  training failed (rc {rc}); see {d / 'worker' / 'stderr.log'}", file=sys.stderr)
        out["ips"], out["images"], out["seconds"] = float("nan"), 0, 0.0
        return out
    out["ips"], out["images"], out["seconds"] = throughput(d / "worker" / "events.jsonl",
                                                           train.spec["workload"]["warmup_steps"])
    return out


def train_toggled(train: Task, sampler: Task, work: Path, window_s: float, interval: float) -> dict:
    """One training run beside one sampler that is paused (SIGSTOP) and resumed (SIGCONT)
    every window_s: adjacent on/off windows see the same background load, which on a
    shared machine drifts far more between whole runs than the sampler's effect."""
    run_id = f"bench-toggle-{uuid.uuid4().hex[:8]}"
    d = work / f"train-toggled-{interval:g}"
    s_proc = _start(d / "sampler", {**sampler.spec, "run_id": run_id, "interval_s": interval},
                    {**sampler.env, "HARNESS_RUN_ID": run_id})
    proc = _start(d / "worker", {**train.spec, "run_id": run_id}, {**train.env, "HARNESS_RUN_ID": run_id})
    windows = []  # (t_wall start, t_wall end, sampler on)
    on, t = True, time.time()
    while proc.poll() is None:
        time.sleep(window_s)
        now = time.time()
        windows.append((t, now, on))
        on, t = not on, now
        s_proc.send_signal(signal.SIGCONT if on else signal.SIGSTOP)
    windows.append((t, time.time(), on))
    s_proc.send_signal(signal.SIGCONT)
    out = {"rc": proc.returncode, "sampler_rc": _stop(s_proc), "windows": len(windows),
           "samples": (_last(d / "sampler" / "samples.jsonl", "sampler_end") or {}).get("samples")}
    warmup = train.spec["workload"]["warmup_steps"]
    arms = {True: [0, 0.0, []], False: [0, 0.0, []]}  # images, seconds, per-step seconds
    for r in read_events(d / "worker" / "events.jsonl"):
        if r["event"] != "step" or r["step"] - r["steps"] + 1 <= warmup:
            continue
        start, end = r["t_wall"] - r["seconds"], r["t_wall"]
        for a, b, arm in windows:  # a record straddling a toggle belongs to neither arm
            if a <= start and end <= b:
                arms[arm][0] += r["images"]
                arms[arm][1] += r["seconds"]
                arms[arm][2].append(r["seconds"] / r["steps"])
                break
    for arm, (images, seconds, per_step) in arms.items():
        out["with" if arm else "without"] = (images / seconds if seconds else float("nan"), images, seconds)
        out["median_step_s", arm] = median(per_step) if per_step else float("nan")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="sampler-alone measurement per interval")
    ap.add_argument("--reps", type=int, default=3, help="training runs with, and as many without")
    ap.add_argument("--config", default=None,
                    help="configuration of experiments/default.yaml (default: the last, which uses every core)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="override the experiment's epochs: longer runs, less noise in the ratio")
    ap.add_argument("--window", type=float, default=1.0, help="on/off window of the toggled run, seconds")
    ap.add_argument("--toggle-epochs", type=int, default=32, help="epochs of the toggled run")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    ap.add_argument("--cost-only", action="store_true",
                    help="only the sampler-alone cost (no training runs): on a loaded machine the "
                         "throughput comparison says more about the neighbours than about the sampler")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sampler-bench-"))
    print(f"working directory: {work}   host: {os.cpu_count()} cores")

    print(f"\nSampler alone, {args.seconds:.0f} s per interval (figures from its sampler_end record)")
    print(f"{'interval':>9} {'samples':>8} {'steady % core':>14} {'ms CPU/sample':>14} "
          f"{'incl. start-up % core':>22} {'start-up CPU s':>15} {'tasks seen':>11}")
    for interval in (1.0, 0.2):
        r = sampler_alone(interval, args.seconds, work)
        n = r.get("samples") or 0
        print(f"{interval:>8}s {n:>8} {100 * r['loop_core_fraction']:>14.3f} "
              f"{1000 * r['loop_cpu_s'] / max(n, 1):>14.3f} {100 * r['core_fraction']:>22.3f} "
              f"{r['cpu_s'] - r['loop_cpu_s']:>15.3f} {r['tracked']:>11}")

    if args.cost_only:
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        return 0
    exp = load_experiment(ROOT / "experiments" / "default.yaml")
    inv = load_inventory(ROOT / "hosts" / "local.yaml")
    plan = build_plan(exp, inv, "bench", work / "run")
    # A configuration with repeats runs as <name>@<k>: take its first counted run.
    counted = [c for c in plan.configs if c.counted]
    cp = next((c for c in counted if args.config in (c.name, c.config)), None) if args.config else counted[-1]
    if cp is None:
        print(f"no configuration {args.config!r}; have {[c.name for c in plan.configs]}", file=sys.stderr)
        return 2
    train = next(t for t in cp.tasks if t.role != "sampler")
    if args.epochs:
        train = replace(train, spec={**train.spec, "workload": {**train.spec["workload"], "epochs": args.epochs}})
    sampler = next(t for t in cp.tasks if t.role == "sampler")
    w = train.spec["workload"]
    print(f"\nTraining: experiments/default.yaml config {cp.name} (threads {train.spec['threads']}), "
          f"{w['model']} on {w['dataset']['name']}, {w['epochs']} epochs, batch {w['batch_size']}, "
          f"warm-up {w['warmup_steps']} steps excluded; sampler at 0.2 s")
    print(f"{'run':>4} {'sampler':>8} {'images/s':>10} {'images':>8} {'step s':>8} {'wall s':>8} "
          f"{'sampler % core':>15} {'task CPU %':>11}")
    runs = []
    for rep in range(args.reps):
        for with_sampler in ((False, True) if rep % 2 == 0 else (True, False)):  # ABBA order
            r = train_once(train, sampler, work, rep, with_sampler)
            runs.append(r)
            print(f"{len(runs):>4} {'with' if r['with'] else 'without':>8} {r['ips']:>10.1f} {r['images']:>8} "
                  f"{r['seconds']:>8.2f} {r['wall_s']:>8.1f} "
                  f"{r.get('sampler_core_percent', float('nan')):>15.3f} "
                  f"{(r.get('task_cpu_percent_median') or float('nan')):>11.1f}")
    if runs:
        pooled, med = {}, {}
        for arm in (False, True):
            ok = [r for r in runs if r["with"] == arm and r["rc"] == 0]
            pooled[arm] = sum(r["images"] for r in ok) / sum(r["seconds"] for r in ok) if ok else float("nan")
            med[arm] = median(r["ips"] for r in ok) if ok else float("nan")
        print(f"\nthroughput without sampler: {pooled[False]:.1f} images/s, with: {pooled[True]:.1f} images/s "
              f"(pooled sum(images)/sum(seconds))")
        print(f"ratio with/without: {pooled[True] / pooled[False]:.4f} pooled, "
              f"{med[True] / med[False]:.4f} of medians   (goal >= 0.99)")

    print(f"\nOne training run of {args.toggle_epochs} epochs per row, the sampler paused/resumed every "
          f"{args.window:g} s; step records assigned to the window they fall in. The control row's sampler "
          f"sleeps throughout (interval 1 h): its ratio is this machine's noise floor.")
    print(f"{'sampler':>20} {'without img/s':>14} {'with img/s':>11} {'ratio':>7} {'ratio of median step':>21} "
          f"{'windows':>8} {'samples':>8}")
    toggled = replace(train, spec={**train.spec, "workload": {**train.spec["workload"], "epochs": args.toggle_epochs}})
    for label, interval in (("0.2 s", 0.2), ("control (asleep)", 3600.0)):
        r = train_toggled(toggled, sampler, work, args.window, interval)
        if r["rc"] != 0:
            print(f"{label:>20}  training failed (rc {r['rc']})")
            continue
        # The median step time shrugs off bursts of other processes' load in one window.
        print(f"{label:>20} {r['without'][0]:>14.1f} {r['with'][0]:>11.1f} {r['with'][0] / r['without'][0]:>7.4f} "
              f"{r['median_step_s', False] / r['median_step_s', True]:>21.4f} {r['windows']:>8} {r['samples']:>8}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
