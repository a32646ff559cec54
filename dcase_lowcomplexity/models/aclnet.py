"""AclNet [Huang & Leanos 2018] as the raw-audio system of [R2] (SPEC §6), width 0.5.

Low-level features (LLF): two 1-D convolutions on the 16 kHz waveform (kernel 9 stride 2, then
kernel 5 stride 4), each followed by batch norm and ReLU, and a 1-D max-pool of 20, so one
frame is 2 · 4 · 20 = 160 samples = 10 ms and carries 64 channels. The (T, 64) frames are
transposed and viewed as a one-channel 64 × T image. High-level features (HLF): a VGG-like
stack of 3×3 convolutions of widths 32, 64, 64, 128, 128, 256, 256, 512, 512 times the width
multiplier, the later ones depthwise-separable (depthwise 3×3 → BN → ReLU → pointwise 1×1 →
BN → ReLU by default), with 2×2 max-pooling; global average pooling and a fully connected
layer give the 512-d embedding, which [R2] §2.1 sends to "a fully-connected layer classifier
with ReLU activation functions": FC-40 → ReLU → FC-3. 317,027 trainable parameters against
[R2]'s 317,038 (docs/r2_systems.md).

Training uses 1 s inputs (16,000 samples); a 10 s clip is classified by averaging the class
probabilities of its ten 1 s segments (`predict_segment_average`).

Only built-in Keras layers are used (Permute/Reshape for the view, no Lambda), so the model
loads with `safe_mode=True`; its layer table is in docs/r2_systems.md.
"""
from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from dcase_lowcomplexity.config import AclNetConfig
from dcase_lowcomplexity.errors import ConfigError


def _validate(config: AclNetConfig) -> None:
    n = len(config.llf_filters)
    if n == 0 or len(config.llf_kernel_sizes) != n or len(config.llf_strides) != n:
        raise ConfigError(
            "llf_filters, llf_kernel_sizes and llf_strides must have the same non-zero length",
            fix="give one kernel size and one stride per LLF convolution",
        )
    if config.segment_samples % config.frame_samples:
        raise ConfigError(
            f"segment_samples={config.segment_samples} is not a multiple of the LLF frame of "
            f"{config.frame_samples} samples",
            fix="choose llf_strides × llf_pool_size dividing the segment length",
        )
    n_pools = len(config.hlf_pool_after)
    frames = config.segment_samples // config.frame_samples
    if min(config.llf_filters[-1], frames) >> n_pools < 1:
        raise ConfigError(
            f"{n_pools} HLF max-pools shrink the {config.llf_filters[-1]} × {frames} image "
            "below one cell",
            fix="use fewer entries in hlf_pool_after or longer segments",
        )
    if any(not 0 <= i < len(config.hlf_widths) for i in config.hlf_pool_after):
        raise ConfigError("hlf_pool_after names a convolution that does not exist")
    if config.embedding not in ("dense", "separable"):
        raise ConfigError(f"embedding={config.embedding!r} must be 'dense' or 'separable'")


