"""User environment variables (`env:` in the experiment and the inventory): which names
are allowed, and how the levels combine. PURE.

The harness itself sets the names below for every task; a user value would silently
break the run (a wrong rank, another rendezvous, Keras 3 under Horovod), so they are
refused at load time with the field that set them."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Set per task by the strategies (harness/strategies/horovod.py, base.tf_config) and plan.py.
RESERVED = frozenset({
    "TF_CONFIG", "TF_USE_LEGACY_KERAS", "PYTHONPATH",
    "HOROVOD_RANK", "HOROVOD_SIZE", "HOROVOD_LOCAL_RANK", "HOROVOD_LOCAL_SIZE", "HOROVOD_CROSS_RANK",
    "HOROVOD_CROSS_SIZE", "HOROVOD_HOSTNAME", "HOROVOD_CONTROLLER", "HOROVOD_CPU_OPERATIONS",
    "HOROVOD_TIMELINE",
})
RESERVED_PREFIXES = ("HARNESS_", "HOROVOD_GLOO_")
# Set from a configuration's `threads:`; allowed in `env:` only where `threads:` leaves them unset.
THREAD_NAMES = {"OMP_NUM_THREADS": "omp", "KMP_AFFINITY": "kmp_affinity", "KMP_BLOCKTIME": "kmp_blocktime",
                "TF_NUM_INTRAOP_THREADS": "intra_op", "TF_NUM_INTEROP_THREADS": "inter_op"}


def why_refused(name: str) -> str | None:
    """None if `name` may be set by the user, else why not (one clause)."""
    if not ENV_NAME.match(name):
        return "not a valid environment variable name (letters, digits and _, not starting with a digit)"
    if name == "PYTHONPATH":
        return ("set by the harness to its code bundle on each host; ship your modules with "
                "workload.files or beside the script instead")
    if name == "HOROVOD_TIMELINE":
        return "set by the harness; use `horovod_timeline: true` in the configuration"
    if name in RESERVED or name.startswith(RESERVED_PREFIXES):
        return "set by the harness itself for every task (rank layout, rendezvous, cluster); remove it"
    return None


def validate_env(env: dict) -> dict[str, str]:
    """For pydantic validators: values become strings; a refused name raises ValueError
    naming it. YAML gives numbers and booleans for unquoted values: they are written as
    the user typed them (true -> 1 would surprise), so booleans are refused."""
    if env is None:
        return {}
    if not isinstance(env, dict):
        raise ValueError("env is a mapping of NAME: value")
    out = {}
    for name, value in env.items():
        name = str(name)
        why = why_refused(name)
        if why:
            raise ValueError(f"{name}: {why}")
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
            raise ValueError(f"{name}: give the value as a string (quote it), got {value!r}")
        out[name] = str(value)
    return out


def merged(*levels: dict[str, str]) -> dict[str, str]:
    """Later levels win: inventory defaults < host < workload < configuration."""
    out: dict[str, str] = {}
    for level in levels:
        out.update(level or {})
    return out


# The `env:` field of the experiment, a configuration, the inventory defaults and a host.
EnvVars = Annotated[dict[str, str], BeforeValidator(validate_env)]
