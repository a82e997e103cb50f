"""Standard harness records from your own training script (docs/strategies.md).

    from harness.callback import HarnessCallback, Recorder
    model.fit(..., callbacks=[HarnessCallback(batch_size=64)])      # Keras
    rec = Recorder(); rec.step(images=64, seconds=dt, loss=l)        # any loop
    if rec.should_stop: break     # the run's throughput is measured (experiment `precision`)

Records go to the file named by HARNESS_EVENTS, which the harness sets for the script
it launches; without it (the script run by hand) nothing is written. Every record
carries `source: "callback"`. Importing this module does not import TensorFlow:
HarnessCallback is built on first use, from the Keras that tf.keras is."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Optional

from harness.protocol.precision import PrecisionStop

SOURCE = "callback"


def _env_int(name: str) -> Optional[int]:
    v = os.environ.get(name, "")
    return int(v) if v.lstrip("-").isdigit() else None


class Recorder:
    """Appends step/epoch records (docs/events.md) to the task's events file."""

    def __init__(self, path: Optional[str] = None, log_every: Optional[int] = None):
        path = path or os.environ.get("HARNESS_EVENTS")
        self._fh = open(path, "a", buffering=1, encoding="utf-8") if path else None
        self._lock = threading.Lock()
        self.log_every = log_every or _env_int("HARNESS_LOG_EVERY") or 1
        self.common = {"config": os.environ.get("HARNESS_CONFIG"), "task_id": os.environ.get("HARNESS_TASK_ID"),
                       "role": os.environ.get("HARNESS_ROLE"), "rank": _env_int("HARNESS_RANK"),
                       "host": os.environ.get("HARNESS_HOST")}
        self.step_count = 0
        self._win: dict[str, Any] = {}
        # Early stop within a run (harness/protocol/precision.py): `should_stop` turns True
        # once the throughput is measured precisely enough; HarnessCallback then ends fit().
        self.stopper = PrecisionStop.from_env() if self._fh is not None else None
        self.should_stop = False

    @property
    def enabled(self) -> bool:
        return self._fh is not None

    def emit(self, event: str, **fields: Any) -> None:
        if self._fh is None:
            return
        record = {"event": event, "t_wall": time.time(), "t_mono": time.monotonic(), **self.common,
                  **fields, "source": SOURCE}
        with self._lock:  # one line per write: the harness appends to the same file
            self._fh.write(json.dumps(record, default=float) + "\n")

    def step(self, images: int, seconds: float, loss: Optional[float] = None, epoch: Optional[int] = None,
             data_wait_s: Optional[float] = None) -> None:
        """One training step: `seconds` measured around the step, synchronously (after its
        result is on the host). Written every `log_every` steps, or by `flush`."""
        self.step_count += 1
        w = self._win
        w["steps"] = w.get("steps", 0) + 1
        w["images"] = w.get("images", 0) + int(images)
        w["seconds"] = w.get("seconds", 0.0) + float(seconds)
        w["data_wait_s"] = None if data_wait_s is None or w.get("data_wait_s", 0.0) is None \
            else w.get("data_wait_s", 0.0) + float(data_wait_s)
        if loss is not None:
            w["loss_sum"] = w.get("loss_sum", 0.0) + float(loss)
            w["loss_n"] = w.get("loss_n", 0) + 1
        w["epoch"] = epoch
        if w["steps"] >= self.log_every:
            self.flush()

    def flush(self) -> None:
        w, self._win = self._win, {}
        if not w.get("steps"):
            return
        loss = w["loss_sum"] / w["loss_n"] if w.get("loss_n") else None
        self.emit("step", step=self.step_count, steps=w["steps"], epoch=w.get("epoch"), images=w["images"],
                  seconds=w["seconds"], data_wait_s=w.get("data_wait_s"), loss=loss)
        if self.stopper is not None and not self.should_stop and \
                self.stopper.add(self.step_count, w["steps"], w["seconds"]):
            self.should_stop = True
            self.emit("phase", **self.stopper.record())

    def epoch(self, epoch: int, **fields: Any) -> None:
        """End of an epoch: train_loss, train_accuracy, val_loss, val_accuracy, ... as known."""
        self.flush()
        self.emit("epoch", epoch=epoch, **{k: v for k, v in fields.items() if v is not None})

    def close(self) -> None:
        self.flush()
        if self._fh is not None:
            self._fh.close()
            self._fh = None


_LOG_KEYS = {"loss": "loss", "accuracy": "accuracy", "sparse_categorical_accuracy": "accuracy",
             "categorical_accuracy": "accuracy", "root_mean_squared_error": "rmse"}


def _epoch_fields(logs: dict) -> dict:
    out = {}
    for key, value in (logs or {}).items():
        prefix, name = ("val", key[4:]) if key.startswith("val_") else ("train", key)
        if name in _LOG_KEYS:
            out[f"{prefix}_{_LOG_KEYS[name]}"] = float(value)
    return out


def _callback_class():
    import tensorflow as tf  # tf.keras is tf_keras when TF_USE_LEGACY_KERAS=1 (the harness sets it)

    class HarnessCallback(tf.keras.callbacks.Callback):
        """Times each training batch (begin to end; reading the batch's logs waits for the
        step, so the time is honest) and writes step and epoch records. The input
        pipeline runs inside the step: data_wait_s is null."""

        def __init__(self, batch_size: Optional[int] = None, log_every: Optional[int] = None,
                     recorder: Optional[Recorder] = None):
            super().__init__()
            self.batch_size = batch_size or _env_int("HARNESS_BATCH_SIZE")
            if not self.batch_size:
                raise ValueError("HarnessCallback needs batch_size (examples per step of this process)")
            self.rec = recorder or Recorder(log_every=log_every)
            self._epoch = 1
            self._t0 = 0.0
            self._ep_t0 = 0.0
            self._ep_steps = 0

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch + 1
            self._ep_t0 = time.monotonic()
            self._ep_steps = 0

        def on_train_batch_begin(self, batch, logs=None):
            self._t0 = time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            loss = float(loss) if loss is not None else None
            self._ep_steps += 1
            self.rec.step(self.batch_size, time.monotonic() - self._t0, loss=loss, epoch=self._epoch)
            if self.rec.should_stop:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            self.rec.epoch(epoch + 1, steps=self._ep_steps, images=self._ep_steps * self.batch_size,
                           seconds=time.monotonic() - self._ep_t0, **_epoch_fields(logs or {}))

        def on_train_end(self, logs=None):
            self.rec.flush()

    return HarnessCallback


_CLASS = None


def __getattr__(name: str):
    # PEP 562: `from harness.callback import HarnessCallback` builds the class (imports TF) only then.
    global _CLASS
    if name == "HarnessCallback":
        if _CLASS is None:
            _CLASS = _callback_class()
        return _CLASS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
