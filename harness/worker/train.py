"""The training task: data, model, a timed training loop, evaluation, checkpoints.

A hand-written loop rather than model.fit so that every step is timed in two parts:
waiting for the input pipeline and computing. Both go to the event log (docs/events.md).
What differs between strategies (single, horovod, mirrored, parameter_server) lives in
harness/worker/distribute.py; a parameter-server chief has its own loop (_loop_ps).

`run_task` is also the entry of the tasks that are not training loops: the servers of
distributed strategies (servers.run_server) and the user's own script (script.py)."""

from __future__ import annotations

import math
import os
import platform
import sys
import time
import traceback
from collections import deque

from harness.protocol import exits
from harness.protocol.events import EventLog
from harness.protocol.spec import TaskSpec
from harness.worker import distribute, keras_parts, servers
from harness.worker.calibrate import Interleaved, gradient_bytes, horovod_settings
from harness.worker.hostinfo import host_facts, process_start_wall
from harness.worker.interruption import EXIT_INTERRUPTED, SpotInterrupted, SpotWatch, on_notice, restore
from harness.worker.mpi import RanksInterrupted, as_mpi_rank

def run_task(spec: TaskSpec) -> int:
    spec = as_mpi_rank(spec)   # a process mpirun started is one training rank
    server = servers.is_server(spec)
    log = EventLog(spec.events, config=spec.config, task_id=spec.task_id, role=spec.role, rank=spec.rank,
                   host=spec.host)
    started = time.monotonic()
    import numpy as np

    log.emit("run_start", pid=os.getpid(), process_start_wall=process_start_wall(),
             versions={"python": platform.python_version(), "numpy": np.__version__},
             host_facts=host_facts(), threads=spec.threads.to_dict(), strategy=spec.strategy,
             **({"resumed_from": spec.resume_from.to_dict()} if spec.resume_from is not None else {}))
    try:
        if server:
            summary = servers.run_server(spec, log)
        elif spec.workload is not None and spec.workload.script:
            from harness.worker.script import run_script

            summary = run_script(spec, log)
        else:
            summary = _train(spec, log)
    except (SpotInterrupted, RanksInterrupted) as e:
        log.emit("run_end", status="interrupted", error=str(e), step=e.step, seconds=time.monotonic() - started)
        log.close()
        print(f"harness.worker: {e}; checkpointed, exiting {EXIT_INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException as e:  # record why, then let the exit code say it failed
        log.emit("run_end", status="error", error=f"{type(e).__name__}: {e}",
                 traceback=traceback.format_exc(limit=5), seconds=time.monotonic() - started)
        log.close()
        if isinstance(e, KeyboardInterrupt):
            return exits.SIGINT
        print(f"harness.worker: {type(e).__name__}: {e}", file=sys.stderr)
        return exits.FAILED
    log.emit("run_end", status="ok", **summary)
    log.close()
    if server and spec.role in ("ps", "worker"):
        # A TensorFlow server cannot be shut down cleanly; interpreter exit can hang on it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _train(spec: TaskSpec, log: EventLog) -> dict:
    work = spec.workload
    strategy = spec.strategy

    t = time.monotonic()
    tf, keras = keras_parts.import_tf(spec.threads)
    log.emit("phase", name="framework_import", seconds=time.monotonic() - t,
             versions={"tensorflow": tf.__version__, "tf_keras": keras.__version__})

    t = time.monotonic()
    dist = distribute.for_strategy(strategy, tf, spec)
    rank, size = dist.rank, dist.size
    if strategy != "single":
        # hvd.init / the cluster handshake: waits for every other task to come up.
        log.emit("phase", name="distribution_ready", seconds=time.monotonic() - t, strategy=strategy,
                 rank=rank, size=size)

    t = time.monotonic()
    from harness.worker.datasets import load_dataset

    data = load_dataset(work.dataset, seed=work.seed)
    batch = work.batch_size
    if dist.sync:
        # Data parallelism: each rank trains on its own shard of the examples, and every rank
        # runs the same number of steps (that of the smallest shard): a rank with one step
        # more would wait forever in its all-reduce.
        x_train, y_train = data.x_train[rank::size], data.y_train[rank::size]
        per_rank = len(data.x_train) // size
    else:
        # Parameter server: each scheduled step takes one batch on whichever worker is free,
        # so an epoch is the whole training set in steps of one batch.
        x_train, y_train = data.x_train, data.y_train
        per_rank = len(x_train)
    if per_rank < batch:
        raise ValueError(f"batch_size {batch} is larger than the {per_rank} training examples "
                         f"of this worker; lower workload.batch_size")
    steps_per_epoch = per_rank // batch
    if work.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, work.steps_per_epoch)
    it = dist.dataset(x_train, y_train, batch, work.seed)
    log.emit("phase", name="data_ready", seconds=time.monotonic() - t, dataset=data.name,
             train_examples=int(len(x_train)), val_examples=int(len(data.x_val)), steps_per_epoch=steps_per_epoch)

    t = time.monotonic()
    import models

    keras.utils.set_random_seed(work.seed)
    lr = work.learning_rate * (size if work.scale_lr and dist.sync else 1)
    with dist.scope():
        model = models.build(work.model, data.input_shape, data.outputs, data.task)
        opt = keras_parts.optimizer(keras, work.optimizer, lr)
    classification = data.task == "classification"
    # Per-example losses: every strategy averages them itself (over its local or global batch).
    loss_fn = (keras.losses.SparseCategoricalCrossentropy(reduction="none") if classification
               else keras.losses.MeanSquaredError(reduction="none"))

    def score_fn(pred, y):
        return keras_parts.score(tf, pred, y, classification)

    step_fn = dist.train_step(model, opt, loss_fn, score_fn, batch)
    params, grad_bytes = gradient_bytes(model)
    log.emit("phase", name="model_built", seconds=time.monotonic() - t, model=work.model,
             parameters=int(model.count_params()), trainable_parameters=params, gradient_bytes=grad_bytes,
             learning_rate=lr)

    start_step = restore(spec, log, tf, dist, model, opt, work.epochs * steps_per_epoch)
    calib = None
    if dist.calibrates and work.calibration_steps:
        # A throw-away optimizer of the same kind: the real one's state stays untouched.
        local_step = dist.train_step(model, keras_parts.optimizer(keras, work.optimizer, lr), loss_fn, score_fn, batch,
                                     exchange=False)
        calib = Interleaved(log, local_step, it, model, int(work.calibration_steps),
                            first=max(start_step, int(work.warmup_steps or 0)) + 1,
                            last=work.epochs * steps_per_epoch, strategy=strategy, size=size,
                            gradient_bytes=grad_bytes, horovod=horovod_settings())
        calib.trace()
    loop = _loop_ps if isinstance(dist, distribute.ParameterServer) else _loop_sync
    spot = SpotWatch(spec)
    try:
        return loop(spec, log, dist, model, opt, loss_fn, score_fn, step_fn, it, data, steps_per_epoch,
                    classification, start_step, spot, calib)
    finally:
        spot.stop()
        if calib is not None:
            calib.finish()


