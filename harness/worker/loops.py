"""The training loops' shared parts: the step-record window, the end of an epoch
(evaluation, epoch record, checkpoint) and the synchronous loop every strategy but the
parameter server's runs (its own loop: harness/worker/strategies/parameter_server.py).
Each step's seconds run from asking for its batch to its loss being on the host."""

from __future__ import annotations

import math
import time

from harness.protocol.precision import PrecisionStop
from harness.worker.interruption import on_notice


class Window:
    """Steps accumulated into one step record (`log_every` steps, or the end of an epoch)."""

    def __init__(self) -> None:
        self.steps, self.images, self.seconds, self.data_wait_s, self.loss = 0, 0, 0.0, 0.0, 0.0

    def add(self, images: int, seconds: float, data_wait_s: float | None, loss: float) -> None:
        self.steps += 1
        self.images += images
        self.seconds += seconds
        self.data_wait_s = None if data_wait_s is None or self.data_wait_s is None else self.data_wait_s + data_wait_s
        self.loss += loss

    def record(self, step: int, epoch: int) -> dict:
        return {"step": step, "steps": self.steps, "epoch": epoch, "images": self.images, "seconds": self.seconds,
                "data_wait_s": self.data_wait_s, "loss": self.loss / self.steps}


def epoch_end(log, dist, model, opt, loss_fn, score_fn, save, data, record: dict, step: int,
               classification: bool) -> None:
    if len(data.x_val):
        res = dist.evaluate(model, loss_fn, score_fn, data.x_val, data.y_val)
        if res is not None:
            vl, vs, vn = res
            record["val_loss"] = vl / vn
            record.update(metric_fields("val", vs, vn, vl / vn, classification))
    log.emit("epoch", **record)
    if save is not None:
        path = save()
        if dist.is_chief:
            log.emit("checkpoint", path=path, step=step)


def loop_sync(spec, log, dist, model, opt, loss_fn, score_fn, step_fn, it, data, steps_per_epoch,
               classification, start_step=0, spot=None, calib=None) -> dict:
    """Synchronous steps (single, horovod, mirrored): each step's seconds run from asking
    for its batch to its loss being on the host, which waits for the whole step (its
    all-reduce included), so the time is honest; data_wait_s is the part spent on the batch."""
    work = spec.workload
    log_every = work.log_every
    save = dist.checkpoint(model, opt, spec.checkpoint_dir)
    step, images = start_step, 0
    first_epoch, skip = start_step // steps_per_epoch + 1, start_step % steps_per_epoch
    first_start = last_end = None
    stopper = precision_stop(spec)
    for epoch in range(first_epoch, work.epochs + 1):
        ep_t0 = time.monotonic()
        ep_loss = ep_score = 0.0
        ep_images = 0
        win = Window()
        begin = skip if epoch == first_epoch else 0   # a resumed run continues mid-epoch
        for i in range(begin, steps_per_epoch):
            if calib is not None:
                calib.before(step + 1)   # untimed here: not part of the training step
            t0 = time.monotonic()
            batch_xy = next(it)
            t1 = time.monotonic()
            loss, score = step_fn(batch_xy)
            loss = float(loss)  # waits for the step to finish, so the timing is honest
            if first_start is None:
                dist.after_first_step(model, opt)  # e.g. Horovod's broadcast: counted in step 1
            t2 = time.monotonic()
            first_start = t0 if first_start is None else first_start
            last_end = t2
            n = int(work.batch_size)
            step += 1
            images += n
            ep_images += n
            ep_loss += loss * n
            ep_score += float(score)
            win.add(n, t2 - t0, t1 - t0, loss)
            notice = spot.pending() if spot is not None else None
            if win.steps == log_every or i == steps_per_epoch - 1 or (notice and win.steps):
                log.emit("step", **win.record(step, epoch))
                if stopper is not None and stopped_at_precision(stopper, win, step, dist, log):
                    break
                win = Window()
            if notice:
                on_notice(spec, log, dist, model, opt, spot, step)
        if stopper is not None and stopper.stopped:
            break   # no epoch record or evaluation for a partial epoch: the report says why
        record = {"epoch": epoch, "steps": steps_per_epoch - begin, "images": ep_images,
                  "seconds": time.monotonic() - ep_t0, "train_loss": ep_loss / ep_images}
        record.update(metric_fields("train", ep_score, ep_images, ep_loss / ep_images, classification))
        epoch_end(log, dist, model, opt, loss_fn, score_fn, save, data, record, step, classification)
    seconds = (last_end - first_start) if first_start is not None else 0.0
    return {"steps": step - start_step, "images": images, "seconds": seconds, "last_step": step}


def precision_stop(spec):
    """The early stop of the run's spec (harness/protocol/precision.py), or None."""
    p = spec.precision
    if p is None:
        return None
    return PrecisionStop(p.precision, p.min_steps, p.warmup_steps)


def stopped_at_precision(stopper, win: Window, step: int, dist, log) -> bool:
    """After a step record: add it; every process asks the others once enough steps are kept
    (all keep the same steps, so all ask at the same records)."""
    mine = stopper.add(step, win.steps, win.seconds)
    if stopper.kept_steps < stopper.min_steps or not dist.agree_stop(mine):
        return False
    stopper.stopped = True
    log.emit("phase", **stopper.record())
    return True


def metric_fields(prefix: str, score_sum: float, n: int, mean_loss: float, classification: bool) -> dict:
    if classification:
        return {f"{prefix}_accuracy": score_sum / n}
    # RMSE over every predicted coordinate; the MSE loss is the same mean, so use it.
    return {f"{prefix}_rmse": math.sqrt(mean_loss)}
