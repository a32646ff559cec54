"""BinaryConv2D ([R1] §2.1 Eq. (1), SPEC §3) and the two parameter-free helper layers."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from dcase_lowcomplexity.layers import (
    BinaryConv2D,
    ChannelZeroPad,
    FrequencySlice,
    sign_bits,
)


def _built(layer, shape):
    layer.build(shape)
    return layer


def _kernel_with_zeros_and_large_values(shape, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape).astype("float32")
    flat = w.reshape(-1)
    flat[::7] = 0.0  # sign(0) must be +1
    flat[1::11] = 3.0  # far outside [-1, 1]: the straight-through gradient is not clipped
    flat[2::13] = -2.5
    return w


def test_scale_is_he_standard_deviation_of_the_fan_in():
    layer = _built(BinaryConv2D(26), (None, 128, 200, 2))
    assert layer.kernel.shape == (3, 3, 2, 26)
    assert layer.scale == pytest.approx(math.sqrt(2 / 18))
    layer = _built(BinaryConv2D(3, 1), (None, 128, 25, 192))
    assert layer.scale == pytest.approx(math.sqrt(2 / 192))


def test_forward_uses_scale_times_sign_with_sign_zero_plus_one():
    layer = _built(BinaryConv2D(5, strides=(1, 2)), (None, 9, 12, 4))
    w = _kernel_with_zeros_and_large_values((3, 3, 4, 5))
    layer.kernel.assign(w)
    scale = math.sqrt(2 / 36)
    w_hat = np.where(w >= 0, scale, -scale).astype("float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.binary_kernel()), w_hat)
    assert set(np.unique(ops.convert_to_numpy(layer.binary_kernel()))) == {
        np.float32(scale), np.float32(-scale)}
    x = np.random.default_rng(1).normal(size=(2, 9, 12, 4)).astype("float32")
    expected = ops.conv(x, w_hat, strides=(1, 2), padding="same")
    np.testing.assert_allclose(layer(x), expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(sign_bits(w), w >= 0)
    assert sign_bits(np.zeros(3)).all()


def test_gradient_is_identity_straight_through_not_scaled_not_clipped():
    """∂L/∂W of BinaryConv2D equals ∂L/∂K of a plain convolution whose kernel K is Ŵ."""
    layer = _built(BinaryConv2D(6, strides=(1, 2)), (None, 8, 10, 3))
    w = _kernel_with_zeros_and_large_values((3, 3, 3, 6), seed=2)
    layer.kernel.assign(w)
    x = tf.constant(np.random.default_rng(3).normal(size=(2, 8, 10, 3)).astype("float32"))
    target = tf.constant(np.random.default_rng(4).normal(size=(2, 8, 5, 6)).astype("float32"))
    with tf.GradientTape() as tape:
        loss_binary = tf.reduce_sum((layer(x) - target) ** 2)
    grad_w = tape.gradient(loss_binary, layer.kernel.value)
    plain_kernel = tf.Variable(ops.convert_to_numpy(layer.binary_kernel()))
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d(x, plain_kernel, strides=(1, 1, 2, 1), padding="SAME")
        loss_plain = tf.reduce_sum((y - target) ** 2)
    grad_k = tape.gradient(loss_plain, plain_kernel)
    np.testing.assert_allclose(loss_binary.numpy(), loss_plain.numpy(), rtol=1e-6)
    np.testing.assert_allclose(grad_w.numpy(), grad_k.numpy(), rtol=1e-5, atol=1e-5)
    # Not multiplied by the scale (1/sqrt(13.5)), and weights with |W| > 1 keep their gradient.
    large = np.abs(w) > 1
    assert np.all(np.abs(grad_w.numpy()[large]) > 0)
    assert not np.allclose(grad_w.numpy(), layer.scale * grad_k.numpy())


def test_l2_regulariser_is_keras_5e_4_sum_of_squares():
    layer = _built(BinaryConv2D(4), (None, 5, 5, 2))
    w = _kernel_with_zeros_and_large_values((3, 3, 2, 4), seed=5)
    layer.kernel.assign(w)
    assert len(layer.losses) == 1
    assert float(layer.losses[0]) == pytest.approx(5e-4 * float(np.sum(w.astype("float64") ** 2)),
                                                   rel=1e-5)
    assert _built(BinaryConv2D(4, kernel_regularizer=None), (None, 5, 5, 2)).losses == []


def test_he_normal_initialiser_and_no_bias():
    layer = _built(BinaryConv2D(128), (None, 8, 8, 128))
    assert [w.name for w in layer.weights] == ["kernel"]
    std = float(np.std(layer.kernel.numpy()))
    assert std == pytest.approx(math.sqrt(2 / (9 * 128)), rel=0.05)
    assert isinstance(layer.kernel_initializer, keras.initializers.HeNormal)


@pytest.mark.parametrize(
    "strides, padding, in_shape, out_shape",
    [
        ((1, 2), "same", (2, 128, 400, 2), (2, 128, 200, 7)),
        ((1, 2), "same", (2, 16, 469, 2), (2, 16, 235, 7)),
        (1, "same", (1, 6, 5, 3), (1, 6, 5, 7)),
        ((2, 1), "valid", (1, 9, 5, 3), (1, 4, 3, 7)),
    ],
)
def test_strides_and_padding(strides, padding, in_shape, out_shape):
    layer = BinaryConv2D(7, strides=strides, padding=padding)
    y = layer(np.zeros(in_shape, "float32"))
    assert tuple(y.shape) == out_shape
    assert layer.compute_output_shape((None, in_shape[1], None, in_shape[3])) == (
        None, out_shape[1], None, 7)


def test_get_config_round_trip_and_registered_name():
    layer = BinaryConv2D(12, kernel_size=(3, 1), strides=(1, 2), padding="valid", name="c")
    config = layer.get_config()
    clone = BinaryConv2D.from_config(config)
    assert clone.get_config() == config
    assert (clone.filters, clone.kernel_size, clone.strides, clone.padding) == (
        12, (3, 1), (1, 2), "valid")
    assert clone.kernel_regularizer.l2 == pytest.approx(5e-4)
    assert keras.saving.get_registered_name(BinaryConv2D) == "dcase_lowcomplexity>BinaryConv2D"
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, BinaryConv2D) and restored.get_config() == config


def test_frequency_slice_takes_the_band_and_round_trips():
    x = np.arange(2 * 256 * 3 * 2, dtype="float32").reshape(2, 256, 3, 2)
    layer = FrequencySlice(128, 256)
    np.testing.assert_array_equal(layer(x), x[:, 128:256])
    np.testing.assert_array_equal(FrequencySlice(0, 128)(x), x[:, :128])
    assert layer.compute_output_shape((None, 256, None, 2)) == (None, 128, None, 2)
    assert FrequencySlice.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError):
        FrequencySlice(5, 5)


def test_channel_zero_pad_appends_zero_channels_and_round_trips():
    x = np.random.default_rng(0).normal(size=(2, 4, 3, 26)).astype("float32")
    layer = ChannelZeroPad(52)
    y = ops.convert_to_numpy(layer(x))
    assert y.shape == (2, 4, 3, 52)
    np.testing.assert_array_equal(y[..., :26], x)
    assert np.count_nonzero(y[..., 26:]) == 0
    assert layer.compute_output_shape((None, 128, None, 26)) == (None, 128, None, 52)
    assert ChannelZeroPad.from_config(layer.get_config()).channels == 52
    assert layer.weights == []
