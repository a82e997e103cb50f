"""The experiment's repeat design: fixed repeats, or `repeats: auto` (adaptive, bounded by
max_repeats), and the early stop within a run (`precision`, harness/protocol/precision.py)."""

from __future__ import annotations

from typing import Optional

AUTO_PRECISION = 0.02   # the early stop of repeats: auto when the experiment sets none


def _has_target(exp) -> bool:
    w = exp.workload
    return w.target_accuracy is not None or w.target_rmse is not None


def repeats_problem(exp) -> Optional[str]:
    """What is wrong with the repeat and precision fields together, or None."""
    if "max_repeats" in exp.model_fields_set and exp.repeats != "auto":
        return (f"max_repeats is the bound of repeats: auto; with repeats: {exp.repeats} "
                f"drop max_repeats or set repeats: auto")
    if exp.precision and _has_target(exp):
        return ("precision ends a run once its throughput is measured, before it can reach the "
                "workload's target: drop precision (or the target)")
    return None


def stop_precision(exp) -> float:
    """The precision in effect: the experiment's; unset, AUTO_PRECISION with repeats: auto and
    no target (time to target needs the whole run), else 0 (off)."""
    if exp.precision is not None:
        return exp.precision
    return AUTO_PRECISION if exp.repeats == "auto" and not _has_target(exp) else 0.0
