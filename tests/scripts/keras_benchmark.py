"""A user's Horovod Keras benchmark script (tests), written the way the widely used Keras
synthetic benchmarks are: `horovod.tensorflow.keras` with hvd.DistributedOptimizer around
a Keras optimizer, model.fit on synthetic images, and Horovod's callbacks (broadcast,
metric averaging, learning-rate warm-up, then a schedule). One epoch is one timed
iteration of --num-batches-per-iter batches. Every rank prints its own rate per iteration;
rank 0 then prints the mean per worker and the total, each with a ±1.96·sd spread, over
the iterations after the first (warm-up). It knows nothing of the harness.

At the end every rank prints its last epoch's loss (averaged over the ranks by
MetricAverageCallback, so the same on every rank although each rank trains on its own
data) and its learning rate (after the warm-up and the schedule), so a test can see the
callbacks at work."""

import argparse
from timeit import default_timer as timer

import numpy as np
import tensorflow as tf
import horovod.tensorflow.keras as hvd

p = argparse.ArgumentParser()
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--num-batches-per-iter", type=int, default=10)
p.add_argument("--num-iters", type=int, default=6)
p.add_argument("--warmup-epochs", type=int, default=2)
p.add_argument("--lr", type=float, default=0.01, help="per worker; scaled by the number of workers")
p.add_argument("--legacy-optimizer", action="store_true",
               help="tf.keras.optimizers.legacy.SGD (momentum a variable) instead of tf.keras.optimizers.SGD")
args = p.parse_args()

hvd.init()
rank, size = hvd.rank(), hvd.size()
keras = tf.keras   # tf-keras: TF_USE_LEGACY_KERAS=1
if rank == 0:
    print(f"Batch size {args.batch_size}, {size} worker(s)", flush=True)

model = keras.Sequential([
    keras.layers.Conv2D(8, 3, activation="relu", input_shape=(32, 32, 3)),
    keras.layers.MaxPooling2D(),
    keras.layers.Flatten(),
    keras.layers.Dense(10),
])
scaled_lr = args.lr * size
sgd = keras.optimizers.legacy.SGD if args.legacy_optimizer else keras.optimizers.SGD
opt = hvd.DistributedOptimizer(sgd(learning_rate=scaled_lr, momentum=0.9))
model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])

# Synthetic data, different on every rank.
tf.random.set_seed(rank)
data = tf.random.uniform([args.batch_size * 4, 32, 32, 3])
target = tf.random.uniform([args.batch_size * 4], minval=0, maxval=10, dtype=tf.int64)
dataset = tf.data.Dataset.from_tensor_slices((data, target)).cache().repeat().batch(args.batch_size)


class Timing(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.img_secs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = timer()

    def on_epoch_end(self, epoch, logs=None):
        img_sec = args.batch_size * args.num_batches_per_iter / (timer() - self.start)
        print(f"Iter #{epoch}: {img_sec:.1f} img/sec per worker (rank {rank})", flush=True)
        if epoch > 0:   # the first iteration warms up
            self.img_secs.append(img_sec)
        self.last = dict(logs or {})


timing = Timing()
callbacks = [
    hvd.callbacks.BroadcastGlobalVariablesCallback(0),
    hvd.callbacks.MetricAverageCallback(),   # before any callback that reads the metrics
    hvd.callbacks.LearningRateWarmupCallback(initial_lr=scaled_lr, warmup_epochs=args.warmup_epochs, verbose=1),
    hvd.callbacks.LearningRateScheduleCallback(initial_lr=scaled_lr, multiplier=0.5, start_epoch=args.warmup_epochs),
    timing,
]
model.fit(dataset, steps_per_epoch=args.num_batches_per_iter, epochs=args.num_iters, callbacks=callbacks, verbose=0)

mean, conf = float(np.mean(timing.img_secs)), 1.96 * float(np.std(timing.img_secs))
per_rank = hvd.allgather(tf.constant([[mean, conf]], dtype=tf.float64)).numpy()   # (size, 2)
print(f"rank {rank}: done, loss {timing.last['loss']:.6f}, lr {timing.last['lr']:.6g}", flush=True)
if rank == 0:
    # The total is the sum of the ranks' own means; its spread the sum of theirs (the
    # ranks step in lockstep, so their rates move together).
    total, total_conf = float(per_rank[:, 0].sum()), float(per_rank[:, 1].sum())
    print(f"Img/sec per worker: {total / size:.1f} +-{total_conf / size:.1f}", flush=True)
    print(f"Total img/sec on {size} worker(s): {total:.1f} +-{total_conf:.1f}", flush=True)
