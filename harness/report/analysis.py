"""Every figure of one run, computed once: RunData → RunAnalysis (pure, no rendering).

The order of the pipeline is the order of the fields: metrics (throughput, times) →
utilization (samplers) → cost (prices) → scaling → diagnoses → recommendation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from harness.prices import Catalog, load_catalog
from harness.report.cost import ConfigCost, compute_costs
from harness.report.diagnose import Check, compute_checks
from harness.report.load import RunData, load_run
from harness.report.metrics import ConfigMetrics, compute_metrics
from harness.report.recommend import Recommendation, recommend
from harness.report.scaling import Scaling, compute_scaling
from harness.report.utilization import ConfigUtilization, compute_utilization


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
    scaling = compute_scaling(run, metrics, catalog)
    return RunAnalysis(run=run, metrics=metrics, utilization=utilization, costs=costs,
                       scaling=scaling, checks=compute_checks(metrics, utilization, scaling),
                       recommendation=recommend(metrics, costs), price_notes=price_notes,
                       interruptions=compute_interruptions(run, costs))


def compute_interruptions(run: RunData, costs: list[ConfigCost]) -> list[dict]:
    """Each `spot_interruption` event with the work it lost: its t_wall − the task's last
    `checkpoint` at or before it (else its run_start), over the configuration's hosts at
    their spot price (harness.aws.resume.interruption_cost)."""
    from harness.aws.resume import interruption_cost

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
