"""The report: load raw run records (load), compute figures (metrics, stats), render files
(render). Control side only: no TensorFlow imported here."""
