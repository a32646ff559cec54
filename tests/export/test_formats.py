"""export/formats.py: export_model writes each format; load_predictor runs the FILE."""
import keras
import numpy as np
import pytest

from dcase_lowcomplexity.config import ModelConfig
from dcase_lowcomplexity.errors import ConfigError, ModelFileError
from dcase_lowcomplexity.export.formats import (
    INT8_PROBABILITY_FLOOR, Predictor, export_model, load_predictor,
)
from dcase_lowcomplexity.export.tflite import TFLiteModel
from dcase_lowcomplexity.models.binary_resnet import build_binary_resnet

NARROW = ModelConfig(num_filters=5, head_width=7)


def _binary_model():
    """A narrow one-bit ResNet with random batch-norm arrays (so the file's floats matter)."""
    keras.utils.set_random_seed(3)
    model = build_binary_resnet(NARROW)
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for var in layer.weights:
                low = 0.5 if var.name in ("gamma", "moving_variance") else -0.5
                var.assign(rng.uniform(low, low + 1.0, var.shape).astype("float32"))
    return model


def _dense_model(seed=0):
    """Flatten → Dense(8, relu) → Dense(3, softmax) on (6, 4) inputs, confident outputs."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((6, 4)), keras.layers.Flatten(),
        keras.layers.Dense(8, activation="relu", bias_initializer="ones"),
        keras.layers.Dense(3, activation="softmax", name="logits"),
    ])
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([kernel * 6.0, bias])
    return model


def test_one_bit_file_predicts_like_the_keras_model(tmp_path):
    model = _binary_model()
    path = export_model(model, tmp_path / "model.1bit", "1bit", model_config=NARROW)
    predictor = load_predictor(path)
    assert isinstance(predictor, Predictor)
    assert (predictor.path, predictor.storage) == (path, "1bit")
    assert predictor.input_shape == (256, None, 2)
    x = np.random.default_rng(1).normal(size=(5, 256, 24, 2)).astype("float32")
    probs = predictor(x)
    assert probs.dtype == np.float64 and probs.shape == (5, 3)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    # Batches of 2 give the same numbers as one batch.
    predictor.batch_size = 2
    np.testing.assert_allclose(predictor(x), probs, atol=1e-6)


def test_float16_file_predicts_close_to_keras(tmp_path):
    model = _dense_model()
    path = export_model(model, tmp_path / "model_fp16.tflite", "float16")
    predictor = load_predictor(path)
    assert (predictor.storage, predictor.input_shape) == ("float16", (6, 4))
    x = np.random.default_rng(2).normal(size=(70, 6, 4)).astype("float32")  # > one batch
    probs = predictor(x)
    assert probs.dtype == np.float64 and probs.shape == (70, 3)
    np.testing.assert_allclose(probs, model.predict(x, verbose=0), atol=5e-3)
    with pytest.raises(ConfigError, match="model_fp16.tflite"):
        predictor(x[:, :5])


def test_int8_file_rows_sum_to_one_with_no_zero(tmp_path):
    model = _dense_model(1)
    rng = np.random.default_rng(3)
    calibration = rng.normal(size=(64, 6, 4)).astype("float32")
    path = export_model(model, tmp_path / "model_int8.tflite", "int8", calibration=calibration)
    predictor = load_predictor(path)
    assert predictor.storage == "int8"
    x = 3 * rng.normal(size=(40, 6, 4)).astype("float32")
    raw = TFLiteModel(path).predict(x)
    assert (raw == 0).any()  # the INT8 softmax does give exact zeros here
    probs = predictor(x)
    assert probs.dtype == np.float64 and probs.shape == (40, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert probs.min() >= INT8_PROBABILITY_FLOOR / 1.01  # floored, renormalised
    floored = np.maximum(raw.astype(np.float64), 1 / 512)
    np.testing.assert_allclose(probs, floored / floored.sum(1, keepdims=True), atol=1e-12)
    assert (probs.argmax(1) == raw.argmax(1)).all()


def test_export_refuses_bad_requests(tmp_path):
    model = _dense_model()
    with pytest.raises(ConfigError, match="storage 'int4'"):
        export_model(model, tmp_path / "m.tflite", "int4")
    with pytest.raises(ConfigError, match=r"must end in \.tflite"):
        export_model(model, tmp_path / "m.1bit", "float16")
    with pytest.raises(ConfigError, match="calibration"):
        export_model(model, tmp_path / "m.tflite", "int8")
    assert list(tmp_path.iterdir()) == []


def test_load_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="missing.tflite"):
        load_predictor(tmp_path / "missing.tflite")
    (tmp_path / "notes.txt").write_text("not a model at all")
    with pytest.raises(ModelFileError, match="neither a packed one-bit file nor a .tflite"):
        load_predictor(tmp_path / "notes.txt")
