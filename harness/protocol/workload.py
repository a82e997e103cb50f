"""The workload a training task is given, typed: what the experiment's `workload` holds
once validated (harness/config/experiment.py), as the host reads it from task.json.

The fields and defaults are the config's (tests/unit/test_protocol_spec.py keeps them
equal); the name lists both sides check against live here, so the control side refuses an
unknown optimizer or dataset at load and a host refuses one in a hand-made or old
task.json, from the same list. Standard library only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

from harness.protocol.parts import Part, SpecError

# What workload.optimizer may name (harness/worker/keras_parts.py builds each).
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
# What workload.dataset.name may name (harness/worker/datasets.py loads each).
DATASETS = ("synthetic", "digits", "cifar10", "facial_keypoints", "image_folder")
# What a configuration may set in its own `workload:` over the experiment's (the rest is the
# same for every configuration: harness/config/overrides.py says why, docs/metrics.md).
PER_CONFIGURATION = ("model", "args", "batch_size", "epochs", "steps_per_epoch", "learning_rate", "scale_lr",
                     "optimizer", "warmup_steps", "warmup_readings", "log_every", "calibration_steps", "seed")
# Of those, what changes the work behind one image or one step: where configurations differ
# in one, images/s and $ per image compare different work (a bigger batch always wins them),
# so only time or $ to a target can rank them (docs/metrics.md, "Configurations that differ
# in their workload").
WORK_FIELDS = ("model", "args", "batch_size", "optimizer")


def _known(value: str, names: tuple[str, ...], what: str, field_name: str) -> None:
    if value not in names:
        raise SpecError(f"unknown {what} {value!r}; expected one of {', '.join(sorted(names))}", field_name)


@dataclass(frozen=True)
class Dataset(Part):
    name: str
    path: Optional[str] = None
    shape: Optional[tuple[int, ...]] = None
    classes: Optional[int] = None
    samples: int = 1024
    targets: Optional[int] = None
    image_size: Optional[tuple[int, ...]] = None
    grayscale: bool = False
    missing_labels: str = "drop"
    validation_split: float = 0.2
    limit: Optional[int] = None

    def check(self) -> None:
        _known(self.name, DATASETS, "dataset", "name")


@dataclass(frozen=True)
class Workload(Part):
    model: Optional[str] = None
    dataset: Optional[Dataset] = None
    script: Optional[str] = None
    args: tuple[str, ...] = ()
    files: Optional[tuple[str, ...]] = None
    throughput_scope: str = "per_rank"
    warmup_readings: int = 1
    metrics: Mapping[str, str] = field(default_factory=dict)
    batch_size: Optional[int] = None
    epochs: Optional[int] = None
    steps_per_epoch: Optional[int] = None
    learning_rate: float = 0.01
    scale_lr: bool = False
    optimizer: str = "sgd"
    target_accuracy: Optional[float] = None
    target_rmse: Optional[float] = None
    warmup_steps: int = 5
    log_every: int = 1
    calibration_steps: int = 10
    seed: int = 0
    env: Mapping[str, str] = field(default_factory=dict)

    def check(self) -> None:
        _known(self.optimizer, OPTIMIZERS, "optimizer", "optimizer")

