"""The main job end to end on the demo data: killed mid-training with SIGKILL, resumed by
rerunning the same command, then exported, reloaded from the packed file and scored."""
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.config import CLASS_NAMES, demo_config
from dcase_lowcomplexity.data.store import FeatureStore
from dcase_lowcomplexity.evaluation.inference import predict_clips
from dcase_lowcomplexity.export.bitpack import load_packed
from dcase_lowcomplexity.training.run import CHECKPOINT_FILE, read_log


def _wait_for(path, proc, timeout=900.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"run ended before {path.name}: {proc.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.5)


@pytest.mark.slow
def test_demo_profile_killed_resumed_exported_and_scored(tmp_path, demo_dataset,
                                                         start_script, run_script):
    dev, evaluation = demo_dataset
    run = tmp_path / "run"
    args = ["--data", dev, "--eval-data", evaluation, "--out", run,
            "--store-dir", tmp_path / "features", "--seed", "1"]

    proc = start_script("task1b_binary.py", *args, cwd=tmp_path)
    _wait_for(run / CHECKPOINT_FILE, proc)
    proc.kill()  # SIGKILL, mid-run
    proc.wait(timeout=60)
    assert proc.returncode < 0
    epochs_before = [row["epoch"] for row in read_log(run / "training_log.csv")]
    assert epochs_before and epochs_before[-1] < demo_config().training.epochs

    result = run_script("task1b_binary.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    # One log row per epoch, none repeated or lost across the kill.
    log = read_log(run / "training_log.csv")
    assert [row["epoch"] for row in log] == list(range(1, demo_config().training.epochs + 1))
    assert log[-1]["lr"] == pytest.approx(demo_config().training.lr_min)

    # Scored on the demo's validation split: well above chance (1/3).
    scores = ex.load_scores(run)
    assert scores.n_files == len(pd.read_csv(dev / "evaluation_setup" / "fold1_evaluate.csv",
                                             sep="\t"))
    assert scores.balanced_accuracy > 0.6

    # The scores are those of the model reloaded from the packed one-bit file.
    config = demo_config()
    predictions = pd.read_csv(run / ex.PREDICTIONS_FILE)
    store = FeatureStore.open(ex.store_path(tmp_path / "features", dev, config.features,
                                            "float32"), expected=config.features)
    probs = predict_clips(load_packed(run / "model.1bit"), store,
                          store.index_of(predictions.filename), progress=False)
    np.testing.assert_allclose(probs, predictions[list(CLASS_NAMES)].to_numpy(), atol=1e-5)

    for name in ("results.md", "results.csv", "confusion_matrix.png", "training_curves.png",
                 "size.md", "size.csv", "config.json", "summary.json"):
        assert (run / name).stat().st_size > 0, name
    label = "McDonnell_USA_task1b_2"  # seed 1 → submission 2
    output = pd.read_csv(run / "task1" / label / f"{label}.output.csv", sep="\t")
    assert list(output.columns) == ["filename", "scene_label", *CLASS_NAMES]
    assert len(output) == ex.DEMO_EVAL_CLIPS
    meta = yaml.safe_load((run / "task1" / label / f"{label}.meta.yaml").read_text())
    assert meta["system"]["complexity"]["total_parameters"] == 362_112
    assert meta["results"]["development_dataset"]["overall"]["accuracy"] == pytest.approx(
        100 * scores.balanced_accuracy, abs=0.01)
