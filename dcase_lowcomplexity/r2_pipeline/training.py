"""Training of the [R2] networks: seeded batch streams, SGDR, resumable phases (SPEC §6).

Every phase is one `training.run.fit_resumable` in its own folder (atomic per-epoch
checkpoint, CSV log, config guard), so rerunning the same command continues after the last
completed epoch. The batches of `data.waveform.WaveformSequence` and
`data.features_r2.FeatureSequence` are functions of (seed, epoch, batch); `EpochStream`
serves them as one endless stream (item i = batch i mod steps of epoch start_epoch + i //
steps, as `data.generator.BalancedMixupGenerator` does), so a resumed run sees the batches
an uninterrupted one would, whatever Keras prefetches across an epoch boundary.

The lottery-ticket phases ([R2]: train, prune 19.6 %, rewind, retrain with the mask held)
save what the retraining needs atomically: the rewinding snapshot when it is taken and the
masks when they are made, so a run killed at any point resumes without retraining phase 1.
"""
from __future__ import annotations

import copy
import zipfile
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from dcase_lowcomplexity.config import LotteryTicketConfig
from dcase_lowcomplexity.errors import ModelFileError, RunError
from dcase_lowcomplexity.evaluation.metrics import score_clips
from dcase_lowcomplexity.r2_pipeline.profiles import R2TrainingConfig
from dcase_lowcomplexity.atomic import atomic_path
from dcase_lowcomplexity.training.pruning import (
    MaskCallback, RewindSnapshot, load_masks, magnitude_masks, prunable_weights, rewind,
    save_masks,
)
from dcase_lowcomplexity.training.run import fit_resumable
from dcase_lowcomplexity.training.sgdr import SGDRScheduler

Predict = Callable[[np.ndarray], np.ndarray]


class EpochStream(keras.utils.PyDataset):
    """An endless stream over a seeded per-epoch sequence (`MixupSequence`)."""

    def __init__(self, sequence, start_epoch: int = 0):
        super().__init__()
        self.sequence = sequence
        self.start_epoch = int(start_epoch)
        self.steps_per_epoch = len(sequence)
        self._views: dict[int, object] = {}

    @property
    def num_batches(self):
        return None  # endless: fit runs it with steps_per_epoch

    def batch(self, epoch: int, index: int):
        """Batch `index` of 0-based `epoch`, whatever was served before."""
        if epoch not in self._views:
            view = copy.copy(self.sequence)  # shares the data; only the epoch differs
            view.epoch = epoch
            self._views = {e: v for e, v in self._views.items() if e >= epoch - 1}
            self._views[epoch] = view
        return self._views[epoch][index]

    def __getitem__(self, index: int):
        epoch, batch = divmod(int(index), self.steps_per_epoch)
        return self.batch(self.start_epoch + epoch, batch)


def make_optimizer(config: R2TrainingConfig) -> keras.optimizers.Optimizer:
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=config.lr_max)
    return keras.optimizers.SGD(learning_rate=config.lr_max, momentum=config.momentum)


def compile_classifier(model: keras.Model, config: R2TrainingConfig) -> None:
    """Categorical cross-entropy on (mixup-soft) targets; one step per execution, which the
    lottery ticket's MaskCallback needs (masks re-applied after every step)."""
    model.compile(optimizer=make_optimizer(config), loss=keras.losses.CategoricalCrossentropy(),
                  metrics=["accuracy"], steps_per_execution=1, jit_compile=False)


def train_phase(model: keras.Model, stream: EpochStream, folder: Path,
                config: R2TrainingConfig, *, validation=None, callbacks=(),
                run_config: dict | None = None) -> list[dict]:
    """One resumable training phase in `folder` with SGDR set at every batch."""
    schedule = SGDRScheduler(config.sgdr(), n_batches=stream.steps_per_epoch)
    return fit_resumable(model, stream, folder, config.epochs, validation=validation,
                         callbacks=[schedule, *callbacks], run_config=run_config)


# -- prediction ------------------------------------------------------------------------------
def keras_predictor(model: keras.Model, batch_size: int = 64) -> Predict:
    """x → float64 probabilities, batch by batch in inference mode (no progress bar)."""
    def predict(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(model.predict_on_batch(x[i:i + batch_size]),
                                          dtype=np.float64)
                               for i in range(0, len(x), batch_size)])
    return predict


def predict_rows(predict: Predict, inputs: np.ndarray, rows, *,
                 segment_samples: int | None = None, chunk: int = 64) -> np.ndarray:
    """Probabilities of the clips `rows` of `inputs`, read `chunk` clips at a time. With
    `segment_samples` (AclNet) a clip's probabilities are the mean over its 1 s segments."""
    from dcase_lowcomplexity.models.aclnet import predict_segment_average

    rows = np.asarray(rows, dtype=np.int64)
    out = []
    for start in range(0, len(rows), chunk):
        x = np.asarray(inputs[np.sort(rows[start:start + chunk])], dtype=np.float32)
        order = np.argsort(np.argsort(rows[start:start + chunk]))  # undo the sorted read
        if segment_samples:
            p = predict_segment_average(predict, x, segment_samples)
        else:
            p = predict(x)
        out.append(np.asarray(p, dtype=np.float64)[order])
    return np.concatenate(out)


