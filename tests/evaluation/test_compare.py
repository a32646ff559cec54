"""evaluation/compare.py on run folders holding a summary.json (written by write_summary from
real tiny Keras models' size_summary) and real predictions CSVs of those models: the
tables' numbers against values computed by hand, and [R2]'s figures beside ours."""
import importlib.util
import math
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from dcase_lowcomplexity.config import CLASS_NAMES, ModelConfig
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation import compare
from dcase_lowcomplexity.evaluation.metrics import score_clips
from dcase_lowcomplexity.evaluation.summary import RunSummary, write_summary
from dcase_lowcomplexity.export.size import model_size_report, size_summary, summary_of_report
from dcase_lowcomplexity.models.binary_resnet import build_binary_resnet
from dcase_lowcomplexity.reported import R1_NAME, TEACHER_NAME

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
N = 30
LABELS = np.arange(N) % 3


def _mlp(hidden: int, seed: int) -> keras.Model:
    """Dense(hidden) → BN → Dense(3, softmax) on 10 inputs; biases and β start at 1, so that
    no trainable parameter is zero. hidden=8: Dense 88 + BN γ, β 16 (+ 16 moving
    statistics) + Dense 27 → 131 trainable, 115 by the DCASE rule."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((10,)),
        keras.layers.Dense(hidden, bias_initializer="ones"),
        keras.layers.BatchNormalization(beta_initializer="ones"),
        keras.layers.Dense(3, activation="softmax", bias_initializer="ones"),
    ])


def _pruned(model: keras.Model, n: int) -> keras.Model:
    """A copy of `model` with the first `n` weights of its first kernel set to zero."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    kernel = copy.layers[0].kernel
    flat = kernel.numpy().ravel()
    flat[:n] = 0.0
    kernel.assign(flat.reshape(kernel.shape))
    return copy


def _predictions(folder: Path, model: keras.Model, x: np.ndarray) -> np.ndarray:
    """folder/validation_predictions.csv of `model` on `x` (the format runs write)."""
    probs = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    frame = pd.DataFrame({"filename": [f"audio/clip-{i}.wav" for i in range(N)],
                          "class_index": LABELS})
    for k, name in enumerate(CLASS_NAMES):
        frame[name] = probs[:, k]
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / compare.PREDICTIONS_FILE, index=False)
    return probs


def _accuracy(probs) -> float:
    return 100 * score_clips(LABELS, probs).balanced_accuracy


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    x = np.random.default_rng(0).normal(size=(N, 10)).astype(np.float32)
    base, teacher = _mlp(8, 0), _mlp(64, 1)
    lt = _pruned(base, 20)
    acc = {}
    # INT8: the shipped weights are the base's; predictions differ a little (noise on x).
    acc["int8"] = _accuracy(_predictions(root / "int8", base, x + 0.3))
    acc["base"] = _accuracy(_predictions(root / "int8" / "fp32", base, x))
    write_summary(root / "int8", RunSummary(
        "task1b_int8", "AclNet0.5 INT8", "Lopez-Meyer_IL_task1b_1", "int8",
        size_summary(base, "int8", None, base), "model_int8.tflite", {"fp32": "fp32"}))
    # LT: 20 kernel weights pruned, FP16; the FP32 base is the unpruned network.
    acc["lt"] = _accuracy(_predictions(root / "lt", lt, x))
    _predictions(root / "lt" / "fp32", base, x)
    write_summary(root / "lt", RunSummary(
        "task1b_lottery", "AclNet0.5 LT", "Lopez-Meyer_IL_task1b_2", "float16",
        size_summary(lt, "float16", None, base), "model_fp16.tflite", {"fp32": "fp32"}))
    # KD: the student against the teacher ([R2] Table 3), with the teacher's own row.
    acc["kd"] = _accuracy(_predictions(root / "kd", base, x - 0.3))
    _predictions(root / "kd" / "fp32", base, x)
    acc["teacher"] = _accuracy(_predictions(root / "kd" / "teacher", teacher, x))
    write_summary(root / "kd", RunSummary(
        "task1b_distill", "Student CNN (KD)", "Lopez-Meyer_IL_task1b_3", "float16",
        size_summary(base, "float16", None, base), "model_fp16.tflite",
        {"fp32": "fp32", "teacher": "teacher"}, reference="teacher",
        reference_sizes={"teacher": size_summary(teacher, "float32")}))
    # [R1]: a one-bit network's size table; its reference is its weights in float32.
    binary = build_binary_resnet(ModelConfig(num_filters=5, head_width=7))
    features = np.random.default_rng(1).normal(size=(N, 256, 12, 2)).astype(np.float32)
    acc["binary"] = _accuracy(_predictions(root / "binary", binary, features))
    write_summary(root / "binary", RunSummary(
        "task1b_binary", R1_NAME, "McDonnell_USA_task1b_1", "1bit",
        summary_of_report(model_size_report(binary)), "model.1bit"))
    return root, acc, binary


