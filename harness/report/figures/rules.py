"""The diagnosis rules in the order the report evaluates them, and their run over every
configuration (pure). Each rule is a `diagnose.Rule`; the report ranks what triggered by
severity (diagnose.rank)."""

from __future__ import annotations

from typing import Sequence

from harness.report.figures import rules_samples, rules_steps
from harness.report.figures.diagnose import Check, Rule, RuleInput, host_windows
from harness.report.figures.metrics import ConfigMetrics
from harness.report.figures.scaling import Scaling
from harness.report.figures.utilization import ConfigUtilization
from harness.report.read.records import RunData

RULES: list[Rule] = [*rules_steps.RULES, *rules_samples.RULES]


def diagnose(run: RunData, m: ConfigMetrics, u: ConfigUtilization, sc: Scaling, catalog=None,
             facts=None) -> list[Check]:
    inp = RuleInput(run, m, u, sc, host_windows(run, m), catalog, facts)
    return [c for rule in RULES for c in rule.evaluate(inp)]


def compute_checks(run: RunData, metrics: Sequence[ConfigMetrics], utilization: Sequence[ConfigUtilization],
                   scaling: Sequence[Scaling], catalog=None, facts=None) -> list[Check]:
    """Every rule over every configuration; `catalog` and `facts` let the underuse rules
    name a cheaper instance type (rightsize.py)."""
    return [c for m, u, sc in zip(metrics, utilization, scaling) for c in diagnose(run, m, u, sc, catalog, facts)]
