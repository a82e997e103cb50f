"""Layer 3 of the report: the figures as files (render: report.md and report.html from
blocks and sections; csvfiles; parquet_file; plots, the only matplotlib user) and the
multi-run views (compare, study)."""
