"""Convolutional models: the CIFAR-10 seeds' CNN, the facial-keypoints regressor, and a
grayscale face-identity classifier. Also the small helpers every builder shares."""

from __future__ import annotations

import tf_keras as keras
from tf_keras import layers


TASKS = ("classification", "regression")


def image_input(input_shape: tuple, model: str):
    """Input layer plus the tensor convolutions start from; (H, W) gets a channel axis."""
    shape = tuple(int(d) for d in input_shape)
    if len(shape) not in (2, 3):
        # Built on the host: a plain ValueError (models import nothing of the control side).
        raise ValueError(f"model {model}: input shape {list(shape)} is not an image (H, W[, C]); "
                         f"use model mlp for flat inputs")
    inputs = keras.Input(shape=shape)
    x = layers.Reshape((*shape, 1))(inputs) if len(shape) == 2 else inputs
    return inputs, x


def downsample_stages(input_shape: tuple, wanted: int) -> int:
    """How many of `wanted` halvings the input can take without going below 2x2, so the
    same builder serves 8x8 digits and 96x96 faces."""
    side = min(int(input_shape[0]), int(input_shape[1]))
    stages = 0
    while stages < wanted and side // 2 >= 2:
        side //= 2
        stages += 1
    return stages


def output_head(x, outputs: int, task: str):
    if task == "classification":
        return layers.Dense(outputs, activation="softmax", name="predictions")(x)
    if task == "regression":
        return layers.Dense(outputs, activation=None, name="predictions")(x)
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def cifar10_cnn(input_shape: tuple, outputs: int, task: str) -> keras.Model:
    """Two conv-conv-pool blocks (32, 64 filters), dense 256, dropout: the classic Keras
    CIFAR-10 CNN the seeds used."""
    inputs, x = image_input(input_shape, "cifar10_cnn")
    pools = downsample_stages(input_shape, 2)
    for i, filters in enumerate((32, 64)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        if i < pools:
            x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, output_head(x, outputs, task), name="cifar10_cnn")


def facial_keypoints_cnn(input_shape: tuple, outputs: int, task: str) -> keras.Model:
    """Conv-pool stages (32, 64, 128, 128 filters) and a dense 256 head; built for 96x96x1
    faces -> 30 keypoint coordinates with an MSE loss. Four pools keep the flattened
    features at 6x6x128 so the dense layer stays small on CPU."""
    inputs, x = image_input(input_shape, "facial_keypoints_cnn")
    pools = downsample_stages(input_shape, 4)
    for i, filters in enumerate((32, 64, 128, 128)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        if i < pools:
            x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, output_head(x, outputs, task), name="facial_keypoints_cnn")


def face_identity_cnn(input_shape: tuple, outputs: int, task: str) -> keras.Model:
    """Three conv-BN blocks (32, 64, 128 filters) with pooling, global average pool, dense
    128: grayscale faces -> N identities. Global pooling keeps it small for few-shot sets."""
    inputs, x = image_input(input_shape, "face_identity_cnn")
    pools = downsample_stages(input_shape, 3)
    for i, filters in enumerate((32, 64, 128)):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        if i < pools:
            x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, output_head(x, outputs, task), name="face_identity_cnn")
