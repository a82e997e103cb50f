"""The records a run directory is read into (rundir.py reads them): every task's and
sampler's events, the control side's records, the plan and the resolved configuration, and
the problems found on the way. Plain dataclasses; no reading here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from harness.protocol import layout
from harness.report.read.columns import SampleColumns, StepColumns, number_column
from harness.report.read.jsonl_files import EventList, nanmax

@dataclass(frozen=True)
class Problem:
    where: str  # a path relative to the run directory, or "config <name>"
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class TaskData:
    """One task's pulled-back files. `events` is empty when events.jsonl is missing."""
    config: str
    task_id: str
    host: str
    role: Optional[str] = None
    rank: Optional[int] = None
    rel_dir: str = ""  # hosts/<host>/<config>/<task_id>, relative to the run directory
    events: EventList = field(default_factory=EventList)
    spec: Optional[dict] = None  # the task's spec: plan.json's copy (= task.json), else task.json
    spec_source: str = ""  # "plan.json" or "task.json"
    exit_code: Optional[int] = None  # the exit_code file, when present and readable
    events_found: bool = False
    bad_lines: list[int] = field(default_factory=list)  # 1-based lines that did not parse
    problems: list[Problem] = field(default_factory=list)

    @property
    def steps(self) -> StepColumns:
        """The step records as columns (columns.StepColumns)."""
        return self.events.steps

    def of(self, event: str) -> list[dict]:
        if event == "step":
            return self.steps.records()
        return [r for r in self.events.others if r.get("event") == event]

    def first(self, event: str) -> Optional[dict]:
        if event == "step":
            return self.steps.record(0) if self.steps.n else None
        return next((r for r in self.events.others if r.get("event") == event), None)

    def steps_with(self, key: str) -> list[dict]:
        """The step records that have field `key` (e.g. "timing"), as dicts, in file order."""
        if key != "timing":
            return [r for r in self.of("step") if key in r]
        return self.steps.records(self.steps.has_timing)


SAMPLER_ROLE = layout.SAMPLER_ROLE
SAMPLES_FILE = layout.SAMPLES_FILE


@dataclass
class SamplerData:
    """One host's utilization sampler for one configuration (hosts/<host>/<config>/sampler/
    samples.jsonl). Not a training task: it never counts in throughput, states or start-up.
    Its `notes` (missing or damaged file) are shown beside the utilization figures."""
    config: str
    host: str
    task_id: str = "sampler"
    rel_dir: str = ""
    records: list[dict] = field(default_factory=list)  # every record but the `sample`s
    cols: SampleColumns = field(default_factory=lambda: SampleColumns.build([]))  # the `sample`s
    found: bool = False
    bad_lines: list[int] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)

    def of(self, event: str) -> list[dict]:
        return [r for r in self.records if r.get("event") == event]

    def first(self, event: str) -> Optional[dict]:
        return next((r for r in self.records if r.get("event") == event), None)

    @property
    def n_samples(self) -> int:
        return self.cols.n

    def sample_fields(self, *names: str) -> list[dict]:
        """The `sample` records with only the named scalar fields (columns.SAMPLE_SCALARS),
        in file order: a number as it was written (int or float), else None."""
        return self.cols.rows(names)

    def t_wall_max(self) -> Optional[float]:
        """The latest finite t_wall of any record, samples included."""
        return nanmax([number_column([r.get("t_wall") for r in self.records]).values,
                       self.cols.col("t_wall")])


