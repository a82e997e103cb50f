"""The task spec: everything a process on a host is told, typed, versioned and immutable.

The control side builds one per task (plan, then bind fills what only the run knows),
writes them all to plan.json and ships each unchanged to its host as task.json; the
worker reads it back with `TaskSpec.read` and uses its attributes: nested parts are typed
too (`spec.workload.dataset.name`, `spec.cluster.slots[0].rank`; harness/protocol/parts.py).
For the control side a spec is also a read-only mapping of its JSON form
(`spec["workload"]["batch_size"]`), and every value read that way is a copy."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from harness.protocol.cluster import Cluster
from harness.protocol.layout import EVENTS_FILE
from harness.protocol.parts import Part, SpecError, freeze, plain
from harness.protocol.workload import Workload

__all__ = ["SPEC_VERSION", "SpecError", "TaskSpec", "Threads", "SpotWatchSettings", "ResumeFrom", "PrecisionSettings"]

# Bump when a field changes meaning or a required field is added; a worker refuses a spec
# of another version (an old bundle on a host would misread it).
SPEC_VERSION = 1


@dataclass(frozen=True)
class Threads(Part):
    """The configuration's thread settings (null: TensorFlow's / the library's choice)."""
    intra_op: Optional[int] = None
    inter_op: Optional[int] = None
    omp: Optional[int] = None
    kmp_affinity: Optional[str] = None
    kmp_blocktime: Optional[int] = None


@dataclass(frozen=True)
class SpotWatchSettings(Part):
    """Spot interruption notices: the task watches the metadata service (harness/worker/spot_watch.py)."""
    interval_s: float = 5.0      # how often the task asks the metadata service for a notice


@dataclass(frozen=True)
class PrecisionSettings(Part):
    """Early stop within a run once throughput is measured to `precision` (harness/protocol/precision.py)."""
    precision: float = 0.02
    min_steps: int = 50
    warmup_steps: int = 0


@dataclass(frozen=True)
class ResumeFrom(Part):
    """Where a resumed task continues: a checkpoint of an earlier run and its step."""
    run_id: Optional[str] = None
    checkpoint_path: Optional[str] = None
    step: int = 0


# The typed parts of a spec: field -> its type (a JSON object given there is read into it).
_PARTS = {"workload": Workload, "threads": Threads, "cluster": Cluster, "spot_watch": SpotWatchSettings,
          "resume_from": ResumeFrom, "precision": PrecisionSettings}


@dataclass(frozen=True)
class TaskSpec(Mapping):
    # who
    run_id: str
    experiment: str
    config: str
    strategy: str                      # single | horovod | parameter_server | mirrored | sampler
    task_id: str                       # unique within the configuration
    role: str                          # worker | chief | ps | evaluator | rendezvous | launcher | mpi_host | sampler
    host: str                          # inventory name
    index: int = 0                     # index within the role
    rank: Optional[int] = None         # data-parallel rank; None for servers
    size: int = 0                      # data-parallel workers of the configuration
    repeat: Optional[int] = None       # repeat index of a configuration run several times
    # what
    workload: Optional[Workload] = None   # the experiment's workload (dataset.path bound per host)
    threads: Threads = field(default_factory=Threads.empty)
    cluster: Cluster = field(default_factory=Cluster.empty)   # strategy-specific facts (rank layout, TF cluster, mpirun contexts)
    ports: tuple = ()                    # ports this task listens on
    interval_s: Optional[float] = None   # sampler period
    task_scan_s: Optional[float] = None   # sampler tuning (null: the sampler's defaults)
    cost_every_s: Optional[float] = None
    orphan_after_s: Optional[float] = None
    spot_watch: Optional[SpotWatchSettings] = None  # when the task watches for spot notices
    resume_from: Optional[ResumeFrom] = None
    precision: Optional[PrecisionSettings] = None  # a training task may stop once its throughput is this precise
    # where (the task runs in its directory on the host; these are relative to it)
    events: str = EVENTS_FILE            # its events file
    checkpoint_dir: Optional[str] = None
    imds_url: Optional[str] = None       # instance metadata service, when not the default (bound)
    spec_version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        where = self._where()
        for name, part in _PARTS.items():
            v = getattr(self, name)
            if v is None or isinstance(v, part):
                continue
            if not isinstance(v, Mapping):
                raise SpecError(f"{where}: {name} must be a mapping" + (" or null" if name not in ("threads", "cluster") else ""))
            try:
                object.__setattr__(self, name, part.from_dict(v))
            except SpecError as e:
                raise SpecError(f"{where}: {e.under(name)}") from None
        if isinstance(self.ports, list):
            object.__setattr__(self, "ports", freeze(self.ports))
        self._check()

    def _where(self) -> str:
        return f"task {self.config}/{self.task_id}" if isinstance(self.task_id, str) else "task"

    def _check(self) -> None:
        where = self._where()
        for name in ("run_id", "experiment", "config", "strategy", "task_id", "role", "host", "events"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise SpecError(f"{where}: {name} must be a non-empty string, got {getattr(self, name)!r}")
        for name in ("index", "size", "spec_version"):
            if type(getattr(self, name)) is not int:
                raise SpecError(f"{where}: {name} must be an integer, got {getattr(self, name)!r}")
        for name in ("rank", "repeat"):
            v = getattr(self, name)
            if v is not None and type(v) is not int:
                raise SpecError(f"{where}: {name} must be an integer or null, got {v!r}")
        for name in ("interval_s", "task_scan_s", "cost_every_s", "orphan_after_s"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise SpecError(f"{where}: {name} must be a number or null, got {v!r}")
        for name in ("checkpoint_dir", "imds_url"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                raise SpecError(f"{where}: {name} must be a string or null, got {v!r}")
        if not isinstance(self.ports, tuple) or not all(type(p) is int for p in self.ports):
            raise SpecError(f"{where}: ports must be integers, got {list(self.ports)!r}")
        if self.spec_version != SPEC_VERSION:
            raise SpecError(f"{where}: task spec version {self.spec_version}, this harness reads version "
                            f"{SPEC_VERSION}; run the same harness version on the control side and the hosts")

    # -- JSON form ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The JSON form (plan.json's entry, task.json): plain values, null fields left out."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = plain(v)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: Any) -> "TaskSpec":
        if not isinstance(data, Mapping):
            raise SpecError(f"task spec must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SpecError(f"task spec has unknown field(s) {', '.join(unknown)} (spec version "
                            f"{data.get('spec_version')!r}; this harness reads version {SPEC_VERSION})")
        if "spec_version" not in data:
            raise SpecError(f"task spec has no spec_version; this harness reads version {SPEC_VERSION}")
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.default is dataclasses.MISSING and f.name not in data)
        if missing:
            raise SpecError(f"task spec is missing field(s) {', '.join(missing)}")
        return cls(**dict(data))

    @classmethod
    def read(cls, path) -> "TaskSpec":
        with open(path, encoding="utf-8") as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError as e:
                raise SpecError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> "TaskSpec":
        return dataclasses.replace(self, **changes)

    # -- read-only mapping of the JSON form ----------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        v = getattr(self, key)
        if v is None:
            raise KeyError(key)
        return plain(v)

    def __iter__(self) -> Iterator[str]:
        return (k for k in self._names() if getattr(self, k) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))
