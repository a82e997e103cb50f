"""A user's script that takes SLOW_START_S seconds (environment) before it would train: the
live max_init rule must stop it long before (tests/e2e/test_live_rules.py, benchmarks/diagnoses.py)."""
import os
import time

time.sleep(float(os.environ.get("SLOW_START_S", "600")))
print("never trained")
