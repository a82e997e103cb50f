"""One module per training strategy, each with the same `place(cfg, hosts, ctx)` function
(and an optional `finish(cfg, tasks, hosts)`); see base.py."""

from __future__ import annotations

from types import ModuleType

from harness.strategies import horovod, mirrored, parameter_server, single

_STRATEGIES: dict[str, ModuleType] = {m.name: m for m in (single, horovod, parameter_server, mirrored)}


def strategy_for(name: str) -> ModuleType:
    return _STRATEGIES[name]
