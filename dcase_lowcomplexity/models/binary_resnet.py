"""The split-frequency one-bit ResNet of [R1] §2.1, §3.2–3.4 / SPEC §3.

Input (batch, 256 mel bins, T frames, 2 channels); any T (400 when training, 469 at
inference). The frequency axis is split in two bands (0–127, 128–255), each processed by its
own pre-activation ResNet whose time axis shrinks 16-fold and whose frequency axis is never
downsampled; the two paths are added and a small all-convolutional head gives three class
probabilities. Every convolution is a `BinaryConv2D` (one bit per weight) unless
`ModelConfig.binary` is False, which builds the float32 twin with the same layer names.

The network is built from the layer table `ModelConfig.stacks` by a short loop, so a narrow
model is only a config change: `build_binary_resnet(ModelConfig(num_filters=8, head_width=32))`.
"""
from __future__ import annotations

import dataclasses

import keras

from dcase_lowcomplexity.config import ModelConfig, model_config_from_dict
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.layers import PACKAGE, BinaryConv2D, ChannelZeroPad, FrequencySlice

PATH_NAMES = ("pathA", "pathB")


def _conv(config: ModelConfig, filters: int, kernel_size: int, strides, name: str):
    """One convolution of the network: BinaryConv2D, or its float32 twin for benchmarks."""
    regularizer = keras.regularizers.L2(config.weight_decay) if config.weight_decay else None
    if config.binary:
        return BinaryConv2D(
            filters, kernel_size, strides=strides, padding="same",
            kernel_initializer="he_normal", kernel_regularizer=regularizer, name=name,
        )
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False,
        kernel_initializer="he_normal", kernel_regularizer=regularizer, name=name,
    )


def _bn(config: ModelConfig, name: str, learned: bool = False):
    """"BN+" (learned offset and scale) when `learned`, else "BN0" (center=scale=False)."""
    return keras.layers.BatchNormalization(
        epsilon=config.bn_epsilon, momentum=config.bn_momentum,
        center=learned, scale=learned, synchronized=config.synchronized_bn, name=name,
    )


def _residual_block(x, config: ModelConfig, width: int, time_stride: int, name: str):
    """Pre-activation block: x + conv(ReLU(BN0(conv(ReLU(BN0(x)))))) ([R1] §3.3).

    When the block shrinks time or widens the stream, the shortcut is a 3×3 average pooling
    (strides (1, time_stride), "same", padded cells not counted) and zero channels: no
    parameters, as in [R1].
    """
    in_width = x.shape[-1]
    if width < in_width:
        raise ConfigError(f"stack widths must not decrease ({in_width} → {width})")
    y = _bn(config, f"{name}_bn1")(x)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(config, width, config.kernel_size, (1, time_stride), f"{name}_conv1")(y)
    y = _bn(config, f"{name}_bn2")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = _conv(config, width, config.kernel_size, (1, 1), f"{name}_conv2")(y)
    shortcut = x
    if time_stride > 1:
        shortcut = keras.layers.AveragePooling2D(
            pool_size=(3, 3), strides=(1, time_stride), padding="same",
            name=f"{name}_shortcut_pool",
        )(shortcut)
    if width > in_width:
        shortcut = ChannelZeroPad(width, name=f"{name}_shortcut_pad")(shortcut)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


def _path(inputs, config: ModelConfig, name: str, start: int, stop: int):
    """One frequency band: slice → BN+ → stride-(1, 2) conv (no ReLU before it) → stacks."""
    x = FrequencySlice(start, stop, name=f"{name}_freq_slice")(inputs)
    x = _bn(config, f"{name}_input_bn", learned=True)(x)
    x = _conv(
        config, config.num_filters, config.kernel_size, (1, config.stem_time_stride),
        f"{name}_stem_conv",
    )(x)
    for s, stack in enumerate(config.stacks, start=1):
        for b in range(1, stack.blocks + 1):
            stride = stack.time_stride if b == 1 else 1
            x = _residual_block(x, config, stack.width, stride, f"{name}_stack{s}_block{b}")
    return x


def _head(x, config: ModelConfig):
    """BN0 → ReLU → conv 3×3 → BN0 → ReLU → conv 1×1 → BN+ → global average → softmax."""
    x = _bn(config, "head_bn1")(x)
    x = keras.layers.ReLU(name="head_relu1")(x)
    x = _conv(config, config.head_width, config.kernel_size, (1, 1), "head_conv1")(x)
    x = _bn(config, "head_bn2")(x)
    x = keras.layers.ReLU(name="head_relu2")(x)
    x = _conv(config, config.num_classes, 1, (1, 1), "head_conv2")(x)
    x = _bn(config, "head_bn3", learned=True)(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    # float32 even under a mixed_float16 policy: probabilities and the loss need the range.
    return keras.layers.Softmax(dtype="float32", name="softmax")(x)


def _check(config: ModelConfig) -> None:
    if not 0 < config.freq_split < config.input_bins:
        raise ConfigError(
            f"freq_split={config.freq_split} must lie inside the {config.input_bins} input bins"
        )
    if config.input_bins - config.freq_split != config.freq_split:
        # The two paths are added element-wise, so their frequency sizes must agree.
        raise ConfigError(
            f"freq_split={config.freq_split} must halve input_bins={config.input_bins}"
        )
    if not config.stacks or any(s.blocks < 1 for s in config.stacks):
        raise ConfigError("the layer table needs at least one stack of at least one block")


@keras.saving.register_keras_serializable(package=PACKAGE)
class BinaryResNet(keras.Model):
    """The network of SPEC §3 as a functional model that knows its `ModelConfig`.

    `model.model_config` is the architecture; `get_config` stores only that, and loading
    (`keras.saving.load_model(path, safe_mode=True)`) rebuilds the same graph from it, so the
    packed-bit exporter can always recover the architecture.
    """

    def __init__(self, model_config: ModelConfig | dict | None = None, **kwargs):
        if model_config is None:
            model_config = ModelConfig()
        elif isinstance(model_config, dict):
            model_config = model_config_from_dict(model_config)
        _check(model_config)
        inputs = keras.Input(
            shape=(model_config.input_bins, None, model_config.input_channels), name="logmel"
        )
        split = model_config.freq_split
        bands = ((0, split), (split, model_config.input_bins))
        paths = [
            _path(inputs, model_config, name, start, stop)
            for name, (start, stop) in zip(PATH_NAMES, bands)
        ]
        fused = keras.layers.Add(name="fusion")(paths)
        outputs = _head(fused, model_config)
        kwargs.setdefault("name", "binary_resnet" if model_config.binary else "float_resnet")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.model_config = model_config

    def get_config(self):
        return {
            "model_config": dataclasses.asdict(self.model_config),
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def build_binary_resnet(config: ModelConfig | None = None) -> keras.Model:
    """The one-bit ResNet of [R1] §3.2–3.4; with no argument, exactly the paper's network.

    36 convolutions, 3,987,000 one-bit weights, 6,340 batch-norm floats (SPEC §3).
    """
    return BinaryResNet(config)


def fusion_model(model: keras.Model) -> keras.Model:
    """The sub-model from the input to the fusion of the two paths (128 × T/16 × 208)."""
    return keras.Model(model.input, model.get_layer("fusion").output, name="fusion_model")