@dataclass
class RunData:
    run_dir: Path
    control: list[dict] = field(default_factory=list)
    plan: Optional[Any] = None  # plan.json as parsed
    resolved: Optional[dict] = None  # resolved.json as parsed
    prices: Optional[Any] = None  # prices.json as parsed (live prices), when present
    tasks: list[TaskData] = field(default_factory=list)  # training tasks only
    samplers: list[SamplerData] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # run-level (control, plan, ...)

    @property
    def run_id(self) -> Optional[str]:
        rec = self.control_first("run_start")
        return rec.get("run_id") if rec else None

    def control_of(self, event: str, config: Optional[str] = None) -> list[dict]:
        return [r for r in self.control if r.get("event") == event
                and (config is None or r.get("config") == config)]

    def control_first(self, event: str, config: Optional[str] = None) -> Optional[dict]:
        found = self.control_of(event, config)
        return found[0] if found else None

    def tasks_of(self, config: str) -> list[TaskData]:
        return [t for t in self.tasks if t.config == config]

    def samplers_of(self, config: str) -> list[SamplerData]:
        return [s for s in self.samplers if s.config == config]

    def inventory_host(self, name: str) -> Optional[dict]:
        """The resolved inventory entry of a host (defaults applied), if resolved.json has it."""
        inv = self.resolved.get("inventory") if isinstance(self.resolved, dict) else None
        hosts = inv.get("hosts") if isinstance(inv, dict) else None
        for h in hosts if isinstance(hosts, list) else []:
            if isinstance(h, dict) and h.get("name") == name:
                return h
        return None

    def config_names(self) -> list[str]:
        """Configurations in the order they ran (control.jsonl), then any others the plan,
        the resolved experiment or the host directories mention."""
        names: list[str] = []

        def add(name: Any) -> None:
            if isinstance(name, str) and name and name not in names:
                names.append(name)

        for r in self.control_of("config_start"):
            add(r.get("config"))
        for t in plan_tasks(self.plan):
            add(t.get("config"))
        # A configuration that ran as repeats (config@k) is not also a run of its own name.
        repeated = {c.get("config") for c in plan_configs(self.plan)} | \
                   {r.get("configuration") for r in self.control_of("config_start")}
        for c in resolved_configurations(self.resolved):
            if c.get("name") not in repeated or c.get("name") in names:
                add(c.get("name"))
        for t in [*self.tasks, *self.samplers]:
            add(t.config)
        skipped = set(self.skipped_runs())
        return [n for n in names if n not in skipped]

    def skipped_runs(self) -> dict[str, str]:
        """Planned runs adaptive repeats did not need (`config_skipped`): name → why."""
        started = {r.get("config") for r in self.control_of("config_start")}
        return {r["config"]: str(r.get("reason") or "") for r in self.control_of("config_skipped")
                if isinstance(r.get("config"), str) and r["config"] not in started}


def plan_configs(plan: Any) -> list[dict]:
    """The configuration runs of plan.json ({"configs": [{"name", "config", "repeat",
    "counted", "tasks"}, ...]}), in the order they ran."""
    if not isinstance(plan, dict) or not isinstance(plan.get("configs"), list):
        return []
    return [c for c in plan["configs"] if isinstance(c, dict)]


def plan_tasks(plan: Any) -> list[dict]:
    """Every task of plan.json, which is {"configs": [{"name", "tasks": [...]}, ...]}
    (harness.stages.plan.Plan.to_json); a flat {"tasks": [...]} is accepted too."""
    if not isinstance(plan, dict):
        return []
    groups = [c.get("tasks") for c in plan.get("configs") or [] if isinstance(c, dict)]
    groups.append(plan.get("tasks"))
    return [t for g in groups if isinstance(g, list) for t in g if isinstance(t, dict)]


def resolved_experiment(resolved: Any) -> dict:
    exp = resolved.get("experiment") if isinstance(resolved, dict) else None
    return exp if isinstance(exp, dict) else {}


def resolved_configurations(resolved: Any) -> list[dict]:
    confs = resolved_experiment(resolved).get("configurations")
    return [c for c in confs if isinstance(c, dict)] if isinstance(confs, list) else []


def resolved_workload(resolved: Any, config: str) -> dict:
    """The workload configuration `config` (a configuration's name, or a run of it:
    config@k) trains as resolved.json has it: the experiment's, with the configuration's
    own `workload:` fields over it."""
    work = resolved_experiment(resolved).get("workload")
    out = dict(work) if isinstance(work, dict) else {}
    name = layout.parse_config_dir(config)[0]
    conf = next((c for c in resolved_configurations(resolved) if c.get("name") in (config, name)), {})
    own = conf.get("workload")
    out.update({k: v for k, v in own.items() if v is not None} if isinstance(own, dict) else {})
    return out
