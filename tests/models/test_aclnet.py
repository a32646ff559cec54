"""models/aclnet.py: AclNet0.5 of [R2] (SPEC §6) — layer table, 317,038-parameter target."""
import keras
import numpy as np
import pytest

from dcase_lowcomplexity.config import AclNetConfig, demo_aclnet_config
from dcase_lowcomplexity.reported import R2_TABLE
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.models.aclnet import build_aclnet, predict_segment_average

R2_ACLNET = next(r.parameters for r in R2_TABLE if r.system == "AclNet0.5 INT8")

# (layer, output shape without batch, parameters) of the default model: docs/r2_systems.md
LAYER_TABLE = [
    ("llf_conv1", (8000, 32), 320), ("llf_conv1_bn", (8000, 32), 128),
    ("llf_conv2", (2000, 64), 10304), ("llf_conv2_bn", (2000, 64), 256),
    ("hlf_conv1", (64, 100, 16), 144), ("hlf_conv1_bn", (64, 100, 16), 64),
    ("hlf_conv2", (32, 50, 32), 4608), ("hlf_conv2_bn", (32, 50, 32), 128),
    ("hlf_conv3", (32, 50, 32), 9216), ("hlf_conv3_bn", (32, 50, 32), 128),
    ("hlf_conv4", (16, 25, 64), 18432), ("hlf_conv4_bn", (16, 25, 64), 256),
    ("hlf_conv5", (16, 25, 64), 4672), ("hlf_conv5_bn", (16, 25, 64), 256),
    ("hlf_conv6", (8, 12, 128), 8768), ("hlf_conv6_bn", (8, 12, 128), 512),
    ("hlf_conv7", (8, 12, 128), 17536), ("hlf_conv7_bn", (8, 12, 128), 512),
    ("hlf_conv8", (4, 6, 256), 33920), ("hlf_conv8_bn", (4, 6, 256), 1024),
    ("hlf_conv9", (4, 6, 256), 67840), ("hlf_conv9_bn", (4, 6, 256), 1024),
    ("embedding_conv", (2, 3, 512), 133376), ("embedding_conv_bn", (2, 3, 512), 2048),
    ("logits", (3,), 1539),
]


@pytest.fixture(scope="module")
def model():
    return build_aclnet()


def test_parameter_count_and_gap_to_r2(model):
    assert R2_ACLNET == 317_038
    assert model.count_params() == 317_011
    assert model.count_params() - R2_ACLNET == -27
    assert abs(model.count_params() / R2_ACLNET - 1) < 1e-4  # −0.0085 %


def test_layer_table(model):
    table = [(layer.name, tuple(layer.output.shape[1:]), layer.count_params())
             for layer in model.layers if layer.count_params()]
    assert table == LAYER_TABLE
    assert sum(p for _, _, p in LAYER_TABLE) == 317_011


def test_llf_frames_are_10_ms_of_64_channels(model):
    config = AclNetConfig()
    assert config.frame_samples == 2 * 4 * 20 == 160  # 10 ms at 16 kHz
    assert tuple(model.get_layer("llf_pool").output.shape[1:]) == (100, 64)
    assert tuple(model.get_layer("llf_image").output.shape[1:]) == (64, 100, 1)
    assert model.input_shape == (None, 16000) and model.output_shape == (None, 3)


def test_hlf_widths_and_separable_layers(model):
    assert AclNetConfig().hlf_channels == (16, 32, 32, 64, 64, 128, 128, 256, 256)
    assert AclNetConfig(width_multiplier=1.0).hlf_channels == AclNetConfig().hlf_widths
    kinds = [type(model.get_layer(f"hlf_conv{i}")).__name__ for i in range(1, 10)]
    assert kinds == ["Conv2D"] * 4 + ["SeparableConv2D"] * 5
    assert tuple(model.get_layer("embedding").output.shape[1:]) == (512,)


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


def test_demo_config_keeps_the_layout():
    demo = build_aclnet(demo_aclnet_config())
    assert demo.count_params() == 19_079
    assert [layer.name for layer in demo.layers] == [layer.name for layer in build_aclnet().layers]


def test_bad_configs():
    with pytest.raises(ConfigError, match="multiple"):
        build_aclnet(AclNetConfig(segment_samples=16100))
    with pytest.raises(ConfigError, match="max-pools"):
        build_aclnet(AclNetConfig(segment_samples=1600))
    with pytest.raises(ConfigError):
        build_aclnet(AclNetConfig(llf_strides=(2,)))
