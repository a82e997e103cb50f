"""A user's own MultiWorkerMirroredStrategy script, written for TF_CONFIG as TensorFlow's
tutorial writes one: the strategy reads the cluster from TF_CONFIG, every worker runs the
same model.fit on its shard of a global batch, and reports through harness.callback."""

import json
import os
import sys

import tensorflow as tf
from sklearn.datasets import load_digits

from harness.callback import HarnessCallback

keras = tf.keras  # tf_keras: the harness sets TF_USE_LEGACY_KERAS=1
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
per_worker_batch = 32

strategy = tf.distribute.MultiWorkerMirroredStrategy()
tf_config = json.loads(os.environ["TF_CONFIG"])
index, workers = tf_config["task"]["index"], len(tf_config["cluster"]["worker"])
global_batch = per_worker_batch * strategy.num_replicas_in_sync

digits = load_digits()
x = (digits.images / 16.0).astype("float32").reshape(-1, 64)
y = digits.target.astype("int64")
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
data = (tf.data.Dataset.from_tensor_slices((x[:1400], y[:1400])).shuffle(1400, seed=0)
        .batch(global_batch, drop_remainder=True).repeat().with_options(options))

with strategy.scope():
    model = keras.Sequential([keras.layers.Dense(64, activation="relu", input_shape=(64,)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(data, epochs=epochs, steps_per_epoch=1400 // global_batch, verbose=0,
          callbacks=[HarnessCallback(batch_size=per_worker_batch)])
print(f"worker {index} of {workers} done", flush=True)
