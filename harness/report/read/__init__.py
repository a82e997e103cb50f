"""Layer 1 of the report: a run directory's raw files into records and columns, read once
(json_lines → columns → cache → jsonl_files → rundir; prewarm and forked share the first
read between two processes)."""
