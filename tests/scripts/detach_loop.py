"""A user's own script for detached-run tests (no TensorFlow): prints a rate every 0.2 s
until stopped; the rank named by FAIL_RANK exits 1 after FAIL_AFTER_S seconds. Each rank
also starts a child in its own session, as a careless script might, which only the
leftover sweep (by the run's id in its environment) can find."""

import os
import subprocess
import sys
import time

rank = os.environ.get("HARNESS_RANK", "0")
child = subprocess.Popen(["sleep", "100000"], start_new_session=True)
t0 = time.monotonic()
i = 0
while True:
    time.sleep(0.2)
    i += 1
    print(f"iter {i}: 100.0 img/sec", flush=True)
    if os.environ.get("FAIL_RANK") == rank and time.monotonic() - t0 > float(os.environ.get("FAIL_AFTER_S", "8")):
        print(f"RuntimeError: injected failure on rank {rank}", file=sys.stderr, flush=True)
        sys.exit(1)