def test_int8_row(runs):
    root, acc, _ = runs
    [row] = compare.read_run(root / "int8")
    assert (row.system, row.storage, row.bytes_per_parameter) == ("AclNet0.5 INT8", "int8", 1)
    assert (row.parameters, row.dcase_non_zero) == (131, 115)  # trainable; DCASE rule
    assert row.dcase_kb == 115 / 1024 and row.fp32_kb == 460 / 1024
    assert row.reference == "fp32" and row.reference_kb == 460 / 1024
    assert row.reduction == 4.0
    assert row.accuracy == pytest.approx(acc["int8"]) and row.fp32_accuracy == pytest.approx(acc["base"])
    assert row.drop == pytest.approx(acc["base"] - acc["int8"])
    rep = row.reported  # [R2] Tables 2 and 3
    assert (rep.parameters, rep.size_kb, rep.accuracy) == (317_038, 309.60, 90.94)
    assert (rep.reference, rep.reference_kb, rep.reference_accuracy) == ("AclNet0.5", 1_238.43, 91.52)
    assert (rep.reduction, rep.drop, rep.format) == (4.0, 0.58, "INT8")


def test_lottery_row_counts_pruned_zeros_out(runs):
    root, acc, _ = runs
    [row] = compare.read_run(root / "lt")
    assert (row.parameters, row.dcase_non_zero) == (131 - 20, 115 - 20)
    assert row.dcase_kb == 95 * 2 / 1024 and row.reference_kb == 115 * 4 / 1024
    assert row.reduction == pytest.approx(460 / 190)
    assert row.drop == pytest.approx(acc["base"] - acc["lt"])
    assert (row.reported.reduction, row.reported.drop) == (2.5, 0.05)


def test_kd_student_measured_against_the_teacher(runs):
    root, acc, _ = runs
    student, teacher = compare.read_run(root / "kd")
    # Teacher: Dense(64) 704 + BN γ, β 128 + Dense(3) 195 = 1,027 trainable; 899 DCASE.
    assert (teacher.system, teacher.parameters, teacher.dcase_non_zero) == (TEACHER_NAME, 1027, 899)
    assert teacher.dcase_kb == 899 * 4 / 1024 and teacher.reference is None
    assert teacher.accuracy == pytest.approx(acc["teacher"])
    assert (teacher.reported.parameters, teacher.reported.accuracy) == (12_621_635, 94.60)
    assert student.reference == "teacher" and student.reference_kb == 899 * 4 / 1024
    assert student.reduction == pytest.approx(3596 / 230)  # not the student's own 2.0
    assert student.fp32_kb == 460 / 1024  # its own FP32 base stays in Table 1
    assert student.reference_accuracy == pytest.approx(acc["teacher"])
    assert student.drop == pytest.approx(acc["teacher"] - acc["kd"])
    assert (student.reported.reference, student.reported.reduction) == ("Teacher CNN", 99.9)
    assert student.reported.drop == 4.25 and student.reported.parameters == 252_712


