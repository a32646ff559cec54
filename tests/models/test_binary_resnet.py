"""The split-frequency one-bit ResNet of [R1] §3.2–3.4: every count of SPEC §3."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from dcase_lowcomplexity.config import ModelConfig
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.layers import BinaryConv2D, ChannelZeroPad, FrequencySlice
from dcase_lowcomplexity.models.binary_resnet import (
    BinaryResNet,
    build_binary_resnet,
    fusion_model,
)

NARROW = ModelConfig(num_filters=8, head_width=32)


@pytest.fixture(scope="module")
def paper_model():
    return build_binary_resnet()


@pytest.fixture(scope="module")
def narrow_model():
    keras.utils.set_random_seed(0)
    return build_binary_resnet(NARROW)


def _per_path_kernel_shapes(path: str) -> dict[str, tuple]:
    """SPEC §3's table for one path: name → (k_h, k_w, C_in, C_out)."""
    shapes = {f"{path}_stem_conv": (3, 3, 2, 26)}
    widths = [26, 52, 104, 208]
    in_width = 26
    for s, width in enumerate(widths, start=1):
        for b in (1, 2):
            shapes[f"{path}_stack{s}_block{b}_conv1"] = (3, 3, in_width, width)
            shapes[f"{path}_stack{s}_block{b}_conv2"] = (3, 3, width, width)
            in_width = width
    return shapes


def _inbound(model, name):
    return model.get_layer(name).input._keras_history.operation.name


def test_36_binary_convs_with_the_spec_kernel_shapes(paper_model):
    convs = {l.name: l for l in paper_model.layers if isinstance(l, BinaryConv2D)}
    assert len(convs) == 36
    expected = {**_per_path_kernel_shapes("pathA"), **_per_path_kernel_shapes("pathB"),
                "head_conv1": (3, 3, 208, 192), "head_conv2": (1, 1, 192, 3)}
    assert {n: tuple(l.kernel.shape) for n, l in convs.items()} == expected
    sizes = [int(np.prod(s)) for n, s in expected.items() if n.startswith("pathA")]
    assert sorted(set(sizes)) == [468, 6_084, 12_168, 24_336, 48_672, 97_344, 194_688, 389_376]
    assert sizes == [468] + [6_084] * 4 + [12_168] + [24_336] * 3 + [48_672] + [97_344] * 3 + [
        194_688] + [389_376] * 3
    for path in ("pathA", "pathB"):
        assert sum(int(np.prod(l.kernel.shape)) for n, l in convs.items()
                   if n.startswith(path)) == 1_813_500
    assert int(np.prod(convs["head_conv1"].kernel.shape)) == 359_424
    assert int(np.prod(convs["head_conv2"].kernel.shape)) == 576
    assert sum(int(np.prod(l.kernel.shape)) for l in convs.values()) == 3_987_000
    assert all(not l.trainable_weights[1:] for l in convs.values())  # kernel only, no bias


def test_strides_only_entering_stacks_2_to_4_and_the_stem(paper_model):
    strided = {l.name for l in paper_model.layers
               if isinstance(l, BinaryConv2D) and l.strides != (1, 1)}
    assert strided == {f"{p}_{c}" for p in ("pathA", "pathB") for c in (
        "stem_conv", "stack2_block1_conv1", "stack3_block1_conv1", "stack4_block1_conv1")}
    assert all(paper_model.get_layer(n).strides == (1, 2) for n in strided)
    assert all(l.padding == "same" for l in paper_model.layers if isinstance(l, BinaryConv2D))


