"""Calibration: what one training step costs on this host, under this load, without any
communication (docs/metrics.md, "Direct communication share").

A distributed rank runs `k` steps of the same model, batch and optimizer with the gradient
exchange skipped (a plain GradientTape, variables local), all ranks at the same time so the
host is as busy as in training. The weights are put back afterwards and the calibration
optimizer is thrown away: nothing of it reaches training, and its steps are not counted.
Its per-step times, against the training steps' (same timing: batch request to loss on the
host), give the communication share 1 − t_compute / t_step per rank.

Runs on the host with TensorFlow loaded; imports nothing of the control side."""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

TRACE_STEPS = 2  # untimed first calls: the tf.function is traced, caches warm up

# Horovod's defaults (0.28): 64 MiB fusion buffer, 1 ms cycle (docs: HOROVOD_FUSION_THRESHOLD,
# HOROVOD_CYCLE_TIME); recorded so the projection's latency term knows what the run used.
HOROVOD_FUSION_DEFAULT_BYTES = 64 * 1024 * 1024
HOROVOD_CYCLE_DEFAULT_MS = 1.0


def gradient_bytes(model) -> tuple[int, int]:
    """(trainable parameters, bytes of one full set of their gradients)."""
    params = nbytes = 0
    for v in model.trainable_variables:
        n = int(v.shape.num_elements() or 0)
        params += n
        nbytes += n * v.dtype.size
    return params, nbytes


def horovod_settings() -> dict:
    def num(name: str, default: float) -> float:
        try:
            return float(os.environ.get(name, default))
        except ValueError:
            return default
    return {"fusion_threshold_bytes": int(num("HOROVOD_FUSION_THRESHOLD", HOROVOD_FUSION_DEFAULT_BYTES)),
            "cycle_time_ms": num("HOROVOD_CYCLE_TIME", HOROVOD_CYCLE_DEFAULT_MS)}


def calibrate(log, step_fn: Callable, it, model, steps: int, barrier: Optional[Callable[[], None]] = None,
              **fields) -> Optional[dict]:
    """Time `steps` local steps of `step_fn` (after TRACE_STEPS untimed ones), restore the
    model's variables, and write one `calibration` record. `barrier` (Horovod) lines the
    ranks up before and after, so every rank calibrates while the others do too."""
    if steps <= 0:
        return None
    snapshot = [v.numpy() for v in model.variables]
    if barrier:
        barrier()
    t_begin = time.time()
    for _ in range(TRACE_STEPS):
        float(step_fn(next(it))[0])
    seconds, waits = [], []
    for _ in range(steps):
        t0 = time.monotonic()
        batch_xy = next(it)
        t1 = time.monotonic()
        float(step_fn(batch_xy)[0])   # waits for the step, as the training loop does
        t2 = time.monotonic()
        seconds.append(t2 - t0)
        waits.append(t1 - t0)
    t_end = time.time()
    if barrier:
        barrier()
    for v, value in zip(model.variables, snapshot):
        v.assign(value)
    return log.emit("calibration", steps=steps, trace_steps=TRACE_STEPS, step_seconds=seconds,
                    data_wait_s=waits, t_start_wall=t_begin, t_end_wall=t_end,
                    method="local steps: plain GradientTape, no gradient exchange, variables local; "
                           "weights restored, results discarded", **fields)
