"""A training loop of your own without TensorFlow (benchmarks/adaptive_bill.py, tests): each step does real
CPU work per image (WORK_PER_IMAGE rounds of a 128×128 matrix product on one thread,
set by `env:`), so two configurations can differ by a known factor of work, not by sleeps.
INPUT_WORK_PER_IMAGE (default 0) adds the same kind of work per image to fetching each
batch, in the training thread and before the step, as an input pipeline without prefetch
does; it is reported as the step's data_wait_s (benchmarks/diagnoses.py: input-bound).
Reports through harness.callback's Recorder and stops early when the run's `precision`
is reached (Recorder.should_stop)."""

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")   # one core's work: the noise of a shared machine, not of BLAS threads
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from harness.callback import Recorder

batch = int(os.environ.get("HARNESS_BATCH_SIZE") or 8)
work = int(os.environ.get("WORK_PER_IMAGE", "1"))
input_work = int(os.environ.get("INPUT_WORK_PER_IMAGE", "0"))
steps = int(os.environ.get("STEPS", "400"))
rng = np.random.default_rng(int(os.environ.get("SEED", "0")))
a = rng.standard_normal((128, 128)).astype("float32")
x = rng.standard_normal((128, 128)).astype("float32")
b = x.copy()
rec = Recorder()
for step in range(1, steps + 1):
    t0 = time.monotonic()
    for _ in range(batch * input_work):   # "decoding" the batch
        b = np.tanh(a @ b)
    t1 = time.monotonic()
    for _ in range(batch * work):
        x = np.tanh(a @ x)
    rec.step(images=batch, seconds=time.monotonic() - t0, loss=float(x[0, 0]), epoch=1,
             data_wait_s=t1 - t0 if input_work else None)
    if rec.should_stop:
        break
rec.close()
print(f"done after {rec.step_count} steps", flush=True)
