"""Calibration: what one training step costs on this host, under this load, without any
communication (docs/metrics.md, "Direct communication share").

A distributed rank runs `k` steps of the same model, batch and optimizer with the gradient
exchange skipped (a plain GradientTape, variables local). Nothing of them reaches
training: the calibration optimizer is a throw-away one, and the model's variables are put
back after each. Their per-step times, against the training steps' (same timing: batch
request to loss on the host), give the communication share 1 − t_compute / t_step per rank.

Two schedules:
  Interleaved (Horovod, `Interleaved`): one calibration step before every m-th training
    step after warm-up, k in all, so t_compute samples the same moments — the same load
    from other processes — as the training steps it is compared with. The ranks reach it
    together (the previous step's all-reduce lined them up), so all compute at once, as
    in a training step's compute phase.
  Up front (`calibrate`, parameter-server workers before their server starts).

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


class Interleaved:
    """k calibration steps spread over the training steps after warm-up. `before(step)`
    (the 1-based index of the training step about to run) runs one when due; `finish()`
    writes the `calibration` record."""

    def __init__(self, log, step_fn: Callable, it, model, steps: int, first: int, last: int, **fields):
        self.log, self.step_fn, self.it, self.model, self.fields = log, step_fn, it, model, fields
        span = max(0, last - first + 1)
        self.steps = min(steps, span)
        self.every = max(1, span // self.steps) if self.steps else 0
        self.first, self.seconds, self.waits, self.at = first, [], [], []
        self.t_start = self.t_end = None

    def trace(self) -> None:
        """The untimed first calls (the tf.function is traced), before training starts."""
        if self.steps:
            snapshot = [v.numpy() for v in self.model.variables]
            for _ in range(TRACE_STEPS):
                float(self.step_fn(next(self.it))[0])
            for v, value in zip(self.model.variables, snapshot):
                v.assign(value)

    def before(self, step: int) -> None:
        k = step - self.first
        if not self.steps or k < 0 or k % self.every or len(self.seconds) >= self.steps:
            return
        snapshot = [v.numpy() for v in self.model.variables]
        self.t_start = self.t_start or time.time()
        t0 = time.monotonic()
        batch_xy = next(self.it)
        t1 = time.monotonic()
        float(self.step_fn(batch_xy)[0])
        t2 = time.monotonic()
        self.t_end = time.time()
        for v, value in zip(self.model.variables, snapshot):
            v.assign(value)
        self.seconds.append(t2 - t0)
        self.waits.append(t1 - t0)
        self.at.append(step)

    def finish(self) -> Optional[dict]:
        if not self.seconds:
            return None
        return self.log.emit("calibration", steps=len(self.seconds), trace_steps=TRACE_STEPS,
                             step_seconds=self.seconds, data_wait_s=self.waits, before_steps=self.at,
                             schedule="interleaved", every=self.every, t_start_wall=self.t_start,
                             t_end_wall=self.t_end,
                             method="local steps interleaved with training: plain GradientTape, no gradient "
                                    "exchange, throw-away optimizer, variables restored after each",
                             **self.fields)


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
                    data_wait_s=waits, t_start_wall=t_begin, t_end_wall=t_end, schedule="up_front",
                    method="local steps: plain GradientTape, no gradient exchange, variables local; "
                           "weights restored, results discarded", **fields)
