"""What the configurations of a run train differently (pure).

Each run's workload is read as its training tasks were told it (task.json, or plan.json's
copy), else as resolved.json has it (the experiment's workload with the configuration's
own fields over it). Only the fields a configuration may set (protocol.workload.
PER_CONFIGURATION) are compared; a field is shown where its value is not the same in every
run. Where one that changes the work per image or step (WORK_FIELDS: model, script args,
batch size, optimizer) differs, images/s and $ per image compare different work, and the
recommendation ranks only by time or $ to a target (recommend.py, docs/metrics.md)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from harness.protocol import layout
from harness.protocol.workload import PER_CONFIGURATION, WORK_FIELDS, Workload
from harness.report.read.records import RunData, resolved_workload

_DEFAULTS = {f.name: (list(f.default) if isinstance(f.default, tuple) else f.default)
             for f in dataclasses.fields(Workload) if f.default is not dataclasses.MISSING}


@dataclass(frozen=True)
class WorkloadDiff:
    fields: tuple[str, ...] = ()  # PER_CONFIGURATION fields whose value is not the same in every run
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # run or configuration -> field -> value
    sources: dict[str, str] = field(default_factory=dict)  # run or configuration -> where it was read

    @property
    def work_fields(self) -> tuple[str, ...]:
        """The differing fields that change the work per image or step."""
        return tuple(f for f in self.fields if f in WORK_FIELDS)

    def text(self, name: str) -> str:
        """`batch_size 256, learning_rate 0.4`: this run's (or configuration's) values of the
        differing fields; "" when nothing differs."""
        vals = self.values.get(name) or self.values.get(layout.parse_config_dir(name)[0]) or {}
        return ", ".join(f"{f} {shown(vals.get(f))}" for f in self.fields)

    def versus(self, a: str, b: str) -> str:
        """`batch_size 256 vs 64`: the differing fields where a and b differ."""
        va = self.values.get(a) or self.values.get(layout.parse_config_dir(a)[0]) or {}
        vb = self.values.get(b) or self.values.get(layout.parse_config_dir(b)[0]) or {}
        return ", ".join(f"{f} {shown(va.get(f))} vs {shown(vb.get(f))}" for f in self.fields
                         if va.get(f) != vb.get(f))

    def note(self, a: str, b: str) -> str:
        """What a verdict between a and b adds: `; different work: batch_size 256 vs 64`, or
        `; different workload: learning_rate 0.4 vs 0.1` ("" when a and b train the same)."""
        what = self.versus(a, b)
        if not what:
            return ""
        va = self.values.get(a) or self.values.get(layout.parse_config_dir(a)[0]) or {}
        vb = self.values.get(b) or self.values.get(layout.parse_config_dir(b)[0]) or {}
        work = any(va.get(f) != vb.get(f) for f in self.work_fields)
        return f"; different {'work' if work else 'workload'}: {what}"


def shown(v: Any) -> str:
    """A value as a reader wants it: argument lists joined, numbers as written."""
    if isinstance(v, (list, tuple)):
        return json.dumps(" ".join(str(a) for a in v))
    if isinstance(v, float):
        return f"{v:g}"
    return "n/a" if v is None else str(v)


def run_workload(run: RunData, name: str) -> tuple[dict, str]:
    """The workload run `name` was told: its first training task's spec, else resolved.json."""
    for t in run.tasks_of(name):
        work = t.spec.get("workload") if isinstance(t.spec, dict) else None
        if isinstance(work, dict):
            return work, f"{t.task_id} ({t.spec_source or 'spec'})"
    return resolved_workload(run.resolved, name), "resolved.json"


def workload_diff(run: RunData) -> WorkloadDiff:
    """The differing fields over every run of the run directory, with each run's values
    (and each configuration's, as its first run has them)."""
    values: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    for name in run.config_names():
        work, src = run_workload(run, name)
        if not work:
            continue
        # a field a spec leaves out is what the host then uses: the protocol's default
        values[name] = {f: work.get(f, _DEFAULTS.get(f)) for f in PER_CONFIGURATION}
        sources[name] = src
    for name in list(values):
        base = layout.parse_config_dir(name)[0]
        values.setdefault(base, values[name])
        sources.setdefault(base, sources[name])
    differing = tuple(f for f in PER_CONFIGURATION
                      if len({json.dumps(v.get(f), sort_keys=True) for v in values.values()}) > 1)
    return WorkloadDiff(differing, {n: {f: v.get(f) for f in differing} for n, v in values.items()}, sources)
