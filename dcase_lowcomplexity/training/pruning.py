"""Lottery-ticket pruning with rewinding, [R2]'s "AclNet0.5 LT" system (SPEC §6).

[R2]: train, prune 19.6 % of the weights with the smallest magnitudes, rewind the survivors
to their early-training values, retrain with the pruned weights held at zero, export FP16.

- Prunable weights: convolution and dense kernels (Conv1D/Conv2D `kernel`, SeparableConv2D
  `depthwise_kernel` and `pointwise_kernel`, Dense `kernel`); never biases or batch-norm
  parameters (the DCASE rule does not count batch norm, and [R2] prunes "weights").
- `scope="global"` (default): one magnitude threshold over all prunable weights — [R2] says
  "prune the smallest magnitudes" without a per-layer budget; `"per_layer"` prunes the same
  fraction of every kernel. Exactly round(fraction × n) weights are pruned (ties broken by
  position), so the count is reproducible.
- Rewinding: `RewindSnapshot` stores every weight after `rewind_epoch` epochs (0: at
  initialisation, the original lottery ticket); `rewind` restores them all and zeroes the
  pruned kernels.
- Retraining: `MaskCallback` multiplies the kernels by their masks after every optimizer step
  (Keras 3, no tfmot), so momentum and weight decay cannot revive a pruned weight.
- `lottery_ticket_phases`: the shipped system — the two resumable phases with the snapshot and
  the masks saved atomically between them.

Counts ([R2] vs ours): docs/r2_systems.md and `lottery_ticket_counts`.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from dcase_lowcomplexity.atomic import atomic_path
from dcase_lowcomplexity.config import LotteryTicketConfig, TrainingConfig
from dcase_lowcomplexity.errors import ConfigError, ModelFileError, RunError
from dcase_lowcomplexity.training.run import compile_classifier, train_phase

PRUNABLE_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel")
SCOPES = ("global", "per_layer")


def prunable_weights(model: keras.Model) -> list:
    """The convolution and dense kernels of `model`, in model order."""
    return [v for v in model.weights if v.name in PRUNABLE_NAMES]


def magnitude_masks(model: keras.Model, fraction: float,
                    scope: str = "global") -> dict[str, np.ndarray]:
    """{variable path: 0/1 float32 mask} pruning the `fraction` smallest-magnitude weights."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"prune_fraction={fraction} must be in [0, 1)")
    if scope not in SCOPES:
        raise ConfigError(f"scope={scope!r} is not one of {SCOPES}")
    variables = prunable_weights(model)
    if not variables:
        raise ConfigError(f"model {model.name!r} has no convolution or dense kernels to prune")
    values = [np.abs(keras.ops.convert_to_numpy(v)).ravel() for v in variables]
    if scope == "global":
        flat = np.concatenate(values)
        keep = _keep_largest(flat, int(round(fraction * flat.size)))
        pieces = np.split(keep, np.cumsum([x.size for x in values])[:-1])
    else:
        pieces = [_keep_largest(x, int(round(fraction * x.size))) for x in values]
    return {v.path: p.reshape(v.shape).astype(np.float32) for v, p in zip(variables, pieces)}


def _keep_largest(magnitudes: np.ndarray, n_pruned: int) -> np.ndarray:
    keep = np.ones(magnitudes.size, dtype=bool)
    keep[np.argsort(magnitudes, kind="stable")[:n_pruned]] = False
    return keep


def _variables_by_path(model: keras.Model, paths) -> dict:
    by_path = {v.path: v for v in model.weights}
    missing = sorted(set(paths) - set(by_path))
    if missing:
        raise ConfigError(
            f"model {model.name!r} has no variables {missing[:3]}…",
            fix="use masks and snapshots made from the same architecture",
        )
    return by_path


def apply_masks(model: keras.Model, masks: dict[str, np.ndarray]) -> None:
    """Zero the pruned weights in place."""
    by_path = _variables_by_path(model, masks)
    for path, mask in masks.items():
        v = by_path[path]
        v.assign(v * keras.ops.convert_to_tensor(mask, dtype=v.dtype))


