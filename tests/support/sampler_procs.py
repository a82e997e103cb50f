"""A real utilization sampler beside real task processes, for the sampler's integration tests
(tests/integration/test_sampler.py, test_sampler_tasks.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.protocol.events import read_events
from harness.protocol.spec import TaskSpec

ROOT = Path(__file__).resolve().parents[2]


def env_for(run_id: str, task: str, extra_path: Path | None = None, **more: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    paths = [str(extra_path)] if extra_path else []
    env.update(more, HARNESS_RUN_ID=run_id, HARNESS_TASK=task, PYTHONPATH=os.pathsep.join([*paths, str(ROOT)]))
    return env


def start_sampler(tmp_path: Path, run_id: str, fake_dir: Path | None = None, fake_mode: str = "two",
                   **spec) -> subprocess.Popen:
    task = TaskSpec(**{"role": "sampler", "strategy": "sampler", "experiment": "e", "run_id": run_id,
                       "config": "c", "task_id": "sampler", "host": "h", "events": "samples.jsonl",
                       "interval_s": 0.2, **spec})
    (tmp_path / "task.json").write_text(task.to_json())
    return subprocess.Popen([sys.executable, "-m", "harness.worker", "--task", "task.json"], cwd=tmp_path,
                            env=env_for(run_id, f"{spec.get('config', 'c')}/sampler", fake_dir, FAKE_NVML=fake_mode),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def records(tmp_path: Path, event: str | None = None) -> list[dict]:
    path = tmp_path / "samples.jsonl"
    if not path.exists():
        return []
    return [r for r in read_events(path) if event is None or r["event"] == event]


def wait_for(pred, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=3)
    finally:
        if proc.poll() is None:
            proc.kill()


def child(run_id: str, task: str, code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], env=env_for(run_id, task))
