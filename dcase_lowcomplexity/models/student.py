"""Student CNN of the knowledge-distillation system of [R2] (SPEC §6).

[R2] §2.3: "a small 3-layers CNN. Each convolutional layer is followed by batch
normalization, ReLU activation functions, and max pooling. The output consists of a fully
connected linear layer"; the embedding KL term compares "the 512 embeddings of the last
convolutional layers of the Teacher and Student", so the last conv has 512 channels and its
global average is the embedding. 3×3 convs of 32, 51 and 512 channels (no biases, each feeds a
batch norm), global average pooling, linear FC to 3: 252,713 trainable parameters, [R2] §2.3
exactly (docs/r2_systems.md).

Input: one-channel 64-band log-mel (mel, time, 1), any number of frames. Layers "embedding"
(the pooled 512-d last conv) and "logits" are the hooks `training.distillation` reads; "probs"
is the output.
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
    if config.conv_widths[-1] != config.embedding_dim:
        raise ConfigError(
            f"the last conv ({config.conv_widths[-1]} channels) is the embedding, but "
            f"embedding_dim={config.embedding_dim}",
            fix="make conv_widths[-1] equal embedding_dim",
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
    embedding = keras.layers.GlobalAveragePooling2D(name="embedding")(x)
    logits = keras.layers.Dense(config.num_classes, name="logits")(embedding)
    probs = keras.layers.Softmax(name="probs")(logits)
    return keras.Model(inputs, probs, name="student_cnn")
