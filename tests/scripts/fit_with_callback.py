"""A user's own Keras script (tests): model.fit on the digits, Horovod-aware when started
by the harness with Horovod's environment, reporting through harness.callback."""

import os
import sys

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

from harness.callback import HarnessCallback

keras = tf.keras  # tf_keras: the harness sets TF_USE_LEGACY_KERAS=1
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
batch = 32
rank, size = 0, 1
if "HOROVOD_RANK" in os.environ:
    import horovod.tensorflow.keras as hvd

    hvd.init()
    rank, size = hvd.rank(), hvd.size()

digits = load_digits()
x_all = (digits.images / 16.0).astype("float32").reshape(-1, 64)
y_all = digits.target.astype("int64")
x_val, y_val = x_all[1400:], y_all[1400:]
x, y = x_all[:1400][rank::size], y_all[:1400][rank::size]
steps = 1400 // size // batch  # the same on every rank: a rank with one step more waits forever
model = keras.Sequential([keras.layers.Dense(64, activation="relu", input_shape=(64,)),
                          keras.layers.Dense(10, activation="softmax")])
opt = keras.optimizers.legacy.SGD(learning_rate=0.1 * size, momentum=0.9)
callbacks = [HarnessCallback(batch_size=batch)]
if size > 1:
    opt = hvd.DistributedOptimizer(opt)
    callbacks.insert(0, hvd.callbacks.BroadcastGlobalVariablesCallback(0))
model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=rank).batch(batch, drop_remainder=True).repeat()
model.fit(data, epochs=epochs, steps_per_epoch=steps, callbacks=callbacks,
          validation_data=(x_val, y_val) if rank == 0 else None, verbose=0)
print(f"rank {rank} of {size} done", flush=True)
