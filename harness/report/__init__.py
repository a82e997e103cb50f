"""The report, in pipeline order: load raw run records (load) → figures (metrics, stats) →
utilization (samplers) → cost (with harness.prices) → scaling → diagnose → recommend, all
bundled by analysis.analyze(); then files: render (report.md / report.html from blocks and
sections), csvfiles (results.csv, samples.csv), plots (PNG, the only matplotlib user), and
compare (several runs side by side). Control side only: no TensorFlow imported here."""
