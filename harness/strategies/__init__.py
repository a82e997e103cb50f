"""The strategy registry: every module of this package that declares `STRATEGY` (a
base.Strategy), and every such module in the directories HARNESS_STRATEGY_PATH names
(protocol.constants.STRATEGY_PATH_ENV), imported as harness.strategies.<name>. Everything
that differs between strategies on the control side is asked of it; the host side has
its own registry of the same names (harness/worker/strategies/). docs/strategies.md."""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path
from typing import Optional

from harness.errors import ConfigError
from harness.protocol.constants import STRATEGY_PATH_ENV
from harness.strategies.base import Strategy

_OWN_PATH = tuple(__path__)
_found: dict[str, dict[str, Strategy]] = {}


def extra_dirs() -> list[str]:
    """The directories HARNESS_STRATEGY_PATH names, in order. Absolute: a task on a local
    host reads the same variable from its own directory (harness/worker/strategies/)."""
    dirs = [d for d in os.environ.get(STRATEGY_PATH_ENV, "").split(os.pathsep) if d]
    for d in dirs:
        if not os.path.isabs(d):
            raise ConfigError([f"{STRATEGY_PATH_ENV}: {d} is a relative path; give absolute directories "
                               f"(tasks run in their own directories)"])
    return dirs


def extra_files() -> list[tuple[str, Path]]:
    """(name in the code bundle, path) of the extra strategies' modules, placed where the
    harness's own are (harness/strategies/<name>.py, harness/worker/strategies/<name>.py),
    so an SSH host finds them without the variable. Names the harness has are its own."""
    out: dict[str, Path] = {}
    own = Path(_OWN_PATH[0])
    worker_own = own.parent / "worker" / "strategies"
    for d in extra_dirs():
        for sub, target, mine in (("", "harness/strategies", own), ("worker", "harness/worker/strategies", worker_own)):
            for p in sorted((Path(d) / sub).glob("*.py")):
                name = f"{target}/{p.name}"
                if not (mine / p.name).exists() and name not in out:
                    out[name] = p
    return sorted(out.items())


def registry() -> dict[str, Strategy]:
    """Every strategy by name: baselines first, then by name (the order messages list them in)."""
    key = os.environ.get(STRATEGY_PATH_ENV, "")
    if key not in _found:
        _found[key] = _discover(extra_dirs())
    return _found[key]


def _discover(extra: list[str]) -> dict[str, Strategy]:
    for d in extra:
        if not Path(d).is_dir():
            raise ConfigError([f"{STRATEGY_PATH_ENV}: {d} is not a directory of strategy modules"])
    # Extra modules import as harness.strategies.<name>; the harness's own modules come first.
    __path__[:] = [*_OWN_PATH, *extra]
    found: dict[str, Strategy] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg or info.name in found:
            continue
        where = Path(info.module_finder.path) / f"{info.name}.py"
        try:
            module = importlib.import_module(f"{__name__}.{info.name}")
        except Exception as e:   # a broken extra module: name it, do not guess
            raise ConfigError([f"{where}: cannot load this strategy module: {type(e).__name__}: {e}"]) from None
        s = getattr(module, "STRATEGY", None)
        if s is None:
            continue   # a helper module (base, ports)
        if not isinstance(s, Strategy) or s.name != info.name:
            raise ConfigError([f"{where}: STRATEGY must be a harness.strategies.base.Strategy named "
                               f"{info.name!r} (the module's name, which the host side looks up)"])
        found[s.name] = s
    return dict(sorted(found.items(), key=lambda kv: (not kv[1].baseline, kv[0])))


def names() -> tuple[str, ...]:
    return tuple(registry())


def lookup(name: str) -> Optional[Strategy]:
    """The strategy of that name, or None (a run directory written with another registry)."""
    return registry().get(name)


def strategy_for(name: str) -> Strategy:
    return registry()[name]


def default_name() -> str:
    """A configuration's strategy when it names none: the (first) baseline."""
    return next(n for n, s in registry().items() if s.baseline)


def with_option(option: str) -> tuple[str, ...]:
    """The strategies that accept a configuration option (e.g. launcher, ps_hosts)."""
    return tuple(n for n, s in registry().items() if option in s.options)


def all_options() -> tuple[str, ...]:
    """Every strategy-specific configuration option, in registry order."""
    return tuple(dict.fromkeys(o for s in registry().values() for o in s.options))


def gradients_of(name: str) -> Optional[str]:
    """How the named strategy's gradients travel (base.GRADIENT_PATHS), None when unknown."""
    s = lookup(name)
    return s.gradients if s is not None else None


def is_baseline(name: str) -> bool:
    s = lookup(name)
    return s is not None and s.baseline


def all_packages() -> tuple[str, ...]:
    """Every host package some strategy needs (pre-flight compares their versions)."""
    return tuple(dict.fromkeys(p for s in registry().values() for p in s.packages))


def helper_roles() -> tuple[str, ...]:
    """Every strategy's roles that never run training code."""
    return tuple(dict.fromkeys(r for s in registry().values() for r in s.helper_roles))
