"""One module per training strategy, each with the same `place(cfg, hosts)` function."""

from __future__ import annotations

from types import ModuleType

from harness.strategies import single

_STRATEGIES: dict[str, ModuleType] = {m.name: m for m in (single,)}


def strategy_for(name: str) -> ModuleType:
    return _STRATEGIES[name]
