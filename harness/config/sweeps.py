"""The thread sweep shorthand of a configuration (`threads: {intra_op: [1, 2, 4]}`): checked
as written, expanded into one configuration per value, and errors mapped back to what the
user wrote. PURE."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.config.fields import MAX_CONFIGURATIONS
from harness.config.loading import _describe, field_path

THREAD_FIELDS = ("intra_op", "inter_op", "omp", "kmp_affinity", "kmp_blocktime")


def _sweep_value_name(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(value))


def _swept(conf: Any) -> list[tuple[str, list]]:
    threads = conf.get("threads") if isinstance(conf, dict) else None
    if not isinstance(threads, dict):
        return []
    return [(k, v) for k, v in threads.items() if k in THREAD_FIELDS and isinstance(v, list) and v]


def sweep_problems(data: Any) -> list[str]:
    """What is wrong with the sweeps as written, checked before anything is expanded: a
    swept value that is not a single number or string, and more configurations in all
    than MAX_CONFIGURATIONS. Each problem is '<field path>: <what>'."""
    if not isinstance(data, dict) or not isinstance(data.get("configurations"), list):
        return []
    problems, total, swept = [], 0, False
    for i, conf in enumerate(data["configurations"]):
        count = 1
        for k, values in _swept(conf):
            swept = True
            for j, v in enumerate(values):
                if isinstance(v, (list, dict)) or v is None:
                    problems.append(f"configurations[{i}].threads.{k}[{j}]: a sweep lists single values "
                                    f"(numbers or strings), got {'null' if v is None else type(v).__name__}")
            count *= len(values)
        total += count
    if swept and not problems and total > MAX_CONFIGURATIONS:
        problems.append(f"configurations: the sweeps expand to {total} configurations, more than "
                        f"{MAX_CONFIGURATIONS}; sweep fewer values or split the experiment")
    return problems


def expand_sweeps(data: Any) -> tuple[Any, list[tuple[int, dict[str, int], str]]]:
    """The thread sweep shorthand: a configuration whose thread fields are lists becomes
    one configuration per value (the cartesian product when several are lists), named
    `<name>-<field><value>`. Returns the expanded data and, per resulting configuration,
    (index of the original, {swept field: index in its list}, resulting name), so errors
    can name the field the user wrote. Refuses (ValueError) what sweep_problems finds."""
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
        threads = conf["threads"]
        for combo in itertools.product(*(list(enumerate(v)) for _, v in swept)):
            name = str(conf.get("name", "")) + "".join(
                f"-{k}{_sweep_value_name(val)}" for (k, _), (_, val) in zip(swept, combo))
            values = {k: val for (k, _), (_, val) in zip(swept, combo)}
            out.append({**conf, "name": name, "threads": {**threads, **values}})
            origin.append((i, {k: j for (k, _), (j, _) in zip(swept, combo)}, name))
    return {**data, "configurations": out}, origin


def sweep_errors(source: str | Path, exc: ValidationError, origin) -> list[str]:
    """pydantic's errors, with the locations of expanded configurations mapped back to
    the configuration (and list element) the user wrote."""
    lines: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-")))
        note = ""
        if len(loc) >= 2 and loc[0] == "configurations" and isinstance(loc[1], int) and loc[1] < len(origin):
            orig, picks, name = origin[loc[1]]
            rest = loc[2:]
            if len(rest) >= 2 and rest[0] == "threads" and rest[1] in picks:
                rest = (*rest[:2], picks[rest[1]], *rest[2:])
            if picks:
                note = f" (in the swept configuration {name!r})"
            loc = ("configurations", orig, *rest)
        line = f"{source}: {field_path(loc)}: {_describe(err)}"
        if line not in seen:  # the same mistake shows in every configuration of a sweep
            seen.add(line)
            lines.append(line + note)
    return lines
