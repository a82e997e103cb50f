"""The report, in three layers, each importing only the ones before it:
read/ (raw JSONL into records and columns) → figures/ (pure: metrics, utilization, cost,
scaling, verdicts, diagnoses, the recommendation; analysis.analyze() gathers them) →
write/ (report.md / report.html, results.csv, samples.csv, samples.parquet, plots, compare).
stats.py is the small statistics all three use. Control side only: no TensorFlow here."""
