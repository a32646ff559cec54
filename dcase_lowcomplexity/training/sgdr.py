"""SGDR warm restarts set at every batch, [R1] §2.5 and C1 (SPEC §4).

    t  = (e − e_start) + b / (n_batches − 1)
    lr = lr_min + ½ (lr_max − lr_min) (1 + cos(π t / T))

e is the 1-based epoch, b the 0-based batch, e_start and T the start and length of the cycle
holding e (1, 11, 31, 71, 151 and 10, 20, 40, 80, 160 for the paper). The first batch of a
cycle gets lr_max and its last batch exactly lr_min (t = T). With a single batch per epoch
(tiny demo data) b / (n_batches − 1) is taken as 0, so each epoch runs at its start value.
"""
from __future__ import annotations

import math

import keras

from dcase_lowcomplexity.config import TrainingConfig
from dcase_lowcomplexity.errors import ConfigError


def sgdr_cycle(epoch: int, config: TrainingConfig) -> tuple[int, int]:
    """(e_start, T) of the SGDR cycle holding the 1-based `epoch`."""
    starts, lengths = config.sgdr_cycle_starts, config.sgdr_cycle_lengths
    if epoch < 1 or epoch >= starts[-1] + lengths[-1]:
        raise ConfigError(
            f"epoch {epoch} is outside the SGDR cycles, which cover epochs 1…"
            f"{starts[-1] + lengths[-1] - 1}",
            fix="raise TrainingConfig.epochs so the cycles cover every trained epoch")
    for start, length in zip(reversed(starts), reversed(lengths)):
        if epoch >= start:
            return start, length
    raise AssertionError("unreachable: starts[0] is 1")


def sgdr_learning_rate(epoch: int, batch: int, n_batches: int,
                       config: TrainingConfig | None = None) -> float:
    """Learning rate at the start of 0-based `batch` of 1-based `epoch` (SPEC §4)."""
    config = config or TrainingConfig()
    if n_batches < 1 or not 0 <= batch < n_batches:
        raise ConfigError(f"batch {batch} is outside an epoch of {n_batches} batches")
    start, length = sgdr_cycle(epoch, config)
    fraction = batch / (n_batches - 1) if n_batches > 1 else 0.0
    t = (epoch - start) + fraction
    return config.lr_min + 0.5 * (config.lr_max - config.lr_min) * (
        1.0 + math.cos(math.pi * t / length))


class SGDRScheduler(keras.callbacks.Callback):
    """Sets `optimizer.learning_rate` at the start of every training batch.

    Keras passes the 0-based epoch index to `on_epoch_begin`; the schedule's e is that + 1,
    so a run resumed with `fit(initial_epoch=k)` continues at epoch k + 1 exactly where an
    uninterrupted run would be. `n_batches` defaults to the `steps` Keras reports.
    """

    def __init__(self, config: TrainingConfig | None = None, n_batches: int | None = None):
        super().__init__()
        self.config = config or TrainingConfig()
        self.n_batches = n_batches
        self.epoch = None  # 1-based epoch in progress

    def _steps(self) -> int:
        steps = self.n_batches or (self.params or {}).get("steps")
        if not steps:
            raise ConfigError("SGDRScheduler needs the number of batches per epoch",
                              fix="pass n_batches=… or fit with steps_per_epoch")
        return int(steps)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = int(epoch) + 1

    def on_train_batch_begin(self, batch, logs=None):
        lr = sgdr_learning_rate(self.epoch, int(batch), self._steps(), self.config)
        self.model.optimizer.learning_rate = lr

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            # The rate of the epoch's last batch, as Keras' own schedulers log it.
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
