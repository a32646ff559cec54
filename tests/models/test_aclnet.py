"""models/aclnet.py: AclNet0.5 of [R2] §2.1-2.2 against the report's trainable counts."""
import keras
import numpy as np
import pytest

from dcase_lowcomplexity.export.size import trainable_parameters

from dcase_lowcomplexity.config import AclNetConfig, LotteryTicketConfig, demo_aclnet_config
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.models.aclnet import build_aclnet, predict_segment_average
from dcase_lowcomplexity.training.pruning import magnitude_masks

# [R2] §2.1: "317,038 trainable parameters"; §2.2: 255,740 after pruning 19.6 %.
R2_ACLNET = 317_038
R2_ACLNET_LT = 255_740
# Our closest reading (docs/r2_systems.md): no table with even widths and a biased 3-class
# output can give an even total, so the gap is documented, not zero.
ACLNET_GAP = -11
LT_GAP = 284


@pytest.fixture(scope="module")
def model():
    return build_aclnet()


def test_trainable_parameters_against_r2(model):
    assert trainable_parameters(model) - R2_ACLNET == ACLNET_GAP  # 317,027: −0.0035 %
    assert abs(trainable_parameters(model) / R2_ACLNET - 1) < 5e-5


def test_lottery_ticket_non_zero_against_r2(model):
    """19.6 % of the conv and dense kernels pruned: [R2]'s 255,740 non-zero trainable."""
    masks = magnitude_masks(model, LotteryTicketConfig().prune_fraction)
    n_pruned = sum(int(np.size(m) - np.count_nonzero(m)) for m in masks.values())
    assert n_pruned == round(0.196 * sum(int(np.size(m)) for m in masks.values()))
    assert trainable_parameters(model) - n_pruned - R2_ACLNET_LT == LT_GAP  # 256,024: +0.11 %
    # [R2]'s arithmetic: 61,298 pruned = 19.6 % of ≈ 312,745 prunable weights
    assert round(0.196 * 312_745) == R2_ACLNET - R2_ACLNET_LT == 61_298


def test_fc_relu_classifier_on_the_512_embedding(model):
    """[R2] §2.1: the 512 embeddings go to "a fully-connected layer classifier with ReLU"."""
    assert tuple(model.get_layer("embedding").output.shape[1:]) == (512,)
    assert isinstance(model.get_layer("classifier1"), keras.layers.Dense)
    assert isinstance(model.get_layer("classifier1_relu"), keras.layers.ReLU)
    assert model.get_layer("classifier1").units == AclNetConfig().classifier_hidden[0] == 40
    assert model.get_layer("logits").count_params() == 40 * 3 + 3


def test_llf_frames_are_10_ms_of_64_channels(model):
    config = AclNetConfig()
    assert config.frame_samples == 2 * 4 * 20 == 160  # 10 ms at 16 kHz
    assert tuple(model.get_layer("llf_pool").output.shape[1:]) == (100, 64)
    assert tuple(model.get_layer("llf_image").output.shape[1:]) == (64, 100, 1)
    assert model.input_shape == (None, 16000) and model.output_shape == (None, 3)


def test_hlf_widths_and_separable_layers(model):
    assert AclNetConfig().hlf_channels == (16, 32, 32, 64, 64, 128, 128, 256, 256)
    assert AclNetConfig(width_multiplier=1.0).hlf_channels == AclNetConfig().hlf_widths
    standard = [model.get_layer(f"hlf_conv{i}") for i in range(1, 4)]
    assert all(layer.kernel_size == (3, 3) for layer in standard)
    for i in range(4, 10):  # depthwise 3×3 → BN → ReLU → pointwise 1×1 → BN → ReLU
        assert isinstance(model.get_layer(f"hlf_conv{i}_dw"), keras.layers.DepthwiseConv2D)
        assert model.get_layer(f"hlf_conv{i}").kernel_size == (1, 1)
        assert isinstance(model.get_layer(f"hlf_conv{i}_dw_bn"), keras.layers.BatchNormalization)


def test_llf_is_the_image_transposed(model):
    """The image row c is LLF channel c over time: Permute + Reshape, no mixing."""
    x = np.random.default_rng(0).standard_normal((1, 16000)).astype(np.float32)
    frames = keras.Model(model.input, model.get_layer("llf_pool").output)(x).numpy()
    image = keras.Model(model.input, model.get_layer("llf_image").output)(x).numpy()
    np.testing.assert_array_equal(image[0, :, :, 0], frames[0].T)


def test_safe_mode_round_trip(model, tmp_path):
    x = np.random.default_rng(1).standard_normal((2, 16000)).astype(np.float32)
    path = tmp_path / "aclnet.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_segment_average_is_the_mean_over_ten_segments(model):
    clips = np.random.default_rng(2).standard_normal((2, 160000)).astype(np.float32) * 0.1
    probs = predict_segment_average(lambda s: model.predict(s, verbose=0), clips)
    per_segment = model.predict(clips.reshape(20, 16000), verbose=0).reshape(2, 10, 3)
    np.testing.assert_allclose(probs, per_segment.mean(axis=1), atol=1e-6)
    calls = []
    predict_segment_average(lambda s: calls.append(s.shape) or np.ones((len(s), 3)), clips)
    assert calls == [(20, 16000)]
    with pytest.raises(ConfigError):
        predict_segment_average(model.predict, np.zeros((1, 100), np.float32))


def test_demo_config_keeps_the_layout(model):
    demo = build_aclnet(demo_aclnet_config())
    assert trainable_parameters(demo) < trainable_parameters(model) / 10
    assert [layer.name for layer in demo.layers] == [layer.name for layer in model.layers]


def test_keras_separable_reading_still_builds():
    """The earlier reading (one BN per separable conv, separable 3×3 embedding) stays reachable."""
    config = AclNetConfig(hlf_depthwise_bn=False, embedding="separable", hlf_first_separable=4)
    alt = build_aclnet(config)
    assert isinstance(alt.get_layer("hlf_conv5"), keras.layers.SeparableConv2D)
    assert tuple(alt.get_layer("embedding").output.shape[1:]) == (512,)


def test_bad_configs():
    with pytest.raises(ConfigError, match="multiple"):
        build_aclnet(AclNetConfig(segment_samples=16100))
    with pytest.raises(ConfigError, match="max-pools"):
        build_aclnet(AclNetConfig(segment_samples=1600))
    with pytest.raises(ConfigError):
        build_aclnet(AclNetConfig(llf_strides=(2,)))
    with pytest.raises(ConfigError, match="embedding"):
        build_aclnet(AclNetConfig(embedding="flatten"))
