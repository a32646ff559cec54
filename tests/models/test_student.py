"""models/student.py: the KD student of [R2] (SPEC §6) — 3 × (conv, BN, ReLU, pool) + FC."""
import keras
import numpy as np
import pytest

from dcase_lowcomplexity.export.size import trainable_parameters

from dcase_lowcomplexity.config import StudentConfig, demo_student_config
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.models.student import build_student

# [R2] §2.3: "252,713 trainable parameters" (its Table 2 prints 252,712: one of the two is a
# typo; an even count is impossible with even widths and a biased 3-class output).
R2_STUDENT = 252_713


@pytest.fixture(scope="module")
def model():
    return build_student()


def test_trainable_parameters_equal_r2(model):
    assert trainable_parameters(model) == R2_STUDENT


def test_three_conv_bn_relu_pool_blocks_and_a_linear_fc(model):
    """[R2] §2.3: 3 × (conv, BN, ReLU, max-pool); the last conv gives the 512 embeddings."""
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(convs) == len(pools) == len(bns) == 3
    assert convs[-1].filters == 512
    assert tuple(model.get_layer("embedding").output.shape[1:]) == (512,)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.name for d in dense] == ["logits"] and dense[0].activation.__name__ == "linear"


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
    demo = build_student(demo_student_config())
    assert trainable_parameters(demo) < trainable_parameters(build_student()) / 10
    assert tuple(demo.get_layer("embedding").output.shape[1:]) == (64,)  # the demo teacher's
    with pytest.raises(ConfigError):
        build_student(StudentConfig(conv_kernel_sizes=(3, 3)))
    with pytest.raises(ConfigError):
        build_student(StudentConfig(input_bins=4))
    with pytest.raises(ConfigError, match="embedding"):
        build_student(StudentConfig(embedding_dim=256))
