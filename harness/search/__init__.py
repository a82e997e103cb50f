"""`harness search`: the configuration to rent without measuring them all (docs/search.md).
space (the points), goal, acquire and decide are pure; run.py measures trials through the
pipeline and report.py writes what the search found."""
