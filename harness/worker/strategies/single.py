"""single on a host: one process training alone, `Local` as it is (the control side:
harness/strategies/single.py)."""

from __future__ import annotations

from harness.worker.strategies.base import Local

Trainer = Local
