"""The sweep shorthand of a configuration: thread fields (`threads: {intra_op: [1, 2, 4]}`)
and its own workload's fields (`workload: {batch_size: [64, 128]}`; `args` sweeps lists of
arguments, `args: [[--depth, "18"], [--depth, "50"]]`) given as lists. Checked as written,
expanded into one configuration per value, and errors mapped back to what the user
wrote. PURE."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.config.fields import MAX_CONFIGURATIONS
from harness.config.loading import _describe, field_path
from harness.config.overrides import OverrideProblem
from harness.protocol.workload import PER_CONFIGURATION

THREAD_FIELDS = ("intra_op", "inter_op", "omp", "kmp_affinity", "kmp_blocktime")
SWEEPABLE = {"threads": THREAD_FIELDS, "workload": PER_CONFIGURATION}


def _sweep_value_name(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(value))


def _is_sweep(section: str, k: str, v: Any) -> bool:
    if not isinstance(v, list) or not v:
        return False
    # A list of strings is one value of `args`; a list of lists, a sweep.
    return not (section == "workload" and k == "args") or any(isinstance(a, list) for a in v)


def _swept(conf: Any) -> list[tuple[str, str, list]]:
    """(section, field, values) of each swept field of a configuration, in the order written."""
    out = []
    for section, names in SWEEPABLE.items():
        part = conf.get(section) if isinstance(conf, dict) else None
        if isinstance(part, dict):
            out += [(section, k, v) for k, v in part.items() if k in names and _is_sweep(section, k, v)]
    return out


def _value_problem(section: str, k: str, v: Any) -> str:
    """What is wrong with one swept value ("" when nothing)."""
    if section == "workload" and k == "args":
        if not isinstance(v, list):
            return (f"a sweep of args lists argument lists ([[--a, '1'], [--a, '2']]), got "
                    f"{'null' if v is None else type(v).__name__}")
        return ""
    if isinstance(v, (list, dict)) or v is None:
        return f"a sweep lists single values (numbers or strings), got {'null' if v is None else type(v).__name__}"
    return ""


def _value_name(section: str, k: str, j: int, v: Any) -> str:
    # An argument list names its place in the sweep; the report lists the arguments themselves.
    return f"-{k}{j}" if section == "workload" and k == "args" else f"-{k}{_sweep_value_name(v)}"


def sweep_problems(data: Any) -> list[str]:
    """What is wrong with the sweeps as written, checked before anything is expanded: a
    swept value that is not a single number or string, and more configurations in all
    than MAX_CONFIGURATIONS. Each problem is '<field path>: <what>'."""
    if not isinstance(data, dict) or not isinstance(data.get("configurations"), list):
        return []
    problems, total, swept = [], 0, False
    for i, conf in enumerate(data["configurations"]):
        count = 1
        for section, k, values in _swept(conf):
            swept = True
            for j, v in enumerate(values):
                problem = _value_problem(section, k, v)
                if problem:
                    problems.append(f"configurations[{i}].{section}.{k}[{j}]: {problem}")
            count *= len(values)
        total += count
    if swept and not problems and total > MAX_CONFIGURATIONS:
        problems.append(f"configurations: the sweeps expand to {total} configurations, more than "
                        f"{MAX_CONFIGURATIONS}; sweep fewer values or split the experiment")
    return problems


def expand_sweeps(data: Any) -> tuple[Any, list[tuple[int, dict[str, int], str]]]:
    """The sweep shorthand: a configuration whose thread or workload fields are lists
    becomes one configuration per value (the cartesian product when several are lists),
    named `<name>-<field><value>` (`-args<j>` for the j-th argument list). Returns the
    expanded data and, per resulting configuration, (index of the original, {(section,
    field): index in its list}, resulting name), so errors can name the field the user
    wrote. Refuses (ValueError) what sweep_problems finds."""
    if not isinstance(data, dict) or not isinstance(data.get("configurations"), list):
        return data, []
    problems = sweep_problems(data)
    if problems:
        raise ValueError(problems[0])
    out, origin = [], []
    for i, conf in enumerate(data["configurations"]):
        swept = _swept(conf)
        if not swept:
            out.append(conf)
            origin.append((i, {}, str(conf.get("name", "")) if isinstance(conf, dict) else ""))
            continue
        for combo in itertools.product(*(list(enumerate(v)) for _, _, v in swept)):
            name = str(conf.get("name", "")) + "".join(
                _value_name(section, k, j, val) for (section, k, _), (j, val) in zip(swept, combo))
            new = {**conf, "name": name}
            for (section, k, _), (_, val) in zip(swept, combo):
                new[section] = {**new[section], k: val}
            out.append(new)
            origin.append((i, {(section, k): j for (section, k, _), (j, _) in zip(swept, combo)}, name))
    return {**data, "configurations": out}, origin


def sweep_errors(source: str | Path, exc: ValidationError, origin) -> list[str]:
    """pydantic's errors, with the locations of expanded configurations mapped back to
    the configuration (and list element) the user wrote."""
    lines: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-")))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, OverrideProblem):  # raised for the whole experiment, about one configuration
            loc = ("configurations", cause.index, "workload", *((cause.field,) if cause.field else ()))
            err = {**err, "msg": cause.message, "input": None}
        note = ""
        if len(loc) >= 2 and loc[0] == "configurations" and isinstance(loc[1], int) and loc[1] < len(origin):
            orig, picks, name = origin[loc[1]]
            rest = loc[2:]
            if len(rest) >= 2 and tuple(rest[:2]) in picks:
                rest = (*rest[:2], picks[tuple(rest[:2])], *rest[2:])
            if picks:
                note = f" (in the swept configuration {name!r})"
            loc = ("configurations", orig, *rest)
        line = f"{source}: {field_path(loc)}: {_describe(err)}"
        if line not in seen:  # the same mistake shows in every configuration of a sweep
            seen.add(line)
            lines.append(line + note)
    return lines
