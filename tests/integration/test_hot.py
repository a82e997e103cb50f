"""Kept state (harness/worker/hot.py) with real TensorFlow: a reset puts the weights back to
their built values and the optimizer back to its state before the first step (slots at
zero, counter at zero, learning rate as built), so the next step is the first step again."""

import numpy as np
import pytest

from harness.protocol.spec import TaskSpec

pytestmark = [pytest.mark.slow]   # imports TensorFlow


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "rmsprop"])
def test_after_a_reset_the_first_step_is_the_first_step_again(name):
    import tensorflow as tf
    import tf_keras as keras

    from harness.worker import hot, keras_parts

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.layers.Dense(4, activation="relu", input_shape=(3,)), keras.layers.Dense(2)])
    opt = keras_parts.optimizer(keras, name, 0.1)
    kept = hot.Kept("k", tf, keras, None, None, model, opt, None, None, None, 0.1, model.get_weights(),
                    hot.optimizer_state(opt))
    x, y = tf.constant(np.random.RandomState(0).rand(8, 3), tf.float32), tf.constant([0, 1] * 4)

    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    first = [float(step()) for _ in range(3)]
    hot.reset(kept)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), kept.initial))
    assert int(opt.iterations.numpy()) == 0 and float(keras.backend.get_value(opt.learning_rate)) == pytest.approx(0.1)
    again = [float(step()) for _ in range(3)]   # the same traced step, no retrace needed
    assert again == pytest.approx(first, rel=1e-6)   # without the reset, step 1 would start where step 3 ended


def test_only_the_same_key_takes_a_kept_state_and_a_resumed_task_takes_none(monkeypatch):
    from harness.protocol.constants import WARM_HOT_ENV
    from harness.worker import hot

    spec = TaskSpec(run_id="r", experiment="e", config="c", strategy="single", task_id="w", role="worker", host="h")
    hot.keep(hot.Kept("k1", None, None, None, None, None, None, None, None, None, 0.1, [], []))
    monkeypatch.setenv(WARM_HOT_ENV, "k2")
    assert hot.take(spec) is None and not hot.holds("k1")   # another key: never used, dropped
    hot.keep(hot.Kept("k1", None, None, None, None, None, None, None, None, None, 0.1, [], []))
    resumed = TaskSpec(run_id="r", experiment="e", config="c", strategy="single", task_id="w", role="worker",
                       host="h", resume_from={"run_id": "r0", "checkpoint_path": "p", "step": 3})
    monkeypatch.setenv(WARM_HOT_ENV, "k1")
    assert hot.key_of(resumed) is None and hot.take(resumed) is None
    hot.keep(hot.Kept("k1", None, None, None, None, None, None, None, None, None, 0.1, [], []))
    assert hot.take(spec).key == "k1" and not hot.holds("k1")
