"""VGG-12 teacher of the knowledge-distillation system of [R2] (SPEC §6).

Twelve 3×3 convolutions of 64…512 channels in five blocks (64, 64 | 128, 128 | 256 × 3 |
512 × 3 | 512 × 2), each followed by batch norm and ReLU, 2×2 max-pooling between blocks,
global average pooling, a fully connected 512-d embedding and the classifier: 12,621,635
trainable parameters, [R2] Table 1 exactly (no conv biases; docs/r2_systems.md).

Input: one-channel 64-band log-mel (mel, time, 1), any number of frames (global pooling).
The layers "embedding" (linear 512-d, the vector of [R2]'s embedding KL term) and "logits"
are the hooks `training.distillation` reads; "probs" is the softmax output.
"""
from __future__ import annotations

import keras

from dcase_lowcomplexity.config import TeacherConfig
from dcase_lowcomplexity.errors import ConfigError


def build_teacher(config: TeacherConfig | None = None) -> keras.Model:
    """(batch, 64, T, 1) log-mel → (batch, 3) probabilities; 12 convs by default."""
    config = config or TeacherConfig()
    n_pools = len(config.block_widths) - 1
    if config.input_bins // config.pool_size**n_pools < 1:
        raise ConfigError(
            f"{n_pools} poolings of {config.pool_size} shrink {config.input_bins} bins below 1",
            fix="use fewer blocks or a smaller pool_size",
        )
    inputs = keras.Input((config.input_bins, None, 1), name="logmel")
    x = inputs
    conv = 0
    for b, widths in enumerate(config.block_widths, start=1):
        for width in widths:
            conv += 1
            x = keras.layers.Conv2D(
                width, 3, padding="same", use_bias=config.conv_use_bias,
                kernel_initializer="he_normal", name=f"conv{conv}",
            )(x)
            x = keras.layers.BatchNormalization(
                epsilon=config.bn_epsilon, momentum=config.bn_momentum, name=f"conv{conv}_bn"
            )(x)
            x = keras.layers.ReLU(name=f"conv{conv}_relu")(x)
        if b < len(config.block_widths):
            x = keras.layers.MaxPooling2D(config.pool_size, name=f"block{b}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="average_pool")(x)
    embedding = keras.layers.Dense(config.embedding_dim, name="embedding")(x)
    x = keras.layers.ReLU(name="embedding_relu")(embedding)
    logits = keras.layers.Dense(config.num_classes, name="logits")(x)
    probs = keras.layers.Softmax(name="probs")(logits)
    return keras.Model(inputs, probs, name="teacher_vgg12")
