"""parameter_server on a host (the control side: harness/strategies/parameter_server.py):
the chief's training hooks and loop (`Trainer`, `loop_ps`), and the tasks that serve: the
ps and worker tf.distribute.Server (a worker calibrates before its server starts) and the
evaluator that evaluates each checkpoint the chief writes. A user's own script plays the
ps/worker/evaluator roles itself (it sees TF_CONFIG): then they are not servers here."""

from __future__ import annotations

import os
import time
from collections import deque

from harness.protocol.spec import TaskSpec
from harness.worker.interruption import on_notice
from harness.worker.loops import Window, epoch_end, metric_fields, precision_stop, stopped_at_precision
from harness.worker.stopping import StopOnSignal
from harness.worker.strategies.base import Local

NO_WORKLOAD = ("ps",)
CLUSTER_NEEDS = {"evaluator": ("watch_dir",)}
# A TensorFlow server cannot be shut down cleanly; interpreter exit can hang on it.
EXIT_HARD = ("ps", "worker")


def server(spec: TaskSpec):
    if spec.workload is not None and spec.workload.script:
        return None
    return {"ps": serve_tf, "worker": serve_tf, "evaluator": run_evaluator}.get(spec.role)


class Trainer(Local):
    """The chief of a parameter-server cluster. Steps are scheduled on whichever worker is
    free; its loop (loop_ps) fetches their results in order."""
    sync = False
    joins_cluster = True
    reusable = False   # its cluster (TF_CONFIG, servers) is fixed at creation: never kept (hot.py)

    def __init__(self, tf, spec: TaskSpec):
        super().__init__(tf, spec)
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        self.strategy = tf.distribute.ParameterServerStrategy(resolver)
        self.coordinator = tf.distribute.coordinator.ClusterCoordinator(self.strategy)
        self.workers = len(resolver.cluster_spec().as_dict().get("worker", []))
        self.size = self.workers

    def scope(self):
        return self.strategy.scope()

    def dataset(self, x, y, batch: int, seed: int):
        tf = self.tf

        def dataset_fn():
            # Runs on each worker: every worker draws from the whole training set in its
            # own random order (unseeded on purpose, so the workers' batches differ).
            return (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x))
                    .batch(batch, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE))
        return iter(self.coordinator.create_per_worker_dataset(dataset_fn))

    def train_step(self, model, opt, per_example_loss, score_fn, batch: int):
        tf, strategy = self.tf, self.strategy

        def replica_step(x, y):
            with tf.GradientTape() as tape:
                pred = model(x, training=True)
                loss = tf.nn.compute_average_loss(per_example_loss(y, pred))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss, score_fn(pred, y)

        @tf.function
        def step(iterator):
            x, y = next(iterator)
            loss, score = strategy.run(replica_step, args=(x, y))
            return (strategy.reduce(tf.distribute.ReduceOp.MEAN, loss, axis=None),
                    strategy.reduce(tf.distribute.ReduceOp.SUM, score, axis=None))
        return step

    def checkpoint(self, model, opt, ckpt_dir: str | None):
        # Variables live on the ps tasks, whose SaveV2 ops would write relative to their own
        # working directories (their hosts); route all checkpoint I/O through the chief.
        if not ckpt_dir:
            return None
        ckpt = self.tf.train.Checkpoint(model=model, optimizer=opt)
        options = self._checkpoint_options()
        path = os.path.join(os.path.abspath(ckpt_dir), "ckpt")
        return lambda: ckpt.save(path, options=options)

    def _checkpoint_options(self):
        return self.tf.train.CheckpointOptions(experimental_io_device="/job:chief/replica:0/task:0/device:CPU:0")

    def run_loop(self, spec: TaskSpec, log, model, opt, loss_fn, score_fn, step_fn, it, data,
                 steps_per_epoch: int, classification: bool, start_step: int = 0, spot=None, calib=None) -> dict:
        return loop_ps(spec, log, self, model, opt, loss_fn, score_fn, step_fn, it, data, steps_per_epoch,
                       classification, start_step, spot, calib)

    def schedule(self, step, iterator):
        return self.coordinator.schedule(step, args=(iterator,))

    def join(self) -> None:
        self.coordinator.join()


