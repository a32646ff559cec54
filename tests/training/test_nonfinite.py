"""Non-finite values stop a run where they arise, and broken checkpoint metadata is refused:
one RunError naming the run folder (or checkpoint.npz), the epoch and the cause; the last
good checkpoint is kept and nothing with NaN in it is ever written."""
import json

import keras
import numpy as np
import pytest

from dcase_lowcomplexity.errors import RunError
from dcase_lowcomplexity.training.run import (
    CHECKPOINT_FILE, LOG_FILE, fit_resumable, load_checkpoint, read_log, save_checkpoint,
)


class Batches(keras.utils.PyDataset):
    """Two batches per epoch of a learnable 2-class problem."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(2, 4, 3)).astype(np.float32)

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return self.x[i], np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]


def _model(lr=0.1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(lr, momentum=0.9), "categorical_crossentropy")
    return model


class Poison(keras.callbacks.Callback):
    """Writes NaN into the kernel after (epoch, batch), both 1-based, as a diverging step."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch + 1) == self.at:
            kernel = self.model.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, np.float32))


def _checkpoint_bytes(run_dir):
    path = run_dir / CHECKPOINT_FILE
    return path.read_bytes() if path.exists() else None


def test_absurd_learning_rate_stops_in_the_first_epoch_without_a_checkpoint(tmp_path):
    with pytest.raises(RunError) as err:
        fit_resumable(_model(lr=1e30), Batches(), tmp_path, epochs=3, verbose=0)
    message = str(err.value)
    assert message.startswith(f"{tmp_path}: training stopped: the loss became ")
    assert "at epoch 1, batch 2" in message or "at epoch 2, batch 1" in message, message
    assert "no checkpoint was written" in message and "--lr-max" in message
    assert not (tmp_path / CHECKPOINT_FILE).exists()
    assert read_log(tmp_path / LOG_FILE) == []  # the header only: no row of a diverged epoch


def test_nan_loss_at_a_later_epoch_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path
    with pytest.raises(RunError, match=r"the loss became nan at epoch 2, batch 2; the "
                                       r"checkpoint of epoch 1 is kept"):
        fit_resumable(_model(), Batches(), run, epochs=3, verbose=0, callbacks=[Poison(2, 1)])
    good = _checkpoint_bytes(run)
    state = load_checkpoint(run / CHECKPOINT_FILE)
    assert state["epoch"] == 1 and [r["epoch"] for r in read_log(run / LOG_FILE)] == [1]
    # Once the cause is gone, the same call resumes from epoch 1 and finishes.
    history = fit_resumable(_model(), Batches(), run, epochs=3, verbose=0)
    assert [r["epoch"] for r in history] == [1, 2, 3] and _checkpoint_bytes(run) != good


def test_non_finite_weights_at_an_epoch_end_stop_before_the_checkpoint(tmp_path):
    with pytest.raises(RunError, match=r"weight .*kernel became non-finite at epoch 2; the "
                                       r"checkpoint of epoch 1 is kept") as err:
        fit_resumable(_model(), Batches(), tmp_path, epochs=3, verbose=0,
                      callbacks=[Poison(2, 2)])  # after the last batch's loss was checked
    assert str(tmp_path) in str(err.value)
    assert load_checkpoint(tmp_path / CHECKPOINT_FILE)["epoch"] == 1
    assert not list(tmp_path.glob(".*.tmp*"))


def test_nan_inputs_stop_the_run(tmp_path):
    class NanBatches(Batches):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return np.full_like(x, np.nan), y

    # The ReLU may pass NaN on as 0 (oneDNN): then the loss stays finite and the kernel below
    # it, updated with NaN gradients, is caught at the epoch end.
    with pytest.raises(RunError, match=r"(the loss became nan at epoch 1, batch 1|weight "
                                       r".*kernel became non-finite at epoch 1); no epoch "
                                       r"finished"):
        fit_resumable(_model(), NanBatches(), tmp_path, epochs=2, verbose=0)
    assert not (tmp_path / CHECKPOINT_FILE).exists()


def test_save_checkpoint_refuses_non_finite_weights(tmp_path):
    model = _model()
    good = save_checkpoint(tmp_path / CHECKPOINT_FILE, model, 1, [{"epoch": 1}]).read_bytes()
    model.layers[-1].bias.assign([np.inf, 0.0])
    with pytest.raises(RunError, match=r"checkpoint\.npz: not writing a checkpoint: weight 3 "
                                       r"is not finite"):
        save_checkpoint(tmp_path / CHECKPOINT_FILE, model, 2, [{"epoch": 1}, {"epoch": 2}])
    assert (tmp_path / CHECKPOINT_FILE).read_bytes() == good
    assert not list(tmp_path.glob(".*.tmp*"))


def _rewrite_meta(path, change):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    change(meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize("change, cause", [
    (lambda m: m.pop("epoch"), r"'epoch' entry is 'missing'"),
    (lambda m: m.update(epoch="2"), r"'epoch' entry is '2'"),
    (lambda m: m.update(epoch=-1), r"'epoch' entry is -1"),
    (lambda m: m.update(epoch=1.5), r"'epoch' entry is 1.5"),
    (lambda m: m.update(epoch=True), r"'epoch' entry is True"),
    (lambda m: m.update(history={"epoch": 1}), r"'history' entry is not a list"),
    (lambda m: m.update(history=[{"epoch": 1}]), r"1 log rows for 2 epochs"),
    (lambda m: m.update(n_weights="all"), r"'n_weights' entry"),
])
def test_checkpoint_with_broken_meta_is_refused(tmp_path, change, cause):
    fit_resumable(_model(), Batches(), tmp_path, epochs=2, verbose=0)
    _rewrite_meta(tmp_path / CHECKPOINT_FILE, change)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(RunError, match=rf"{CHECKPOINT_FILE}: the checkpoint cannot be read "
                                       rf"\(.*{cause}.*\).*delete it to restart"):
        fit_resumable(_model(), Batches(), tmp_path, epochs=2, verbose=0)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_checkpoint_with_nan_weights_is_refused(tmp_path):
    fit_resumable(_model(), Batches(), tmp_path, epochs=1, verbose=0)
    path = tmp_path / CHECKPOINT_FILE
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["w0000"] = np.full_like(arrays["w0000"], np.nan)
    np.savez(path, **arrays)
    with pytest.raises(RunError, match=r"checkpoint\.npz: .*weight 0 is not finite.*delete"):
        load_checkpoint(path)