def snapshot_weights(model: keras.Model) -> dict[str, np.ndarray]:
    """Copies of every weight (kernels, biases, batch norm) keyed by variable path."""
    return {v.path: np.array(keras.ops.convert_to_numpy(v)) for v in model.weights}


def rewind(model: keras.Model, snapshot: dict[str, np.ndarray],
           masks: dict[str, np.ndarray]) -> None:
    """Restore every weight to `snapshot`, then zero the pruned kernels (survivors rewound)."""
    by_path = _variables_by_path(model, snapshot)
    for path, value in snapshot.items():
        by_path[path].assign(value)
    apply_masks(model, masks)


class RewindSnapshot(keras.callbacks.Callback):
    """Keeps the weights after `rewind_epoch` epochs (0: before the first step)."""

    def __init__(self, rewind_epoch: int):
        super().__init__()
        if rewind_epoch < 0:
            raise ConfigError(f"rewind_epoch={rewind_epoch} must be ≥ 0")
        self.rewind_epoch = rewind_epoch
        self.snapshot: dict[str, np.ndarray] | None = None

    def on_train_begin(self, logs=None):
        if self.rewind_epoch == 0 and self.snapshot is None:
            self.snapshot = snapshot_weights(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.rewind_epoch:  # Keras epochs are 0-based
            self.snapshot = snapshot_weights(self.model)


class MaskCallback(keras.callbacks.Callback):
    """Holds pruned weights at zero: masks applied at the start and after every train step."""

    def __init__(self, masks: dict[str, np.ndarray]):
        super().__init__()
        self.masks = masks
        self._pairs = None

    def on_train_begin(self, logs=None):
        if getattr(self.model, "steps_per_execution", 1) != 1:
            raise ConfigError(
                "MaskCallback needs steps_per_execution=1 (masks are applied after every step)"
            )
        by_path = _variables_by_path(self.model, self.masks)
        self._pairs = [
            (by_path[p], keras.ops.convert_to_tensor(m, dtype=by_path[p].dtype))
            for p, m in self.masks.items()
        ]
        self._apply()

    def on_train_batch_end(self, batch, logs=None):
        self._apply()

    def _apply(self):
        for variable, mask in self._pairs:
            variable.assign(variable * mask)


def save_masks(path: str | Path, masks: dict[str, np.ndarray]) -> None:
    """Writes masks to an .npz atomically (temp file, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"mask_{i}": m.astype(np.uint8) for i, m in enumerate(masks.values())}
    arrays["paths"] = np.array(list(masks), dtype=str)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_masks(path: str | Path) -> dict[str, np.ndarray]:
    """Reads masks written by `save_masks`; a missing or damaged file is a ModelFileError."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError("mask file not found", path, fix="run the pruning step first")
    try:
        with np.load(path, allow_pickle=False) as data:
            paths = [str(p) for p in data["paths"]]
            return {p: data[f"mask_{i}"].astype(np.float32) for i, p in enumerate(paths)}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise ModelFileError(f"not a readable mask file ({err})", path,
                             fix="delete it and rerun the pruning step") from None


def lottery_ticket_counts(model: keras.Model, masks: dict[str, np.ndarray]) -> dict[str, int]:
    """Parameter counts of a pruned model: total, prunable, pruned, non-zero (with and
    without batch norm; the DCASE rule counts the latter)."""
    bn = sum(int(np.prod(v.shape)) for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization) for v in layer.weights)
    total = int(model.count_params())
    pruned = int(sum(m.size - np.count_nonzero(m) for m in masks.values()))
    return {
        "total": total,
        "prunable": int(sum(m.size for m in masks.values())),
        "pruned": pruned,
        "non_zero": total - pruned,
        "batch_norm": bn,
        "non_zero_without_bn": total - pruned - bn,
    }


