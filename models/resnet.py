"""ResNet-20 style residual network (He et al. 2016, CIFAR variant)."""

from __future__ import annotations

import tf_keras as keras
from tf_keras import layers, regularizers

from models.cnn import downsample_stages, image_input, output_head

_WEIGHT_DECAY = 1e-4  # the paper's CIFAR setting


def _conv(filters: int, kernel: int, stride: int = 1):
    return layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                         kernel_initializer="he_normal",
                         kernel_regularizer=regularizers.l2(_WEIGHT_DECAY))


def _basic_block(x, filters: int, stride: int):
    shortcut = x
    y = _conv(filters, 3, stride)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = _conv(filters, 3)(y)
    y = layers.BatchNormalization()(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        # 1x1 projection so the shortcut matches the block's new width and resolution.
        shortcut = _conv(filters, 1, stride)(shortcut)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.ReLU()(layers.Add()([shortcut, y]))


def resnet20(input_shape: tuple, outputs: int, task: str, blocks_per_stage: int = 3) -> keras.Model:
    """3 stages x 3 basic blocks with 16/32/64 filters, batch norm, global average pool.
    Stages 2 and 3 halve the resolution only while it stays at least 2x2."""
    inputs, x = image_input(input_shape, "resnet20")
    strides_left = downsample_stages(input_shape, 2)
    x = _conv(16, 3)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(blocks_per_stage):
            stride = 1
            if stage > 0 and block == 0 and strides_left > 0:
                stride, strides_left = 2, strides_left - 1
            x = _basic_block(x, filters, stride)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, output_head(x, outputs, task), name="resnet20")
