"""experiments/compare_systems.py on run folders written by the real writers from real
predictions of tiny networks: sizes, ratios, drops and the reports' figures beside ours."""
import importlib.util
import math
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.config import (
    AclNetConfig, CLASS_NAMES, StudentConfig, TeacherConfig, demo_config,
)
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.metrics import score_clips
from dcase_lowcomplexity.export.bitpack import save_packed
from dcase_lowcomplexity.export.size import model_size_report
from dcase_lowcomplexity.export.tflite import TFLiteModel
from dcase_lowcomplexity.layers import BinaryConv2D
from dcase_lowcomplexity.models.aclnet import build_aclnet, predict_segment_average
from dcase_lowcomplexity.models.binary_resnet import build_binary_resnet
from dcase_lowcomplexity.models.student import build_student
from dcase_lowcomplexity.models.teacher import build_teacher
from dcase_lowcomplexity.r2_pipeline import compare, profiles, report
from dcase_lowcomplexity.r2_pipeline.training import keras_predictor, predict_rows
from dcase_lowcomplexity.training.pruning import apply_masks, magnitude_masks
EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

TINY_ACLNET = AclNetConfig(segment_samples=3200, llf_filters=(4, 8), width_multiplier=0.25,
                           hlf_pool_after=(0, 2, 4), embedding_dim=16, bn_momentum=0.0)
TINY_STUDENT = StudentConfig(conv_widths=(2, 4, 8), embedding_dim=8, bn_momentum=0.0)
TINY_TEACHER = TeacherConfig(block_widths=((2, 2), (4, 4), (4, 4, 4), (8, 8, 8), (8, 8)),
                             embedding_dim=8, bn_momentum=0.0)
N_CLIPS = 24  # 8 per class