def test_binary_row_is_one_bit_per_weight(runs):
    root, acc, binary = runs
    [row] = compare.read_run(root / "binary")
    weights = model_size_report(binary).total_parameters
    assert (row.parameters, row.bytes_per_parameter) == (weights, 1 / 8)
    assert row.dcase_kb == weights / 8 / 1024 and row.reduction == 32.0
    assert row.drop is None  # no FP32 folder: trained with one-bit weights
    assert row.accuracy == pytest.approx(acc["binary"])
    assert (row.reported.accuracy, row.reported.log_loss, row.reported.size_kb) == (97.1, 0.094, 486.69)
    assert row.reported.reduction is None  # [R1] prints no reduction


def _load_script():
    spec = importlib.util.spec_from_file_location("compare_systems",
                                                  EXPERIMENTS / "compare_systems.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_script_writes_the_tables(runs, tmp_path, capsys):
    root, acc, _ = runs
    dirs = [root / "binary", root / "int8", root / "lt", root / "kd"]
    assert _load_script().main([*map(str, dirs), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "compare.csv").set_index("system")
    assert list(table.index) == [R1_NAME, "AclNet0.5 INT8", "AclNet0.5 LT", "Student CNN (KD)",
                                 TEACHER_NAME]
    assert table.loc["AclNet0.5 INT8", "reduction"] == 4.0
    assert table.loc["AclNet0.5 LT", "reduction"] == pytest.approx(460 / 190)
    assert table.loc["Student CNN (KD)", "reduction"] == pytest.approx(3596 / 230)
    assert table.loc["Student CNN (KD)", "accuracy_drop_pp"] == pytest.approx(
        acc["teacher"] - acc["kd"])
    assert table.loc["Student CNN (KD)", "reported_drop"] == 4.25
    assert math.isnan(table.loc[R1_NAME, "accuracy_drop_pp"])
    md = (tmp_path / "compare.md").read_text()
    assert md.strip() in printed
    assert "| 131 / 317,038 (-316,907) |" in md  # trainable beside [R2]'s
    assert "| 111 / 255,740 (-255,629) |" in md
    lt_drop = acc["base"] - acc["lt"]
    assert (f"| AclNet0.5 LT | FP32 base / AclNet0.5 | 0.45 / 1,238.43 | 2.42 / 2.5 | "
            f"{acc['base']:.2f} / 91.52 | {lt_drop:.2f} / 0.05 | FP16 |") in md
    assert f"| {3596 / 230:.2f} / 99.9 |" in md and "VGG-12 teacher / Teacher CNN" in md
    for name in CLASS_NAMES:
        assert name in md


def test_compare_refuses_missing_and_unfinished_runs(tmp_path, capsys):
    with pytest.raises(ConfigError, match="no such run folder"):
        compare.read_run(tmp_path / "never-ran")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "training_log.csv").write_text("epoch,loss\n1,1.0\n")
    with pytest.raises(ConfigError, match="summary.json: no run summary"):
        compare.read_run(tmp_path / "half")
    with pytest.raises(SystemExit) as exit_info:
        _load_script().main([str(tmp_path / "half"), "--out", str(tmp_path / "cmp")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "half" in err and "finish the run" in err
    assert not (tmp_path / "cmp").exists()


def test_default_run_folders_are_the_five_scripts_runs():
    dirs = compare.default_run_dirs("paper", "runs")
    assert [str(d) for d in dirs] == [f"runs/{k}/paper-fold1-seed0" for k in (
        "task1b_binary", "task1b_int8", "task1b_lottery", "task1b_distill", "task1b_gccgram")]
    assert compare.reported_for("GCC-grams CNN").reduction == 2.0
    assert compare.reported_for("unknown") is None
