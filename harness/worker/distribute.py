"""Strategy hooks for the training loop (imported with TensorFlow already loaded, see
`for_strategy`); the tasks that serve rather than train are in servers.py and mpi.py.

  Local            single process; the baseline
  Horovod          hvd.init, GPU by local rank, DistributedGradientTape, broadcast after step 1
  Mirrored         MultiWorkerMirroredStrategy: per-worker datasets, strategy.run, collective eval
  ParameterServer  the chief's ParameterServerStrategy + ClusterCoordinator (loop in train.py)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time

from harness.protocol.spec import TaskSpec


class Local:
    """The single-process baseline; the other strategies override what differs."""
    name = "single"
    sync = True          # synchronous data parallelism: learning rate may scale with size
    calibrates = False   # runs local calibration steps before training (calibrate.py)
    _eval_step = None    # traced once, on the first evaluation

    def __init__(self, tf, spec: TaskSpec):
        self.tf = tf
        self.rank, self.size = 0, 1

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

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


class Horovod(Local):
    name = "horovod"
    calibrates = True

    def __init__(self, tf, spec: TaskSpec):
        super().__init__(tf, spec)
        import horovod.tensorflow as hvd

        self.hvd = hvd
        _wait_for_rendezvous()
        hvd.init()
        self.rank, self.size = hvd.rank(), hvd.size()
        if self.size != spec.size:
            raise RuntimeError(f"Horovod started {self.size} ranks but the plan has {spec.size}")
        _pin_gpu(tf, hvd.local_rank())

    def tape(self, tape):
        return self.hvd.DistributedGradientTape(tape)

    def after_first_step(self, model, opt) -> None:
        # Every rank starts from rank 0's weights (and optimizer slots, created by step 1).
        self.hvd.broadcast_variables(model.variables, root_rank=0)
        self.hvd.broadcast_variables(opt.variables, root_rank=0)

    def barrier(self) -> None:
        self._allreduce_sum([0.0], "harness_barrier")

    def _allreduce_sum(self, values: list[float], name: str) -> list[float]:
        tf = self.tf
        out = self.hvd.allreduce(tf.constant(values, dtype=tf.float64), op=self.hvd.Sum, name=name)
        return [float(v) for v in out.numpy()]

    def evaluate(self, model, per_example_loss, score_fn, x_val, y_val):
        """Every rank evaluates its shard and one all-reduce adds the sums; rank 0 records
        them. (Rank 0 evaluating alone would leave the others waiting inside their next
        step's all-reduce, and that wait would show up as step time.)"""
        local = self._evaluate_here(model, per_example_loss, score_fn,
                                    x_val[self.rank::self.size], y_val[self.rank::self.size])
        vl, vs, vn = self._allreduce_sum(list(local), "harness_eval")
        return (vl, vs, int(vn)) if self.is_chief else None

    def checkpoint(self, model, opt, ckpt_dir: str | None):
        if not ckpt_dir:
            return None
        save = Local.checkpoint(self, model, opt, ckpt_dir)   # rank 0 only

        def save_then_wait():
            path = save() if save else None
            # The others wait here, not inside their next step, while rank 0 writes.
            self._allreduce_sum([0.0], "harness_checkpoint_barrier")
            return path
        return save_then_wait


class Mirrored(Local):
    name = "mirrored"

    def __init__(self, tf, spec: TaskSpec):
        super().__init__(tf, spec)
        _pin_gpu(tf, spec.cluster.local_rank or 0)
        comm = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
        self.strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=comm)
        resolver = self.strategy.cluster_resolver
        self.rank = int(resolver.task_id)
        self.size = len(resolver.cluster_spec().as_dict().get("worker", [])) or 1

    def scope(self):
        return self.strategy.scope()

    def dataset(self, x, y, batch: int, seed: int):
        tf = self.tf

        def make(ctx):
            # The shard is already this worker's (rank::size): no auto-sharding on top.
            return (tf.data.Dataset.from_tensor_slices((x, y))
                    .shuffle(len(x), seed=seed + self.rank, reshuffle_each_iteration=True)
                    .batch(batch, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE))
        return iter(self.strategy.distribute_datasets_from_function(make))

    def train_step(self, model, opt, per_example_loss, score_fn, batch: int):
        tf, strategy = self.tf, self.strategy
        global_batch = batch * strategy.num_replicas_in_sync

        def replica_step(x, y):
            with tf.GradientTape() as tape:
                pred = model(x, training=True)
                per_example = per_example_loss(y, pred)
                # Gradients are summed over replicas: scale by the global batch.
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return tf.reduce_mean(per_example), score_fn(pred, y)

        @tf.function
        def step(batch_xy):
            loss, score = strategy.run(replica_step, args=batch_xy)
            # This worker's own figures (its local replicas), like every other strategy's.
            losses = strategy.experimental_local_results(loss)
            return tf.add_n(losses) / len(losses), tf.add_n(strategy.experimental_local_results(score))
        return step

    def evaluate(self, model, per_example_loss, score_fn, x_val, y_val):
        """Every worker evaluates its shard; one all-reduce adds the sums. (All workers take
        part: reading some variables, e.g. batch-norm statistics, is itself a collective.)"""
        tf, strategy = self.tf, self.strategy
        x_val, y_val = x_val[self.rank::self.size], y_val[self.rank::self.size]
        if self._eval_step is None:
            @tf.function
            def eval_step(x, y):
                def fn(x, y):
                    pred = model(x, training=False)
                    return tf.reduce_sum(per_example_loss(y, pred)), score_fn(pred, y)
                l, s = strategy.run(fn, args=(x, y))
                return (tf.add_n(strategy.experimental_local_results(l)),
                        tf.add_n(strategy.experimental_local_results(s)))
            self._eval_step = eval_step

        vl = vs = 0.0
        vn = 0
        for x, y in tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(256):
            l, s = self._eval_step(x, y)
            vl, vs, vn = vl + float(l), vs + float(s), vn + int(x.shape[0])
        totals = strategy.run(lambda: tf.constant([vl, vs, float(vn)]))
        vl, vs, vn = (float(v) for v in strategy.reduce(tf.distribute.ReduceOp.SUM, totals, axis=None))
        return (vl, vs, int(vn)) if self.is_chief else None

    def checkpoint(self, model, opt, ckpt_dir: str | None):
        # Every worker must save (saving may read synchronised variables, a collective);
        # only the chief's copy is kept.
        if not ckpt_dir:
            return None
        ckpt = self.tf.train.Checkpoint(model=model, optimizer=opt)
        if self.is_chief:
            return lambda: ckpt.save(os.path.join(ckpt_dir, "ckpt"))
        tmp = os.path.abspath(f"checkpoints-worker{self.rank}.tmp")

        def save_and_drop():
            ckpt.save(os.path.join(tmp, "ckpt"))
            shutil.rmtree(tmp, ignore_errors=True)
        return save_and_drop


