"""The layers the one-bit ResNet of [R1] needs beyond stock Keras (SPEC §3).

- `BinaryConv2D`: the one-bit-per-weight convolution of [R1] §2.1, Eq. (1).
- `FrequencySlice`: takes a band of mel bins, for the split-frequency paths of [R1] §3.2.
- `ChannelZeroPad`: appends zero channels, the parameter-free shortcut of [R1] §3.3.

All are small, registered with Keras (package "dcase_lowcomplexity") and round-trip through
`get_config`, so models load with `keras.saving.load_model(path, safe_mode=True)`: no Lambda
layers anywhere.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

PACKAGE = "dcase_lowcomplexity"

# [R1] §2.2: Keras L2 regulariser on the float weights W, loss term 5e-4 · ΣW².
DEFAULT_WEIGHT_DECAY = 5e-4


def _pair(value, what: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    return value


def _conv_length(length, kernel: int, stride: int, padding: str):
    """Output length of one convolved axis (None stays None: any time length is allowed)."""
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    return (length - kernel) // stride + 1


@keras.saving.register_keras_serializable(package=PACKAGE)
class BinaryConv2D(keras.layers.Layer):
    """2-D convolution with one bit per weight, [R1] §2.1 Eq. (1) / SPEC §3.

    Forward pass: the layer convolves its input with

        Ŵ = sqrt(2 / (k_h · k_w · C_in)) · sign(W),

    where W (shape k_h × k_w × C_in × C_out) are float32 weights that receive the updates,
    sign(0) = +1 so every weight is exactly one bit, and the constant is He's standard
    deviation for the layer's fan-in. No bias.

    Backward pass: straight-through estimator, identity, unclipped and *not* multiplied by the
    scale:

        ∂L/∂W = ∂L/∂Ŵ.

    It is built as Ŵ = stop_gradient(scale · sign(W)) + (W − stop_gradient(W)): the second
    term is exactly zero in the forward pass (so Ŵ is exactly ±scale) and has derivative one.

    Defaults follow [R1]: he_normal initialiser, L2 regulariser 5e-4 on W (loss 5e-4 · ΣW²),
    padding "same". At inference only sign(W) and the per-layer constant are needed
    (see dcase_lowcomplexity.export.bitpack).
    """

    def __init__(
        self,
        filters: int,
        kernel_size=3,
        strides=1,
        padding: str = "same",
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(DEFAULT_WEIGHT_DECAY),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = str(padding).lower()
        if self.padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, in_channels, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            trainable=True,
        )
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: in_channels})

    @property
    def scale(self) -> float:
        """sqrt(2 / (k_h · k_w · C_in)), the magnitude of every binary weight."""
        k_h, k_w, in_channels, _ = self.kernel.shape
        return math.sqrt(2.0 / (k_h * k_w * in_channels))

    def binary_kernel(self):
        """Ŵ as used in the forward pass (a backend tensor, gradient straight through to W)."""
        w = self.kernel
        signs = ops.where(ops.greater_equal(w, 0), 1.0, -1.0)
        w_hat = ops.stop_gradient(ops.cast(signs * self.scale, w.dtype))
        return w_hat + (w - ops.stop_gradient(w))

    def call(self, inputs):
        kernel = ops.cast(self.binary_kernel(), inputs.dtype)
        return ops.conv(inputs, kernel, strides=self.strides, padding=self.padding)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (
            batch,
            _conv_length(height, self.kernel_size[0], self.strides[0], self.padding),
            _conv_length(width, self.kernel_size[1], self.strides[1], self.padding),
            self.filters,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer)
            if self.kernel_regularizer is not None
            else None,
        )
        return config


def sign_bits(kernel) -> np.ndarray:
    """The stored bit of each weight: True (1) for W ≥ 0, i.e. Ŵ = +scale (sign(0) = +1)."""
    return np.asarray(kernel) >= 0


@keras.saving.register_keras_serializable(package=PACKAGE)
class FrequencySlice(keras.layers.Layer):
    """Keeps mel bins [start, stop) of a (batch, frequency, time, channel) tensor.

    [R1] §3.2 / SPEC §3 step 1: bins 0–127 feed path A, 128–255 path B.
    """

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= int(start) < int(stop):
            raise ValueError(f"need 0 <= start < stop, got start={start}, stop={stop}")
        self.start = int(start)
        self.stop = int(stop)

    def call(self, inputs):
        return inputs[:, self.start : self.stop]

    def compute_output_shape(self, input_shape):
        bins = input_shape[1]
        if bins is not None and bins < self.stop:
            raise ValueError(f"input has {bins} frequency bins, slice needs {self.stop}")
        return (input_shape[0], self.stop - self.start, *input_shape[2:])

    def get_config(self):
        config = super().get_config()
        config.update(start=self.start, stop=self.stop)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelZeroPad(keras.layers.Layer):
    """Appends zero channels up to `channels` (the last axis).

    The shortcut of [R1] §3.3 / SPEC §3 when a stack doubles the width: average pooling, then
    the new channels are zeros (no 1×1 convolution, no parameters). The input's channels come
    first, the zeros after them.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def call(self, inputs):
        extra = self.channels - inputs.shape[-1]
        if extra < 0:
            raise ValueError(f"input has {inputs.shape[-1]} channels, more than {self.channels}")
        pad = [[0, 0]] * (len(inputs.shape) - 1) + [[0, extra]]
        return ops.pad(inputs, pad)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels)
        return config
