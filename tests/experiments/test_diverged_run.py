"""A run that diverges (--lr-max 1e30) stops with exit 2 and one message naming the epoch and
the run folder; it writes no model file and no results, and keeps only a good checkpoint."""
import re

import pytest

from dcase_lowcomplexity.training.run import CHECKPOINT_FILE, load_checkpoint

pytestmark = pytest.mark.slow


def test_absurd_learning_rate_stops_the_gccgram_run_with_exit_2(tmp_path, run_script,
                                                                 demo_dataset):
    dev, evaluation = demo_dataset
    run = tmp_path / "run"
    result = run_script("task1b_gccgram.py", "--profile", "demo", "--data", dev,
                        "--eval-data", evaluation, "--out", run, "--store-dir",
                        tmp_path / "features", "--lr-max", "1e30", "--epochs", "2",
                        cwd=tmp_path, timeout=900)
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    message = errors[0]
    assert message.startswith(f"error: {run}: training stopped: ")
    epoch = int(re.search(r"at epoch (\d)", message).group(1))
    assert 1 <= epoch <= 2 and "no results were written" in message
    written = sorted(p.relative_to(run).as_posix() for p in run.rglob("*"))
    assert not [p for p in written if p.endswith((".tflite", ".keras", ".md", ".csv", ".json"))
                and p not in ("config.json", "training_log.csv")], written
    checkpoint = run / CHECKPOINT_FILE
    if epoch == 1:
        assert not checkpoint.exists() and "no checkpoint was written" in message
    else:
        assert load_checkpoint(checkpoint)["epoch"] == 1
        assert "the checkpoint of epoch 1 is kept" in message
