"""A user's own ParameterServerStrategy script, written for TF_CONFIG as TensorFlow's
tutorial writes one: ps and worker tasks start a tf.distribute.Server and wait; the chief
coordinates model.fit and prints its rate per epoch ("epoch 2: 812.5 images/sec"), which
the experiment's regular expression reads."""

import sys
import time

import tensorflow as tf
from sklearn.datasets import load_digits

keras = tf.keras  # tf_keras: the harness sets TF_USE_LEGACY_KERAS=1
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 40
batch = 32

resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
if resolver.task_type in ("ps", "worker"):
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                  task_index=resolver.task_id, protocol=resolver.rpc_layer or "grpc", start=True)
    print(f"{resolver.task_type} {resolver.task_id} serving", flush=True)
    server.join()   # until the harness stops it when the chief is done
    sys.exit(0)

strategy = tf.distribute.ParameterServerStrategy(resolver)
digits = load_digits()
x = (digits.images / 16.0).astype("float32").reshape(-1, 64)
y = digits.target.astype("int64")


def dataset_fn(input_context):
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(batch, drop_remainder=True).repeat()


class Rate(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.t0
        print(f"epoch {epoch + 1}: {steps * batch / seconds:.1f} images/sec, loss {float(logs['loss']):.4f}",
              flush=True)


with strategy.scope():
    model = keras.Sequential([keras.layers.Dense(64, activation="relu", input_shape=(64,)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="sparse_categorical_crossentropy")
model.fit(keras.utils.experimental.DatasetCreator(dataset_fn), epochs=epochs, steps_per_epoch=steps,
          callbacks=[Rate()], verbose=0)
print("chief done", flush=True)
