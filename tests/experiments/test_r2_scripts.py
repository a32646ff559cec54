"""The four [R2] scripts end to end on the demo data (few epochs): their outputs, both sizes
of the exported file, scores that are those of THE EXPORTED FILE, and a lottery-ticket run
killed with SIGKILL after its first checkpoint and resumed to completion."""
import json
import time

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.export.formats import load_predictor
from dcase_lowcomplexity.export.size import (
    load_model_file, model_size_report, trainable_parameters,
)
from dcase_lowcomplexity.export.tflite import TFLiteModel, tflite_tensors
from dcase_lowcomplexity.models.student import build_student
from dcase_lowcomplexity.models.teacher import build_teacher
from dcase_lowcomplexity.r2_pipeline import profiles
from dcase_lowcomplexity.r2_pipeline.inputs import InputSpec, ensure_inputs
from dcase_lowcomplexity.r2_pipeline.training import keras_predictor, predict_rows
from dcase_lowcomplexity.training.pruning import load_masks
from dcase_lowcomplexity.training.run import read_log

pytestmark = pytest.mark.slow
WAVEFORM = InputSpec("waveform", profiles.waveform_config("demo"))
OUTPUTS = ("config.json", "results.md", "results.csv", ex.PREDICTIONS_FILE,
           "confusion_matrix.png", "training_curves.png", "size.md", "size.csv", "summary.json",
           "fp32/results.csv", "fp32/validation_predictions.csv")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One input cache for the module: the two AclNet systems share their waveforms."""
    return tmp_path_factory.mktemp("r2-inputs")


def _args(demo_dataset, run, store, *extra):
    dev, evaluation = demo_dataset
    return ["--data", dev, "--eval-data", evaluation, "--out", run, "--store-dir", store,
            *map(str, extra)]


def _check_run(run, demo_dataset, store, spec, *, storage, label, segment=None):
    """Outputs present; sizes by the rule and of the file; scores = the FILE's predictions."""
    for name in OUTPUTS:
        assert (run / name).stat().st_size > 0, name
    system = json.loads((run / "summary.json").read_text())
    sizes = system["sizes"]
    path = run / sizes["file"]
    assert sizes["file_bytes"] == path.stat().st_size
    assert sizes["storage"] == storage and system["label"] == label
    bpp = {"int8": 1, "float16": 2}[storage]
    assert sizes["dcase_kb"] == sizes["dcase_non_zero"] * bpp / 1024
    assert f"{sizes['dcase_kb']:,.2f}" in (run / "size.md").read_text()

    dev, _ = demo_dataset
    dataset = ex.TauDataset(dev)
    cached = ensure_inputs(dev, dataset.table.filename, spec, store_dir=store, progress=False)
    saved = pd.read_csv(run / ex.PREDICTIONS_FILE)
    rows = cached.rows(saved.filename)
    from_file = predict_rows(load_predictor(path), cached.array, rows,
                             segment_samples=segment)
    np.testing.assert_allclose(saved[list(CLASS_NAMES)].to_numpy(), from_file, atol=1e-6)
    assert len(saved) == len(dataset.split("fold1").validation)
    fp32 = pd.read_csv(run / "fp32" / ex.PREDICTIONS_FILE)[list(CLASS_NAMES)].to_numpy()
    assert not np.allclose(fp32, from_file, atol=1e-7)  # not the Keras model's outputs
    scores = ex.load_scores(run)

    output = pd.read_csv(run / "task1" / label / f"{label}.output.csv", sep="\t")
    assert list(output.columns) == ["filename", "scene_label", *CLASS_NAMES]
    assert len(output) == ex.DEMO_EVAL_CLIPS
    meta = yaml.safe_load((run / "task1" / label / f"{label}.meta.yaml").read_text())
    assert meta["system"]["complexity"] == {
        "total_parameters": sizes["dcase_parameters"],
        "total_parameters_non_zero": sizes["dcase_non_zero"],
        "model_size": round(sizes["dcase_kb"], 2)}
    assert meta["results"]["development_dataset"]["overall"]["accuracy"] == pytest.approx(
        100 * scores.balanced_accuracy, abs=0.01)
    assert meta["submission"]["authors"][0]["lastname"] == "Lopez-Meyer"
    return system, path


def _weight_dtypes(path):
    """dtypes of the constant tensors with more than 8 values (the weights)."""
    return {t.dtype for t in tflite_tensors(path) if t.constant and np.prod(t.shape) > 8}


def test_int8_script(tmp_path, demo_dataset, store, run_script):
    run = tmp_path / "run"
    result = run_script("task1b_int8.py", *_args(demo_dataset, run, store, "--epochs", 2,
                                                 "--calibration-examples", 64), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["epoch"] for r in read_log(run / "training_log.csv")] == [1, 2]
    system, path = _check_run(run, demo_dataset, store, WAVEFORM, storage="int8",
                              label="Lopez-Meyer_IL_task1b_1", segment=16000)
    model = load_model_file(run / "model_fp32.keras")
    assert trainable_parameters(model) == system["sizes"]["trainable"]  # [R2]'s count
    assert system["sizes"]["dcase_kb"] == model_size_report(model, "int8").size_kb
    assert system["sizes"]["fp32_base"]["dcase_kb"] == 4 * system["sizes"]["dcase_kb"]
    assert _weight_dtypes(path) <= {"int8", "int32"}  # full-integer: no float weights
    tflite = TFLiteModel(path)
    assert (tflite.input_dtype, tflite.output_dtype, tflite.input_shape) == (
        np.int8, np.int8, (16000,))
    # The FP32 base's scores are those of the saved Keras model.
    cached = ensure_inputs(demo_dataset[0], ex.TauDataset(demo_dataset[0]).table.filename,
                           WAVEFORM, store_dir=store, progress=False)
    saved = pd.read_csv(run / "fp32" / ex.PREDICTIONS_FILE)
    np.testing.assert_allclose(
        predict_rows(keras_predictor(model), cached.array, cached.rows(saved.filename),
                     segment_samples=16000),
        saved[list(CLASS_NAMES)].to_numpy(), atol=1e-5)