def _fitted(model, x, labels, seed):
    """A tiny network made to behave like a trained one, without the cost of training:
    random biases (none exactly 0, as after training), batch-norm statistics of the data
    (one forward pass in training mode at momentum 0) and a linear-probe classifier head."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        if v.name == "bias":
            v.assign(rng.normal(0.0, 0.05, v.shape).astype(np.float32))
    model(x, training=True)
    return _probe(model, x, labels)


def _probe(model, x, labels, scale=5.0):
    """Least-squares classifier head on the network's own features (a linear probe), so
    that its predictions depend on the input without the cost of training."""
    f = np.asarray(keras.Model(model.input, model.get_layer("logits").input)
                   .predict_on_batch(x), np.float64)
    mean, std = f.mean(0), np.maximum(f.std(0), 1e-6)
    z = (f - mean) / std  # standardised features; a small ridge keeps the weights sane
    target = scale * (np.eye(3)[labels] - 1 / 3)
    w = np.linalg.solve(z.T @ z + len(z) * np.eye(z.shape[1]), z.T @ target)
    model.get_layer("logits").kernel.assign((w / std[:, None]).astype(np.float32))
    model.get_layer("logits").bias.assign((target.mean(0) - (mean / std) @ w).astype(np.float32))
    return model


def _non_bn_non_zero(model) -> int:
    return sum(int(np.count_nonzero(keras.ops.convert_to_numpy(w)))
               for layer in model.layers
               if not isinstance(layer, keras.layers.BatchNormalization) for w in layer.weights)


def _frame(labels):
    return pd.DataFrame({"filename": [f"audio/clip-{i}.wav" for i in range(len(labels))],
                         "class_index": labels})


def _r2_run(run_dir, key, shipped, base, x, labels, *, segment=None, calibration=None,
            input_shape=None, extra=None, folders=None):
    """What experiments/task1b_*.py write, through the same functions, from these models."""
    info = profiles.SYSTEMS[key]
    path = report.export_model(shipped, run_dir, info.storage, calibration=calibration,
                               input_shape=input_shape)
    rows = np.arange(len(x))
    shipped_probs = predict_rows(report.tflite_predictor(path), x, rows, segment_samples=segment)
    base_probs = predict_rows(keras_predictor(base), x, rows, segment_samples=segment)
    report.score_split(run_dir, _frame(labels), shipped_probs, log_csv=None, title=key)
    report.score_split(run_dir / "fp32", _frame(labels), base_probs, log_csv=None, title=key)
    _, sizes = report.write_sizes(run_dir, shipped, info.storage, path, base)
    report.write_system_json(run_dir, info, sizes, scored=path.name,
                             folders={"fp32": "fp32", **(folders or {})}, extra=extra)
    return path, shipped_probs, base_probs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("r2runs")
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), N_CLIPS // 3)
    out = {"labels": labels, "root": root}

    # AclNet INT8: 2 segments of 3200 samples per clip, averaged; a tone per class + noise.
    keras.utils.set_random_seed(0)
    tone = np.array([100.0, 900.0, 3000.0])[labels][:, None]
    t = np.arange(6400) / 16000
    waves = (0.3 * np.sin(2 * np.pi * tone * t + rng.uniform(0, 6, (N_CLIPS, 1)))
             + 0.02 * rng.standard_normal((N_CLIPS, 6400))).astype(np.float32)
    calibration = waves.reshape(-1, 3200)
    aclnet = _fitted(build_aclnet(TINY_ACLNET), calibration, np.repeat(labels, 2), 1)
    out["int8"] = (aclnet, waves) + _r2_run(root / "int8", "task1b_int8", aclnet, aclnet, waves,
                                            labels, segment=3200, calibration=calibration[::3])

    # AclNet LT: 19.6 % of the kernels pruned, FP16; FP32 base = the unpruned network.
    pruned = keras.models.clone_model(aclnet)
    pruned.set_weights(aclnet.get_weights())
    masks = magnitude_masks(pruned, 0.196)
    apply_masks(pruned, masks)
    n_pruned = sum(int(m.size - m.sum()) for m in masks.values())
    out["lt"] = (pruned, n_pruned) + _r2_run(root / "lt", "task1b_lottery", pruned, aclnet,
                                             waves, labels, segment=3200)

    # KD student (FP16) with its teacher's scores and sizes.
    logmels = rng.standard_normal((N_CLIPS, 64, 40, 1)).astype(np.float32)
    for i, c in enumerate(labels):  # one band of 20 mels louder per class
        logmels[i, 20 * c:20 * c + 20] += 3.0
    student = _fitted(build_student(TINY_STUDENT), logmels, labels, 2)
    teacher = _fitted(build_teacher(TINY_TEACHER), logmels, labels, 3)
    report.score_split(root / "kd" / "teacher", _frame(labels),
                       predict_rows(keras_predictor(teacher), logmels, np.arange(N_CLIPS)),
                       log_csv=None, title="teacher")
    out["kd"] = (student, teacher) + _r2_run(
        root / "kd", "task1b_distill", student, student, logmels, labels,
        input_shape=(64, 40, 1), folders={"teacher": "teacher"},
        extra={"teacher": report.size_summary(teacher, "float32", None)[1]})

    # [R1]: what task1b_binary.py writes (size table, packed bits, predictions).
    config = demo_config().model
    binary = build_binary_resnet(config)
    features = rng.standard_normal((N_CLIPS, 256, 16, 2)).astype(np.float32)
    size = model_size_report(binary)
    ex.atomic_write_text(root / "binary" / "size.md", size.to_markdown() + "\n")
    size.to_csv(root / "binary" / "size.csv")
    save_packed(binary, root / "binary" / "model.1bit", config=config)
    probs = np.asarray(binary.predict(features, verbose=0), dtype=np.float64)
    ex.write_scores(root / "binary", _frame(labels).filename, labels, probs, log_csv=None)
    out["binary"] = (binary, probs)
    return out


def _row(rows, system):
    return next(r for r in rows if r.system == system)


def test_int8_row_scores_the_tflite_file_and_sizes_by_the_rule(runs):
    aclnet, waves, path, shipped_probs, base_probs = runs["int8"]
    row = compare.read_run(runs["root"] / "int8")[0]
    labels = runs["labels"]
    # The shipped scores are those of the .tflite file run by LiteRT (floored at 1/512).
    interpreter = TFLiteModel(path)

    def floored(x):  # each INT8 softmax output floored at half its 1/256 step, renormalised
        p = np.maximum(interpreter.predict(x), 1 / 512)
        return p / p.sum(1, keepdims=True)

    direct = predict_segment_average(floored, waves, 3200)
    np.testing.assert_allclose(shipped_probs, direct, atol=1e-6)
    assert interpreter.input_dtype == np.int8 and interpreter.output_dtype == np.int8
    assert row.accuracy == pytest.approx(100 * score_clips(labels, shipped_probs).balanced_accuracy)
    assert row.fp32_accuracy == pytest.approx(100 * score_clips(labels, base_probs).balanced_accuracy)
    assert row.drop == pytest.approx(row.fp32_accuracy - row.accuracy)
    assert row.fp32_accuracy > 100 / 3  # the probe makes the predictions depend on the input
    assert not np.allclose(shipped_probs, base_probs, atol=1e-4)  # quantisation is visible
    # Sizes: int8 = 1 byte per non-zero non-BN parameter; the FP32 base 4 bytes: ratio 4.
    non_zero = _non_bn_non_zero(aclnet)
    assert (row.dcase_non_zero, row.bytes_per_parameter) == (non_zero, 1)
    assert row.dcase_kb == non_zero / 1024
    assert row.fp32_kb == non_zero * 4 / 1024 and row.reduction == 4.0
    assert row.parameters == aclnet.count_params()  # [R2]'s count, batch norm included
    assert row.file_bytes == path.stat().st_size > row.dcase_kb * 1024  # file > DCASE size
    # [R2]'s figures beside ours: 309.60 KB, 90.94 % from 91.52 % (drop 0.58 pp).
    assert (row.reported.parameters, row.reported.size_kb) == (317_038, 309.60)
    assert row.reported.drop == pytest.approx(0.58)
    assert row.reported.reduction == pytest.approx(317_038 * 4 / 1024 / 309.60)


def test_lottery_row_counts_the_pruned_zeros_out(runs):
    pruned, n_pruned, path, shipped_probs, _ = runs["lt"]
    aclnet = runs["int8"][0]
    row = compare.read_run(runs["root"] / "lt")[0]
    assert n_pruned == round(0.196 * sum(int(np.prod(v.shape)) for v in aclnet.weights
                                         if v.name in ("kernel", "depthwise_kernel",
                                                       "pointwise_kernel")))
    base_non_zero = _non_bn_non_zero(aclnet)
    assert row.dcase_non_zero == base_non_zero - n_pruned
    assert row.parameters == aclnet.count_params() - n_pruned  # [R2]: 255,740 non-zero
    assert row.dcase_kb == (base_non_zero - n_pruned) * 2 / 1024
    assert row.reduction == pytest.approx(base_non_zero * 4 / ((base_non_zero - n_pruned) * 2))
    assert row.reduction > 2.0
    # [R2]: 255,740 × 2 / 1024 = 499.49 KB against the unpruned 317,038 × 4 / 1024.
    assert row.reported.reduction == pytest.approx(1238.4296875 / 499.49)
    # Its FP32 base is the unpruned network of the INT8 run; pruning without retraining
    # costs accuracy, and the drop is exactly the difference of the two scores.
    int8_row = compare.read_run(runs["root"] / "int8")[0]
    assert row.fp32_accuracy == int8_row.fp32_accuracy
    labels = runs["labels"]
    assert row.accuracy == pytest.approx(100 * score_clips(labels, shipped_probs).balanced_accuracy)
    assert row.drop == pytest.approx(row.fp32_accuracy - row.accuracy) and row.drop > 0
    assert row.reported.fp32_accuracy is None and row.reported.drop is None


def test_kd_rows_include_the_teacher(runs):
    student, teacher, *_ = runs["kd"]
    rows = compare.read_run(runs["root"] / "kd")
    assert [r.system for r in rows] == ["Student CNN (KD)", compare.TEACHER_NAME]
    kd, t = rows
    assert kd.reduction == 2.0 and kd.bytes_per_parameter == 2
    assert kd.dcase_non_zero == _non_bn_non_zero(student)
    assert t.parameters == teacher.count_params()
    assert t.dcase_kb == _non_bn_non_zero(teacher) * 4 / 1024
    assert (t.reported.parameters, t.reported.accuracy) == (12_600_000, 94.60)
    assert t.scores.n_files == N_CLIPS


def test_binary_row_is_one_bit_per_weight(runs):
    binary, probs = runs["binary"]
    row = compare.read_run(runs["root"] / "binary")[0]
    weights = sum(int(np.prod(layer.kernel.shape)) for layer in binary.layers
                  if isinstance(layer, BinaryConv2D))
    assert weights == 362_112  # the demo network
    assert (row.parameters, row.dcase_non_zero, row.bytes_per_parameter) == (weights, weights, 1 / 8)
    assert row.dcase_kb == weights / 8 / 1024
    assert row.reduction == 32.0 and row.fp32_kb == weights * 4 / 1024
    assert row.drop is None  # trained with one-bit weights: no FP32 base
    assert row.file_bytes == (runs["root"] / "binary" / "model.1bit").stat().st_size
    assert row.accuracy == pytest.approx(
        100 * score_clips(runs["labels"], probs).balanced_accuracy)
    # [R1]: 3,987,000 bits = 486.69 KB, Table 1 overall 97.1 % / 0.094.
    assert round(compare.R1_WEIGHTS / 8 / 1024, 2) == compare.R1_SIZE_KB == 486.69
    assert (row.reported.accuracy, row.reported.log_loss) == (97.1, 0.094)
    assert row.reported.reduction == pytest.approx(32.0, abs=1e-3)  # 486.69 is rounded


def _load_script():
    spec = importlib.util.spec_from_file_location("compare_systems",
                                                  EXPERIMENTS / "compare_systems.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_script_writes_the_tables(runs, tmp_path, capsys):
    root = runs["root"]
    dirs = [root / "binary", root / "int8", root / "lt", root / "kd"]
    assert _load_script().main([*map(str, dirs), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "compare.csv")
    assert list(table.system) == [compare.R1_NAME, "AclNet0.5 INT8", "AclNet0.5 LT",
                                  "Student CNN (KD)", compare.TEACHER_NAME]
    rows = [r for d in dirs for r in compare.read_run(d)]
    for (_, csv_row), row in zip(table.iterrows(), rows):
        for column, value in (("dcase_kb", row.dcase_kb), ("reduction", row.reduction),
                              ("accuracy_percent", row.accuracy),
                              ("accuracy_drop_pp", row.drop)):
            if value is None:
                assert math.isnan(csv_row[column]), (row.system, column)
            else:
                assert csv_row[column] == pytest.approx(value, rel=1e-9), (row.system, column)
    int8 = table.set_index("system").loc["AclNet0.5 INT8"]
    assert (int8.reported_parameters, int8.reported_size_kb) == (317_038, 309.60)
    assert int8.accuracy_drop_pp == pytest.approx(int8.fp32_accuracy_percent - int8.accuracy_percent)
    md = (tmp_path / "compare.md").read_text()
    assert md in printed + "\n" or md.strip() in printed
    params = runs["int8"][0].count_params()
    assert f"{params:,} / 317,038 ({params - 317_038:+,d})" in md  # ours beside [R2]'s
    assert "486.69" in md and "1/8" in md and "| 32.00 |" in md
    for name in CLASS_NAMES:
        assert name in md


def test_compare_refuses_missing_and_unfinished_runs(tmp_path, capsys):
    with pytest.raises(ConfigError, match="no such run folder"):
        compare.read_run(tmp_path / "never-ran")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "training_log.csv").write_text("epoch,loss\n1,1.0\n")
    with pytest.raises(ConfigError, match="not a finished run folder"):
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
    assert math.isclose(compare.reported_r2("GCC-grams CNN").reduction,
                        252_491 * 4 / 1024 / 493.15)
