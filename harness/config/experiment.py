"""Experiment: one workload and the named configurations to compare on it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.config.envvars import THREAD_NAMES, EnvVars
from harness.config.fields import (
    MAX_BATCH, MAX_CONFIGURATIONS, MAX_DIM, MAX_ELEMENTS, MAX_PS, MAX_SAMPLES, MAX_SECONDS, MAX_STEPS,
    MAX_THREADS, MAX_WORKERS, PATH_MAX, Name, PathText, Text,
)
from harness.config.dataset_check import dataset_problem
from harness.config.loading import clip, read_yaml
from harness.config.overrides import goal_problem, merged_workloads, override_model, shorthand_problems
from harness.config.repeats import repeats_problem, stop_precision
from harness.config.search import SearchSpec, needs_target
from harness.config.sweeps import THREAD_FIELDS, expand_sweeps, sweep_errors, sweep_problems
from harness.errors import ConfigError
from harness.protocol.workload import DATASETS, OPTIMIZERS
from harness import strategies
from models import MODEL_NAMES

_FILE_DATASETS = ("cifar10", "facial_keypoints", "image_folder")
# What a regular expression in `workload.metrics` may pull from a script's output; the
# name says the unit, so the report can use the figure without guessing.
REGEX_METRICS = ("images_per_s", "step_time_s", "loss", "accuracy", "val_loss", "val_accuracy")


def _product(v: list[int]) -> int:
    out = 1
    for d in v:
        out *= d
    return out


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    name: Literal[DATASETS]
    # File datasets: a directory (cifar10, image_folder) or a CSV file (facial_keypoints).
    path: Optional[PathText] = None
    # synthetic: per-example shape (e.g. [32, 32, 3]), classes, examples.
    shape: Optional[list[int]] = Field(default=None, max_length=4)
    classes: Optional[int] = Field(default=None, ge=2, le=100_000)
    samples: int = Field(default=1024, ge=1, le=MAX_SAMPLES)
    # synthetic: regression with this many targets (e.g. 30, like facial keypoints) instead of classes.
    targets: Optional[int] = Field(default=None, ge=1, le=10_000)
    # image_folder: decoded images are resized to this [height, width].
    image_size: Optional[list[int]] = Field(default=None, max_length=2)
    grayscale: bool = False
    # facial_keypoints: rows with missing coordinates are dropped or filled forward.
    missing_labels: Literal["drop", "ffill"] = "drop"
    validation_split: float = Field(default=0.2, ge=0.0, lt=1.0)
    limit: Optional[int] = Field(default=None, ge=1, le=MAX_SAMPLES, description="use at most this many training examples")

    @field_validator("shape", "image_size")
    @classmethod
    def _positive_dims(cls, v):
        if v is not None and (not v or any(d < 1 for d in v)):
            raise ValueError("dimensions must be a non-empty list of positive integers")
        if v is not None and any(d > MAX_DIM for d in v):
            raise ValueError(f"each dimension must be at most {MAX_DIM}")
        if v is not None and _product(v) > MAX_ELEMENTS:
            raise ValueError(f"{_product(v)} values per example; at most {MAX_ELEMENTS}")
        return v

    @model_validator(mode="after")
    def _per_dataset(self) -> "DatasetSpec":
        if self.name in _FILE_DATASETS and not self.path:
            raise ValueError(f"dataset {self.name!r} needs 'path' (a local file or directory)")
        if self.name == "synthetic" and not self.shape:
            raise ValueError("dataset 'synthetic' needs 'shape', e.g. [32, 32, 3]")
        if self.targets is not None and self.name != "synthetic":
            raise ValueError("'targets' is only for the synthetic dataset (regression targets)")
        if self.name == "image_folder" and (not self.image_size or len(self.image_size) != 2):
            raise ValueError("dataset 'image_folder' needs 'image_size: [height, width]'")
        return self


class Workload(_Strict):
    # Exactly one of: a built-in model (with dataset and batch_size), or the user's own
    # training script, run with the strategy's environment (docs/strategies.md).
    model: Optional[str] = None
    dataset: Optional[DatasetSpec] = None
    script: Optional[PathText] = None
    args: list[Text(PATH_MAX)] = Field(default_factory=list, max_length=256, description="the script's command-line arguments")
    # What travels with the script to SSH hosts (harness/config/script_bundle.py): these files or
    # folders (under the script's folder), or by default the script's whole folder.
    files: Optional[list[PathText]] = Field(default=None, max_length=1000)
    # A regex images_per_s reading is one rank's rate (per_rank: summed over the ranks that
    # print; per_rank_equal: ranks that print nothing count as the printing ones' mean) or
    # the whole job's (total). The first warmup_readings readings of each task are left out.
    throughput_scope: Literal["per_rank", "per_rank_equal", "total"] = "per_rank"
    warmup_readings: int = Field(default=1, ge=0, le=1_000_000, description="regex readings left out of throughput figures")
    # Regular expressions (one group each) applied to the script's output as it runs.
    metrics: dict[Literal[REGEX_METRICS], Text(1000)] = Field(default_factory=dict)
    batch_size: Optional[int] = Field(default=None, ge=1, le=MAX_BATCH, description="per worker")
    epochs: Optional[int] = Field(default=None, ge=1, le=100_000)
    steps_per_epoch: Optional[int] = Field(default=None, ge=1, le=MAX_STEPS)
    learning_rate: float = Field(default=0.01, gt=0, le=100)
    # Synchronous data-parallel strategies (horovod, mirrored) multiply the learning rate
    # by the number of workers: the global batch is that many times larger.
    scale_lr: bool = False
    optimizer: Literal[OPTIMIZERS] = "sgd"
    target_accuracy: Optional[float] = Field(default=None, gt=0, le=1)
    target_rmse: Optional[float] = Field(default=None, gt=0, le=1e6)
    warmup_steps: int = Field(default=5, ge=0, le=MAX_STEPS, description="steps left out of throughput figures")
    log_every: int = Field(default=1, ge=1, le=MAX_STEPS, description="steps per step record")
    # Distributed ranks first time this many local steps without communication (discarded,
    # not training) so the report can tell communication from CPU contention (docs/metrics.md).
    calibration_steps: int = Field(default=10, ge=0, le=MAX_STEPS,
                                   description="calibration steps per distributed rank (0: none)")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="numpy's seed range")
    # Environment variables for every task (NCCL_DEBUG, HOROVOD_LOG_LEVEL, TF_XLA_FLAGS, ...).
    env: EnvVars = Field(default_factory=dict)

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and v not in MODEL_NAMES:
            raise ValueError(f"unknown model; expected one of {', '.join(MODEL_NAMES)}")
        return v

    @field_validator("metrics")
    @classmethod
    def _regexes(cls, v: dict[str, str]) -> dict[str, str]:
        for name, pattern in v.items():
            try:
                groups = re.compile(pattern).groups
            except re.error as e:
                raise ValueError(f"{name}: not a valid regular expression ({e})") from None
            if groups != 1:
                raise ValueError(f"{name}: the regular expression needs exactly one group (...) "
                                 f"around the number, it has {groups}")
        return v

    @model_validator(mode="after")
    def _length(self) -> "Workload":
        if (self.model is None) == (self.script is None):
            raise ValueError("give exactly one of 'model' (a built-in model) or 'script' (your own training script)")
        if self.script is not None:
            # A script reads its own data; a `dataset` is optional: shipped to SSH hosts like
            # a built-in model's, its path on the host is given to the script (HARNESS_DATASET).
            return self
        if self.args or self.metrics or self.files is not None:
            raise ValueError("'args', 'metrics' and 'files' belong to a 'script' workload, not to a built-in model")
        script_only = sorted({"throughput_scope", "warmup_readings"} & self.model_fields_set)
        if script_only:
            raise ValueError(f"{' and '.join(script_only)}: for a 'script' workload's regular expressions; a built-in "
                             f"model's warm-up is warmup_steps")
        if self.dataset is None:
            raise ValueError("a 'model' workload needs 'dataset'")
        if self.batch_size is None:
            raise ValueError("a 'model' workload needs 'batch_size' (per worker)")
        if self.epochs is None:
            raise ValueError("set 'epochs' (optionally with 'steps_per_epoch' to cap each epoch)")
        if self.target_accuracy is not None and (self.dataset.name == "facial_keypoints" or self.dataset.targets):
            raise ValueError("facial_keypoints is a regression dataset: use 'target_rmse', not 'target_accuracy'")
        return self


# A configuration's own `workload:` (harness/config/overrides.py): fields of the above.
WorkloadOverride = override_model(Workload)


class Threads(_Strict):
    intra_op: Optional[int] = Field(default=None, ge=0, le=MAX_THREADS, description="0 = TensorFlow's choice")
    inter_op: Optional[int] = Field(default=None, ge=0, le=MAX_THREADS)
    omp: Optional[int] = Field(default=None, ge=1, le=MAX_THREADS, description="OMP_NUM_THREADS")
    kmp_affinity: Optional[Text(200)] = None
    kmp_blocktime: Optional[int] = Field(default=None, ge=0, le=2**31 - 1, description="ms; the maximum means never sleep")

    @field_validator(*THREAD_FIELDS, mode="before")
    @classmethod
    def _no_empty_sweep(cls, v):
        # Non-empty lists were expanded into configurations (expand_sweeps) before this.
        if isinstance(v, list):
            raise ValueError("an empty list sweeps nothing; give one value or a list of values")
        return v


class Configuration(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    strategy: str = Field(default_factory=strategies.default_name)
    workers: int = Field(default=1, ge=1, le=MAX_WORKERS)
    ps: int = Field(default=0, ge=0, le=MAX_PS)
    hosts: Optional[list[Name]] = Field(default=None, max_length=1024,
                                        description="host names or label selectors key=value")
    threads: Threads = Field(default_factory=Threads)
    # horovod: who starts the ranks. gloo = the harness, one task per rank; mpi = one
    # mpirun on the first host (needs SSH between the hosts).
    launcher: Optional[Literal["gloo", "mpi"]] = None
    horovod_timeline: bool = False
    # horovod gloo: the network interface the ranks talk over (HOROVOD_GLOO_IFACE).
    network_interface: Optional[str] = Field(default=None, max_length=15, pattern=r"^[A-Za-z0-9._-]+$",
                                             description="a Linux interface name (IFNAMSIZ)")
    # parameter_server: where the ps tasks go (selectors); workers go on the other hosts.
    ps_hosts: Optional[list[Name]] = Field(default=None, max_length=1024)
    evaluator: bool = False
    # Environment variables for this configuration's tasks; over the workload's and the inventory's.
    env: EnvVars = Field(default_factory=dict)
    # What this configuration trains differently: fields over the experiment's workload.
    workload: WorkloadOverride = Field(default_factory=WorkloadOverride)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        if strategies.lookup(v) is None:
            raise ValueError(f"unknown strategy; expected one of {', '.join(strategies.names())}")
        return v

    @model_validator(mode="after")
    def _shape(self) -> "Configuration":
        # What each strategy accepts is its own (harness/strategies/<name>.py, docs/strategies.md).
        s = self.strategy
        problem = strategies.strategy_for(s).problem(self)
        if problem:
            raise ValueError(problem)
        for var, field_name in THREAD_NAMES.items():
            if var in self.env and getattr(self.threads, field_name) is not None:
                raise ValueError(f"env.{var} and threads.{field_name} both set it; keep one")
        for key in strategies.all_options():
            allowed = strategies.with_option(key)
            if getattr(self, key) not in (None, False) and s not in allowed:
                raise ValueError(f"{key}: only for strategy {' or '.join(allowed)}, not {s!r}")
        return self


class Experiment(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = Field(default="", max_length=10_000)
    workload: Workload
    # Empty only with a `search:` section, whose points become the configurations (harness search).
    configurations: list[Configuration] = Field(default_factory=list, max_length=MAX_CONFIGURATIONS)
    search: Optional[SearchSpec] = None
    time_limit_s: float = Field(default=3600, gt=0, le=MAX_SECONDS, description="per configuration")
    # Utilization sampling on every host of a configuration; 0 turns it off.
    sample_interval_s: float = Field(default=1.0, ge=0, le=60)
    # First port of the servers distributed strategies start (rendezvous, TF servers),
    # counted up per machine without collisions (harness/strategies/ports.py).
    base_port: int = Field(default=29500, ge=1024, le=65000)
    # Watch the instance metadata service for a spot interruption notice in every training
    # task; on a notice the task checkpoints at the next step and exits 75 ("interrupted"),
    # and `harness run --resume` continues from that checkpoint (docs/aws.md).
    spot_watch: bool = False
    # Configurations whose hosts do not overlap run at the same time, in waves planned by
    # harness.stages.plan.plan_waves (also `harness run --parallel`); each host is held once.
    parallel: bool = False
    spot_watch_interval_s: float = Field(default=5.0, gt=0, le=60)
    # Repeats: every configuration runs `repeats` times, in rounds (A B A B …, or each
    # round in a seeded random order), so drift and warm caches favour none of them; the
    # report compares configurations over the repeats (docs/metrics.md, "Verdicts").
    # `auto`: rounds go on only while a comparison the recommendation needs is open, at most
    # max_repeats (harness/report/figures/adaptive.py; docs/metrics.md, "Adaptive repeats").
    repeats: Union[Literal["auto"], Annotated[int, Field(ge=1, le=100)]] = 1
    max_repeats: int = Field(default=6, ge=2, le=100, description="with repeats: auto")
    # Early stop within a run: a training run ends once its steady-state throughput is known
    # to ± precision (95 %; harness/protocol/precision.py) after at least min_steps kept steps.
    # Unset: 0.02 with repeats: auto and no target, else off; 0: off.
    precision: Optional[float] = Field(default=None, ge=0, lt=1)
    min_steps: int = Field(default=50, ge=4, le=MAX_STEPS, description="kept steps before an early stop")
    order: Literal["interleaved", "shuffled"] = "interleaved"
    order_seed: int = 0
    # One warm-up run per host before the counted runs (caches, page cache, imports); its
    # files are kept, its figures are shown but not counted in any comparison.
    warmup_run: bool = False
    # Repeats (and configurations with the same environment) on a host after its first run
    # are forked from a zygote that has done the imports (harness/stages/warm_pool.py).
    warm_start: bool = True
    # A difference smaller than this share counts as noise in every verdict.
    min_effect: float = Field(default=0.05, ge=0, lt=1)
    # Live rules (harness/protocol/live_rules.py): a configuration none of whose training tasks
    # logged a step this many seconds after its tasks started is stopped (status
    # stopped_early, reason_code max_init); 0 turns it off. Also the report's "max
    # initialization time" threshold. Default: SageMaker's MaxInitializationTime, 20 min.
    max_init_s: float = Field(default=1200.0, ge=0, le=MAX_SECONDS)
    # Stop a configuration whose loss is NaN/inf or one of whose hosts thrashes its memory
    # for 30 s (live_rules.py); false: let it run to its end.
    live_rules: bool = True

    @model_validator(mode="before")
    @classmethod
    def _expand_sweeps(cls, data: Any) -> Any:
        return expand_sweeps(data)[0]

    @field_validator("sample_interval_s")
    @classmethod
    def _interval(cls, v: float) -> float:
        if 0 < v < 0.05:
            raise ValueError("sampling faster than every 0.05 s costs more than it measures; use >= 0.05 or 0 for off")
        return v

    @model_validator(mode="after")
    def _repeats_and_precision(self) -> "Experiment":
        problem = repeats_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def stop_precision(self) -> float:   # the early stop's precision in effect (0: off)
        return stop_precision(self)

    @property
    def adaptive(self) -> bool:
        return self.repeats == "auto"

    @property
    def rounds(self) -> int:   # counted rounds the schedule plans: repeats, or with auto the worst case
        return self.max_repeats if self.repeats == "auto" else int(self.repeats)

    @model_validator(mode="after")
    def _unique_configs(self) -> "Experiment":
        if not self.configurations and self.search is None:
            raise ValueError("configurations: give at least one (or a search: section for `harness search`)")
        names = [c.name for c in self.configurations]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"configuration names must be unique; repeated: {', '.join(dup)}")
        return self

    @model_validator(mode="after")
    def _configuration_workloads(self) -> "Experiment":
        # Each configuration's workload whole, and a goal its differences allow (overrides.py).
        works = merged_workloads(self.workload, self.configurations, Workload)
        target = self.workload.target_accuracy is not None or self.workload.target_rmse is not None
        problem = goal_problem(self.configurations, works, target) or (None if target else needs_target(self.search))
        if problem:
            raise problem
        return self

    def workload_of(self, cfg: Configuration | str) -> Workload:
        """The workload configuration `cfg` (or the one of that name) trains: the experiment's
        with the configuration's own fields over it (validated at load)."""
        if isinstance(cfg, str):
            cfg = next(c for c in self.configurations if c.name == cfg)
        over = cfg.workload.model_dump(exclude_unset=True)
        return self.workload.model_copy(update=over) if over else self.workload