# -- the shipped lottery-ticket phases ([R2] §2.2) -----------------------------------------
def save_snapshot(path: str | Path, snapshot: dict[str, np.ndarray]) -> None:
    """Writes a rewinding snapshot ({variable path: array}) to an .npz atomically."""
    arrays = {f"w{i:04d}": v for i, v in enumerate(snapshot.values())}
    arrays["paths"] = np.array(list(snapshot), dtype=str)
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def load_snapshot(path: str | Path) -> dict[str, np.ndarray]:
    """Reads a snapshot written by `save_snapshot`; a damaged file is a ModelFileError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {str(p): data[f"w{i:04d}"] for i, p in enumerate(data["paths"])}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ModelFileError(f"the rewinding snapshot cannot be read ({err})", path,
                             fix="delete the run folder's phase1_train/ and this file to "
                                 "retrain phase 1") from None


class SavedRewindSnapshot(RewindSnapshot):
    """`RewindSnapshot` that also writes its snapshot to `path` (and reads it back), so a run
    killed after the snapshot resumes without retraining phase 1 from the start."""

    def __init__(self, rewind_epoch: int, path: str | Path):
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


def _masks_for(model: keras.Model, path: Path, lottery: LotteryTicketConfig):
    if path.exists():
        return load_masks(path)
    masks = magnitude_masks(model, lottery.prune_fraction, lottery.scope)
    save_masks(path, masks)
    return masks


def lottery_ticket_phases(model: keras.Model, stream_for: Callable[[TrainingConfig], object],
                          run_dir: str | Path, train: TrainingConfig, retrain: TrainingConfig,
                          lottery: LotteryTicketConfig, *, validation=None,
                          run_config: dict | None = None,
                          on_base_trained: Callable[[keras.Model], None] | None = None,
                          verbose: str | int = "auto") -> dict[str, np.ndarray]:
    """[R2] §2.2: phase 1 (train; snapshot at `rewind_epoch`, 0 = the initial weights) →
    masks → rewind → phase 2 (retrain with the mask held), each a resumable `train_phase`.

    `run_dir` receives phase1_train/, rewind_snapshot.npz, masks.npz, phase2_retrain/ (each
    written atomically when made), so rerunning after a kill at any point continues where it
    stopped. `stream_for(config)` builds the batch stream of a phase. `on_base_trained(model)`
    sees the trained, unpruned FP32 base. Returns the masks; RunError if a pruned weight is
    non-zero after retraining.
    """
    run_dir = Path(run_dir)
    if lottery.rewind_epoch >= train.epochs:
        raise RunError(f"rewind epoch {lottery.rewind_epoch} is not before the end of phase 1 "
                       f"({train.epochs} epochs)", run_dir,
                       fix="use --rewind-epoch smaller than --epochs")
    snapshot = SavedRewindSnapshot(lottery.rewind_epoch, run_dir / "rewind_snapshot.npz")
    compile_classifier(model, train)
    train_phase(model, stream_for(train), run_dir / "phase1_train", train,
                validation=validation, callbacks=[snapshot], verbose=verbose,
                run_config={**(run_config or {}), "phase": "train"})
    if snapshot.snapshot is None:
        raise RunError("phase 1 finished without a rewinding snapshot", snapshot.path,
                       fix="delete phase1_train/ to retrain phase 1")
    if on_base_trained is not None:
        on_base_trained(model)
    masks = _masks_for(model, run_dir / "masks.npz", lottery)
    rewind(model, snapshot.snapshot, masks)
    compile_classifier(model, retrain)  # a fresh optimizer: no momentum from phase 1
    train_phase(model, stream_for(retrain), run_dir / "phase2_retrain", retrain,
                validation=validation, callbacks=[MaskCallback(masks)], verbose=verbose,
                run_config={**(run_config or {}), "phase": "retrain"})
    counts = masked_zero_counts(model, masks)
    if counts["pruned_still_zero"] != counts["pruned"]:
        raise RunError(f"{counts['pruned'] - counts['pruned_still_zero']} pruned weights are "
                       "non-zero after retraining", run_dir / "phase2_retrain",
                       fix="retrain with steps_per_execution=1 (MaskCallback)")
    return masks
