"""A user's Horovod benchmark script (tests), in the shape of the widely used synthetic
benchmarks: warm-up batches, then timed iterations of a few batches each; rank 0 prints
each iteration's rate per worker and, at the end, the mean per worker and the total over
all workers, each with a ±1.96·sd spread. It knows nothing of the harness: the experiment
reads its output with regular expressions. BENCH_NOTE (from the experiment's env) is
echoed by every rank so a test can see that env values arrive."""

import argparse
import os
import timeit

import numpy as np
import tensorflow as tf

p = argparse.ArgumentParser()
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--num-warmup-batches", type=int, default=3)
p.add_argument("--num-batches-per-iter", type=int, default=5)
p.add_argument("--num-iters", type=int, default=8)
args = p.parse_args()

distributed = "HOROVOD_RANK" in os.environ
if distributed:
    import horovod.tensorflow as hvd

    hvd.init()
    rank, size = hvd.rank(), hvd.size()
else:
    rank, size = 0, 1
print(f"rank {rank}: BENCH_NOTE={os.environ.get('BENCH_NOTE', '')}", flush=True)

keras = tf.keras
model = keras.Sequential([keras.layers.Dense(256, activation="relu", input_shape=(512,)),
                          keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])
opt = tf.optimizers.SGD(0.01)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
rng = np.random.default_rng(rank)
data = tf.constant(rng.random((args.batch_size, 512), dtype=np.float32))
target = tf.constant(rng.integers(0, 10, size=(args.batch_size,)))


@tf.function
def step(first: bool):
    with tf.GradientTape() as tape:
        loss = loss_fn(target, model(data, training=True))
    if distributed:
        tape = hvd.DistributedGradientTape(tape)
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))
    if distributed and first:
        hvd.broadcast_variables(model.variables, root_rank=0)
        hvd.broadcast_variables(opt.variables(), root_rank=0)
    return loss


step(True)
for _ in range(args.num_warmup_batches):
    step(False)


def one_iter():
    for _ in range(args.num_batches_per_iter):
        loss = step(False)
    loss.numpy()  # wait for the last batch


rates = []
for i in range(args.num_iters):
    seconds = timeit.timeit(one_iter, number=1)
    rate = args.batch_size * args.num_batches_per_iter / seconds
    if rank == 0:
        print(f"Iter #{i}: {rate:.1f} img/sec per worker", flush=True)
    rates.append(rate)

if rank == 0:
    mean, conf = float(np.mean(rates)), 1.96 * float(np.std(rates))
    print(f"Img/sec per worker: {mean:.1f} +-{conf:.1f}", flush=True)
    print(f"Total img/sec on {size} worker(s): {size * mean:.1f} +-{size * conf:.1f}", flush=True)
