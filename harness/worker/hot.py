"""Kept state: what a warm child (harness/worker/warm_child.py) keeps after a training task
so that the next run of the same configuration on its host, handed to the same process, does
not build it again: the data in memory, the built model and optimizer, and the traced step
functions (the training step and Horovod's broadcast; calibration's local step and the
evaluation step with them).

Valid only for an identical configuration: the control side gives every task a key
(WARM_HOT_ENV, harness/stages/warm_pool.py: host environment, configuration, strategy, role,
size, workload and threads) and the process reuses only state kept under the same key; a
process that ran other threads, another model or another batch is never reused.

Each task still starts from the same point as a cold one (`reset`): the model's weights are
put back to the values it was built with (the seed's), the optimizer's state to its values
before its first step (its slots to zero, as all four optimizers create them), and TensorFlow's
global seed to none before the input pipeline is made again, as in a fresh process, so the
shuffled order is the cold run's. What it shares with the task before: the compiled step and
the process's allocator and thread pools; random ops inside the traced step (dropout) continue
their stream instead of restarting it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

from harness.protocol.constants import WARM_HOT_ENV, WARM_KEEP_ENV


@dataclass
class Kept:
    key: str
    tf: Any
    keras: Any
    dist: Any                  # the strategy's Trainer: rejoins its cluster for each task
    data: Any                  # the loaded dataset (numpy arrays, never written)
    model: Any
    opt: Any
    loss_fn: Any
    score_fn: Any
    step_fn: Any
    lr: float
    initial: list              # the model's weights as built
    opt_initial: list          # [(variable, value)] of the optimizer before its first step
    local: Optional[tuple] = None   # calibration: (local step, its optimizer, its initial values)
    tasks: int = 1             # tasks this process has run with it
    facts: dict = field(default_factory=dict)


_kept: dict[str, Kept] = {}


def key_of(spec) -> Optional[str]:
    """The task's kept-state key, or None: not set, or a resumed task (it restores its own
    checkpoint; it neither takes nor leaves a kept state)."""
    if spec.resume_from is not None:
        return None
    return os.environ.get(WARM_HOT_ENV) or None


def wanted() -> bool:
    """Whether a later run of the same key comes to this host (the control side's hint)."""
    return os.environ.get(WARM_KEEP_ENV) == "1"


def take(spec) -> Optional[Kept]:
    """The state an identical configuration's task left in this process, removed from the
    store (a failure in this task leaves none behind)."""
    key = key_of(spec)
    kept = _kept.pop(key, None) if key else None
    _kept.clear()   # state of any other key is never used again here
    return kept


def keep(kept: Kept) -> None:
    _kept.clear()
    _kept[kept.key] = kept


def holds(key: Optional[str]) -> bool:
    return bool(key) and key in _kept


def optimizer_state(opt) -> list:
    """[(variable, value)] of what the optimizer has now (before its first step: its counter
    and any hyper-parameter variables; the slots come with the first step)."""
    return [(v, v.numpy()) for v in opt.variables]


def reset_optimizer(opt, initial: list) -> None:
    before = {id(v): value for v, value in initial}
    for v in opt.variables:
        v.assign(before[id(v)] if id(v) in before else _zeros(v))


def reset(kept: Kept) -> None:
    """Weights and optimizer state back to where the first task of the key started."""
    kept.model.set_weights(kept.initial)
    reset_optimizer(kept.opt, kept.opt_initial)
    if kept.local is not None:
        _, local_opt, local_initial = kept.local
        reset_optimizer(local_opt, local_initial)


def _zeros(v):
    import numpy as np

    return np.zeros(v.shape, dtype=v.dtype.as_numpy_dtype)
