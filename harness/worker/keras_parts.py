"""TensorFlow and Keras pieces that every process training or calibrating on a host needs
the same way: importing TensorFlow with its thread pools set, the optimizer by name, and the
per-batch score (train.py and servers.py)."""

from __future__ import annotations

from harness.protocol.spec import Threads
from harness.protocol.workload import OPTIMIZERS

# One builder per name the protocol knows (OPTIMIZERS; tests/integration/test_worker_task_spec.py
# keeps the two equal). A name without a builder is refused, never replaced by another.
_OPTIMIZERS = {
    "sgd": lambda keras, lr: keras.optimizers.SGD(learning_rate=lr),
    "momentum": lambda keras, lr: keras.optimizers.SGD(learning_rate=lr, momentum=0.9),
    "adam": lambda keras, lr: keras.optimizers.Adam(learning_rate=lr),
    "rmsprop": lambda keras, lr: keras.optimizers.RMSprop(learning_rate=lr),
}


def import_tf(threads: Threads):
    import tensorflow as tf
    import tf_keras

    # Must happen before TensorFlow creates its thread pools (before any op runs).
    if threads.intra_op is not None:
        tf.config.threading.set_intra_op_parallelism_threads(threads.intra_op)
    if threads.inter_op is not None:
        tf.config.threading.set_inter_op_parallelism_threads(threads.inter_op)
    return tf, tf_keras


def optimizer(keras, name: str, lr: float):
    build = _OPTIMIZERS.get(name)
    if build is None:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(sorted(OPTIMIZERS))}")
    return build(keras, lr)


def score(tf, pred, y, classification: bool):
    """Per batch: the number of correct predictions, or the sum of squared errors."""
    if classification:
        hits = tf.equal(tf.argmax(pred, axis=-1), tf.cast(y, tf.int64))
        return tf.reduce_sum(tf.cast(hits, tf.float32))
    return tf.reduce_sum(tf.square(tf.cast(y, tf.float32) - pred))