def _bn_relu(x, config: AclNetConfig, name: str):
    x = keras.layers.BatchNormalization(
        epsilon=config.bn_epsilon, momentum=config.bn_momentum, name=f"{name}_bn"
    )(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _low_level_features(waveform, config: AclNetConfig):
    """(batch, samples) → (batch, 64, T, 1): 10 ms frames of 64 channels as an image."""
    x = keras.layers.Reshape((config.segment_samples, 1), name="llf_expand")(waveform)
    for i, (filters, kernel, stride) in enumerate(
        zip(config.llf_filters, config.llf_kernel_sizes, config.llf_strides), start=1
    ):
        x = keras.layers.Conv1D(
            filters, kernel, strides=stride, padding="same", use_bias=config.llf_use_bias,
            kernel_initializer="he_normal", name=f"llf_conv{i}",
        )(x)
        x = _bn_relu(x, config, f"llf_conv{i}")
    x = keras.layers.MaxPooling1D(config.llf_pool_size, name="llf_pool")(x)
    frames = config.segment_samples // config.frame_samples
    # (T, C) → (C, T) → C × T one-channel image: channels become the "frequency" axis.
    x = keras.layers.Permute((2, 1), name="llf_transpose")(x)
    return keras.layers.Reshape((config.llf_filters[-1], frames, 1), name="llf_image")(x)


def _conv_bn_relu(x, layer, config: AclNetConfig, name: str):
    return _bn_relu(layer(x), config, name)


def _separable(x, width: int, config: AclNetConfig, name: str):
    """Depthwise 3×3 then pointwise 1×1; BN + ReLU after each (MobileNet) or only after both."""
    if not config.hlf_depthwise_bn:
        layer = keras.layers.SeparableConv2D(
            width, 3, padding="same", use_bias=config.hlf_use_bias, name=name
        )
        return _conv_bn_relu(x, layer, config, name)
    depthwise = keras.layers.DepthwiseConv2D(
        3, padding="same", use_bias=config.hlf_use_bias, name=f"{name}_dw"
    )
    x = _conv_bn_relu(x, depthwise, config, f"{name}_dw")
    pointwise = keras.layers.Conv2D(
        width, 1, use_bias=config.hlf_use_bias, kernel_initializer="he_normal", name=name
    )
    return _conv_bn_relu(x, pointwise, config, name)


def _high_level_features(x, config: AclNetConfig):
    """VGG-like 3×3 stack; convs from `hlf_first_separable` on are depthwise-separable."""
    for i, width in enumerate(config.hlf_channels):
        name = f"hlf_conv{i + 1}"
        if i >= config.hlf_first_separable and x.shape[-1] > 1:
            x = _separable(x, width, config, name)
        else:
            conv = keras.layers.Conv2D(
                width, 3, padding="same", use_bias=config.hlf_use_bias,
                kernel_initializer="he_normal", name=name,
            )
            x = _conv_bn_relu(x, conv, config, name)
        if i in config.hlf_pool_after:
            x = keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    return x


def _embedding(x, config: AclNetConfig):
    """The 512-d embedding ("embedding" layer): GAP → FC, or separable 3×3 conv → GAP."""
    if config.embedding == "dense":
        x = keras.layers.GlobalAveragePooling2D(name="average_pool")(x)
        return keras.layers.Dense(config.embedding_dim, name="embedding")(x)
    x = _separable(x, config.embedding_dim, config, "embedding_conv")
    return keras.layers.GlobalAveragePooling2D(name="embedding")(x)


def _classifier(x, config: AclNetConfig):
    """[R2] §2.1: FC layer(s) with ReLU on the embedding, then the 3 logits."""
    if config.embedding == "dense":
        x = keras.layers.ReLU(name="embedding_relu")(x)
    for i, width in enumerate(config.classifier_hidden, start=1):
        x = keras.layers.Dense(width, name=f"classifier{i}")(x)
        x = keras.layers.ReLU(name=f"classifier{i}_relu")(x)
    return keras.layers.Dense(config.num_classes, name="logits")(x)


def build_aclnet(config: AclNetConfig | None = None) -> keras.Model:
    """AclNet0.5 of [R2] (SPEC §6): (batch, 16000) waveform → (batch, 3) probabilities.

    Layers named "embedding" (512-d) and "logits" are the hooks used by distillation and
    analysis; "probs" is the softmax output.
    """
    config = config or AclNetConfig()
    _validate(config)
    waveform = keras.Input((config.segment_samples,), name="waveform")
    x = _low_level_features(waveform, config)
    x = _high_level_features(x, config)
    logits = _classifier(_embedding(x, config), config)
    probs = keras.layers.Softmax(name="probs")(logits)
    return keras.Model(waveform, probs, name="aclnet")


def predict_segment_average(
    predict: Callable[[np.ndarray], np.ndarray],
    waveforms: np.ndarray,
    segment_samples: int = 16000,
) -> np.ndarray:
    """Clip probabilities = mean over its 1 s segments (SPEC §6: 10 segments per 10 s clip).

    `predict` maps (n, segment_samples) float32 → (n, classes) probabilities (a Keras model's
    `predict`, or `TFLiteModel.predict`); `waveforms` is (clips, samples) at 16 kHz. A tail
    shorter than one segment is dropped, as the segments of the 10 s clips tile it exactly.
    """
    waveforms = np.asarray(waveforms, dtype=np.float32)
    if waveforms.ndim != 2:
        raise ConfigError(f"expected (clips, samples) waveforms, got shape {waveforms.shape}")
    n_segments = waveforms.shape[1] // segment_samples
    if n_segments < 1:
        raise ConfigError(
            f"clips of {waveforms.shape[1]} samples are shorter than one {segment_samples}-"
            "sample segment", fix="pass 16 kHz clips of at least 1 s",
        )
    segments = waveforms[:, : n_segments * segment_samples].reshape(-1, segment_samples)
    probs = np.asarray(predict(segments))
    return probs.reshape(waveforms.shape[0], n_segments, -1).mean(axis=1)
