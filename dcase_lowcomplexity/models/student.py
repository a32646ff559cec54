"""Student CNN of the knowledge-distillation system of [R2] (SPEC §6).

Three (conv, batch norm, ReLU, 2×2 max-pool) blocks of 16, 48 and 256 channels (kernels 5, 3,
3), global average pooling, a fully connected 512-d embedding and the classifier:
252,627 parameters against [R2]'s 252,713 (−0.034 %). [R2] writes "3 × (conv, BN, ReLU,
max-pool) + FC"; its loss compares 512-d embeddings of student and teacher, so the FC is read
as FC-512 (the embedding) → ReLU → FC-3 (docs/r2_systems.md).

Input: one-channel 64-band log-mel (mel, time, 1), any number of frames. Layers "embedding"
(linear 512-d) and "logits" are the hooks `training.distillation` reads; "probs" is the output.
"""
from __future__ import annotations

import keras

from dcase_lowcomplexity.config import StudentConfig
from dcase_lowcomplexity.errors import ConfigError


def build_student(config: StudentConfig | None = None) -> keras.Model:
    """(batch, 64, T, 1) log-mel → (batch, 3) probabilities."""
    config = config or StudentConfig()
    if len(config.conv_widths) != len(config.conv_kernel_sizes):
        raise ConfigError(
            "conv_widths and conv_kernel_sizes must have the same length",
            fix="give one kernel size per student convolution",
        )
    if config.input_bins // config.pool_size ** len(config.conv_widths) < 1:
        raise ConfigError(
            f"{len(config.conv_widths)} poolings shrink {config.input_bins} bins below 1",
            fix="use fewer convolutions or a smaller pool_size",
        )
    inputs = keras.Input((config.input_bins, None, 1), name="logmel")
    x = inputs
    for i, (width, kernel) in enumerate(zip(config.conv_widths, config.conv_kernel_sizes), 1):
        x = keras.layers.Conv2D(
            width, kernel, padding="same", use_bias=config.conv_use_bias,
            kernel_initializer="he_normal", name=f"conv{i}",
        )(x)
        x = keras.layers.BatchNormalization(
            epsilon=config.bn_epsilon, momentum=config.bn_momentum, name=f"conv{i}_bn"
        )(x)
        x = keras.layers.ReLU(name=f"conv{i}_relu")(x)
        x = keras.layers.MaxPooling2D(config.pool_size, name=f"conv{i}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="average_pool")(x)
    embedding = keras.layers.Dense(config.embedding_dim, name="embedding")(x)
    x = keras.layers.ReLU(name="embedding_relu")(embedding)
    logits = keras.layers.Dense(config.num_classes, name="logits")(x)
    probs = keras.layers.Softmax(name="probs")(logits)
    return keras.Model(inputs, probs, name="student_cnn")
