"""Resumable runs: a real SIGKILL mid-run, then the same call finishes like an uninterrupted run."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import json

from dcase_lowcomplexity.config import AugmentConfig, TrainingConfig
from dcase_lowcomplexity.data.generator import ArrayClipSource
from dcase_lowcomplexity.errors import RunError
from dcase_lowcomplexity.evaluation.inference import make_validation, predict_clips
from dcase_lowcomplexity.evaluation.metrics import score_clips
from dcase_lowcomplexity.training.run import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    LOG_FILE,
    compile_classifier,
    fit_resumable,
    load_checkpoint,
    make_optimizer,
    read_log,
    train_model,
)
from dcase_lowcomplexity.training.sgdr import sgdr_learning_rate

WORKER = Path(__file__).with_name("resume_worker.py")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(WORKER.parent))
import resume_worker  # noqa: E402


def _start(run_dir, out, sleep_s):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, str(WORKER), str(run_dir), str(out), str(sleep_s)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(proc, timeout=240):
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()[-3000:]


def _csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _deterministic(rows):
    return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in rows]


@pytest.mark.slow
def test_sigkill_after_first_checkpoint_then_rerun_matches_uninterrupted_run(tmp_path):
    reference = _start(tmp_path / "reference", tmp_path / "reference.npz", 0.1)
    victim = _start(tmp_path / "killed", tmp_path / "killed.npz", 0.1)
    checkpoint = tmp_path / "killed" / CHECKPOINT_FILE
    deadline = time.monotonic() + 180
    while not checkpoint.exists():
        assert victim.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.npz").exists()  # it really died before finishing
    done = load_checkpoint(checkpoint)["epoch"]
    assert 1 <= done < 6
    rows = _csv_rows(tmp_path / "killed" / LOG_FILE)
    assert [r["epoch"] for r in rows] == [str(e) for e in range(1, len(rows) + 1)]

    _finish(_start(tmp_path / "killed", tmp_path / "killed.npz", 0.0))  # the same call again
    _finish(reference)
    want, got = np.load(tmp_path / "reference.npz"), np.load(tmp_path / "killed.npz")
    assert len(want.files) == len(got.files) == 8  # BN γ β μ σ², conv W b, dense W b
    for name in want.files:
        np.testing.assert_array_equal(got[name], want[name])
    want_rows = _csv_rows(tmp_path / "reference" / LOG_FILE)
    got_rows = _csv_rows(tmp_path / "killed" / LOG_FILE)
    assert [r["epoch"] for r in got_rows] == ["1", "2", "3", "4", "5", "6"]
    assert _deterministic(got_rows) == _deterministic(want_rows)
    # The schedule continued at the same position: lr of each epoch's last batch (3 batches).
    lr = [float(r["lr"]) for r in got_rows]
    expected = [sgdr_learning_rate(e, 2, 3, resume_worker.CONFIG) for e in range(1, 7)]
    np.testing.assert_allclose(lr, expected, rtol=1e-6)


@pytest.fixture(scope="module")
def tiny_setup():
    x, y = resume_worker.tiny_data((10, 12, 11), seed=0)  # 30 entries → 1 step of 8 pairs
    xv, yv = resume_worker.tiny_data((4, 3, 5), seed=1)
    return ArrayClipSource(x), y, ArrayClipSource(xv), yv


CONFIG = TrainingConfig(epochs=3, sgdr_first_cycle=1, batch_size=8, seed=0)  # cycles 1 + 2


def _train(run_dir, setup, config=CONFIG, model=None, run_config=None):
    keras.utils.set_random_seed(0)
    clips, labels, val_clips, val_labels = setup
    model = model or resume_worker.tiny_model()
    history = train_model(model, clips, labels, config, run_dir,
                          validation=make_validation(val_clips, val_labels),
                          run_config=run_config, verbose=0)
    return model, history


def test_log_checkpoint_and_true_validation_metrics(tmp_path, tiny_setup):
    model, history = _train(tmp_path, tiny_setup)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE, CONFIG_FILE,
                                                          LOG_FILE]
    header = (tmp_path / LOG_FILE).read_text().splitlines()[0].split(",")
    assert header == ["epoch", "loss", "accuracy", "lr", "val_balanced_accuracy",
                      "val_accuracy", "val_log_loss", "epoch_time_s"]
    rows = read_log(tmp_path / LOG_FILE)
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows == history
    # The last row's validation numbers are those of the final model over the whole split.
    _, _, val_clips, val_labels = tiny_setup
    scores = score_clips(val_labels, predict_clips(model, val_clips,
                                                   channel_swap_average=False,
                                                   progress=False))
    assert rows[-1]["val_balanced_accuracy"] == pytest.approx(scores.balanced_accuracy)
    assert rows[-1]["val_log_loss"] == pytest.approx(scores.log_loss, rel=1e-6)
    # One batch per epoch: each epoch runs at its start value (cycles of 1 and 2 epochs).
    assert [r["lr"] for r in rows] == pytest.approx([0.025, 0.025, 0.01250125], rel=1e-6)
    state = load_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert state["epoch"] == 3 and state["history"] == history
    for saved, live in zip(state["weights"], model.get_weights()):
        np.testing.assert_array_equal(saved, live)
    iterations = model.optimizer.iterations.numpy()
    assert iterations == 3  # 1 step per epoch; restored with the optimizer state


def test_finished_run_restores_weights_without_training(tmp_path, tiny_setup):
    trained, history = _train(tmp_path, tiny_setup)
    fresh, again = _train(tmp_path, tiny_setup)
    assert again == history
    for a, b in zip(fresh.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert fresh.optimizer.iterations.numpy() == 3


def test_run_folder_of_another_configuration_is_refused(tmp_path, tiny_setup):
    _train(tmp_path, tiny_setup, run_config={"model": {"num_filters": 26}})
    with pytest.raises(RunError, match=r"config\.json.*different configuration.*"
                                       r"model\.num_filters.*--out elsewhere"):
        _train(tmp_path, tiny_setup, run_config={"model": {"num_filters": 8}})


def test_checkpoint_of_another_model_is_refused(tmp_path, tiny_setup):
    _train(tmp_path, tiny_setup)
    wider = keras.Sequential([keras.Input((8, None, 2)), keras.layers.Conv2D(5, 3),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(RunError, match=r"checkpoint\.npz.*do not fit this model"):
        _train(tmp_path, tiny_setup, model=wider)


def test_corrupt_checkpoint_and_stale_temp_files(tmp_path, tiny_setup):
    _train(tmp_path, tiny_setup, config=CONFIG)
    stale = tmp_path / ".checkpoint.npz.x1y2.tmp.npz"  # what a kill during a write leaves
    stale.write_bytes(b"half a zip")
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(RunError, match=r"checkpoint\.npz: the checkpoint cannot be read.*"
                                       r"delete it to restart"):
        _train(tmp_path, tiny_setup)
    assert not stale.exists()


def test_log_is_rebuilt_from_the_checkpoint_on_resume(tmp_path, tiny_setup):
    _, history = _train(tmp_path, tiny_setup)
    log = tmp_path / LOG_FILE
    log.write_text(log.read_text() + "3,0.5,0.5,0.01,0.3")  # duplicate, half-written row
    _train(tmp_path, tiny_setup)
    assert read_log(log) == history


def test_fit_resumable_with_a_plain_pydataset(tmp_path):
    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()

        def __len__(self):
            return 2

        def __getitem__(self, i):
            return np.full((4, 3), i, np.float32), np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "categorical_crossentropy")
    history = fit_resumable(model, Batches(), tmp_path, epochs=2, verbose=0)
    assert [r["epoch"] for r in history] == [1, 2]
    assert [r["lr"] for r in history] == pytest.approx([0.1, 0.1])
    assert model.optimizer.iterations.numpy() == 4


def test_interrupt_during_a_checkpoint_write_keeps_the_previous_checkpoint(
        tmp_path, tiny_setup, monkeypatch):
    import dcase_lowcomplexity.training.run as run

    real_savez, calls = np.savez, []

    def savez_then_die(path, **arrays):
        calls.append(path)
        if len(calls) == 2:  # epoch 2: half a file, then the process "dies"
            Path(path).write_bytes(b"PK\x03\x04 half")
            raise KeyboardInterrupt
        real_savez(path, **arrays)

    monkeypatch.setattr(run.np, "savez", savez_then_die)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, tiny_setup)
    assert load_checkpoint(tmp_path / CHECKPOINT_FILE)["epoch"] == 1
    assert [r["epoch"] for r in read_log(tmp_path / LOG_FILE)] == [1]
    assert not list(tmp_path.glob(".*tmp*"))
    monkeypatch.setattr(run.np, "savez", real_savez)
    _, history = _train(tmp_path, tiny_setup)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert load_checkpoint(tmp_path / CHECKPOINT_FILE)["epoch"] == 3


def test_make_optimizer_follows_the_training_config():
    sgd = make_optimizer(TrainingConfig())  # [R1] §2.5: SGD, momentum 0.9, not Nesterov
    assert isinstance(sgd, keras.optimizers.SGD)
    assert (sgd.momentum, sgd.nesterov) == (0.9, False)
    assert float(sgd.learning_rate) == pytest.approx(0.025)
    adam = make_optimizer(TrainingConfig(optimizer="adam", lr_max=1e-3))
    assert isinstance(adam, keras.optimizers.Adam)
    assert float(adam.learning_rate) == pytest.approx(1e-3)


def test_compile_classifier_runs_one_step_per_execution():
    model = resume_worker.tiny_model()
    compile_classifier(model, TrainingConfig(optimizer="adam"))
    assert model.steps_per_execution == 1 and isinstance(model.optimizer, keras.optimizers.Adam)


def test_train_model_records_and_uses_the_augment_config(tmp_path, tiny_setup):
    clips, labels, _, _ = tiny_setup
    augment = AugmentConfig(crop=100, mixup_alpha=0.0)
    keras.utils.set_random_seed(0)
    train_model(resume_worker.tiny_model(), clips, labels, CONFIG, tmp_path, augment=augment,
                verbose=0)
    stored = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert stored["run"]["augment"]["crop"] == 100
    assert stored["run"]["training"]["optimizer"] == "sgd"
