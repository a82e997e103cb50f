"""Every figure of one run, computed once: RunData → RunAnalysis (pure, no rendering).

The order of the pipeline is the order of the fields: metrics (throughput, times) →
utilization (samplers) → cost (prices) → scaling → diagnoses → recommendation."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from harness.prices import Catalog, load_catalog
from harness.prices.facts import load_facts
from harness.report.figures.adaptive_pick import recommend_adaptive
from harness.report.figures.adaptive_run import AdaptiveResult, design_of, replay_run
from harness.report.figures.bill import RunBill, compute_bill
from harness.report.figures.instance_check import instance_checks
from harness.report.figures.cost import ConfigCost, compute_costs
from harness.report.figures.diagnose import Check
from harness.report.figures.rules import compute_checks
from harness.report.read.rundir import load_run
from harness.report.read.records import RunData, resolved_experiment
from harness.report.figures.metrics import ConfigMetrics, compute_metrics
from harness.report.figures.recommend import Recommendation, recommend
from harness.report.figures.repeats import ConfigGroup, compute_groups
from harness.report.figures.verdict import DEFAULT_MIN_EFFECT, Verdict, compare
from harness.report.figures.scaling import Scaling, compute_scaling
from harness.report.figures.utilization import ConfigUtilization, compute_utilization
from harness.report.figures.workload_diff import WorkloadDiff, workload_diff


@dataclass
class RunAnalysis:
    run: RunData
    metrics: list[ConfigMetrics]
    utilization: list[ConfigUtilization]
    costs: list[ConfigCost]
    scaling: list[Scaling]
    checks: list[Check]
    recommendation: Recommendation
    price_notes: list[str] = field(default_factory=list)
    interruptions: list[dict] = field(default_factory=list)
    groups: list[ConfigGroup] = field(default_factory=list)  # configurations over their repeats
    verdicts: list[Verdict] = field(default_factory=list)  # throughput, every pair of configurations
    min_effect: float = DEFAULT_MIN_EFFECT
    adaptive: Optional[AdaptiveResult] = None  # repeats: auto — the sequential design replayed
    bill: Optional[RunBill] = None  # the whole run: every held host, connection to last collection
    workload: WorkloadDiff = field(default_factory=WorkloadDiff)  # what the configurations train differently

    def rows(self):
        """(metrics, utilization, cost, scaling) per configuration, in run order."""
        return list(zip(self.metrics, self.utilization, self.costs, self.scaling))

    def checks_of(self, config: str) -> list[Check]:
        return [c for c in self.checks if c.config == config]


def analyze(run: RunData, catalog: Optional[Catalog] = None) -> RunAnalysis:
    catalog = catalog or load_catalog()
    metrics = compute_metrics(run)
    utilization = compute_utilization(run, metrics)
    costs, price_notes = compute_costs(run, metrics, catalog)
    facts = load_facts()
    scaling = compute_scaling(run, metrics, catalog)
    groups = compute_groups(run, metrics, costs)
    min_effect = run_min_effect(run)
    diff = workload_diff(run)
    design = design_of(run)   # repeats: auto — its own decisions name the recommendation
    adaptive = replay_run(run, metrics, costs, design) if design else None
    rec = recommend_adaptive(adaptive, groups, design.min_effect) if adaptive else \
        recommend(groups, min_effect, diff.work_fields)
    return RunAnalysis(run=run, metrics=metrics, utilization=utilization, costs=costs,
                       scaling=scaling, checks=[*compute_checks(run, metrics, utilization, scaling, catalog, facts),
                                                *instance_checks(run, facts)],
                       recommendation=rec, price_notes=price_notes, adaptive=adaptive,
                       interruptions=compute_interruptions(run, costs), groups=groups,
                       verdicts=pair_verdicts(groups, min_effect, diff), min_effect=min_effect,
                       bill=compute_bill(run, catalog), workload=diff)


def run_min_effect(run: RunData) -> float:
    """The experiment's noise floor (min_effect), else the default."""
    v = resolved_experiment(run.resolved).get("min_effect")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1 \
        else DEFAULT_MIN_EFFECT


def scaling_verdicts(a: "RunAnalysis") -> dict[str, Verdict]:
    """Per distributed configuration over its repeats: its throughput against N × its
    baseline's (both means over counted runs, with their intervals). 1 + relative is the
    scaling efficiency; the verdict says whether it is below ideal beyond noise."""
    from harness.report.figures.repeats import run_infos

    infos = run_infos(a.run)
    groups = {g.config: g for g in a.groups}
    out: dict[str, Verdict] = {}
    for sc in a.scaling:
        if not sc.distributed or not sc.baseline or not sc.workers:
            continue
        g = groups.get(infos[sc.config].config if sc.config in infos else sc.config)
        b = groups.get(infos[sc.baseline].config if sc.baseline in infos else sc.baseline)
        if g is None or b is None or g.config in out or g.throughput is None or b.throughput is None \
                or g.throughput.mean <= 0 or b.throughput.mean <= 0:
            continue
        out[g.config] = compare(g.config, g.throughput, f"{sc.workers} × {b.config} (ideal)",
                                b.throughput.scaled(sc.workers), quantity="throughput",
                                min_effect=a.min_effect)
    return out


def pair_verdicts(groups: list[ConfigGroup], min_effect: float,
                  diff: Optional[WorkloadDiff] = None) -> list[Verdict]:
    """Throughput verdict for every pair of configurations with a throughput (thread
    sweeps, strategies, …), in run order; each says what the two train differently."""
    have = [g for g in groups if g.throughput is not None and g.throughput.mean > 0]
    out = []
    for i, a in enumerate(have):
        for b in have[i + 1:]:
            v = compare(a.config, a.throughput, b.config, b.throughput, quantity="throughput", min_effect=min_effect)
            note = diff.note(a.config, b.config) if diff is not None else ""
            out.append(replace(v, text=v.text + note) if note else v)
    return out


def compute_interruptions(run: RunData, costs: list[ConfigCost]) -> list[dict]:
    """Each `spot_interruption` event with the work it lost: its t_wall − the task's last
    `checkpoint` at or before it (else its run_start), over the configuration's hosts at
    their spot price (harness.stages.resume.interruption_cost)."""
    from harness.stages.resume import interruption_cost

    by_config = {c.config: c for c in costs}
    out = []
    for config in run.config_names():
        for t in run.tasks_of(config):
            for ev in t.of("spot_interruption"):
                at = ev.get("t_wall")
                if not isinstance(at, (int, float)):
                    continue
                saved = [c["t_wall"] for c in t.of("checkpoint") if isinstance(c.get("t_wall"), (int, float))
                         and c["t_wall"] <= at]
                cost = by_config.get(config)
                hosts = len(cost.host_prices) if cost else 1
                rate = cost.spot.rate.usd_per_hour if cost else None
                per_host = rate / hosts if rate is not None and hosts else None
                started = (t.first("run_start") or {}).get("t_wall")
                try:
                    ic = interruption_cost(at, max(saved) if saved else None, hosts, per_host, started_at=started)
                except ValueError as e:
                    ic = {"lost_seconds": None, "usd": None, "inputs": "", "reason": str(e)}
                out.append({"config": config, "task": t.task_id, "host": t.host, "step": ev.get("step"),
                            "action": ev.get("action"), "time": ev.get("time"), "checkpoint": ev.get("checkpoint"),
                            **ic})
    return out


def analyze_dir(run_dir: str | Path, catalog: Optional[Catalog] = None) -> RunAnalysis:
    return analyze(load_run(run_dir), catalog)
