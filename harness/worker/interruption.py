"""A training task's interruption and resumption (host side): the spot-notice watch the
training loops ask at each step boundary, the checkpoint and exit on a notice, and the
restore of `resume_from` when a resumed task starts."""

from __future__ import annotations

import threading
import time

from harness.protocol import exits
from harness.protocol.spec import TaskSpec

EXIT_INTERRUPTED = exits.INTERRUPTED   # after a checkpoint on a spot notice: 'interrupted', not failed


class SpotInterrupted(Exception):
    """Raised at a step boundary after the task checkpointed on a spot notice."""

    def __init__(self, notice: dict, step: int):
        super().__init__(f"spot interruption notice ({notice.get('action')} at {notice.get('time')}) at step {step}")
        self.notice, self.step = notice, step


def restore(spec: TaskSpec, log, tf, dist, model, opt, planned_steps: int) -> int:
    """Load `resume_from` (checkpoint_path, step) into the model and optimizer; the step
    the loop continues after (0 without one). Steps count over the whole planned run."""
    rf = spec.resume_from
    if rf is None:
        return 0
    t = time.monotonic()
    path, step = rf.checkpoint_path, rf.step
    if step > planned_steps:
        raise ValueError(f"resume_from: step {step} is beyond the {planned_steps} planned steps")
    if path:
        if not tf.io.gfile.exists(path + ".index"):
            raise FileNotFoundError(f"resume_from: no checkpoint {path}(.index) on host {spec.host}")
        dist.restore_checkpoint(model, opt, path)
    log.emit("phase", name="checkpoint_restored", seconds=time.monotonic() - t, resumed_from=rf.to_dict(),
             planned_steps=planned_steps, remaining_steps=planned_steps - step)
    return step


class SpotWatch:
    """The IMDS watcher (harness/worker/spot_watch.py) when the spec asks for it; the loops
    ask `pending()` at each step boundary."""

    def __init__(self, spec: TaskSpec):
        self.notice, self.noticed_wall, self.watcher = None, None, None
        self._seen = threading.Event()
        cfg = spec.spot_watch
        if cfg is not None:
            from harness.worker.spot_watch import start_watcher

            self.watcher = start_watcher(self._on_notice, interval_s=float(cfg.interval_s), base_url=spec.imds_url)

    def _on_notice(self, notice: dict) -> None:
        self.notice, self.noticed_wall = notice, time.time()
        self._seen.set()

    def pending(self):
        return self.notice if self._seen.is_set() else None

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()


def on_notice(spec: TaskSpec, log, dist, model, opt, spot: SpotWatch, step: int):
    """Checkpoint now (chief only; not under `mirrored`, where saving is a collective the
    other workers would not join), record the interruption, and end the task."""
    path = None
    ckpt_dir = spec.checkpoint_dir
    if ckpt_dir and dist.is_chief and dist.checkpoint_on_notice:
        path = dist.write_checkpoint(model, opt, ckpt_dir, f"spot-step{step}")
        log.emit("checkpoint", path=path, step=step, reason="spot_interruption")
    if dist.is_chief or spec.rank in (None, 0):
        log.emit("spot_interruption", action=spot.notice.get("action"), time=spot.notice.get("time"), step=step,
                 noticed_wall=spot.noticed_wall, checkpoint=path)
    raise SpotInterrupted(spot.notice, step)