def test_batch_norms_6340_floats_3_learned_34_plain(paper_model):
    bns = [l for l in paper_model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert sum(int(np.prod(w.shape)) for l in bns for w in l.weights) == 6_340
    learned = sorted(l.name for l in bns if l.center and l.scale)
    assert learned == ["head_bn3", "pathA_input_bn", "pathB_input_bn"]
    assert sum(1 for l in bns if not l.center and not l.scale) == 34
    assert all(l.epsilon == 1e-5 and l.momentum == 0.99 for l in bns)


def test_frequency_split_and_no_relu_before_the_stem(paper_model):
    a, b = paper_model.get_layer("pathA_freq_slice"), paper_model.get_layer("pathB_freq_slice")
    assert isinstance(a, FrequencySlice) and (a.start, a.stop) == (0, 128)
    assert (b.start, b.stop) == (128, 256)
    for p in ("pathA", "pathB"):
        assert _inbound(paper_model, f"{p}_input_bn") == f"{p}_freq_slice"
        assert _inbound(paper_model, f"{p}_stem_conv") == f"{p}_input_bn"
        assert _inbound(paper_model, f"{p}_stack1_block1_bn1") == f"{p}_stem_conv"
    assert isinstance(paper_model.get_layer("fusion"), keras.layers.Add)
    head = ["fusion", "head_bn1", "head_relu1", "head_conv1", "head_bn2", "head_relu2",
            "head_conv2", "head_bn3", "head_pool", "softmax"]
    assert [_inbound(paper_model, n) for n in head[1:]] == head[:-1]


def test_downsampling_shortcut_is_average_pool_then_zero_channels(paper_model):
    for s, width in ((2, 52), (3, 104), (4, 208)):
        pool = paper_model.get_layer(f"pathB_stack{s}_block1_shortcut_pool")
        assert isinstance(pool, keras.layers.AveragePooling2D)
        assert (pool.pool_size, pool.strides, pool.padding) == ((3, 3), (1, 2), "same")
        pad = paper_model.get_layer(f"pathB_stack{s}_block1_shortcut_pad")
        assert isinstance(pad, ChannelZeroPad) and pad.channels == width
        assert _inbound(paper_model, pad.name) == pool.name
    names = {l.name for l in paper_model.layers}
    assert not any("stack1" in n and "shortcut" in n for n in names)
    assert not any("block2_shortcut" in n for n in names)


def test_average_pool_excludes_padded_cells():
    """Keras' 'same' average pooling divides by the number of real cells (SPEC §3)."""
    pool = keras.layers.AveragePooling2D((3, 3), strides=(1, 2), padding="same")
    x = np.arange(4 * 6, dtype="float32").reshape(1, 4, 6, 1)
    y = keras.ops.convert_to_numpy(pool(x))[0, :, :, 0]
    assert y.shape == (4, 3)
    # TF's "same" pads time by one cell on the right only (total padding 1 for 6 → 3): the
    # corner windows hold 6 and 4 real cells of 9, and the average is over those alone.
    np.testing.assert_allclose(y[0, 0], x[0, 0:2, 0:3, 0].mean())
    np.testing.assert_allclose(y[3, 2], x[0, 2:4, 4:6, 0].mean())
    np.testing.assert_allclose(y[1, 1], x[0, 0:3, 2:5, 0].mean())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pool(np.ones((1, 4, 6, 1)))), 1.0)


def test_no_lambda_layers_and_unique_readable_names(paper_model):
    assert not any(isinstance(l, keras.layers.Lambda) for l in paper_model.layers)
    names = [l.name for l in paper_model.layers]
    assert len(names) == len(set(names))
    assert "pathA_stack2_block1_conv1" in names and "pathB_stack4_block2_conv2" in names


def test_fusion_is_128_by_25_by_208_for_400_frames(paper_model):
    fusion = fusion_model(paper_model)
    assert fusion.compute_output_spec(keras.KerasTensor((2, 256, 400, 2))).shape == (
        2, 128, 25, 208)
    assert fusion.compute_output_spec(keras.KerasTensor((2, 256, 469, 2))).shape == (
        2, 128, 30, 208)
    y = fusion(np.random.default_rng(0).normal(size=(1, 256, 400, 2)).astype("float32"))
    assert tuple(y.shape) == (1, 128, 25, 208)


@pytest.mark.parametrize("frames", [400, 469])
def test_output_is_a_probability_per_class_for_any_length(narrow_model, frames):
    x = np.random.default_rng(frames).normal(size=(2, 256, frames, 2)).astype("float32")
    y = keras.ops.convert_to_numpy(narrow_model(x, training=False))
    assert y.shape == (2, 3)
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-6)


def test_paper_model_forward_pass(paper_model):
    x = np.random.default_rng(1).normal(size=(1, 256, 96, 2)).astype("float32")
    y = keras.ops.convert_to_numpy(paper_model(x))
    assert y.shape == (1, 3)
    np.testing.assert_allclose(y.sum(), 1.0, atol=1e-6)