def load_experiment(path: str | Path) -> Experiment:
    data = read_yaml(path)
    if data is None:
        raise ConfigError([f"{path}: file is empty; see README.md for the expected keys"])
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: top level must be a mapping of keys, got {type(data).__name__}"])
    problems = shorthand_problems(data) + sweep_problems(data)
    if problems:
        raise ConfigError([f"{path}: {p}" for p in problems])
    data, origin = expand_sweeps(data)
    try:
        exp = Experiment.model_validate(data)
    except ValidationError as e:
        raise ConfigError(sweep_errors(path, e, origin)) from None
    base = Path(path).resolve().parent
    work = exp.workload
    updates = {}
    # Dataset and script paths are relative to the experiment file, and must exist before we start.
    if work.dataset is not None and work.dataset.path and work.dataset.path.startswith("s3://"):
        # Fetched on each host at run start (harness.worker.s3_fetch); checked there.
        if not work.dataset.path[len("s3://"):].split("/", 1)[0]:
            raise ConfigError([f"{path}: workload.dataset.path: {clip(work.dataset.path)} has no bucket; "
                               "use s3://BUCKET/KEY-OR-PREFIX"])
    elif work.dataset is not None and work.dataset.path:
        p = _resolve(work.dataset.path, base)
        if not p.exists():
            raise ConfigError([f"{path}: workload.dataset.path: {clip(str(p), 300)} does not exist; "
                               f"point it at the {work.dataset.name} data"])
        problem = dataset_problem(work.dataset.name, p)
        if problem:
            raise ConfigError([f"{path}: workload.dataset.path: {clip(str(p), 300)} {problem}"])
        updates["dataset"] = work.dataset.model_copy(update={"path": str(p)})
    if work.script is not None:
        p = _resolve(work.script, base)
        if not p.is_file():
            raise ConfigError([f"{path}: workload.script: {clip(str(p), 300)} is not a file; give the path of "
                               f"your training script (relative to the experiment file)"])
        updates["script"] = str(p)
        files = [str(_resolve(f, base)) for f in work.files] if work.files is not None else None
        if files is not None:
            updates["files"] = files
        from harness.config.script_bundle import ScriptFilesError, script_files
        try:
            script_files(p, files)
        except ScriptFilesError as e:
            raise ConfigError([f"{path}: workload.{'files' if files is not None else 'script'}: {e}"]) from None
    if updates:
        exp = exp.model_copy(update={"workload": work.model_copy(update=updates)})
    return exp


def _resolve(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p
