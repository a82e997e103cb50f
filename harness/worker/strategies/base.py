"""What every strategy's trainer starts from: `Local`, one process training alone, with the
hooks the training loop calls (dataset, step, evaluation, checkpoints, the loop itself);
a strategy's part (harness/worker/strategies/<name>.py) subclasses it for what differs.
Imported with TensorFlow already loaded (train.py)."""

from __future__ import annotations

import contextlib
import os

from harness.protocol.spec import TaskSpec
from harness.worker.loops import loop_sync


class Local:
    """One process training alone (the single-process baseline); the other strategies'
    trainers override what differs."""
    sync = True          # synchronous data parallelism: learning rate may scale with size
    calibrates = False   # runs local calibration steps before training (calibrate.py)
    # Its start waits for the other tasks (hvd.init, a cluster handshake): timed as the
    # distribution_ready phase.
    joins_cluster = False
    checkpoint_on_notice = True   # the chief checkpoints on a spot notice (interruption.on_notice)
    _eval_step = None    # traced once, on the first evaluation

    def __init__(self, tf, spec: TaskSpec):
        self.tf = tf
        self.rank, self.size = 0, 1

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @property
    def reusable(self) -> bool:
        """Whether its built model and traced step may serve the next task of an identical
        configuration in this process (harness/worker/hot.py; `leave` after a task, `rejoin`
        before the next). Not on a GPU host: a waiting process would hold the GPU's memory
        (TensorFlow takes most of it) while other configurations run there."""
        return not self.tf.config.list_physical_devices("GPU")

    def scope(self):
        return contextlib.nullcontext()

    def dataset(self, x, y, batch: int, seed: int):
        tf = self.tf
        ds = (tf.data.Dataset.from_tensor_slices((x, y))
              .shuffle(len(x), seed=seed + self.rank, reshuffle_each_iteration=True)
              .batch(batch, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE))
        return iter(ds)

    def tape(self, tape):
        return tape

    def train_step(self, model, opt, per_example_loss, score_fn, batch: int, exchange: bool = True):
        """One training step; exchange=False skips the gradient exchange (calibration)."""
        tf = self.tf

        # No autograph: the step has no Python control flow on tensors, and converting what
        # it calls (Horovod's DistributedGradientTape) cost ~2 s of every Horovod rank's first
        # step here (measured: trace 2.0-2.3 s with autograph, 0.1-0.3 s without).
        @tf.function(autograph=False)
        def step(batch_xy):
            x, y = batch_xy
            with tf.GradientTape() as tape:
                pred = model(x, training=True)
                loss = tf.reduce_mean(per_example_loss(y, pred))
            grads = (self.tape(tape) if exchange else tape).gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss, score_fn(pred, y)
        return step

    def after_first_step(self, model, opt) -> None:
        pass

    def rejoin(self, spec: TaskSpec) -> None:
        """Before a task that reuses this trainer (hot.py): join that task's cluster."""

    def leave(self) -> None:
        """After a task whose state is kept: leave its cluster, so the next can join its own."""

    def barrier(self) -> None:
        pass

    def evaluate(self, model, per_example_loss, score_fn, x_val, y_val):
        """(loss sum, score sum, examples) over the validation set, on the chief only;
        None where this task does not evaluate."""
        if not self.is_chief:
            return None
        return self._evaluate_here(model, per_example_loss, score_fn, x_val, y_val)

    def _evaluate_here(self, model, per_example_loss, score_fn, x_val, y_val):
        tf = self.tf
        if self._eval_step is None:
            @tf.function
            def eval_step(x, y):
                pred = model(x, training=False)
                return tf.reduce_sum(per_example_loss(y, pred)), score_fn(pred, y)
            self._eval_step = eval_step

        ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(256).prefetch(tf.data.AUTOTUNE)
        vl = vs = 0.0
        vn = 0
        for x, y in ds:
            l, s = self._eval_step(x, y)
            vl, vs, vn = vl + float(l), vs + float(s), vn + int(x.shape[0])
        return vl, vs, vn

    def checkpoint(self, model, opt, ckpt_dir: str | None):
        """A function that saves a checkpoint and returns its path (None where this task
        keeps none), or None when no checkpoints are kept."""
        if not ckpt_dir or not self.is_chief:
            return None
        ckpt = self.tf.train.Checkpoint(model=model, optimizer=opt)
        return lambda: ckpt.save(os.path.join(ckpt_dir, "ckpt"))

    def _checkpoint_options(self):
        return None

    def write_checkpoint(self, model, opt, ckpt_dir: str, name: str) -> str:
        """One checkpoint now, under its own name (the epoch checkpoints' counter is untouched)."""
        ckpt, options = self.tf.train.Checkpoint(model=model, optimizer=opt), self._checkpoint_options()
        # With an I/O device (parameter servers) the path must not depend on a task's directory.
        return ckpt.write(os.path.join(os.path.abspath(ckpt_dir) if options else ckpt_dir, name), options=options)

    def restore_checkpoint(self, model, opt, path: str) -> None:
        with self.scope():
            ckpt = self.tf.train.Checkpoint(model=model, optimizer=opt)
            ckpt.restore(path, options=self._checkpoint_options()).expect_partial()

    def agree_stop(self, mine: bool) -> bool:
        """Whether every process stops here (precision reached): alone, its own answer. Every
        process of a configuration calls it at the same step records."""
        return mine

    def run_loop(self, spec: TaskSpec, log, model, opt, loss_fn, score_fn, step_fn, it, data,
                 steps_per_epoch: int, classification: bool, start_step: int = 0, spot=None, calib=None) -> dict:
        """The training loop (loops.loop_sync: synchronous steps); its summary for run_end."""
        return loop_sync(spec, log, self, model, opt, loss_fn, score_fn, step_fn, it, data, steps_per_epoch,
                         classification, start_step, spot, calib)


def pin_gpu(tf, local_rank: int) -> None:
    """One GPU per process, chosen by local rank (as Horovod's docs do); no-op on CPU hosts."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return
    gpu = gpus[local_rank % len(gpus)]
    tf.config.experimental.set_memory_growth(gpu, True)
    tf.config.set_visible_devices(gpu, "GPU")
