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
                       recommendation=recommend(metrics, costs), price_notes=price_notes)


def analyze_dir(run_dir: str | Path, catalog: Optional[Catalog] = None) -> RunAnalysis:
    return analyze(load_run(run_dir), catalog)
