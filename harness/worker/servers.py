"""Tasks that serve rather than train (a strategy's part says which of its roles do and
what runs them: harness/worker/strategies/); each runs until the harness stops it with
SIGTERM (then the worker writes run_end)."""

from __future__ import annotations

from harness.protocol.layout import SAMPLER_ROLE
from harness.protocol.spec import TaskSpec
from harness.worker import strategies


def is_server(spec: TaskSpec) -> bool:
    return spec.role != SAMPLER_ROLE and strategies.server(spec) is not None


def run_server(spec: TaskSpec, log) -> dict:
    return strategies.server(spec)(spec, log)


def exits_hard(spec: TaskSpec) -> bool:
    """A server whose process must end with os._exit (a TensorFlow server cannot be shut
    down cleanly; interpreter exit can hang on it)."""
    return spec.role in getattr(strategies.part(spec.strategy), "EXIT_HARD", ())
