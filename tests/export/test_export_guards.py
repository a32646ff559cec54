"""The export commands check their options before writing anything, and a damaged .tflite file
(it has no checksum) is refused at load by a probe input instead of predicting NaN."""
import keras
import numpy as np
import pytest

from dcase_lowcomplexity.export.tflite.__main__ import main as tflite_main
from dcase_lowcomplexity.config import ModelConfig, StudentConfig
from dcase_lowcomplexity.errors import ModelFileError
from dcase_lowcomplexity.export import tflite
from dcase_lowcomplexity.export.__main__ import main as pack_main
from dcase_lowcomplexity.export.formats import load_predictor
from dcase_lowcomplexity.models.binary_resnet import build_binary_resnet
from dcase_lowcomplexity.models.student import build_student

SMALL_STUDENT = StudentConfig(input_bins=16, conv_widths=(4, 4, 8), embedding_dim=8)


def _exit_2(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def _nothing_written(folder, *keep):
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


@pytest.mark.parametrize("frames", ["0", "-5"])
def test_pack_command_refuses_frames_below_one_before_writing(tmp_path, capsys, frames):
    keras.utils.set_random_seed(0)
    build_binary_resnet(ModelConfig(num_filters=5, head_width=7)).save(tmp_path / "m.keras")
    err = _exit_2(pack_main, [tmp_path / "m.keras", tmp_path / "O.1bit", "--frames", frames],
                  capsys)
    assert f"--frames must be a positive number of time frames, got {frames}" in err
    _nothing_written(tmp_path, "m.keras")


def test_pack_command_writes_nothing_when_the_source_is_not_packable(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    build_student(SMALL_STUDENT).save(tmp_path / "float.keras")
    err = _exit_2(pack_main, [tmp_path / "float.keras", tmp_path / "O.1bit"], capsys)
    assert "only one-bit models can be packed" in err or "ModelConfig" in err
    _nothing_written(tmp_path, "float.keras")


@pytest.fixture(scope="module")
def student_file(tmp_path_factory):
    """A variable-length student CNN saved as .keras (its time axis is free)."""
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("student") / "student.keras"
    build_student(SMALL_STUDENT).save(path)
    return path


@pytest.mark.parametrize("shape", ["abc", "16,x,1", "16,0,1", ""])
def test_tflite_command_names_a_bad_input_shape(student_file, tmp_path, capsys, shape):
    err = _exit_2(tflite_main, [student_file, tmp_path / "s.tflite", "--input-shape", shape],
                  capsys)
    assert f"--input-shape must be positive integers separated by commas, got {shape!r}" in err
    _nothing_written(tmp_path)


def test_tflite_command_asks_for_the_input_shape_by_its_option_name(student_file, tmp_path,
                                                                    capsys):
    err = _exit_2(tflite_main, [student_file, tmp_path / "s.tflite"], capsys)
    assert "pass --input-shape" in err and "input_shape=" not in err
    err = _exit_2(tflite_main, [student_file, tmp_path / "s.tflite", "--input-shape", "16,20"],
                  capsys)
    assert "--input-shape 16,20 does not fit the model's inputs" in err
    _nothing_written(tmp_path)


def test_tflite_command_names_a_missing_or_unreadable_calibration_file(student_file, tmp_path,
                                                                       capsys):
    args = [student_file, tmp_path / "s.tflite", "--storage", "int8", "--input-shape",
            "16,20,1", "--calibration"]
    missing = tmp_path / "missing.npy"
    err = _exit_2(tflite_main, [*args, missing], capsys)
    assert f"{missing}: --calibration file not found" in err
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an array")
    err = _exit_2(tflite_main, [*args, bad], capsys)
    assert f"{bad}: --calibration is not a readable .npy array" in err
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 16, 21, 1), np.float32))
    err = _exit_2(tflite_main, [*args, wrong], capsys)
    assert f"{wrong}: --calibration holds an array of shape (2, 16, 21, 1)" in err
    _nothing_written(tmp_path, "bad.npy", "wrong.npy")


# ---------------------------------------------------------------- damaged .tflite files


@pytest.fixture(scope="module")
def fp16_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fp16")
    keras.utils.set_random_seed(0)
    classifier = build_student(SMALL_STUDENT)
    good = tflite.convert_fp16(classifier, folder / "good.tflite", input_shape=(16, 20, 1))
    logits = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])  # no softmax
    raw = tflite.convert_fp16(logits, folder / "logits.tflite")
    return good, raw


def _largest_weight_offset(path) -> tuple[int, int]:
    from tensorflow.lite.tools import flatbuffer_utils

    data = path.read_bytes()
    buffers = [bytes(b.data) for b in flatbuffer_utils.read_model(str(path)).buffers
               if b.data is not None and len(b.data) > 0]
    largest = max(buffers, key=len)
    offset = data.find(largest)
    assert offset > 0 and data.count(largest) == 1
    return offset, len(largest)


def test_tflite_with_overwritten_weights_is_refused_at_load(fp16_files, tmp_path):
    good, _ = fp16_files
    offset, size = _largest_weight_offset(good)
    assert size >= 128
    data = bytearray(good.read_bytes())
    middle = offset + size // 2 // 64 * 64
    data[middle:middle + 64] = b"\xff" * 64  # float16 0xFFFF is a NaN
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(bytes(data))
    for load in (tflite.TFLiteModel, load_predictor):
        with pytest.raises(ModelFileError, match=rf"{bad}: it gives non-finite output .* on a "
                                                 r"probe input"):
            load(bad)
    predict = load_predictor(good)  # the intact file still loads and predicts probabilities
    p = predict(np.zeros((3, 16, 20, 1), np.float32))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-3)


def test_tflite_that_gives_no_probabilities_is_refused_by_load_predictor(fp16_files):
    _, raw = fp16_files
    assert tflite.TFLiteModel(raw).probe_output.shape == (2, 3)  # finite: a valid file
    with pytest.raises(ModelFileError, match=rf"{raw}: its output on a probe input is not "
                                             r"class probabilities"):
        load_predictor(raw)
