"""Model builders: every registered name builds for small and CIFAR-sized inputs, and the
cheap ones really learn a tiny fixed batch."""

from __future__ import annotations

import numpy as np
import pytest

import models

keras = pytest.importorskip("tf_keras")

# tf_keras itself calls random.randint with a float bound on every layer; not ours to fix.
pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:non-integer arguments to randrange:DeprecationWarning")]


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield


@pytest.mark.parametrize("name", models.MODEL_NAMES)
@pytest.mark.parametrize("shape", [(8, 8, 1), (32, 32, 3)])
def test_builds_for_classification(name, shape):
    model = models.build(name, shape, 10, "classification")
    assert model.input_shape == (None, *shape)
    assert model.output_shape == (None, 10)
    out = model(np.zeros((2, *shape), np.float32), training=False).numpy()
    # Softmax output: each row is a distribution over the classes.
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_facial_keypoints_regression_96x96():
    model = models.build("facial_keypoints_cnn", (96, 96, 1), 30, "regression")
    assert model.output_shape == (None, 30)
    assert model.layers[-1].get_config()["activation"] == "linear"
    assert model.count_params() < 2_000_000  # small enough to train on CPU


def test_regression_output_is_linear_for_every_model():
    for name in models.MODEL_NAMES:
        model = models.build(name, (8, 8, 1), 3, "regression")
        assert model.output_shape == (None, 3)
        assert model.layers[-1].get_config()["activation"] == "linear", name


def test_grayscale_without_channel_axis_and_flat_inputs():
    assert models.build("cifar10_cnn", (8, 8), 4, "classification").output_shape == (None, 4)
    assert models.build("mlp", (20,), 4, "classification").output_shape == (None, 4)
    with pytest.raises(ValueError, match="mlp"):
        models.build("resnet20", (20,), 4, "classification")


def test_bad_task_and_unknown_name():
    with pytest.raises(ValueError, match="task"):
        models.build("mlp", (4,), 2, "ranking")
    with pytest.raises(KeyError):
        models.build("vgg99", (4,), 2, "classification")


def test_no_pooling_below_2x2():
    for name in ("cifar10_cnn", "facial_keypoints_cnn", "face_identity_cnn", "resnet20"):
        model = models.build(name, (8, 8, 1), 2, "classification")
        spatial = [l.output_shape[1:3] for l in model.layers
                   if isinstance(l.output_shape, tuple) and len(l.output_shape) == 4]
        assert min(min(s) for s in spatial) >= 2, name


@pytest.mark.parametrize("name,shape", [("mlp", (8, 8, 1)), ("cifar10_cnn", (32, 32, 3))])
def test_a_few_steps_reduce_the_loss(name, shape):
    # Each class is a noisy copy of its own pattern, so the batch is learnable in a few
    # steps; evaluate() runs without dropout, so the comparison is deterministic.
    rng = np.random.default_rng(0)
    y = np.arange(16, dtype=np.int64) % 4
    patterns = rng.uniform(0, 1, size=(4, *shape))
    x = np.clip(patterns[y] + rng.normal(0, 0.1, size=(16, *shape)), 0, 1).astype(np.float32)
    model = models.build(name, shape, 4, "classification")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    for _ in range(25):
        model.train_on_batch(x, y)
    after = model.evaluate(x, y, verbose=0)
    assert after < before * 0.7, (before, after)
