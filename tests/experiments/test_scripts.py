"""The four [R2] scripts end to end on the demo data (few epochs), through the same pipeline
as [R1]: each killed with SIGKILL after an epoch checkpoint and rerun to completion, their
outputs, both sizes of the exported file, scores that are those of THE EXPORTED FILE, a
lottery-ticket run killed mid-retraining whose rerun ends with the weights of an
uninterrupted run, and the classify command on a .tflite file."""
import json

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from dcase_lowcomplexity import classify
from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.data.audio import read_clip, write_clip
from dcase_lowcomplexity.data.dataset import TauDataset
from dcase_lowcomplexity.data.extraction import ensure_store
from dcase_lowcomplexity.evaluation.inference import keras_predictor, predict_store
from dcase_lowcomplexity.evaluation.outputs import PREDICTIONS_FILE, load_scores
from dcase_lowcomplexity.evaluation.summary import read_summary
from dcase_lowcomplexity.export.formats import load_predictor
from dcase_lowcomplexity.export.size import load_model_file, trainable_parameters
from dcase_lowcomplexity.export.tflite import TFLiteModel, tflite_tensors
from dcase_lowcomplexity.phases import build_network
from dcase_lowcomplexity.pipeline import DEMO_EVAL_CLIPS
from dcase_lowcomplexity.systems import system
from dcase_lowcomplexity.training.pruning import load_masks
from dcase_lowcomplexity.training.run import read_log

pytestmark = pytest.mark.slow
OUTPUTS = ("config.json", "results.md", "results.csv", PREDICTIONS_FILE,
           "confusion_matrix.png", "training_curves.png", "size.md", "size.csv",
           "summary.json", "fp32/results.csv", f"fp32/{PREDICTIONS_FILE}")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store folder for the module: the two AclNet systems share their waveforms."""
    return tmp_path_factory.mktemp("r2-inputs")


def _args(demo_dataset, run, store, *extra):
    dev, evaluation = demo_dataset
    return ["--profile", "demo", "--data", dev, "--eval-data", evaluation, "--out", run,
            "--store-dir", store, *map(str, extra)]


def _check_run(run, demo_dataset, store, key):
    """Outputs present; sizes by the rule and of the file; scores = the FILE's predictions."""
    s = system(key, "demo")
    for name in OUTPUTS:
        assert (run / name).stat().st_size > 0, name
    summary = read_summary(run)
    sizes, path = summary.sizes, run / summary.sizes["file"]
    assert (summary.system, summary.storage, summary.label) == (key, s.storage,
                                                                s.submission.label)
    assert sizes["file_bytes"] == path.stat().st_size
    bpp = {"int8": 1, "float16": 2}[s.storage]
    assert sizes["dcase_kb"] == sizes["dcase_non_zero"] * bpp / 1024
    assert f"{sizes['dcase_kb']:,.2f}" in (run / "size.md").read_text()
    assert json.loads((run / f"{path.name}.json").read_text())["input"] == s.input.to_dict()

    dev, _ = demo_dataset
    dataset = TauDataset(dev)
    inputs = ensure_store(store, dev, dataset.table.filename, s.input, progress=False)
    saved = pd.read_csv(run / PREDICTIONS_FILE)
    from_file = predict_store(load_predictor(path), inputs, inputs.index_of(saved.filename),
                              views=s.views, segment=s.segment, progress=False)
    np.testing.assert_allclose(saved[list(CLASS_NAMES)].to_numpy(), from_file, atol=1e-6)
    assert len(saved) == len(dataset.split("fold1").validation)
    fp32 = pd.read_csv(run / "fp32" / PREDICTIONS_FILE)[list(CLASS_NAMES)].to_numpy()
    assert not np.allclose(fp32, from_file, atol=1e-7)  # not the Keras model's outputs
    scores = load_scores(run)

    label = s.submission.label
    output = pd.read_csv(run / "task1" / label / f"{label}.output.csv", sep="\t")
    assert list(output.columns) == ["filename", "scene_label", *CLASS_NAMES]
    assert len(output) == DEMO_EVAL_CLIPS
    meta = yaml.safe_load((run / "task1" / label / f"{label}.meta.yaml").read_text())
    assert meta["system"]["complexity"] == {
        "total_parameters": sizes["dcase_parameters"],
        "total_parameters_non_zero": sizes["dcase_non_zero"],
        "model_size": round(sizes["dcase_kb"], 2)}
    assert meta["system"]["external_datasets"] == []
    assert meta["results"]["development_dataset"]["overall"]["accuracy"] == pytest.approx(
        100 * scores.balanced_accuracy, abs=0.01)
    assert meta["submission"]["authors"][0]["lastname"] == "Lopez-Meyer"
    return summary, path, inputs, saved


