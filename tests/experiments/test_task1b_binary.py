"""The main job end to end on the demo data: killed with SIGKILL after an epoch checkpoint,
resumed by rerunning the same command, then exported, reloaded from the packed file and
scored; the classify command reproduces its predictions from the packed file alone."""
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml

from dcase_lowcomplexity import classify
from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.data.audio import read_clip, write_clip
from dcase_lowcomplexity.data.extraction import ensure_store
from dcase_lowcomplexity.data.dataset import TauDataset
from dcase_lowcomplexity.evaluation.inference import predict_store
from dcase_lowcomplexity.evaluation.outputs import PREDICTIONS_FILE, load_scores
from dcase_lowcomplexity.evaluation.summary import read_summary
from dcase_lowcomplexity.evaluation.validator import (
    read_evaluation_list, validate_package, validate_submission,
)
from dcase_lowcomplexity.export.formats import load_predictor
from dcase_lowcomplexity.package_submission import main as package_main
from dcase_lowcomplexity.pipeline import DEMO_EVAL_CLIPS
from dcase_lowcomplexity.systems import system
from dcase_lowcomplexity.training.run import read_log

DEMO = system("task1b_binary", "demo")


@pytest.mark.slow
def test_demo_profile_killed_resumed_exported_and_scored(tmp_path, demo_dataset, run_killed,
                                                         run_script):
    dev, evaluation = demo_dataset
    run = tmp_path / "run"
    args = ["--profile", "demo", "--data", dev, "--eval-data", evaluation, "--out", run,
            "--store-dir", tmp_path / "features", "--seed", "1"]

    killed = run_killed(3, "task1b_binary.py", *args, cwd=tmp_path)  # SIGKILL after epoch 3
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert [row["epoch"] for row in read_log(run / "training_log.csv")] == [1, 2, 3]
    assert not (run / "model.1bit").exists()

    result = run_script("task1b_binary.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "cuInit" not in result.stderr
    assert "training on the CPU" in result.stdout

    # One log row per epoch, none repeated or lost across the kill.
    log = read_log(run / "training_log.csv")
    assert [row["epoch"] for row in log] == list(range(1, DEMO.training.epochs + 1))
    assert log[-1]["lr"] == pytest.approx(DEMO.training.lr_min)

    # Scored on the demo's validation split: well above chance (1/3).
    scores = load_scores(run)
    assert scores.n_files == len(pd.read_csv(dev / "evaluation_setup" / "fold1_evaluate.csv",
                                             sep="\t"))
    assert scores.balanced_accuracy > 0.6

    # The scores are those of the model reloaded from the packed one-bit file.
    predictions = pd.read_csv(run / PREDICTIONS_FILE)
    store = ensure_store(tmp_path / "features", dev, TauDataset(dev).table.filename,
                         DEMO.input, progress=False)
    probs = predict_store(load_predictor(run / "model.1bit"), store,
                          store.index_of(predictions.filename), views="channel_swap",
                          progress=False)
    np.testing.assert_allclose(probs, predictions[list(CLASS_NAMES)].to_numpy(), atol=1e-6)

    for name in ("results.md", "results.csv", "confusion_matrix.png", "training_curves.png",
                 "size.md", "size.csv", "config.json", "summary.json", "model.1bit.json"):
        assert (run / name).stat().st_size > 0, name
    summary = read_summary(run)
    assert (summary.system, summary.storage, summary.sizes["dcase_parameters"]) == (
        "task1b_binary", "1bit", 362_112)  # the demo network's conv weights, one bit each
    assert summary.sizes["dcase_kb"] == pytest.approx(362_112 / 8 / 1024)
    label = "McDonnell_USA_task1b_2"  # seed 1 → submission 2
    output = pd.read_csv(run / "task1" / label / f"{label}.output.csv", sep="\t")
    assert list(output.columns) == ["filename", "scene_label", *CLASS_NAMES]
    assert len(output) == DEMO_EVAL_CLIPS
    meta = yaml.safe_load((run / "task1" / label / f"{label}.meta.yaml").read_text())
    assert meta["system"]["complexity"]["total_parameters"] == 362_112
    assert meta["system"]["external_datasets"] == []
    assert meta["results"]["development_dataset"]["overall"]["accuracy"] == pytest.approx(
        100 * scores.balanced_accuracy, abs=0.01)

    # The challenge validator's rules accept the submission, and the packaging command puts
    # it into the challenge's zip layout (the demo evaluation set's list in place of 8,640).
    demo_list = evaluation / "evaluation_setup" / "fold1_test.csv"
    listed = read_evaluation_list(demo_list)
    folder = run / "task1" / label
    assert validate_submission(folder / f"{label}.output.csv", folder / f"{label}.meta.yaml",
                               evaluation_files=listed) == []
    report = tmp_path / "McDonnell_USA_task1.technical_report.pdf"
    report.write_bytes(b"%PDF-1.4\n%%EOF\n")
    zip_path = tmp_path / "McDonnell_USA_task1.zip"
    assert package_main([str(run), "--report", str(report), "--out", str(zip_path),
                         "--evaluation-list", str(demo_list)]) == 0
    assert validate_package(zip_path, evaluation_files=listed) == []
    with zipfile.ZipFile(zip_path) as z:
        assert sorted(z.namelist()) == sorted([
            f"McDonnell_USA_task1/task1/{label}/{label}.meta.yaml",
            f"McDonnell_USA_task1/task1/{label}/{label}.output.csv",
            "McDonnell_USA_task1/task1/McDonnell_USA_task1.technical_report.pdf"])

    # classify: the first 3 s of two validation clips (what the demo model scores) give the
    # main job's rows, from the packed file and its model card alone.
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for name in predictions.filename[:2]:
        write_clip(wavs / name.split("/")[-1], read_clip(dev / name, DEMO.input.read_config))
    out = tmp_path / "predictions.csv"
    assert classify.main([str(run / "model.1bit"), str(wavs), "--out", str(out),
                          "--quiet"]) == 0
    classified = pd.read_csv(out, sep="\t")
    expected = predictions.set_index(predictions.filename.str.split("/").str[-1])
    for _, row in classified.iterrows():
        name = row.filename.split("/")[-1]
        np.testing.assert_allclose(row[list(CLASS_NAMES)].to_numpy(float),
                                   expected.loc[name, list(CLASS_NAMES)].to_numpy(float),
                                   atol=2e-6)  # 6 decimals in the predictions file
        assert row.scene_label == CLASS_NAMES[int(np.argmax(expected.loc[name,
                                                                         list(CLASS_NAMES)]))]
