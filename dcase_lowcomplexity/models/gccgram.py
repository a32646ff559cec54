"""GCC-grams CNN of [R2] (SPEC §6): two log-mels + one GCC-PHAT gram → three classes.

Input (40, 500, 3), channels-last: left log-mel, right log-mel and the GCC-gram (40 lags),
over 500 frames of 20 ms (`data.gccphat.gccgram_features`). A batch norm standardises the
three input channels (the log-mels sit near −10, the GCC values in [−1, 1]; ours, 12
trainable parameters), then five depthwise-separable 3×3 convolutions of 32, 96, 192, 384
and 384 channels (no biases: each feeds a batch norm), each followed by batch norm, ReLU and
2×2 max-pooling, global average pooling and a linear classifier: 252,484 trainable
parameters against [R2]'s 252,491 (−7, docs/r2_systems.md).
"""
from __future__ import annotations

import keras

from dcase_lowcomplexity.config import GccGramConfig
from dcase_lowcomplexity.errors import ConfigError


def build_gccgram_cnn(config: GccGramConfig | None = None) -> keras.Model:
    """(batch, 40, 500, 3) → (batch, 3) probabilities."""
    config = config or GccGramConfig()
    bins, frames, _ = config.input_shape
    if min(bins, frames) // config.pool_size ** len(config.widths) < 1:
        raise ConfigError(
            f"{len(config.widths)} poolings of {config.pool_size} shrink the "
            f"{bins} × {frames} input below one cell",
            fix="use fewer convolutions or a smaller pool_size",
        )
    inputs = keras.Input(config.input_shape, name="gccgram")
    x = inputs
    if config.input_norm:
        x = keras.layers.BatchNormalization(
            epsilon=config.bn_epsilon, momentum=config.bn_momentum, name="input_bn"
        )(x)
    for i, width in enumerate(config.widths, start=1):
        x = keras.layers.SeparableConv2D(
            width, config.kernel_size, padding="same", use_bias=config.use_bias,
            name=f"sepconv{i}",
        )(x)
        x = keras.layers.BatchNormalization(
            epsilon=config.bn_epsilon, momentum=config.bn_momentum, name=f"sepconv{i}_bn"
        )(x)
        x = keras.layers.ReLU(name=f"sepconv{i}_relu")(x)
        x = keras.layers.MaxPooling2D(config.pool_size, name=f"sepconv{i}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="average_pool")(x)
    logits = keras.layers.Dense(config.num_classes, name="logits")(x)
    probs = keras.layers.Softmax(name="probs")(logits)
    return keras.Model(inputs, probs, name="gccgram_cnn")