def make_validation(predict_for: Callable[[keras.Model], Predict], inputs, rows, labels, *,
                    segment_samples: int | None = None):
    """`validation(model)` for fit_resumable: the task's metrics over the whole split."""
    labels = np.asarray(labels, dtype=np.int64)

    def validation(model: keras.Model) -> dict:
        probs = predict_rows(predict_for(model), inputs, rows, segment_samples=segment_samples)
        scores = score_clips(labels, probs)
        return {"val_balanced_accuracy": scores.balanced_accuracy,
                "val_accuracy": scores.accuracy, "val_log_loss": scores.log_loss}

    return validation


# -- lottery ticket --------------------------------------------------------------------------
def save_snapshot(path: Path, snapshot: dict[str, np.ndarray]) -> None:
    arrays = {f"w{i:04d}": v for i, v in enumerate(snapshot.values())}
    arrays["paths"] = np.array(list(snapshot), dtype=str)
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def load_snapshot(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {str(p): data[f"w{i:04d}"] for i, p in enumerate(data["paths"])}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ModelFileError(f"the rewinding snapshot cannot be read ({err})", path,
                             fix="delete the run folder's phase1_train/ and this file to "
                                 "retrain phase 1") from None


class SavedRewindSnapshot(RewindSnapshot):
    """`RewindSnapshot` that also writes its snapshot to `path` (and reads it back)."""

    def __init__(self, rewind_epoch: int, path: Path):
        super().__init__(rewind_epoch)
        self.path = Path(path)
        if self.path.exists():
            self.snapshot = load_snapshot(self.path)

    def on_train_begin(self, logs=None):
        had = self.snapshot is not None
        super().on_train_begin(logs)
        if not had and self.snapshot is not None:
            save_snapshot(self.path, self.snapshot)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if epoch + 1 == self.rewind_epoch:  # before this epoch's checkpoint is written
            save_snapshot(self.path, self.snapshot)


def masked_zero_counts(model: keras.Model, masks: dict[str, np.ndarray]) -> dict[str, int]:
    """Pruned positions, how many of them hold 0 now, and all zero kernel weights."""
    by_path = {v.path: v for v in prunable_weights(model)}
    pruned = held = zeros = 0
    for path, mask in masks.items():
        w = keras.ops.convert_to_numpy(by_path[path])
        pruned += int(np.count_nonzero(mask == 0))
        held += int(np.count_nonzero(w[mask == 0] == 0))
        zeros += int(np.count_nonzero(w == 0))
    return {"pruned": pruned, "pruned_still_zero": held, "zero_kernel_weights": zeros}


def lottery_ticket_phases(model: keras.Model, stream_for: Callable[[R2TrainingConfig], EpochStream],
                          run_dir: Path, train: R2TrainingConfig, retrain: R2TrainingConfig,
                          lottery: LotteryTicketConfig, *, validation=None,
                          run_config: dict | None = None,
                          on_base_trained: Callable[[keras.Model], None] | None = None) -> dict:
    """Phase 1 (train, snapshot at `rewind_epoch`) → masks → rewind → phase 2 (mask held).

    `on_base_trained(model)` sees the trained, unpruned FP32 base (to score and size it).
    Returns the masks; raises RunError if a pruned weight is non-zero after retraining.
    """
    if lottery.rewind_epoch >= train.epochs:
        raise RunError(f"rewind epoch {lottery.rewind_epoch} is not before the end of phase 1 "
                       f"({train.epochs} epochs)", run_dir,
                       fix="use --rewind-epoch smaller than --epochs")
    snapshot = SavedRewindSnapshot(lottery.rewind_epoch, run_dir / "rewind_snapshot.npz")
    compile_classifier(model, train)
    train_phase(model, stream_for(train), run_dir / "phase1_train", train,
                validation=validation, callbacks=[snapshot],
                run_config={**(run_config or {}), "phase": "train"})
    if snapshot.snapshot is None:
        raise RunError("phase 1 finished without a rewinding snapshot", snapshot.path,
                       fix="delete phase1_train/ to retrain phase 1")
    if on_base_trained is not None:
        on_base_trained(model)
    masks_path = run_dir / "masks.npz"
    if masks_path.exists():
        masks = load_masks(masks_path)
    else:
        masks = magnitude_masks(model, lottery.prune_fraction, lottery.scope)
        save_masks(masks_path, masks)
    rewind(model, snapshot.snapshot, masks)
    compile_classifier(model, retrain)  # a fresh optimizer: no momentum from phase 1
    train_phase(model, stream_for(retrain), run_dir / "phase2_retrain", retrain,
                validation=validation, callbacks=[MaskCallback(masks)],
                run_config={**(run_config or {}), "phase": "retrain"})
    counts = masked_zero_counts(model, masks)
    if counts["pruned_still_zero"] != counts["pruned"]:
        raise RunError(f"{counts['pruned'] - counts['pruned_still_zero']} pruned weights are "
                       "non-zero after retraining", run_dir / "phase2_retrain",
                       fix="retrain with steps_per_execution=1 (MaskCallback)")
    return masks