class _Window:
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


def _epoch_end(log, dist, model, opt, loss_fn, score_fn, save, data, record: dict, step: int,
               classification: bool) -> None:
    if len(data.x_val):
        res = dist.evaluate(model, loss_fn, score_fn, data.x_val, data.y_val)
        if res is not None:
            vl, vs, vn = res
            record["val_loss"] = vl / vn
            record.update(_metric_fields("val", vs, vn, vl / vn, classification))
    log.emit("epoch", **record)
    if save is not None:
        path = save()
        if dist.is_chief:
            log.emit("checkpoint", path=path, step=step)


def _loop_sync(spec, log, dist, model, opt, loss_fn, score_fn, step_fn, it, data, steps_per_epoch,
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
    for epoch in range(first_epoch, work.epochs + 1):
        ep_t0 = time.monotonic()
        ep_loss = ep_score = 0.0
        ep_images = 0
        win = _Window()
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
                win = _Window()
            if notice:
                on_notice(spec, log, dist, model, opt, spot, step)
        record = {"epoch": epoch, "steps": steps_per_epoch - begin, "images": ep_images,
                  "seconds": time.monotonic() - ep_t0, "train_loss": ep_loss / ep_images}
        record.update(_metric_fields("train", ep_score, ep_images, ep_loss / ep_images, classification))
        _epoch_end(log, dist, model, opt, loss_fn, score_fn, save, data, record, step, classification)
    seconds = (last_end - first_start) if first_start is not None else 0.0
    return {"steps": step - start_step, "images": images, "seconds": seconds, "last_step": step}


def _loop_ps(spec, log, dist, model, opt, loss_fn, score_fn, step_fn, it, data, steps_per_epoch,
             classification, start_step=0, spot=None, calib=None) -> dict:
    """The parameter-server chief keeps 2 steps per worker scheduled (one running, one
    queued: no worker waits for the coordinator); workers run them concurrently with
    asynchronous updates. Results are fetched in scheduling order, and a step's `seconds`
    is the time from the previous step's result (or the epoch's start) to its own: the
    coordinator's view, where throughput = images / seconds holds. Bounding what is in
    flight keeps that true across the warm-up cut too: with everything scheduled at once,
    later steps would finish while the first (warm-up) one is awaited and look free.
    A step's time on its worker, and its wait for data there, are not visible from here:
    `data_wait_s` is null; `workers` and `in_flight` say how many ran at once."""
    work = spec.workload
    log_every = work.log_every
    batch = int(work.batch_size)
    save = dist.checkpoint(model, opt, spec.checkpoint_dir)
    step, images = start_step, 0
    first_epoch, skip = start_step // steps_per_epoch + 1, start_step % steps_per_epoch
    first_start = last_end = None
    notice = None
    for epoch in range(first_epoch, work.epochs + 1):
        ep_t0 = time.monotonic()
        ep_loss = ep_score = 0.0
        prev = time.monotonic()
        first_start = prev if first_start is None else first_start
        in_flight = 2 * max(1, dist.workers)
        todo = steps_per_epoch - (skip if epoch == first_epoch else 0)   # a resumed run continues mid-epoch
        pending = deque(dist.schedule(step_fn, it) for _ in range(min(in_flight, todo)))
        scheduled = len(pending)
        win = _Window()
        while pending:
            loss, score = pending.popleft().fetch()
            now = time.monotonic()
            # On a spot notice nothing new is scheduled; the steps in flight finish and count.
            notice = notice or (spot.pending() if spot is not None else None)
            if scheduled < todo and not notice:
                pending.append(dist.schedule(step_fn, it))
                scheduled += 1
            loss = float(loss)
            step += 1
            images += batch
            ep_loss += loss * batch
            ep_score += float(score)
            win.add(batch, now - prev, None, loss)
            prev = last_end = now
            if win.steps == log_every or not pending:
                log.emit("step", **win.record(step, epoch), workers=dist.workers, in_flight=in_flight,
                         timing="completion_interval")
                win = _Window()
        dist.join()
        if notice:
            on_notice(spec, log, dist, model, opt, spot, step)
        ep_images = todo * batch
        record = {"epoch": epoch, "steps": todo, "images": ep_images,
                  "seconds": time.monotonic() - ep_t0, "train_loss": ep_loss / ep_images}
        record.update(_metric_fields("train", ep_score, ep_images, ep_loss / ep_images, classification))
        _epoch_end(log, dist, model, opt, loss_fn, score_fn, save, data, record, step, classification)
    seconds = (last_end - first_start) if first_start is not None else 0.0
    return {"steps": step - start_step, "images": images, "seconds": seconds, "last_step": step}


def _metric_fields(prefix: str, score_sum: float, n: int, mean_loss: float, classification: bool) -> dict:
    if classification:
        return {f"{prefix}_accuracy": score_sum / n}
    # RMSE over every predicted coordinate; the MSE loss is the same mean, so use it.
    return {f"{prefix}_rmse": math.sqrt(mean_loss)}
