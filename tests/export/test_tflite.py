"""export/tflite.py: FP16 and full-integer INT8 export, LiteRT inference, sizes ([R2], SPEC §6)."""
import keras
import numpy as np
import pytest

from dcase_lowcomplexity.export.tflite.__main__ import main
from dcase_lowcomplexity.config import AclNetConfig, StudentConfig
from dcase_lowcomplexity.errors import ConfigError, ModelFileError
from dcase_lowcomplexity.export import tflite
from dcase_lowcomplexity.export.size import model_size_report, trainable_parameters
from dcase_lowcomplexity.models.aclnet import build_aclnet
from dcase_lowcomplexity.models.student import build_student

TINY = AclNetConfig(segment_samples=3200, llf_filters=(4, 8), width_multiplier=0.25,
                    hlf_pool_after=(0, 2, 4), embedding_dim=16, bn_momentum=0.0,
                    classifier_hidden=())  # logits straight from the embedding: spreadable

# ---------------------------------------------------------------- parameter conventions


def test_our_aclnet_counted_three_ways():
    """[R2]'s trainable count = DCASE parameters (BN excluded) + BN γ and β; Keras'
    count_params adds the moving statistics as well."""
    model = build_aclnet()
    report = model_size_report(model, storage="int8")
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    gamma_beta = sum(int(np.prod(w.shape)) for b in bns for w in b.trainable_weights)
    moving = sum(int(np.prod(w.shape)) for b in bns for w in b.non_trainable_weights)
    assert report.bn_parameters_excluded == gamma_beta + moving == 2 * moving
    assert trainable_parameters(model) == report.total_parameters + gamma_beta
    assert model.count_params() == trainable_parameters(model) + moving
    assert report.size_kb == report.non_zero_parameters / 1024


# ---------------------------------------------------------------- conversion and inference


def _tiny_model(calibration):
    keras.utils.set_random_seed(0)
    model = build_aclnet(TINY)
    model(calibration, training=True)  # bn_momentum 0: moving statistics = these batch ones
    logits = model.get_layer("logits")
    kernel, bias = logits.get_weights()
    logits.set_weights([kernel * 4.0, bias])  # spread the probabilities: argmax means something
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((64, TINY.segment_samples)).astype(np.float32)
    model = _tiny_model(calib)
    test = rng.standard_normal((40, TINY.segment_samples)).astype(np.float32)
    folder = tmp_path_factory.mktemp("tflite")
    paths = {
        "int8": tflite.convert_int8(model, calib, folder / "int8.tflite"),
        "int8_float_io": tflite.convert_int8(model, calib, folder / "f.tflite", io_dtype="float32"),
        "fp16": tflite.convert_fp16(model, folder / "fp16.tflite"),
    }
    return model, test, paths, folder


def _weights(path):
    return [t for t in tflite.tflite_tensors(path) if t.constant and len(t.shape) >= 2]


def test_int8_file_stores_int8_weights_and_int8_io(exported):
    _, _, paths, _ = exported
    weights = _weights(paths["int8"])
    assert len(weights) >= 9  # LLF 2 + HLF 3 + 2 separable × 2 + embedding 2 + logits
    assert {t.dtype for t in weights} == {"int8"}
    assert not [t for t in tflite.tflite_tensors(paths["int8"]) if t.constant
                and t.dtype == "float32"]
    model = tflite.TFLiteModel(paths["int8"])
    assert (model.input_dtype, model.output_dtype) == (np.int8, np.int8)
    assert model.input_shape == (TINY.segment_samples,)


