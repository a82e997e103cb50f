"""The training task: data, model, a timed training loop, evaluation, checkpoints.

A hand-written loop rather than model.fit so that every step is timed in two parts:
waiting for the input pipeline and computing. Both go to the event log (docs/events.md).
What differs between strategies lives in each one's part, harness/worker/strategies/<name>.py
(its `Trainer`: dataset, step, evaluation, checkpoints, the loop: loops.py or its own).

`run_task` is also the entry of the tasks that are not training loops: the servers of
distributed strategies (servers.run_server) and the user's own script (script.py)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import traceback

from harness.protocol import exits
from harness.protocol.constants import WARM_ENV, WARM_OWN_ENV
from harness.protocol.events import EventLog
from harness.protocol.spec import TaskSpec
from harness.worker import hot, keras_parts, servers, strategies
from harness.worker.calibrate import Interleaved, gradient_bytes, horovod_settings
from harness.worker.hostinfo import host_facts, process_start_wall
from harness.worker.interruption import EXIT_INTERRUPTED, SpotInterrupted, SpotWatch, restore
from harness.worker.mpi import RanksInterrupted, as_mpi_rank


def warm_record() -> dict:
    """run_start's `warm`: what this process shares with its zygote; `own_zygote` when the
    zygote started in this run's own window (its imports were this run's: a cold run)."""
    warm = json.loads(os.environ[WARM_ENV])
    if os.environ.get(WARM_OWN_ENV) == "1":
        warm["own_zygote"] = True
    return warm


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
             **({"resumed_from": spec.resume_from.to_dict()} if spec.resume_from is not None else {}),
             **({"warm": warm_record()} if WARM_ENV in os.environ else {}))
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
    if server and servers.exits_hard(spec):
        # A TensorFlow server cannot be shut down cleanly; interpreter exit can hang on it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _train(spec: TaskSpec, log: EventLog) -> dict:
    work = spec.workload
    strategy = spec.strategy
    key = hot.key_of(spec)
    kept = hot.take(spec)   # what an identical configuration's task left in this process (hot.py)

    t = time.monotonic()
    if kept is None:
        tf, keras = keras_parts.import_tf(spec.threads)
    else:   # imported, threads set, by a task of the same key (its threads are this task's)
        tf, keras = kept.tf, kept.keras
    log.emit("phase", name="framework_import", seconds=time.monotonic() - t,
             versions={"tensorflow": tf.__version__, "tf_keras": keras.__version__})

    t = time.monotonic()
    if kept is None:
        dist = strategies.part(strategy).Trainer(tf, spec)
    else:
        dist = kept.dist
        dist.rejoin(spec)
    rank, size = dist.rank, dist.size
    if dist.joins_cluster:
        # hvd.init / the cluster handshake: waits for every other task to come up.
        log.emit("phase", name="distribution_ready", seconds=time.monotonic() - t, strategy=strategy,
                 rank=rank, size=size)

    t = time.monotonic()
    from harness.worker.datasets import load_dataset

    data = load_dataset(work.dataset, seed=work.seed) if kept is None else kept.data
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
    if kept is not None:
        tf.random.set_seed(None)   # as in a fresh process here: the pipeline shuffles as a cold run's
    it = dist.dataset(x_train, y_train, batch, work.seed)
    log.emit("phase", name="data_ready", seconds=time.monotonic() - t, dataset=data.name,
             train_examples=int(len(x_train)), val_examples=int(len(data.x_val)), steps_per_epoch=steps_per_epoch,
             **({"kept": True} if kept is not None else {}))

    t = time.monotonic()
    keras.utils.set_random_seed(work.seed)
    if kept is None:
        kept = _build(tf, keras, spec, dist, data, key)
    else:
        hot.reset(kept)   # the weights it was built with, the optimizer as before its first step
        kept.tasks += 1
    model, opt, loss_fn, score_fn, step_fn, lr = kept.model, kept.opt, kept.loss_fn, kept.score_fn, kept.step_fn, kept.lr
    params, grad_bytes = gradient_bytes(model)
    log.emit("phase", name="model_built", seconds=time.monotonic() - t, model=work.model,
             parameters=int(model.count_params()), trainable_parameters=params, gradient_bytes=grad_bytes,
             learning_rate=lr, **({"kept": {"tasks": kept.tasks}} if kept.tasks > 1 else {}))

    start_step = restore(spec, log, tf, dist, model, opt, work.epochs * steps_per_epoch)
    calib = None
    if dist.calibrates and work.calibration_steps:
        if kept.local is None:
            # A throw-away optimizer of the same kind: the real one's state stays untouched.
            local_opt = keras_parts.optimizer(keras, work.optimizer, lr)
            kept.local = (dist.train_step(model, local_opt, loss_fn, score_fn, batch, exchange=False), local_opt,
                          hot.optimizer_state(local_opt))
        calib = Interleaved(log, kept.local[0], it, model, int(work.calibration_steps),
                            first=max(start_step, int(work.warmup_steps or 0)) + 1,
                            last=work.epochs * steps_per_epoch, strategy=strategy, size=size,
                            gradient_bytes=grad_bytes, horovod=horovod_settings())
        calib.trace()
    spot = SpotWatch(spec)
    try:
        summary = dist.run_loop(spec, log, model, opt, loss_fn, score_fn, step_fn, it, data, steps_per_epoch,
                                classification=data.task == "classification", start_step=start_step, spot=spot,
                                calib=calib)
    finally:
        spot.stop()
        if calib is not None:
            calib.finish()
    if key is not None and hot.wanted() and dist.reusable:
        dist.leave()   # e.g. hvd.shutdown: the next task joins its own cluster
        hot.keep(kept)
    return summary


def _build(tf, keras, spec: TaskSpec, dist, data, key) -> hot.Kept:
    """Model, optimizer, loss and the traced step, as a cold task builds them."""
    import models

    work = spec.workload
    lr = work.learning_rate * (dist.size if work.scale_lr and dist.sync else 1)
    with dist.scope():
        model = models.build(work.model, data.input_shape, data.outputs, data.task)
        opt = keras_parts.optimizer(keras, work.optimizer, lr)
    classification = data.task == "classification"
    # Per-example losses: every strategy averages them itself (over its local or global batch).
    loss_fn = (keras.losses.SparseCategoricalCrossentropy(reduction="none") if classification
               else keras.losses.MeanSquaredError(reduction="none"))

    def score_fn(pred, y):
        return keras_parts.score(tf, pred, y, classification)

    step_fn = dist.train_step(model, opt, loss_fn, score_fn, work.batch_size)
    initial = model.get_weights() if key is not None else []
    return hot.Kept(key or "", tf, keras, dist, data, model, opt, loss_fn, score_fn, step_fn, lr, initial,
                    hot.optimizer_state(opt) if key is not None else [])