def _wait_for(path, proc, timeout=600.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"run ended before {path}: {proc.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.2)


def test_lottery_script_killed_after_its_first_checkpoint_and_resumed(
        tmp_path, demo_dataset, store, start_script, run_script):
    run = tmp_path / "run"
    args = _args(demo_dataset, run, store, "--epochs", 2, "--retrain-epochs", 2)
    proc = start_script("task1b_lottery.py", *args, cwd=tmp_path)
    _wait_for(run / "phase1_train" / "checkpoint.npz", proc)
    proc.kill()  # SIGKILL after phase 1's first epoch
    proc.wait(timeout=60)
    assert proc.returncode < 0
    assert [r["epoch"] for r in read_log(run / "phase1_train" / "training_log.csv")] == [1]
    assert (run / "rewind_snapshot.npz").exists()  # rewind epoch 1 (demo): kept on disk
    assert not (run / "masks.npz").exists()

    result = run_script("task1b_lottery.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for phase in ("phase1_train", "phase2_retrain"):  # no epoch lost or repeated
        assert [r["epoch"] for r in read_log(run / phase / "training_log.csv")] == [1, 2]

    counts = json.loads((run / "lottery.json").read_text())
    assert counts["pruned"] == round(0.196 * counts["prunable"])  # [R2]: 19.6 %
    assert counts["pruned_still_zero"] == counts["pruned"]  # sparsity unchanged by retraining
    assert counts["non_zero"] == counts["total"] - counts["pruned"]
    masks = load_masks(run / "masks.npz")
    pruned = load_model_file(run / "model_fp32_pruned.keras")
    by_path = {v.path: keras.ops.convert_to_numpy(v) for v in pruned.weights}
    assert all(np.all(by_path[p][m == 0] == 0) for p, m in masks.items())

    system, path = _check_run(run, demo_dataset, store, WAVEFORM, storage="float16",
                              label="Lopez-Meyer_IL_task1b_2", segment=16000)
    sizes = system["sizes"]
    assert sizes["dcase_non_zero"] == sizes["dcase_parameters"] - counts["pruned"]
    assert sizes["trainable_non_zero"] == sizes["trainable"] - counts["pruned"]
    assert sizes["fp32_base"]["dcase_non_zero"] == sizes["dcase_parameters"]  # unpruned base
    assert "float16" in _weight_dtypes(path)
    assert (run / "fp32_pruned" / ex.PREDICTIONS_FILE).exists()


def test_distill_script(tmp_path, demo_dataset, store, run_script):
    run = tmp_path / "run"
    result = run_script("task1b_distill.py", *_args(demo_dataset, run, store,
                                                    "--teacher-epochs", 1, "--epochs", 1),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    spec = InputSpec("logmel64", WAVEFORM.waveform, logmel=profiles.logmel_config("demo"))
    system, path = _check_run(run, demo_dataset, store, spec, storage="float16",
                              label="Lopez-Meyer_IL_task1b_3")
    demo_student = build_student(profiles.student_config("demo"))
    demo_teacher = build_teacher(profiles.teacher_config("demo"))
    assert system["sizes"]["trainable"] == trainable_parameters(demo_student)
    assert system["reference"] == "teacher"
    assert system["reference_sizes"]["teacher"]["trainable"] == trainable_parameters(demo_teacher)
    assert (run / "teacher" / "results.csv").exists()
    student_log = read_log(run / "student" / "training_log.csv")
    assert {"embedding_kl", "output_kl", "cross_entropy"} <= set(student_log[0])
    assert TFLiteModel(path).input_shape == (64, 301, 1)  # the whole 3 s demo clip
    assert "float16" in _weight_dtypes(path)
    # Rerunning the finished command restores both phases from their checkpoints (the
    # Distiller's holds student and teacher) and ships the same student.
    before = pd.read_csv(run / ex.PREDICTIONS_FILE)
    result = run_script("task1b_distill.py", *_args(demo_dataset, run, store,
                                                    "--teacher-epochs", 1, "--epochs", 1),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Epoch 1/1" not in result.stdout  # nothing retrained
    pd.testing.assert_frame_equal(pd.read_csv(run / ex.PREDICTIONS_FILE), before)


def test_gccgram_script(tmp_path, demo_dataset, store, run_script):
    run = tmp_path / "run"
    result = run_script("task1b_gccgram.py", *_args(demo_dataset, run, store, "--epochs", 2),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    spec = InputSpec("gccgram", WAVEFORM.waveform, gcc=profiles.gccphat_config("demo"))
    system, path = _check_run(run, demo_dataset, store, spec, storage="float16",
                              label="Lopez-Meyer_IL_task1b_4")
    assert TFLiteModel(path).input_shape == (40, 150, 3)
    assert system["sizes"]["fp32_base"]["dcase_kb"] == 2 * system["sizes"]["dcase_kb"]
