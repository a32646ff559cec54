"""models/student.py: the KD student of [R2] (SPEC §6) — 3 × (conv, BN, ReLU, pool) + FC."""
import keras
import numpy as np
import pytest

from dcase_lowcomplexity.config import StudentConfig, demo_student_config
from dcase_lowcomplexity.reported import R2_TEXT_PARAMETERS
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.models.student import build_student

R2_STUDENT = R2_TEXT_PARAMETERS["Student CNN"]  # §2.3; Table 2 prints 252,712


@pytest.fixture(scope="module")
def model():
    return build_student()


def test_parameter_count_and_gap_to_r2(model):
    assert R2_STUDENT == 252_713
    assert model.count_params() == 252_627
    assert model.count_params() - R2_STUDENT == -86
    assert abs(model.count_params() / R2_STUDENT - 1) < 4e-4  # −0.034 %


def test_layer_table(model):
    table = [(layer.name, layer.count_params()) for layer in model.layers if layer.count_params()]
    assert table == [
        ("conv1", 416), ("conv1_bn", 64), ("conv2", 6960), ("conv2_bn", 192),
        ("conv3", 110848), ("conv3_bn", 1024), ("embedding", 131584), ("logits", 1539),
    ]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert len(convs) == 3 and len(pools) == 3
    assert tuple(model.get_layer("embedding").output.shape[1:]) == (512,)


def test_takes_any_number_of_64_band_frames(model):
    assert model.input_shape == (None, 64, None, 1)
    for frames in (1001, 400):
        x = np.random.default_rng(frames).standard_normal((2, 64, frames, 1)).astype(np.float32)
        probs = model.predict(x, verbose=0)
        assert probs.shape == (2, 3)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_safe_mode_round_trip(model, tmp_path):
    x = np.random.default_rng(1).standard_normal((2, 64, 101, 1)).astype(np.float32)
    path = tmp_path / "student.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_demo_config_and_errors():
    assert build_student(demo_student_config()).count_params() == 12_199
    with pytest.raises(ConfigError):
        build_student(StudentConfig(conv_kernel_sizes=(3, 3)))
    with pytest.raises(ConfigError):
        build_student(StudentConfig(input_bins=4))
