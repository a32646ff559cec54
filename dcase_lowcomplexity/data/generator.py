"""Class-balanced mixup batches of [R1] §2.2, §3.5 and C1 (SPEC §4).

Each epoch shuffles every class's clips and lays them out as balanced triplets (one clip of
each class, classes in random order), `3 · min_i N_i` entries in all (8,112 on fold 1). Entry
`j` is mixed with entry `N − 1 − j` (the ordering reversed); batch `k` mixes
`ordering[B·k : B·k + B]` with `reversed[B·k : B·k + B]`, so an epoch has
`floor(floor(N / B) / 2)` steps (126 on fold 1). Each source is cropped in time at a random
offset (469 → 400 frames) and has its channels swapped with probability 0.5; λ ~ Beta(α, α)
per example; inputs and one-hot targets are mixed with the same λ.

Only the first `B·steps` entries take the first-source role and only the last `B·steps` the
second; the entries between are left out, and no clip is used twice in an epoch. On fold 1:
entries 0…4031 are mixed with 8111…4080, entries 4032…4079 (16 whole triplets) are unused, so
each class contributes exactly 2,688 clips per epoch, each once (the minority class 2,688 of
its 2,704).

Reproducibility: an epoch's ordering is a pure function of (seed, epoch index) and a batch's
augmentation draws of (seed, epoch index, batch index), so a resumed run replays the same
batches and PyDataset workers may build batches in any order. The generator is an *endless*
stream: Keras item `i` is batch `i mod steps` of epoch `start_epoch + i // steps`. This is
deliberate: Keras re-creates (and may start prefetching from) its data iterator at the end of
an epoch, before callbacks see `on_epoch_begin`, so an epoch counter set by a callback could
race with prefetching; the stream index cannot. Train with
`model.fit(gen, steps_per_epoch=gen.steps_per_epoch, initial_epoch=gen.start_epoch, …)`
(`training.run.fit_resumable` does this).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import keras
import numpy as np

from dcase_lowcomplexity.config import TrainingConfig
from dcase_lowcomplexity.errors import ConfigError

# Tags that keep the ordering stream and the per-batch augmentation streams apart
# (np.random.SeedSequence pads short entropy with zeros, so [s, e] == [s, e, 0]).
_ORDERING_STREAM = 0
_BATCH_STREAM = 1


class ClipSource(Protocol):
    """Anything that yields log-mel clips: `FeatureStore` or `ArrayClipSource`.

    `read_crops(indices, offsets, frames)` is optional: (n, F, frames, C) float32 with crop j
    = clip indices[j], frames offsets[j] … offsets[j] + frames − 1. A source that has it is
    read crop by crop, without materialising whole clips.
    """

    def __len__(self) -> int: ...

    def read_batch(self, indices) -> np.ndarray: ...


class ArrayClipSource:
    """An in-memory (n, frequency, time, channel) array seen as a clip source (C1 style)."""

    def __init__(self, array: np.ndarray):
        if np.ndim(array) != 4:
            raise ConfigError(
                f"clip array must have 4 axes (clip, frequency, time, channel), got shape "
                f"{np.shape(array)}",
                fix="pass features shaped like (n, 256, 469, 2)",
            )
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def read_batch(self, indices) -> np.ndarray:
        return np.asarray(self.array[np.asarray(indices, dtype=np.int64)], dtype=np.float32)

    def read_crops(self, indices, offsets, frames: int) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.empty((len(indices), self.array.shape[1], frames, self.array.shape[3]),
                       dtype=np.float32)
        for j, (i, o) in enumerate(zip(indices, np.asarray(offsets).reshape(-1))):
            out[j] = self.array[i, :, o:o + frames, :]
        return out


@dataclass(frozen=True)
class MixupPlan:
    """Every random choice behind one training batch (positions index the label array)."""

    first: np.ndarray  # positions of the first sources, ordering[B·k : B·k + B]
    second: np.ndarray  # their partners, reversed ordering[B·k : B·k + B]
    offset_first: np.ndarray  # time-crop offsets, 0 … clip_frames − train_frames
    offset_second: np.ndarray
    swap_first: np.ndarray  # bool: left/right channels swapped
    swap_second: np.ndarray
    lam: np.ndarray  # λ ~ Beta(α, α), one per mixed example


def ordering_length(class_counts, batch_size: int, balanced: bool = True) -> int:
    """Entries in one epoch's ordering: 3 · min N_i when balanced, else N."""
    counts = np.asarray(class_counts, dtype=np.int64)
    return int(len(counts) * counts.min()) if balanced else int(counts.sum())