def test_frequency_receptive_field_at_the_fusion_is_35_bins(narrow_model):
    """Gradient of one fusion element wrt the input: nonzero on 1 + 2·17 bins per path.

    With all kernels positive and a positive input every ReLU passes, so the gradient is
    strictly positive inside the receptive field and exactly zero outside it.
    """
    model = build_binary_resnet(NARROW)
    for layer in model.layers:
        if isinstance(layer, BinaryConv2D):
            layer.kernel.assign(np.abs(layer.kernel.numpy()))
    fusion = fusion_model(model)
    x = tf.Variable(np.random.default_rng(0).uniform(0.5, 1.5, (1, 256, 32, 2)).astype("float32"))
    with tf.GradientTape() as tape:
        element = fusion(x)[0, 64, 1, 0]
    grad = tape.gradient(element, x).numpy()[0]
    rows = np.flatnonzero(np.abs(grad).sum(axis=(1, 2)))
    path_a, path_b = rows[rows < 128], rows[rows >= 128]
    assert len(path_a) == len(path_b) == 35
    np.testing.assert_array_equal(path_a, np.arange(64 - 17, 64 + 18))
    np.testing.assert_array_equal(path_b, np.arange(128 + 64 - 17, 128 + 64 + 18))


def test_save_load_keras_safe_mode_gives_identical_outputs(narrow_model, tmp_path):
    path = tmp_path / "narrow.keras"
    narrow_model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, BinaryResNet)
    assert loaded.model_config == NARROW
    x = np.random.default_rng(2).normal(size=(2, 256, 40, 2)).astype("float32")
    np.testing.assert_array_equal(loaded(x), narrow_model(x))


def test_narrow_model_is_a_config_change():
    model = build_binary_resnet(NARROW)
    convs = [l for l in model.layers if isinstance(l, BinaryConv2D)]
    assert len(convs) == 36
    assert tuple(model.get_layer("pathA_stack4_block2_conv2").kernel.shape) == (3, 3, 64, 64)
    assert tuple(model.get_layer("head_conv1").kernel.shape) == (3, 3, 64, 32)
    assert model.model_config == NARROW


def test_float_twin_has_same_names_and_counts():
    config = dataclasses.replace(NARROW, binary=False)
    model = build_binary_resnet(config)
    binary = build_binary_resnet(NARROW)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 36
    assert not any(isinstance(l, BinaryConv2D) for l in model.layers)
    assert all(not l.use_bias and l.padding == "same" for l in convs)
    assert [l.name for l in model.layers] == [l.name for l in binary.layers]
    assert model.count_params() == binary.count_params()
    assert all(isinstance(l.kernel_initializer, keras.initializers.HeNormal) for l in convs)
    assert all(l.kernel_regularizer.l2 == pytest.approx(5e-4) for l in convs)


def test_weight_decay_is_one_l2_term_per_conv(narrow_model):
    assert len(narrow_model.losses) == 36
    expected = sum(5e-4 * float(np.sum(l.kernel.numpy().astype("float64") ** 2))
                   for l in narrow_model.layers if isinstance(l, BinaryConv2D))
    assert float(sum(narrow_model.losses)) == pytest.approx(expected, rel=1e-5)


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="freq_split"):
        build_binary_resnet(ModelConfig(freq_split=100))
    with pytest.raises(ConfigError, match="layer table"):
        build_binary_resnet(ModelConfig(num_stacks=0))


def test_synchronized_batch_norm_option_for_multi_replica_training():
    """Under MirroredStrategy each replica would normalise over its own share of the batch;
    `synchronized_bn` makes every BN use the global batch, as [R1]'s single GPU did."""
    cfg = ModelConfig(num_filters=4, head_width=8, synchronized_bn=True)
    bns = [l for l in build_binary_resnet(cfg).layers
           if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bns) == 37 and all(l.synchronized for l in bns)
    plain = [l for l in build_binary_resnet(ModelConfig(num_filters=4, head_width=8)).layers
             if isinstance(l, keras.layers.BatchNormalization)]
    assert not any(l.synchronized for l in plain)


def test_softmax_stays_float32_under_mixed_precision():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_binary_resnet(ModelConfig(num_filters=4, head_width=8))
        out = model(np.zeros((1, 256, 32, 2), np.float32))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert model.get_layer("softmax").compute_dtype == "float32"
    assert out.dtype == "float32"
    assert model.get_layer("pathA_stem_conv").compute_dtype == "float16"
