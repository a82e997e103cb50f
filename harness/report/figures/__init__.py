"""Layer 2 of the report, PURE: every figure from the records that read/ returned (metrics,
utilization, cost, bill, communication, scaling, repeats, verdicts, diagnoses, the
recommendation), gathered once per run by analysis.analyze()."""