def test_int8_predictions_agree_with_the_float_model(exported):
    model, x, paths, _ = exported
    reference = model.predict(x, verbose=0)
    assert reference.max(axis=1).mean() > 0.75  # not a near-uniform model
    confident = reference.max(axis=1) > 0.7  # away from a decision boundary
    assert confident.sum() >= 20
    for key in ("int8", "int8_float_io"):
        probs = tflite.TFLiteModel(paths[key]).predict(x)
        assert probs.shape == (40, 3) and probs.dtype == np.float32
        agree = probs.argmax(1) == reference.argmax(1)
        assert np.mean(agree[confident]) >= 0.9 and np.mean(agree) >= 0.75
        error = np.abs(probs - reference)
        # An untrained network's activations are hard to quantise near a decision boundary;
        # away from one, INT8 stays within a few hundredths of the float probabilities.
        assert error[confident].mean() < 0.05 and np.median(error) < 0.05
    assert tflite.TFLiteModel(paths["int8_float_io"]).input_dtype == np.float32
    assert {t.dtype for t in _weights(paths["int8_float_io"])} == {"int8"}


def test_fp16_file_stores_float16_weights_and_matches(exported):
    model, x, paths, _ = exported
    assert {t.dtype for t in _weights(paths["fp16"])} == {"float16"}
    probs, reference = tflite.TFLiteModel(paths["fp16"]).predict(x), model.predict(x, verbose=0)
    # float16 weights (11-bit mantissa) of an untrained, sharpened network: hundredths at most
    np.testing.assert_allclose(probs, reference, atol=3e-2)
    assert np.abs(probs - reference).mean() < 5e-3
    assert np.mean(probs.argmax(1) == reference.argmax(1)) >= 0.95


def test_predict_is_independent_of_the_batch_size(exported):
    _, x, paths, _ = exported
    model = tflite.TFLiteModel(paths["int8"])
    np.testing.assert_array_equal(model.predict(x[:7], batch_size=3), model.predict(x[:7]))
    with pytest.raises(ConfigError):
        model.predict(x[:, :100])


def test_writes_are_atomic(exported):
    _, _, _, folder = exported
    assert sorted(p.name for p in folder.iterdir()) == ["f.tflite", "fp16.tflite", "int8.tflite"]


def test_export_sizes_reports_dcase_and_file_sizes(exported):
    model, _, paths, _ = exported
    sizes = tflite.export_sizes(model, paths["int8"], "int8")
    report = model_size_report(model, storage="int8")
    assert sizes.dcase_kb == report.size_kb == report.non_zero_parameters / 1024
    assert sizes.file_bytes == paths["int8"].stat().st_size
    assert sizes.file_kb > sizes.dcase_kb  # graph, int32 biases, scales
    fp16 = tflite.export_sizes(model, paths["fp16"], "float16")
    assert fp16.dcase_kb == report.non_zero_parameters * 2 / 1024


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_corrupt_tflite_is_a_model_file_error(exported, tmp_path, damage):
    data = exported[2]["int8"].read_bytes()
    bad = {"truncate": data[: len(data) // 2], "garbage": b"not a model" * 50,
           "flip": data[:64] + bytes(b ^ 0xFF for b in data[64:400]) + data[400:]}[damage]
    path = tmp_path / "broken.tflite"
    path.write_bytes(bad)
    with pytest.raises(ModelFileError, match="broken.tflite"):
        tflite.TFLiteModel(path)
    with pytest.raises(ModelFileError, match="missing.tflite"):
        tflite.TFLiteModel(tmp_path / "missing.tflite")


def test_variable_length_models_need_an_input_shape(tmp_path):
    model = build_student(StudentConfig(input_bins=16, conv_widths=(4, 4, 8), embedding_dim=8))
    with pytest.raises(ConfigError, match="input_shape"):
        tflite.convert_fp16(model, tmp_path / "s.tflite")
    with pytest.raises(ConfigError):
        tflite.convert_int8(model, np.zeros((2, 16, 20, 1)), tmp_path / "s.tflite", io_dtype="uint8")


def test_command_line_converts_a_saved_model(exported, tmp_path, capsys):
    model = exported[0]
    model_path = tmp_path / "m.keras"
    model.save(model_path)
    out = tmp_path / "m.tflite"
    assert main([str(model_path), str(out), "--storage", "float16"]) == 0
    table = capsys.readouterr().out
    assert out.is_file() and "| m.keras | float16 |" in table
    with pytest.raises(SystemExit) as stop:
        main([str(model_path), str(out), "--storage", "int8"])  # no calibration data
    assert stop.value.code == 2
