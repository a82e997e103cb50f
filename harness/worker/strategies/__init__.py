"""The host side's strategy registry: the part of each strategy that runs on a host, found
by the strategy's name (a task's `spec.strategy`) as harness.worker.strategies.<name>, or in
the `worker/` folder of a directory HARNESS_STRATEGY_PATH names (protocol.constants; the
control side's registry reads the same variable). Standard library and harness.protocol
only, like all of the host side; docs/strategies.md says how to add a strategy.

A part is a module with
  Trainer          the training hooks: base.Local or a subclass of it (dataset, step,
                   evaluation, checkpoints, the loop itself)
  server(spec)     optional: the function (spec, log) -> summary that runs a task of this
                   role when it serves rather than trains; None when it trains
  NO_WORKLOAD      optional: roles that never read the workload
  CLUSTER_NEEDS    optional: {role: cluster fields a task of that role cannot start without}
  EXIT_HARD        optional: server roles whose process ends with os._exit (a TF server)"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from harness.protocol.constants import STRATEGY_PATH_ENV

_OWN_PATH = tuple(__path__)
_NOT_PARTS = ("base",)


class UnknownStrategy(ValueError):
    pass


def _search_path() -> list[str]:
    extra = [os.path.join(d, "worker") for d in os.environ.get(STRATEGY_PATH_ENV, "").split(os.pathsep) if d]
    return [*_OWN_PATH, *(d for d in extra if os.path.isdir(d))]


def part(name: str) -> ModuleType:
    """The host part of strategy `name`; UnknownStrategy when this host has none."""
    if not name.isidentifier() or name.startswith("_") or name in _NOT_PARTS:
        raise UnknownStrategy(f"unknown strategy {name!r}")
    __path__[:] = _search_path()   # the harness's own parts first
    module_name = f"{__name__}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise UnknownStrategy(f"unknown strategy {name!r}: this host has no part for it "
                              f"(harness/worker/strategies/{name}.py or worker/{name}.py under "
                              f"{STRATEGY_PATH_ENV})") from None
    if not hasattr(module, "Trainer"):
        raise UnknownStrategy(f"strategy {name!r}: {module.__file__} has no Trainer")
    return module


def server(spec):
    """The function that serves this task, or None when it trains."""
    find = getattr(part(spec.strategy), "server", None)
    return find(spec) if find is not None else None
