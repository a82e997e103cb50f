"""The training task: data, model, a timed training loop, evaluation, checkpoints.

A hand-written loop rather than model.fit so that every step is timed in two parts:
waiting for the input pipeline and computing. Both go to the event log (docs/events.md)."""

from __future__ import annotations

import math
import os
import platform
import sys
import time
import traceback

from harness.events import EventLog
from harness.worker.hostinfo import host_facts, process_start_wall


def run_task(spec: dict) -> int:
    log = EventLog(spec.get("events", "events.jsonl"), config=spec["config"], task_id=spec["task_id"],
                   role=spec["role"], rank=spec.get("rank"), host=spec["host"])
    started = time.monotonic()
    import numpy as np

    log.emit("run_start", pid=os.getpid(), process_start_wall=process_start_wall(),
             versions={"python": platform.python_version(), "numpy": np.__version__},
             host_facts=host_facts(), threads=spec.get("threads", {}))
    try:
        summary = _train(spec, log)
    except BaseException as e:  # record why, then let the exit code say it failed
        log.emit("run_end", status="error", error=f"{type(e).__name__}: {e}",
                 traceback=traceback.format_exc(limit=5), seconds=time.monotonic() - started)
        log.close()
        if isinstance(e, KeyboardInterrupt):
            return 130
        print(f"harness.worker: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    log.emit("run_end", status="ok", **summary)
    log.close()
    return 0


def _import_tf(threads: dict):
    import tensorflow as tf
    import tf_keras

    # Must happen before TensorFlow creates its thread pools (before any op runs).
    if threads.get("intra_op") is not None:
        tf.config.threading.set_intra_op_parallelism_threads(threads["intra_op"])
    if threads.get("inter_op") is not None:
        tf.config.threading.set_inter_op_parallelism_threads(threads["inter_op"])
    return tf, tf_keras


def _optimizer(keras, name: str, lr: float):
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=lr, momentum=0.9)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    return keras.optimizers.RMSprop(learning_rate=lr)