class ParameterServer(Local):
    """The chief of a parameter-server cluster. Steps are scheduled on whichever worker is
    free; train.py's loop fetches their results in order (see _train_ps there)."""
    name = "parameter_server"
    sync = False

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

    def schedule(self, step, iterator):
        return self.coordinator.schedule(step, args=(iterator,))

    def join(self) -> None:
        self.coordinator.join()


def _wait_for_rendezvous(timeout: float = 60.0) -> None:
    """The rendezvous task starts before the ranks, but may not listen yet; Horovod's own
    first request does not retry a refused connection."""
    import socket

    addr, port = os.environ.get("HOROVOD_GLOO_RENDEZVOUS_ADDR"), os.environ.get("HOROVOD_GLOO_RENDEZVOUS_PORT")
    if not addr or not port:
        return  # started by mpirun
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((addr, int(port)), timeout=2).close()
            return
        except OSError as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Horovod rendezvous server {addr}:{port} not reachable after {timeout:g} s: {e}")
            time.sleep(0.2)


def _pin_gpu(tf, local_rank: int) -> None:
    """One GPU per process, chosen by local rank (as Horovod's docs do); no-op on CPU hosts."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return
    gpu = gpus[local_rank % len(gpus)]
    tf.config.experimental.set_memory_growth(gpu, True)
    tf.config.set_visible_devices(gpu, "GPU")


def for_strategy(strategy: str, tf, spec: TaskSpec) -> Local:
    kind = {"single": Local, "horovod": Horovod, "mirrored": Mirrored, "parameter_server": ParameterServer}
    if strategy not in kind:
        raise ValueError(f"unknown strategy {strategy!r}")
    return kind[strategy](tf, spec)
