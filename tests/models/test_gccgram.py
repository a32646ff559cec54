"""models/gccgram.py: the GCC-grams CNN of [R2] (SPEC §6) — 5 separable convs + linear."""
import keras
import numpy as np
import pytest

from dcase_lowcomplexity.config import GccGramConfig, GccPhatConfig, demo_gccgram_config
from dcase_lowcomplexity.reported import R2_TABLE
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.models.gccgram import build_gccgram_cnn

R2_GCC = next(r.parameters for r in R2_TABLE if r.system == "GCC-grams CNN")


@pytest.fixture(scope="module")
def model():
    return build_gccgram_cnn()


def test_parameter_count_and_gap_to_r2(model):
    assert R2_GCC == 252_491
    assert model.count_params() == 251_754
    assert model.count_params() - R2_GCC == -737
    assert abs(model.count_params() / R2_GCC - 1) < 3e-3  # −0.29 %


def test_layer_table(model):
    table = [(layer.name, tuple(layer.output.shape[1:]), layer.count_params())
             for layer in model.layers if layer.count_params()]
    assert table == [
        ("input_bn", (40, 500, 3), 12),
        ("sepconv1", (40, 500, 64), 283), ("sepconv1_bn", (40, 500, 64), 256),
        ("sepconv2", (20, 250, 128), 8896), ("sepconv2_bn", (20, 250, 128), 512),
        ("sepconv3", (10, 125, 256), 34176), ("sepconv3_bn", (10, 125, 256), 1024),
        ("sepconv4", (5, 62, 256), 68096), ("sepconv4_bn", (5, 62, 256), 1024),
        ("sepconv5", (2, 31, 512), 133888), ("sepconv5_bn", (2, 31, 512), 2048),
        ("logits", (3,), 1539),
    ]
    seps = [layer for layer in model.layers if isinstance(layer, keras.layers.SeparableConv2D)]
    assert len(seps) == 5


def test_input_is_the_gccphat_feature_shape(model):
    assert model.input_shape[1:] == GccPhatConfig().shape == (40, 500, 3)
    x = np.random.default_rng(0).standard_normal((2, 40, 500, 3)).astype(np.float32)
    probs = model.predict(x, verbose=0)
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_safe_mode_round_trip(model, tmp_path):
    x = np.random.default_rng(1).standard_normal((2, 40, 500, 3)).astype(np.float32)
    path = tmp_path / "gcc.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_demo_config_and_errors():
    assert build_gccgram_cnn(demo_gccgram_config()).count_params() == 18_426
    assert build_gccgram_cnn(GccGramConfig(input_norm=False)).count_params() == 251_742
    with pytest.raises(ConfigError):
        build_gccgram_cnn(GccGramConfig(input_shape=(16, 500, 3)))