def _train(spec: dict, log: EventLog) -> dict:
    work = spec["workload"]
    rank, size = spec.get("rank") or 0, spec.get("size") or 1

    t = time.monotonic()
    tf, keras = _import_tf(spec.get("threads", {}))
    log.emit("phase", name="framework_import", seconds=time.monotonic() - t,
             versions={"tensorflow": tf.__version__, "tf_keras": keras.__version__})

    t = time.monotonic()
    from harness.worker.datasets import load_dataset

    data = load_dataset(work["dataset"], seed=work["seed"])
    # Data parallelism: each rank trains on its own shard of the examples.
    x_train, y_train = data.x_train[rank::size], data.y_train[rank::size]
    batch = work["batch_size"]
    if len(x_train) < batch:
        raise ValueError(f"batch_size {batch} is larger than the {len(x_train)} training examples "
                         f"of this worker; lower workload.batch_size")
    steps_per_epoch = len(x_train) // batch
    if work.get("steps_per_epoch"):
        steps_per_epoch = min(steps_per_epoch, work["steps_per_epoch"])
    train_ds = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
                .shuffle(len(x_train), seed=work["seed"] + rank, reshuffle_each_iteration=True)
                .batch(batch, drop_remainder=True)
                .repeat()
                .prefetch(tf.data.AUTOTUNE))
    val_ds = None
    if len(data.x_val):
        val_ds = tf.data.Dataset.from_tensor_slices((data.x_val, data.y_val)).batch(256).prefetch(tf.data.AUTOTUNE)
    log.emit("phase", name="data_ready", seconds=time.monotonic() - t, dataset=data.name,
             train_examples=int(len(x_train)), val_examples=int(len(data.x_val)), steps_per_epoch=steps_per_epoch)

    t = time.monotonic()
    import models

    keras.utils.set_random_seed(work["seed"])
    model = models.build(work["model"], data.input_shape, data.outputs, data.task)
    opt = _optimizer(keras, work["optimizer"], work["learning_rate"])
    classification = data.task == "classification"
    loss_fn = (keras.losses.SparseCategoricalCrossentropy() if classification else keras.losses.MeanSquaredError())

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            loss = loss_fn(y, pred)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss, _score(tf, pred, y, classification)

    @tf.function
    def eval_step(x, y):
        pred = model(x, training=False)
        return loss_fn(y, pred) * tf.cast(tf.shape(y)[0], tf.float32), _score(tf, pred, y, classification)

    log.emit("phase", name="model_built", seconds=time.monotonic() - t, model=work["model"],
             parameters=int(model.count_params()))

    ckpt_dir = spec.get("checkpoint_dir")
    ckpt = tf.train.Checkpoint(model=model, optimizer=opt) if ckpt_dir and rank == 0 else None
    log_every = work["log_every"]
    it = iter(train_ds)
    step = 0
    images = 0
    first_start = last_end = None
    for epoch in range(1, work["epochs"] + 1):
        ep_t0 = time.monotonic()
        ep_loss = ep_score = 0.0
        ep_images = 0
        win = {"steps": 0, "images": 0, "seconds": 0.0, "data_wait_s": 0.0, "loss": 0.0}
        for i in range(steps_per_epoch):
            t0 = time.monotonic()
            x, y = next(it)
            t1 = time.monotonic()
            loss, score = train_step(x, y)
            loss = float(loss)  # waits for the step to finish, so the timing is honest
            t2 = time.monotonic()
            first_start = t0 if first_start is None else first_start
            last_end = t2
            n = int(x.shape[0])
            step += 1
            images += n
            ep_images += n
            ep_loss += loss * n
            ep_score += float(score)
            win["steps"] += 1
            win["images"] += n
            win["seconds"] += t2 - t0
            win["data_wait_s"] += t1 - t0
            win["loss"] += loss
            if win["steps"] == log_every or i == steps_per_epoch - 1:
                log.emit("step", step=step, steps=win["steps"], epoch=epoch, images=win["images"],
                         seconds=win["seconds"], data_wait_s=win["data_wait_s"], loss=win["loss"] / win["steps"])
                win = {"steps": 0, "images": 0, "seconds": 0.0, "data_wait_s": 0.0, "loss": 0.0}
        record = {"epoch": epoch, "steps": steps_per_epoch, "images": ep_images,
                  "seconds": time.monotonic() - ep_t0, "train_loss": ep_loss / ep_images}
        record.update(_metric_fields("train", ep_score, ep_images, ep_loss / ep_images, classification))
        if val_ds is not None and rank == 0:
            vl = vs = 0.0
            vn = 0
            for x, y in val_ds:
                l, s = eval_step(x, y)
                vl += float(l)
                vs += float(s)
                vn += int(x.shape[0])
            record["val_loss"] = vl / vn
            record.update(_metric_fields("val", vs, vn, vl / vn, classification))
        log.emit("epoch", **record)
        if ckpt is not None:
            path = ckpt.save(os.path.join(ckpt_dir, "ckpt"))
            log.emit("checkpoint", path=path, step=step)
    seconds = (last_end - first_start) if first_start is not None else 0.0
    return {"steps": step, "images": images, "seconds": seconds}


def _score(tf, pred, y, classification: bool):
    """Per batch: the number of correct predictions, or the sum of squared errors."""
    if classification:
        hits = tf.equal(tf.argmax(pred, axis=-1), tf.cast(y, tf.int64))
        return tf.reduce_sum(tf.cast(hits, tf.float32))
    return tf.reduce_sum(tf.square(tf.cast(y, tf.float32) - pred))


def _metric_fields(prefix: str, score_sum: float, n: int, mean_loss: float, classification: bool) -> dict:
    if classification:
        return {f"{prefix}_accuracy": score_sum / n}
    # RMSE over every predicted coordinate; the MSE loss is the same mean, so use it.
    return {f"{prefix}_rmse": math.sqrt(mean_loss)}
