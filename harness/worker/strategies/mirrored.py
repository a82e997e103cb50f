"""mirrored on a host: tf.distribute.MultiWorkerMirroredStrategy's training hooks (the
control side: harness/strategies/mirrored.py)."""

from __future__ import annotations

import os
import shutil

from harness.protocol.spec import TaskSpec
from harness.worker.strategies.base import Local, pin_gpu


class Trainer(Local):
    """MultiWorkerMirroredStrategy: per-worker datasets, strategy.run, collective evaluation."""
    joins_cluster = True
    # Saving is a collective here: on a spot notice the chief alone cannot write one.
    checkpoint_on_notice = False
    reusable = False   # its cluster (TF_CONFIG, servers) is fixed at creation: never kept (hot.py)

    def agree_stop(self, mine: bool) -> bool:
        # Several workers would need a collective to agree; they run their planned steps.
        return mine and self.size == 1

    def __init__(self, tf, spec: TaskSpec):
        super().__init__(tf, spec)
        pin_gpu(tf, spec.cluster.local_rank or 0)
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
