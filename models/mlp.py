"""Multi-layer perceptron on flattened inputs: the cheapest model, for any input shape."""

from __future__ import annotations

import tf_keras as keras
from tf_keras import layers

from models.cnn import output_head


def mlp(input_shape: tuple, outputs: int, task: str, hidden: tuple[int, ...] = (256, 128)) -> keras.Model:
    """Flatten, then ReLU dense layers of widths `hidden`, then the output layer."""
    inputs = keras.Input(shape=tuple(int(d) for d in input_shape))
    x = layers.Flatten()(inputs)
    for width in hidden:
        x = layers.Dense(width, activation="relu")(x)
    return keras.Model(inputs, output_head(x, outputs, task), name="mlp")
