"""Model builders by name. Importing this package does not import TensorFlow: the control
side validates names against MODEL_NAMES, and `build` imports the builder on the host."""

from __future__ import annotations

import importlib

# name -> (module, function, what it is)
_REGISTRY = {
    "cifar10_cnn": ("models.cnn", "cifar10_cnn", "conv/pool blocks + dense head (the CIFAR-10 seeds' CNN)"),
    "facial_keypoints_cnn": ("models.cnn", "facial_keypoints_cnn", "96x96x1 -> 30 coordinates CNN, MSE loss"),
    "face_identity_cnn": ("models.cnn", "face_identity_cnn", "grayscale faces -> N identities CNN"),
    "resnet20": ("models.resnet", "resnet20", "ResNet-20 style residual network (3 stages x 3 blocks)"),
    "mlp": ("models.mlp", "mlp", "multi-layer perceptron on flattened inputs"),
}

MODEL_NAMES = tuple(sorted(_REGISTRY))


def describe(name: str) -> str:
    return _REGISTRY[name][2]


def build(name: str, input_shape: tuple[int, ...], outputs: int, task: str):
    """Return an uncompiled tf_keras model. `task` is "classification" (softmax over
    `outputs` classes) or "regression" (`outputs` linear values)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")
    module, func, _ = _REGISTRY[name]
    return getattr(importlib.import_module(module), func)(tuple(input_shape), int(outputs), task)