def _weight_dtypes(path):
    """dtypes of the constant tensors with more than 8 values (the weights)."""
    return {t.dtype for t in tflite_tensors(path) if t.constant and np.prod(t.shape) > 8}


def test_int8_script_killed_resumed_and_classify_on_its_tflite(tmp_path, demo_dataset, store,
                                                               run_script, run_killed):
    run = tmp_path / "run"
    args = _args(demo_dataset, run, store, "--epochs", 2, "--calibration-examples", 64)
    killed = run_killed(1, "task1b_int8.py", *args, cwd=tmp_path)  # kill -9 after epoch 1
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (run / "model_int8.tflite").exists()
    result = run_script("task1b_int8.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["epoch"] for r in read_log(run / "training_log.csv")] == [1, 2]
    summary, path, inputs, saved = _check_run(run, demo_dataset, store, "task1b_int8")
    model = load_model_file(run / "model_fp32.keras")
    assert trainable_parameters(model) == summary.sizes["trainable"]  # [R2]'s count
    assert summary.sizes["fp32_base"]["dcase_kb"] == 4 * summary.sizes["dcase_kb"]
    assert _weight_dtypes(path) <= {"int8", "int32"}  # full-integer: no float weights
    tflite = TFLiteModel(path)
    assert (tflite.input_dtype, tflite.output_dtype, tflite.input_shape) == (
        np.int8, np.int8, (16000,))
    # The FP32 base's scores are those of the saved Keras model, 1 s segments averaged.
    fp32 = pd.read_csv(run / "fp32" / PREDICTIONS_FILE)
    np.testing.assert_allclose(
        predict_store(keras_predictor(model), inputs, inputs.index_of(fp32.filename),
                      views="segments", segment=16000, progress=False),
        fp32[list(CLASS_NAMES)].to_numpy(), atol=1e-6)

    # classify on the .tflite: the first 3 s of a validation clip give the run's row.
    dev, _ = demo_dataset
    name = saved.filename[0]
    wav = tmp_path / "clip.wav"
    write_clip(wav, read_clip(dev / name, system("task1b_int8", "demo").input.read_config))
    assert classify.main([str(path), str(wav), "--out", str(tmp_path / "p.csv"),
                          "--quiet"]) == 0
    row = pd.read_csv(tmp_path / "p.csv", sep="\t").iloc[0]
    np.testing.assert_allclose(row[list(CLASS_NAMES)].to_numpy(float),
                               saved.loc[0, list(CLASS_NAMES)].to_numpy(float), atol=2e-6)


def test_lottery_killed_mid_retraining_resumes_to_the_uninterrupted_weights(
        tmp_path, demo_dataset, store, run_script, run_killed):
    options = ("--epochs", 2, "--retrain-epochs", 2)
    whole = tmp_path / "whole"
    result = run_script("task1b_lottery.py", *_args(demo_dataset, whole, store, *options),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    run = tmp_path / "run"
    args = _args(demo_dataset, run, store, *options)
    killed = run_killed(3, "task1b_lottery.py", *args, cwd=tmp_path)  # after retrain epoch 1
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert [r["epoch"] for r in read_log(run / "phase2_retrain" / "training_log.csv")] == [1]
    assert (run / "rewind_snapshot.npz").exists() and (run / "masks.npz").exists()
    result = run_script("task1b_lottery.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for phase in ("phase1_train", "phase2_retrain"):  # no epoch lost or repeated
        assert [r["epoch"] for r in read_log(run / phase / "training_log.csv")] == [1, 2]

    resumed = load_model_file(run / "model_fp32_pruned.keras").get_weights()
    uninterrupted = load_model_file(whole / "model_fp32_pruned.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(resumed, uninterrupted))

    counts = json.loads((run / "lottery.json").read_text())
    assert counts["pruned"] == round(0.196 * counts["prunable"])  # [R2]: 19.6 %
    assert counts["pruned_still_zero"] == counts["pruned"]  # sparsity unchanged by retraining
    masks = load_masks(run / "masks.npz")
    pruned = load_model_file(run / "model_fp32_pruned.keras")
    by_path = {v.path: keras.ops.convert_to_numpy(v) for v in pruned.weights}
    assert all(np.all(by_path[p][m == 0] == 0) for p, m in masks.items())
    summary, path, _, _ = _check_run(run, demo_dataset, store, "task1b_lottery")
    sizes = summary.sizes
    def zeros(weights):
        return sum(int(np.count_nonzero(keras.ops.convert_to_numpy(w) == 0)) for w in weights)

    # the pruned weights, and any other that is exactly 0 (e.g. the bias of a dead unit)
    all_zeros = zeros(pruned.trainable_weights)
    bn_zeros = zeros([w for layer in pruned.layers if isinstance(
        layer, keras.layers.BatchNormalization) for w in layer.trainable_weights])
    assert all_zeros >= counts["pruned"]
    assert sizes["trainable_non_zero"] == sizes["trainable"] - all_zeros
    assert sizes["dcase_non_zero"] == sizes["dcase_parameters"] - (all_zeros - bn_zeros)
    base = load_model_file(run / "model_fp32_base.keras")  # unpruned: zeros of dead units only
    base_zeros = zeros(base.trainable_weights) - zeros([
        w for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)
        for w in layer.trainable_weights])
    assert base_zeros < counts["pruned"] / 100
    assert sizes["fp32_base"]["dcase_non_zero"] == sizes["dcase_parameters"] - base_zeros
    assert "float16" in _weight_dtypes(path)


def test_distill_script_killed_after_the_teacher_and_resumed(tmp_path, demo_dataset, store,
                                                             run_script, run_killed):
    run = tmp_path / "run"
    args = _args(demo_dataset, run, store, "--teacher-epochs", 1, "--epochs", 1)
    killed = run_killed(1, "task1b_distill.py", *args, cwd=tmp_path)  # after the teacher
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert [r["epoch"] for r in read_log(run / "teacher" / "training_log.csv")] == [1]
    assert not (run / "student").exists()
    teacher_checkpoint = (run / "teacher" / "checkpoint.npz").read_bytes()
    result = run_script("task1b_distill.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # the teacher is restored, not retrained: its checkpoint is the one written before the kill
    assert (run / "teacher" / "checkpoint.npz").read_bytes() == teacher_checkpoint
    assert [r["epoch"] for r in read_log(run / "student" / "training_log.csv")] == [1]
    s = system("task1b_distill", "demo")
    summary, path, _, _ = _check_run(run, demo_dataset, store, "task1b_distill")
    assert summary.sizes["trainable"] == trainable_parameters(build_network("student",
                                                                            s.model))
    assert summary.reference == "teacher"
    assert summary.reference_sizes["teacher"]["trainable"] == trainable_parameters(
        build_network("teacher", s.teacher))
    config = json.loads((run / "config.json").read_text())
    assert config["augment"]["freq_masks"] > 0 and config["augment"]["time_masks"] > 0
    assert (run / "teacher" / "results.csv").exists()
    student_log = read_log(run / "student" / "training_log.csv")
    assert {"embedding_kl", "output_kl", "cross_entropy"} <= set(student_log[0])
    assert TFLiteModel(path).input_shape == (64, 301, 1)  # the whole 3 s demo clip
    assert "float16" in _weight_dtypes(path)
    # Rerunning the finished command restores both phases and ships the same student.
    before = pd.read_csv(run / PREDICTIONS_FILE)
    checkpoints = {p: (run / p / "checkpoint.npz").read_bytes() for p in ("teacher", "student")}
    result = run_script("task1b_distill.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert all((run / p / "checkpoint.npz").read_bytes() == b  # nothing retrained
               for p, b in checkpoints.items())
    pd.testing.assert_frame_equal(pd.read_csv(run / PREDICTIONS_FILE), before)


def test_gccgram_script_killed_and_resumed(tmp_path, demo_dataset, store, run_script,
                                           run_killed):
    run = tmp_path / "run"
    args = _args(demo_dataset, run, store, "--epochs", 2)
    killed = run_killed(1, "task1b_gccgram.py", *args, cwd=tmp_path)  # kill -9 after epoch 1
    assert killed.returncode == -9, killed.stderr[-3000:]
    result = run_script("task1b_gccgram.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["epoch"] for r in read_log(run / "training_log.csv")] == [1, 2]
    summary, path, _, _ = _check_run(run, demo_dataset, store, "task1b_gccgram")
    assert TFLiteModel(path).input_shape == (40, 150, 3)  # 3 s demo clips: 150 frames
    assert "float16" in _weight_dtypes(path)
    assert summary.sizes["fp32_base"]["dcase_kb"] == 2 * summary.sizes["dcase_kb"]