def steps_per_epoch(class_counts, batch_size: int = 32, balanced: bool = True) -> int:
    """floor(floor(3 · min N_i / B) / 2) (SPEC §4): 126 for fold 1's 2704 / 3757 / 2724."""
    return (ordering_length(class_counts, batch_size, balanced) // batch_size) // 2


class BalancedMixupGenerator(keras.utils.PyDataset):
    """Endless stream of (x, y) training batches: x (B, F, train_frames, C), y (B, classes).

    Args:
        clips: clip source (`read_batch(indices)`, `len()`), e.g. a `FeatureStore`.
        labels: integer class index of each training clip.
        config: `TrainingConfig` (batch_size, train_frames, mixup_alpha, channel_swap_prob,
            balanced_classes, seed).
        rows: row of each label in `clips` (e.g. `store.index_of(split.train.filename)`);
            default `arange(len(labels))`.
        num_classes: number of classes (3 for Task 1b).
        seed: overrides `config.seed`.
        start_epoch: 0-based epoch index of stream item 0 (the `initial_epoch` of `fit`).
        workers, use_multiprocessing, max_queue_size: passed to `keras.utils.PyDataset`
            (batches are independent, so threads may build them in any order; keep
            use_multiprocessing=False with an open HDF5 store).
    """

    def __init__(
        self,
        clips: ClipSource,
        labels,
        config: TrainingConfig | None = None,
        *,
        rows=None,
        num_classes: int = 3,
        seed: int | None = None,
        start_epoch: int = 0,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ):
        super().__init__(
            workers=workers, use_multiprocessing=use_multiprocessing,
            max_queue_size=max_queue_size,
        )
        self.config = config or TrainingConfig()
        self.clips = clips
        self.num_classes = int(num_classes)
        self.seed = int(self.config.seed if seed is None else seed)
        self.start_epoch = int(start_epoch)
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.rows = (np.arange(len(self.labels), dtype=np.int64) if rows is None
                     else np.asarray(rows, dtype=np.int64).reshape(-1))
        self._check_inputs()
        self.class_positions = [np.flatnonzero(self.labels == c) for c in range(self.num_classes)]
        self.class_counts = np.array([len(p) for p in self.class_positions], dtype=np.int64)
        self.clip_shape = tuple(self.clips.read_batch(self.rows[:1]).shape[1:])
        self._check_shapes()

    # -- validation -----------------------------------------------------------------------
    def _check_inputs(self) -> None:
        cfg = self.config
        if len(self.rows) != len(self.labels):
            raise ConfigError(f"{len(self.rows)} clip rows for {len(self.labels)} labels",
                              fix="pass one row index per label")
        if len(self.labels) == 0:
            raise ConfigError("no training clips", fix="check the training split")
        if self.labels.min() < 0 or self.labels.max() >= self.num_classes:
            raise ConfigError(f"labels must lie in 0…{self.num_classes - 1}",
                              fix="code labels alphabetically: indoor=0, outdoor=1, "
                                  "transportation=2")
        if self.rows.min() < 0 or self.rows.max() >= len(self.clips):
            raise ConfigError(f"clip rows must lie in 0…{len(self.clips) - 1}",
                              fix="take rows from the same feature store as the clips")
        if cfg.mixup_alpha < 0 or not 0 <= cfg.channel_swap_prob <= 1 or cfg.batch_size < 1:
            raise ConfigError("need mixup_alpha ≥ 0, 0 ≤ channel_swap_prob ≤ 1, batch_size ≥ 1")
        if self.seed < 0:
            raise ConfigError(f"seed must be ≥ 0, got {self.seed}")

    def _check_shapes(self) -> None:
        if len(self.clip_shape) != 3:
            raise ConfigError(f"clips must be (frequency, time, channel), got {self.clip_shape}")
        if self.config.train_frames > self.clip_shape[1]:
            raise ConfigError(
                f"train_frames={self.config.train_frames} exceeds the clips' "
                f"{self.clip_shape[1]} frames", fix="lower TrainingConfig.train_frames")
        if self.config.balanced_classes and self.class_counts.min() == 0:
            missing = int(np.argmin(self.class_counts))
            raise ConfigError(f"class {missing} has no training clips; balanced epochs need "
                              "every class", fix="check the split, or balanced_classes=False")
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"an epoch ordering of {self.ordering_length} entries gives no batch of "
                f"{self.config.batch_size} mixed pairs",
                fix="use more clips (at least 2·batch_size ordering entries) or a smaller "
                    "batch_size")

    # -- the epoch plan (labels only, no clip is read) -------------------------------------
    @property
    def ordering_length(self) -> int:
        return ordering_length(self.class_counts, self.config.batch_size,
                               self.config.balanced_classes)

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.class_counts, self.config.batch_size,
                               self.config.balanced_classes)

    @property
    def num_batches(self):
        """None: an endless stream (see the module docstring); fit needs steps_per_epoch."""
        return None

    def epoch_ordering(self, epoch_index: int) -> np.ndarray:
        """Positions (into `labels`) of one epoch's ordering: balanced triplets (SPEC §4)."""
        rng = np.random.default_rng([self.seed, int(epoch_index), _ORDERING_STREAM])
        if not self.config.balanced_classes:
            return rng.permutation(len(self.labels))
        m = int(self.class_counts.min())
        shuffled = np.stack([rng.permutation(p)[:m] for p in self.class_positions])
        class_order = rng.permuted(np.tile(np.arange(self.num_classes), (m, 1)), axis=1)
        return shuffled[class_order, np.arange(m)[:, None]].reshape(-1)

    def batch_plan(self, epoch_index: int, batch_index: int) -> MixupPlan:
        """Sources and augmentation draws of batch `batch_index` of epoch `epoch_index`."""
        if not 0 <= batch_index < self.steps_per_epoch:
            raise IndexError(f"batch {batch_index} outside 0…{self.steps_per_epoch - 1}")
        cfg, b = self.config, self.config.batch_size
        ordering = self.epoch_ordering(epoch_index)
        lo = b * batch_index
        first = ordering[lo:lo + b]
        second = ordering[::-1][lo:lo + b]
        rng = np.random.default_rng(
            [self.seed, int(epoch_index), _BATCH_STREAM, int(batch_index)])
        max_offset = self.clip_shape[1] - cfg.train_frames
        offsets = rng.integers(0, max_offset + 1, size=(2, b))
        swaps = rng.random((2, b)) < cfg.channel_swap_prob
        lam = (rng.beta(cfg.mixup_alpha, cfg.mixup_alpha, size=b) if cfg.mixup_alpha > 0
               else np.ones(b))  # α = 0 switches mixup off
        return MixupPlan(first, second, offsets[0], offsets[1], swaps[0], swaps[1], lam)

    # -- reading and mixing ----------------------------------------------------------------
    def batch(self, epoch_index: int, batch_index: int) -> tuple[np.ndarray, np.ndarray]:
        """The mixed batch (x float32 (B, F, train_frames, C), y float32 (B, classes))."""
        plan = self.batch_plan(epoch_index, batch_index)
        x1, x2 = self._read_sources(plan)
        lam = plan.lam.astype(np.float32)
        # x = λ·x1 + (1 − λ)·x2, in place: a paper-size batch is 26 MB per side.
        x = x1
        x *= lam[:, None, None, None]
        x2 *= (1.0 - lam)[:, None, None, None]
        x += x2
        eye = np.eye(self.num_classes, dtype=np.float32)
        y = (lam[:, None] * eye[self.labels[plan.first]]
             + (1.0 - lam)[:, None] * eye[self.labels[plan.second]])
        return x.astype(np.float32, copy=False), y.astype(np.float32, copy=False)

    def _read_sources(self, plan: MixupPlan) -> tuple[np.ndarray, np.ndarray]:
        rows_first, rows_second = self.rows[plan.first], self.rows[plan.second]
        sides = ((rows_first, plan.offset_first, plan.swap_first),
                 (rows_second, plan.offset_second, plan.swap_second))
        frames = self.config.train_frames
        if hasattr(self.clips, "read_crops"):
            # Only the crop windows are read: no whole-clip buffer (61 MB per paper batch).
            out = []
            for rows, offsets, swaps in sides:
                crops = self.clips.read_crops(rows, offsets, frames)
                crops[swaps] = crops[swaps][..., ::-1]
                out.append(crops)
            return out[0], out[1]
        # Any other source: one read for both sides; sorted, duplicate-free rows.
        union = np.unique(np.concatenate([rows_first, rows_second]))
        data = self.clips.read_batch(union)
        out = []
        for rows, offsets, swaps in sides:
            where = np.searchsorted(union, rows)
            crops = np.empty((len(rows), self.clip_shape[0], frames, self.clip_shape[2]),
                             dtype=np.float32)
            for i, (w, o, s) in enumerate(zip(where, offsets, swaps)):
                clip = data[w, :, o:o + frames, :]
                crops[i] = clip[..., ::-1] if s else clip
            out.append(crops)
        return out[0], out[1]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        epoch_index, batch_index = divmod(int(index), self.steps_per_epoch)
        return self.batch(self.start_epoch + epoch_index, batch_index)
