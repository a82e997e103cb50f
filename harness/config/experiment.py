"""Experiment: one workload and the named configurations to compare on it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.config.loading import parse_model, read_yaml
from harness.errors import ConfigError
from models import MODEL_NAMES

DATASETS = ("synthetic", "digits", "cifar10", "facial_keypoints", "image_folder")
_FILE_DATASETS = ("cifar10", "facial_keypoints", "image_folder")
STRATEGIES = ("single",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    name: Literal["synthetic", "digits", "cifar10", "facial_keypoints", "image_folder"]
    # File datasets: a directory (cifar10, image_folder) or a CSV file (facial_keypoints).
    path: Optional[str] = None
    # synthetic: per-example shape (e.g. [32, 32, 3]), classes, examples.
    shape: Optional[list[int]] = None
    classes: Optional[int] = Field(default=None, ge=2)
    samples: int = Field(default=1024, ge=1)
    # image_folder: decoded images are resized to this [height, width].
    image_size: Optional[list[int]] = None
    grayscale: bool = False
    # facial_keypoints: rows with missing coordinates are dropped or filled forward.
    missing_labels: Literal["drop", "ffill"] = "drop"
    validation_split: float = Field(default=0.2, ge=0.0, lt=1.0)
    limit: Optional[int] = Field(default=None, ge=1, description="use at most this many training examples")

    @field_validator("shape", "image_size")
    @classmethod
    def _positive_dims(cls, v):
        if v is not None and (not v or any(d < 1 for d in v)):
            raise ValueError("dimensions must be a non-empty list of positive integers")
        return v

    @model_validator(mode="after")
    def _per_dataset(self) -> "DatasetSpec":
        if self.name in _FILE_DATASETS and not self.path:
            raise ValueError(f"dataset {self.name!r} needs 'path' (a local file or directory)")
        if self.name == "synthetic" and not self.shape:
            raise ValueError("dataset 'synthetic' needs 'shape', e.g. [32, 32, 3]")
        if self.name == "image_folder" and (not self.image_size or len(self.image_size) != 2):
            raise ValueError("dataset 'image_folder' needs 'image_size: [height, width]'")
        return self


class Workload(_Strict):
    model: str
    dataset: DatasetSpec
    batch_size: int = Field(ge=1, description="per worker")
    epochs: Optional[int] = Field(default=None, ge=1)
    steps_per_epoch: Optional[int] = Field(default=None, ge=1)
    learning_rate: float = Field(default=0.01, gt=0)
    optimizer: Literal["sgd", "momentum", "adam", "rmsprop"] = "sgd"
    target_accuracy: Optional[float] = Field(default=None, gt=0, le=1)
    target_rmse: Optional[float] = Field(default=None, gt=0)
    warmup_steps: int = Field(default=5, ge=0, description="steps left out of throughput figures")
    log_every: int = Field(default=1, ge=1, description="steps per step record")
    seed: int = 0

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        if v not in MODEL_NAMES:
            raise ValueError(f"unknown model; expected one of {', '.join(MODEL_NAMES)}")
        return v

    @model_validator(mode="after")
    def _length(self) -> "Workload":
        if self.epochs is None:
            raise ValueError("set 'epochs' (optionally with 'steps_per_epoch' to cap each epoch)")
        if self.target_accuracy is not None and self.dataset.name == "facial_keypoints":
            raise ValueError("facial_keypoints is a regression dataset: use 'target_rmse', not 'target_accuracy'")
        return self


class Threads(_Strict):
    intra_op: Optional[int] = Field(default=None, ge=0, description="0 = TensorFlow's choice")
    inter_op: Optional[int] = Field(default=None, ge=0)
    omp: Optional[int] = Field(default=None, ge=1, description="OMP_NUM_THREADS")
    kmp_affinity: Optional[str] = None
    kmp_blocktime: Optional[int] = Field(default=None, ge=0)


class Configuration(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    strategy: str = "single"
    workers: int = Field(default=1, ge=1)
    ps: int = Field(default=0, ge=0)
    hosts: Optional[list[str]] = Field(default=None, description="host names or label selectors key=value")
    threads: Threads = Field(default_factory=Threads)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        if v not in STRATEGIES:
            raise ValueError(f"unknown strategy; expected one of {', '.join(STRATEGIES)}")
        return v

    @model_validator(mode="after")
    def _shape(self) -> "Configuration":
        if self.strategy == "single" and (self.workers != 1 or self.ps != 0):
            raise ValueError("strategy 'single' runs exactly one worker and no ps; set workers: 1, ps: 0")
        return self


class Experiment(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    workload: Workload
    configurations: list[Configuration] = Field(min_length=1)
    time_limit_s: float = Field(default=3600, gt=0, description="per configuration")
    # Utilization sampling on every host of a configuration; 0 turns it off.
    sample_interval_s: float = Field(default=1.0, ge=0, le=60)

    @field_validator("sample_interval_s")
    @classmethod
    def _interval(cls, v: float) -> float:
        if 0 < v < 0.05:
            raise ValueError("sampling faster than every 0.05 s costs more than it measures; use >= 0.05 or 0 for off")
        return v

    @model_validator(mode="after")
    def _unique_configs(self) -> "Experiment":
        names = [c.name for c in self.configurations]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"configuration names must be unique; repeated: {', '.join(dup)}")
        return self


def load_experiment(path: str | Path) -> Experiment:
    exp = parse_model(Experiment, read_yaml(path), path)
    ds = exp.workload.dataset
    if ds.path:
        # Dataset paths are relative to the experiment file, and must exist before we start.
        p = Path(ds.path).expanduser()
        p = p if p.is_absolute() else Path(path).resolve().parent / p
        if not p.exists():
            raise ConfigError([f"{path}: workload.dataset.path: {str(p)!r} does not exist; "
                               f"point it at the {ds.name} data"])
        exp = exp.model_copy(update={"workload": exp.workload.model_copy(
            update={"dataset": ds.model_copy(update={"path": str(p)})})})
    return exp
