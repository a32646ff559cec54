"""models/teacher.py: the VGG-12 teacher of [R2] §2.3, 12,621,635 trainable parameters."""
import keras
import numpy as np
import pytest

from dcase_lowcomplexity.config import TeacherConfig, demo_teacher_config
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.export.size import trainable_parameters
from dcase_lowcomplexity.models.teacher import build_teacher

R2_TEACHER = 12_621_635  # [R2] Table 1 ("12.6 M trainable parameters", §2.3)


@pytest.fixture(scope="module")
def model():
    return build_teacher()


def test_trainable_parameters_equal_r2(model):
    assert trainable_parameters(model) == R2_TEACHER
    assert round(trainable_parameters(model) / 1e6, 1) == 12.6


def test_twelve_convs_from_64_to_512_channels(model):
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512]
    assert all(c.kernel_size == (3, 3) for c in convs)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 12
    assert sum(trainable_parameters(b) for b in bns) == 2 * sum(c.filters for c in convs)  # γ, β
    assert isinstance(model.get_layer("average_pool"), keras.layers.GlobalAveragePooling2D)
    assert tuple(model.get_layer("embedding").output.shape[1:]) == (512,)
    assert model.get_layer("embedding").count_params() == 512 * 512 + 512
    assert model.get_layer("logits").count_params() == 512 * 3 + 3


def test_takes_64_band_log_mels(model):
    x = np.random.default_rng(0).standard_normal((1, 64, 100, 1)).astype(np.float32)
    probs = model.predict(x, verbose=0)
    assert probs.shape == (1, 3) and probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_safe_mode_round_trip(tmp_path):
    model = build_teacher(demo_teacher_config())  # same layer types, 1/8 of the widths
    assert trainable_parameters(model) < R2_TEACHER / 50
    x = np.random.default_rng(1).standard_normal((2, 64, 64, 1)).astype(np.float32)
    path = tmp_path / "teacher.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_too_many_pools_is_a_config_error():
    with pytest.raises(ConfigError):
        build_teacher(TeacherConfig(input_bins=8))
