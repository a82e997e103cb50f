"""Benchmark harness for single-process and distributed TensorFlow training on EC2 hosts."""

__version__ = "0.1.0"
