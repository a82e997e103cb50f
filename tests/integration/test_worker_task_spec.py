"""harness/worker/task_spec.py and `python -m harness.worker`: a task.json the host cannot
use (hand-made, or from another harness) stops the task before it starts with one line on
stderr and exit 2, and writes nothing; names are checked against the lists the config uses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config.experiment import Workload as ConfigWorkload
from harness.protocol import exits
from harness.protocol.spec import TaskSpec
from harness.protocol.workload import DATASETS, OPTIMIZERS
from harness.worker import datasets, keras_parts
from harness.worker.task_spec import read_task

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD = ConfigWorkload(model="mlp", dataset={"name": "digits"}, batch_size=16, epochs=1).model_dump()
SLOT = {"host": "h", "hostname": "0-h", "rank": 0, "size": 1, "local_rank": 0, "local_size": 1,
        "cross_rank": 0, "cross_size": 1}


def task_json(role="worker", strategy="single", cluster=None, **workload) -> dict:
    """A spec as the control side writes it (the config's full workload), then changed by hand."""
    spec = TaskSpec(run_id="r", experiment="e", config="c", strategy=strategy, task_id=role, role=role, host="h",
                    rank=0, size=1, workload=WORKLOAD, cluster=cluster or {}).to_dict()
    spec["workload"].update(workload)
    return spec


def run_worker(tmp_path, spec: dict) -> subprocess.CompletedProcess:
    (tmp_path / "task.json").write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMPI_COMM_WORLD_RANK", None)
    env.pop("PMIX_RANK", None)
    return subprocess.run([sys.executable, "-m", "harness.worker", "--task", "task.json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("spec, message", [
    (task_json(optimizer="adamw"),
     "workload.optimizer: unknown optimizer 'adamw'; expected one of adam, momentum, rmsprop, sgd"),
    (task_json(model="resnet50"), "workload.model: unknown model 'resnet50'; expected one of "),
    (task_json(dataset={**WORKLOAD["dataset"], "name": "mnist"}),
     "workload.dataset.name: unknown dataset 'mnist'; expected one of cifar10, digits, "),
    (task_json(batch_size="16"), "workload.batch_size: must be an integer, got '16'"),
    (task_json(batch_size=None), "workload: a built-in model needs batch_size"),
    (task_json(optimiser="adam"), "workload: unknown field(s) optimiser"),
    (task_json(model=None), "workload names neither a model nor a script"),
    (task_json(role="rendezvous", strategy="horovod", cluster={"launcher": "gloo", "slots": [SLOT]}),
     "cluster: a rendezvous task needs port"),
    ({**task_json(), "workload": [1]}, "workload must be a mapping or null"),
    ({**task_json(), "workload": None}, "workload is missing; a worker task trains"),
])
def test_a_spec_the_host_cannot_use_is_one_line_and_exit_2(tmp_path, spec, message):
    out = run_worker(tmp_path, spec)
    assert out.returncode == exits.USAGE, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("harness.worker: task.json: task c/") and message in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["task.json"]   # no events file, nothing else written


def test_a_usable_spec_passes_the_same_checks(tmp_path):
    for spec in (task_json(), task_json(model=None, script="train.py"),
                 task_json(role="rendezvous", strategy="horovod", cluster={"launcher": "gloo", "port": 1, "slots": [SLOT]}),
                 {**task_json(role="ps", strategy="parameter_server"), "workload": None}):
        spec = {k: v for k, v in spec.items() if v is not None}
        (tmp_path / "task.json").write_text(json.dumps(spec))
        assert read_task(tmp_path / "task.json").to_dict() == spec


def test_every_listed_optimizer_and_dataset_has_a_builder_and_a_loader():
    assert set(keras_parts._OPTIMIZERS) == set(OPTIMIZERS)
    assert set(datasets._LOADERS) == set(DATASETS)
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'; expected one of adam, momentum, rmsprop, sgd"):
        keras_parts.optimizer(None, "adamw", 0.1)   # refused, not trained with RMSprop
