"""The `search:` section of an experiment (`harness search`; docs/search.md): the axes of
the space and the goal. Every point of the space becomes a normal configuration of the
experiment when it is measured (harness/search/space.py).

    search:
      instance_types: [c5.large, c5.xlarge]   # hosts of the inventory with these types
      strategies: [single, horovod, parameter_server]
      workers: [1, 2, 4]                      # single takes 1 only; the others ≥ 2
      threads: [1, 2]                         # intra-op threads (optional axis)
      batch_sizes: [32, 64]                   # per worker (optional axis): a configuration's
                                              # workload override; needs a *_to_target goal
      ps: 1                                   # parameter servers, each on a host of its own
      goal: usd_per_1m_images                 # | time_to_target | usd_to_target
      target_images: 200000                   # for the *_to_target goals
      deadline_s: 600                         # optional
      usd_cap: 0.5                            # optional
      confidence: 0.9
      wave: 3                                 # trials at once (on disjoint hosts)

With more than one batch size the points train different work: a $-per-image goal would
rank a bigger batch first whatever it does to the target, so the goal must be time or $ to
the target (refused otherwise), and the experiment needs workload.target_accuracy (or
target_rmse) for the waves' own reports (experiment.py)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness import strategies
from harness.config.fields import MAX_BATCH, MAX_PS, MAX_SECONDS, MAX_THREADS, MAX_WORKERS, Name

GOAL_KINDS = ("usd_per_1m_images", "time_to_target", "usd_to_target")


class SearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_types: list[Name] = Field(min_length=1, max_length=64)
    strategies: list[str] = Field(min_length=1, max_length=8)
    workers: list[int] = Field(min_length=1, max_length=32)
    threads: Optional[list[int]] = Field(default=None, min_length=1, max_length=16)
    batch_sizes: Optional[list[int]] = Field(default=None, min_length=1, max_length=16)
    ps: int = Field(default=1, ge=1, le=MAX_PS)
    goal: Literal[GOAL_KINDS] = "usd_per_1m_images"
    target_images: Optional[float] = Field(default=None, gt=0, le=1e15)
    deadline_s: Optional[float] = Field(default=None, gt=0, le=MAX_SECONDS)
    usd_cap: Optional[float] = Field(default=None, gt=0, le=1e7)
    confidence: float = Field(default=0.9, ge=0.5, lt=1)
    wave: int = Field(default=2, ge=1, le=64)

    @field_validator("strategies")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if strategies.lookup(s) is None]
        if bad:
            raise ValueError(f"unknown strategy {bad[0]!r}; expected one of {', '.join(strategies.names())}")
        return v

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: list[int]) -> list[int]:
        if any(not 1 <= w <= MAX_WORKERS for w in v):
            raise ValueError(f"worker counts must be between 1 and {MAX_WORKERS}")
        return sorted(set(v))

    @field_validator("threads")
    @classmethod
    def _threads(cls, v: Optional[list[int]]) -> Optional[list[int]]:
        if v is not None and any(not 1 <= t <= MAX_THREADS for t in v):
            raise ValueError(f"thread counts must be between 1 and {MAX_THREADS}")
        return sorted(set(v)) if v else v

    @field_validator("batch_sizes")
    @classmethod
    def _batches(cls, v: Optional[list[int]]) -> Optional[list[int]]:
        if v is not None and any(not 1 <= b <= MAX_BATCH for b in v):
            raise ValueError(f"batch sizes must be between 1 and {MAX_BATCH}")
        return sorted(set(v)) if v else v

    @property
    def batch_axis(self) -> bool:
        """More than one batch size: the points' work differs."""
        return bool(self.batch_sizes) and len(self.batch_sizes) > 1

    @model_validator(mode="after")
    def _goal(self) -> "SearchSpec":
        if self.goal != "usd_per_1m_images" and self.target_images is None:
            raise ValueError(f"goal {self.goal} needs target_images (images trained until the target)")
        if self.goal == "usd_per_1m_images" and self.batch_axis:
            raise ValueError("goal usd_per_1m_images with batch_sizes: $ per image compares different work (a "
                             "bigger batch always wins it); use goal time_to_target or usd_to_target with "
                             "target_images")
        return self


def needs_target(spec: Optional[SearchSpec]) -> Optional[ValueError]:
    """A batch axis without the workload's target: each wave's own report could not rank its
    points (they train different work), so the experiment needs one."""
    if spec is None or not spec.batch_axis:
        return None
    return ValueError("search.batch_sizes: the points train different work; set workload.target_accuracy (or "
                      "target_rmse) so each wave's report ranks them by time to the target")