def loop_ps(spec, log, dist, model, opt, loss_fn, score_fn, step_fn, it, data, steps_per_epoch,
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
    stopper = precision_stop(spec)
    for epoch in range(first_epoch, work.epochs + 1):
        ep_t0 = time.monotonic()
        ep_loss = ep_score = 0.0
        prev = time.monotonic()
        first_start = prev if first_start is None else first_start
        in_flight = 2 * max(1, dist.workers)
        todo = steps_per_epoch - (skip if epoch == first_epoch else 0)   # a resumed run continues mid-epoch
        pending = deque(dist.schedule(step_fn, it) for _ in range(min(in_flight, todo)))
        scheduled = len(pending)
        win = Window()
        while pending:
            loss, score = pending.popleft().fetch()
            now = time.monotonic()
            # On a spot notice nothing new is scheduled; the steps in flight finish and count.
            notice = notice or (spot.pending() if spot is not None else None)
            # Precision reached: likewise; the steps in flight finish and are recorded.
            if scheduled < todo and not notice and not (stopper is not None and stopper.stopped):
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
                if stopper is not None and not stopper.stopped:
                    stopped_at_precision(stopper, win, step, dist, log)
                win = Window()
        dist.join()
        if notice:
            on_notice(spec, log, dist, model, opt, spot, step)
        if stopper is not None and stopper.stopped:
            break   # a partial epoch: no epoch record or evaluation
        ep_images = todo * batch
        record = {"epoch": epoch, "steps": todo, "images": ep_images,
                  "seconds": time.monotonic() - ep_t0, "train_loss": ep_loss / ep_images}
        record.update(metric_fields("train", ep_score, ep_images, ep_loss / ep_images, classification))
        epoch_end(log, dist, model, opt, loss_fn, score_fn, save, data, record, step, classification)
    seconds = (last_end - first_start) if first_start is not None else 0.0
    return {"steps": step - start_step, "images": images, "seconds": seconds, "last_step": step}


def serve_tf(spec: TaskSpec, log) -> dict:
    stop = StopOnSignal()
    t = time.monotonic()
    import tensorflow as tf

    log.emit("phase", name="framework_import", seconds=time.monotonic() - t, versions={"tensorflow": tf.__version__})
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    threads = spec.threads
    if resolver.task_type == "worker" and spec.workload is not None and spec.workload.calibration_steps:
        # Before the server starts: the chief cannot schedule steps here while we calibrate
        # (it waits for every worker), and all workers calibrate at once, as they train.
        calibrate_ps_worker(tf, spec, log)
    config = None
    if threads.intra_op is not None or threads.inter_op is not None:
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads.intra_op or 0,
                                          inter_op_parallelism_threads=threads.inter_op or 0)
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                  task_index=resolver.task_id, protocol="grpc", config=config, start=True)
    log.emit("server_start", kind=f"tf_{resolver.task_type}", target=server.target)
    stop.wait()  # not server.join(): it blocks in C++, where no Python signal handler runs
    return {"stopped_by": stop.signum}


def calibrate_ps_worker(tf, spec: TaskSpec, log) -> None:
    """A parameter-server worker's calibration (harness/worker/calibrate.py): the chief's
    step (same model, batch, optimizer and loss) with variables local to this process."""
    import models
    from harness.worker.calibrate import calibrate, gradient_bytes
    from harness.worker.datasets import load_dataset
    from harness.worker.keras_parts import import_tf, optimizer, score

    _, keras = import_tf(spec.threads)   # tf is imported: sets its threads, gives tf_keras
    work = spec.workload
    data = load_dataset(work.dataset, seed=work.seed)
    keras.utils.set_random_seed(work.seed)
    model = models.build(work.model, data.input_shape, data.outputs, data.task)
    classification = data.task == "classification"
    loss_fn = (keras.losses.SparseCategoricalCrossentropy(reduction="none") if classification
               else keras.losses.MeanSquaredError(reduction="none"))
    local = Local(tf, spec)
    step = local.train_step(model, optimizer(keras, work.optimizer, work.learning_rate), loss_fn,
                            lambda pred, y: score(tf, pred, y, classification), int(work.batch_size))
    it = local.dataset(data.x_train, data.y_train, int(work.batch_size), int(work.seed))
    _, grad_bytes = gradient_bytes(model)
    calibrate(log, step, it, model, int(work.calibration_steps), strategy="parameter_server",
              size=len(spec.cluster.cluster.get("worker", ())) or None, gradient_bytes=grad_bytes)


def run_evaluator(spec: TaskSpec, log) -> dict:
    """Sidecar evaluation: each new checkpoint the chief writes is restored into a local copy
    of the model and evaluated on the validation set; one `evaluation` record each."""
    stop = StopOnSignal()
    import tensorflow as tf
    import tf_keras as keras

    import models
    from harness.worker.datasets import load_dataset

    work = spec.workload
    data = load_dataset(work.dataset, seed=work.seed)
    model = models.build(work.model, data.input_shape, data.outputs, data.task)
    ckpt = tf.train.Checkpoint(model=model)
    classification = data.task == "classification"
    watch = spec.cluster.watch_dir
    log.emit("server_start", kind="evaluator", watch_dir=watch)
    seen = None
    while True:
        latest = tf.train.latest_checkpoint(watch) if os.path.isdir(watch) else None
        if latest and latest != seen:
            seen = latest
            ckpt.restore(latest).expect_partial()
            pred = model.predict(data.x_val, batch_size=256, verbose=0)
            if classification:
                loss = float(keras.losses.sparse_categorical_crossentropy(data.y_val, pred).numpy().mean())
                fields = {"val_loss": loss, "val_accuracy": float((pred.argmax(-1) == data.y_val).mean())}
            else:
                mse = float(((pred - data.y_val) ** 2).mean())
                fields = {"val_loss": mse, "val_rmse": mse ** 0.5}
            log.emit("evaluation", checkpoint=latest, **fields)
        if stop.wait(timeout=1.0):
            return {"stopped_by": stop.signum, "last_checkpoint": seen}
