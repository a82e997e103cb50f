"""A configuration's own workload (`configurations[i].workload: {batch_size: 256}`): which
fields it may set over the experiment's `workload:`, which stay experiment-wide and why,
the merged workload each configuration trains, and the goal such a difference allows. PURE.

The experiment's workload stays complete on its own (what a configuration without
overrides trains); a configuration changes fields of it. docs/metrics.md, "Configurations
that differ in their workload"."""

from __future__ import annotations

from typing import Annotated, Any, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_serializer

from harness.config.loading import _describe, clip
from harness.protocol.workload import PER_CONFIGURATION, WORK_FIELDS

# Not per configuration, and why: said in the error line when a configuration sets one.
_HERE = "set it in the experiment's workload:"
EXPERIMENT_WIDE = {
    "dataset": f"every configuration trains on the same data (shipped to each host once, checked at load); "
               f"{_HERE} (compare datasets in separate experiments)",
    "script": f"one script is shipped to the hosts and checked before the run; {_HERE} and vary what it does "
              f"with this configuration's workload.args",
    "files": f"they travel with the one script; {_HERE}",
    "metrics": f"the regular expressions read the one script's output; {_HERE}",
    "throughput_scope": f"it says what the one script prints; {_HERE}",
    "target_accuracy": f"every configuration is ranked against the same target; {_HERE}",
    "target_rmse": f"every configuration is ranked against the same target; {_HERE}",
    "env": "a configuration has its own env: (over workload.env); set the variable there",
}
SCRIPT_ONLY = ("args", "warmup_readings")


class OverrideProblem(ValueError):
    """What is wrong with configurations[index].workload(.field). sweeps.sweep_errors
    names it where the user wrote it (a swept configuration's original entry)."""

    def __init__(self, index: int, field: Optional[str], message: str):
        self.index, self.field, self.message = index, field, message
        super().__init__(f"configurations[{index}].workload{'.' + field if field else ''}: {message}")


def _checked(cls, v: Any, info) -> Any:
    name = info.field_name
    if name in EXPERIMENT_WIDE:
        raise ValueError(f"not in a configuration's workload: {EXPERIMENT_WIDE[name]}")
    if v is None:
        raise ValueError("null changes nothing; remove the key, or give a value")
    if isinstance(v, list) and not v and name != "args":  # non-empty lists were expanded (sweeps.py)
        raise ValueError("an empty list sweeps nothing; give one value or a list of values")
    return v


def _only_set(self, handler) -> dict:
    # resolved.json shows what the configuration changes, not every field unset.
    return {k: v for k, v in handler(self).items() if k in self.model_fields_set}


def override_model(workload_cls: type[BaseModel]) -> type[BaseModel]:
    """The model of a configuration's `workload:`: the PER_CONFIGURATION fields of the
    experiment's Workload, with their types and bounds, unset by default; the
    experiment-wide fields are named too, so that setting one is refused with why."""
    fields: dict[str, Any] = {}
    for name in PER_CONFIGURATION:
        info = workload_cls.model_fields[name]
        ann = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[name] = (ann, Field(default=None, description=info.description))
    for name in EXPERIMENT_WIDE:
        fields[name] = (Any, None)
    return create_model(
        "WorkloadOverride", __config__=ConfigDict(extra="forbid", frozen=True),
        __validators__={"_checked": field_validator("*", mode="before")(_checked),
                        "_only_set": model_serializer(mode="wrap")(_only_set)},
        **fields)


def overrides(cfg) -> dict:
    """What configuration `cfg` sets in its own workload (field -> value)."""
    return cfg.workload.model_dump(exclude_unset=True)


def merged_workloads(workload: BaseModel, configurations: Sequence, workload_cls: type[BaseModel]) -> list:
    """The workload each configuration trains: the experiment's with the configuration's
    fields over it, validated as a whole (a model name, the model/script rules). Raises
    OverrideProblem naming the configuration and field."""
    base = workload.model_dump(exclude_unset=True)
    out = []
    for i, cfg in enumerate(configurations):
        over = overrides(cfg)
        if not over:
            out.append(workload)
            continue
        if "model" in over and workload.script is not None:
            raise OverrideProblem(i, "model", "the experiment's workload runs a script (workload.script); a "
                                              "configuration can change its args, not swap in a built-in model")
        for name in SCRIPT_ONLY:
            if name in over and workload.script is None:
                raise OverrideProblem(i, name, f"for a script workload; the experiment's workload is the built-in "
                                               f"model {workload.model!r}"
                                      + (" (its warm-up is warmup_steps)" if name == "warmup_readings" else ""))
        try:
            out.append(workload_cls.model_validate({**base, **over}))
        except ValidationError as e:
            err = e.errors()[0]
            loc = err.get("loc") or ()
            field = loc[0] if loc and loc[0] in over else None
            raise OverrideProblem(i, field, _describe(err)) from None
    return out


def work_difference(configurations: Sequence, workloads: Sequence) -> Optional[tuple[int, str, str]]:
    """The first WORK_FIELDS difference between configurations, as (index of the
    configuration that differs from the first, field, how): where one exists, images/s and
    $ per image compare different work, so only time or $ to a target can rank them."""
    if not workloads:
        return None
    first = workloads[0]
    for i, (cfg, w) in enumerate(zip(configurations, workloads)):
        for name in WORK_FIELDS:
            here, there = getattr(w, name), getattr(first, name)
            if here != there:
                return i, name, (f"{clip(_shown(here))} here but {clip(_shown(there))} in configuration "
                                 f"{configurations[0].name!r}")
    return None


def _shown(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def throughput_basis_problem(configurations: Sequence, workloads: Sequence) -> Optional[OverrideProblem]:
    """Why a throughput or $-per-image goal cannot rank these configurations, or None."""
    diff = work_difference(configurations, workloads)
    if diff is None:
        return None
    i, name, how = diff
    return OverrideProblem(i, name, f"{how}: images/s and $ per image would compare different work (a bigger "
                                    f"batch always wins them), so the goal must be time or $ to a target")


def goal_problem(configurations: Sequence, workloads: Sequence, target_set: bool) -> Optional[OverrideProblem]:
    """The experiment's own goal is time and $ to its target when one is set, else
    throughput and $ per 10⁶ images: refused when the configurations' work differs."""
    if target_set:
        return None
    p = throughput_basis_problem(configurations, workloads)
    if p is None:
        return None
    return OverrideProblem(p.index, p.field, f"{p.message}: set workload.target_accuracy (or target_rmse), "
                                             f"or compare them in separate experiments")


def shorthand_problems(data: Any) -> list[str]:
    """A workload field written at a configuration's top level (`batch_size: 256`), checked
    as written: each named with where it goes instead."""
    confs = data.get("configurations") if isinstance(data, dict) else None
    out = []
    for i, conf in enumerate(confs if isinstance(confs, list) else []):
        for k in conf if isinstance(conf, dict) else ():
            if k in PER_CONFIGURATION:
                out.append(f"configurations[{i}].{k}: a workload field; write it under this configuration's "
                           f"workload: (workload: {{{k}: {clip(conf[k])}}}), over the experiment's workload.{k}")
            elif k in EXPERIMENT_WIDE and k != "env":
                out.append(f"configurations[{i}].{k}: a workload field, not per configuration: "
                           f"{EXPERIMENT_WIDE[k]}")
    return out
