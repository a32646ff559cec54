"""One endless, seeded stream of mixup training batches for every system (SPEC §4, §6).

`MixupStream(clips, labels, augment, batch_size=…, seed=…)` serves (x, y) batches from any
clip source (a `FeatureStore` of any input kind, or an in-memory `ArrayClipSource`) with one
of two pairings, `AugmentConfig.pairing`:

- "balanced_reversed" ([R1] §2.2, §3.5 and C1): each epoch shuffles every class's clips and
  lays them out as balanced triplets (one clip of each class, classes in random order),
  `3 · min_i N_i` entries (8,112 on fold 1). Batch k mixes `ordering[B·k : B·k + B]` with
  `reversed(ordering)[B·k : B·k + B]` (entry j meets entry N − 1 − j), so an epoch has
  `floor(floor(N / B) / 2)` steps (126 on fold 1) and no clip is used twice: on fold 1
  entries 0…4031 meet 8111…4080 and the 16 whole triplets 4032…4079 sit out, each class
  giving 2,688 clips. Ordering from `default_rng([seed, epoch, 0])`; batch k's draws from
  `default_rng([seed, epoch, 1, k])`: crop offsets (2, B), swap coins (2, B), λ (B,).
- "random" ([R2] systems, ours): two permutations of all clips per epoch from
  `default_rng([seed, epoch])` (the examples and their mixup partners), `N // B` steps (the
  last incomplete batch dropped); batch k's draws from `default_rng([seed, epoch, k])`, per
  example: `augment_source(x_i)`, λ, `augment_source(x_j)` (`data.augment`).

Mixup: x = λ·x1 + (1 − λ)·x2 and the one-hot targets likewise, λ ~ Beta(α, α) per example
(α = 0: no mixup). SpecAugment masks ([R2] §2.3; `AugmentConfig.freq_masks` …), when
configured, are applied to each mixed example, drawn from the batch's generator after all the
draws above, so a config without masks gives the same batches as before masks existed. This
stream is for training only: validation and inference read the store directly and are never
masked or mixed.

Reproducibility: a batch is a pure function of (seed, epoch, batch index), so a resumed run
replays the same batches and PyDataset workers may build them in any order. Keras item `i`
is batch `i mod steps` of epoch `start_epoch + i // steps`: Keras re-creates (and may start
prefetching from) its iterator at an epoch's end, before callbacks run, so an epoch counter
set by a callback could race with prefetching; the stream index cannot. Train with
`fit(stream, steps_per_epoch=stream.steps_per_epoch, initial_epoch=stream.start_epoch)`
(`training.run.fit_resumable` does this).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import keras
import numpy as np

from dcase_lowcomplexity.config import PAIRINGS, AugmentConfig
from dcase_lowcomplexity.data.augment import augment_source, mix_targets, mixup, spec_augment
from dcase_lowcomplexity.errors import ConfigError

# Tags that keep the ordering stream and the per-batch streams of the balanced pairing apart
# (np.random.SeedSequence pads short entropy with zeros, so [s, e] == [s, e, 0]).
_ORDERING_STREAM = 0
_BATCH_STREAM = 1


class ClipSource(Protocol):
    """Anything that yields training clips: a `FeatureStore` or an `ArrayClipSource`.

    `read_crops(indices, offsets, length)` is optional: crop j = clip indices[j] from
    offsets[j] to offsets[j] + length − 1 along the time axis, float32. A source that has it
    is read crop by crop by the balanced pairing, without materialising whole clips.
    """

    def __len__(self) -> int: ...

    def read_batch(self, indices) -> np.ndarray: ...


def example_time_axis(example_ndim: int) -> int:
    """Time axis of one example: 1 for (F, T, C) features, 0 for (samples[, channels])."""
    return 1 if example_ndim == 3 else 0


class ArrayClipSource:
    """An in-memory (n, F, T, C) feature array or (n, samples) waveform array as a source."""

    def __init__(self, array: np.ndarray):
        if np.ndim(array) not in (2, 4):
            raise ConfigError(
                f"clip array must be (clip, frequency, time, channel) or (clip, samples), got "
                f"shape {np.shape(array)}", fix="pass features shaped like (n, 256, 469, 2)")
        self.array = array
        self.time_axis = example_time_axis(np.ndim(array) - 1)

    def __len__(self) -> int:
        return len(self.array)

    def read_batch(self, indices) -> np.ndarray:
        return np.asarray(self.array[np.asarray(indices, dtype=np.int64)], dtype=np.float32)

    def read_crops(self, indices, offsets, length: int) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        shape = list(self.array.shape)
        shape[0], shape[1 + self.time_axis] = len(indices), length
        out = np.empty(shape, dtype=np.float32)
        for j, (i, o) in enumerate(zip(indices, np.asarray(offsets).reshape(-1))):
            out[j] = np.take(self.array[i], np.arange(o, o + length), axis=self.time_axis)
        return out


@dataclass(frozen=True)
class MixupPlan:
    """Every random choice behind one balanced-pairing batch (positions index the labels)."""

    first: np.ndarray  # positions of the first sources, ordering[B·k : B·k + B]
    second: np.ndarray  # their partners, reversed ordering[B·k : B·k + B]
    offset_first: np.ndarray  # time-crop offsets, 0 … clip length − crop
    offset_second: np.ndarray
    swap_first: np.ndarray  # bool: left/right channels swapped
    swap_second: np.ndarray
    lam: np.ndarray  # λ ~ Beta(α, α), one per mixed example


def ordering_length(class_counts) -> int:
    """Entries in one balanced epoch ordering: 3 · min N_i (8,112 on fold 1)."""
    counts = np.asarray(class_counts, dtype=np.int64)
    return int(len(counts) * counts.min())


def steps_per_epoch(class_counts, batch_size: int = 32,
                    pairing: str = "balanced_reversed") -> int:
    """Balanced: floor(floor(3 · min N_i / B) / 2) (SPEC §4), 126 for fold 1's 2704 / 3757 /
    2724; random: floor(N / B)."""
    if pairing == "random":
        return int(np.sum(class_counts)) // batch_size
    return (ordering_length(class_counts) // batch_size) // 2


def _check_augment(augment: AugmentConfig, batch_size: int, seed: int) -> None:
    if augment.pairing not in PAIRINGS:
        raise ConfigError(f"pairing {augment.pairing!r} is not one of {PAIRINGS}")
    if augment.mixup_alpha < 0 or not 0 <= augment.channel_swap_prob <= 1 or batch_size < 1:
        raise ConfigError("need mixup_alpha ≥ 0, 0 ≤ channel_swap_prob ≤ 1, batch_size ≥ 1")
    if not 0 <= augment.noise_prob <= 1 or (augment.crop is not None and augment.crop < 1):
        raise ConfigError("need 0 ≤ noise_prob ≤ 1 and a positive crop (or None)")
    if min(augment.freq_masks, augment.freq_mask_width, augment.time_masks,
           augment.time_mask_width) < 0:
        raise ConfigError("SpecAugment mask counts and widths must be ≥ 0")
    if seed < 0:
        raise ConfigError(f"seed must be ≥ 0, got {seed}")


class MixupStream(keras.utils.PyDataset):
    """Endless stream of (x float32 (B, …), y float32 (B, classes)) training batches.

    Args:
        clips: clip source (`read_batch(indices)`, `len()`, optionally `read_crops`).
        labels: integer class index of each training clip.
        augment: pairing, mixup, crop, swaps, gain, noise, SpecAugment (`AugmentConfig`).
        batch_size, seed: the batch (global batch under tf.distribute) and the stream's seed.
        rows: row of each label in `clips` (e.g. `store.index_of(split.train.filename)`);
            default `arange(len(labels))`.
        num_classes: number of classes (3 for Task 1b).
        start_epoch: 0-based epoch of stream item 0 (`fit_resumable` sets it on resume).
        workers, use_multiprocessing, max_queue_size: passed to `keras.utils.PyDataset`
            (keep use_multiprocessing=False with an open HDF5 store).
    """

    def __init__(self, clips: ClipSource, labels, augment: AugmentConfig, *, batch_size: int,
                 seed: int, rows=None, num_classes: int = 3, start_epoch: int = 0,
                 workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing,
                         max_queue_size=max_queue_size)
        self.clips, self.augment = clips, augment
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.num_classes, self.start_epoch = int(num_classes), int(start_epoch)
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.rows = (np.arange(len(self.labels), dtype=np.int64) if rows is None
                     else np.asarray(rows, dtype=np.int64).reshape(-1))
        _check_augment(augment, self.batch_size, self.seed)
        self._check_labels()
        self.class_positions = [np.flatnonzero(self.labels == c) for c in range(self.num_classes)]
        self.class_counts = np.array([len(p) for p in self.class_positions], dtype=np.int64)
        self.clip_shape = tuple(self.clips.read_batch(self.rows[:1]).shape[1:])
        self.time_axis = getattr(clips, "time_axis", None)
        if self.time_axis is None:
            spec = getattr(clips, "spec", None)
            self.time_axis = getattr(spec, "time_axis", example_time_axis(len(self.clip_shape)))
        self._orderings: dict[int, object] = {}
        self._check_shapes()

    # -- validation -----------------------------------------------------------------------
    def _check_labels(self) -> None:
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

    def _check_shapes(self) -> None:
        aug, length = self.augment, self.clip_shape[self.time_axis]
        if aug.crop is not None and aug.crop > length:
            raise ConfigError(f"crop={aug.crop} exceeds the clips' {length} time steps",
                              fix="lower AugmentConfig.crop")
        if aug.channel_swap_prob > 0 and len(self.clip_shape) < 2:
            raise ConfigError("channel swaps need clips with a channel axis",
                              fix="set AugmentConfig.channel_swap_prob=0 for mono waveforms")
        if (aug.freq_masks or aug.time_masks) and len(self.clip_shape) != 3:
            raise ConfigError("SpecAugment needs (frequency, time, channel) clips",
                              fix="set no masks for waveform inputs")
        balanced = aug.pairing == "balanced_reversed"
        if balanced and self.class_counts.min() == 0:
            missing = int(np.argmin(self.class_counts))
            raise ConfigError(f"class {missing} has no training clips; balanced epochs need "
                              "every class", fix="check the split, or pairing='random'")
        if self.steps_per_epoch < 1:
            entries = self.ordering_length if balanced else len(self.labels)
            raise ConfigError(
                f"an epoch of {entries} entries gives no batch of {self.batch_size} "
                f"{'mixed pairs' if balanced else 'examples'}",
                fix="use more clips or a smaller batch_size")

    # -- the epoch plan (labels only, no clip is read) -------------------------------------
    @property
    def ordering_length(self) -> int:
        return ordering_length(self.class_counts)

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.class_counts, self.batch_size, self.augment.pairing)

    @property
    def num_batches(self):
        """None: an endless stream (see the module docstring); fit needs steps_per_epoch."""
        return None

    def _cached(self, key, make):
        value = self._orderings.get(key)
        if value is None:
            value = make()
            if len(self._orderings) > 4:
                self._orderings.clear()
            self._orderings[key] = value
        return value

    def epoch_ordering(self, epoch_index: int) -> np.ndarray:
        """Positions (into `labels`) of one balanced epoch's ordering: triplets (SPEC §4)."""
        return self._cached(("balanced", int(epoch_index)),
                            lambda: self._balanced_ordering(int(epoch_index)))

    def _balanced_ordering(self, epoch_index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch_index, _ORDERING_STREAM])
        m = int(self.class_counts.min())
        shuffled = np.stack([rng.permutation(p)[:m] for p in self.class_positions])
        class_order = rng.permuted(np.tile(np.arange(self.num_classes), (m, 1)), axis=1)
        return shuffled[class_order, np.arange(m)[:, None]].reshape(-1)

    def epoch_pairs(self, epoch_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Random pairing: (examples, partners), two permutations of all label positions."""
        def make():
            rng = np.random.default_rng([self.seed, int(epoch_index)])
            n = len(self.labels)
            return rng.permutation(n), rng.permutation(n)
        return self._cached(("random", int(epoch_index)), make)

    def batch_sources(self, epoch_index: int, batch_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Label positions of batch `batch_index`'s first sources and of their partners."""
        if not 0 <= batch_index < self.steps_per_epoch:
            raise IndexError(f"batch {batch_index} outside 0…{self.steps_per_epoch - 1}")
        lo, b = self.batch_size * batch_index, self.batch_size
        if self.augment.pairing == "random":
            order, partners = self.epoch_pairs(epoch_index)
            return order[lo:lo + b], partners[lo:lo + b]
        ordering = self.epoch_ordering(epoch_index)
        return ordering[lo:lo + b], ordering[::-1][lo:lo + b]

    def _balanced_plan(self, epoch_index: int, batch_index: int):
        first, second = self.batch_sources(epoch_index, batch_index)
        aug, b = self.augment, self.batch_size
        rng = np.random.default_rng(
            [self.seed, int(epoch_index), _BATCH_STREAM, int(batch_index)])
        max_offset = self.clip_shape[self.time_axis] - self._crop_length
        offsets = rng.integers(0, max_offset + 1, size=(2, b))
        swaps = rng.random((2, b)) < aug.channel_swap_prob
        lam = (rng.beta(aug.mixup_alpha, aug.mixup_alpha, size=b) if aug.mixup_alpha > 0
               else np.ones(b))  # α = 0 switches mixup off
        plan = MixupPlan(first, second, offsets[0], offsets[1], swaps[0], swaps[1], lam)
        return plan, rng

    def batch_plan(self, epoch_index: int, batch_index: int) -> MixupPlan:
        """Balanced pairing: sources and draws of batch `batch_index` of `epoch_index`."""
        if self.augment.pairing != "balanced_reversed":
            raise ConfigError("batch_plan describes the balanced_reversed pairing only")
        return self._balanced_plan(epoch_index, batch_index)[0]

    @property
    def _crop_length(self) -> int:
        return self.clip_shape[self.time_axis] if self.augment.crop is None else self.augment.crop

    # -- reading, augmenting and mixing ----------------------------------------------------
    def batch(self, epoch_index: int, batch_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch `batch_index` of 0-based epoch `epoch_index`, whatever was served before."""
        if self.augment.pairing == "random":
            x, y, rng = self._random_batch(int(epoch_index), int(batch_index))
        else:
            x, y, rng = self._balanced_batch(int(epoch_index), int(batch_index))
        aug = self.augment
        if aug.freq_masks or aug.time_masks:  # after every other draw of the batch
            for k in range(len(x)):
                x[k] = spec_augment(x[k], rng, aug.freq_masks, aug.freq_mask_width,
                                    aug.time_masks, aug.time_mask_width)
        return x, y

    def _balanced_batch(self, epoch_index: int, batch_index: int):
        plan, rng = self._balanced_plan(epoch_index, batch_index)
        x1, x2 = self._read_sources(plan)
        lam = plan.lam.astype(np.float32)
        x = mixup(x1, x2, lam, in_place=True)
        eye = np.eye(self.num_classes, dtype=np.float32)
        y = mix_targets(eye[self.labels[plan.first]], eye[self.labels[plan.second]], lam)
        return x.astype(np.float32, copy=False), y.astype(np.float32, copy=False), rng

    def _read_sources(self, plan: MixupPlan) -> tuple[np.ndarray, np.ndarray]:
        rows_first, rows_second = self.rows[plan.first], self.rows[plan.second]
        sides = ((rows_first, plan.offset_first, plan.swap_first),
                 (rows_second, plan.offset_second, plan.swap_second))
        length = self._crop_length
        if hasattr(self.clips, "read_crops"):
            # Only the crop windows are read: no whole-clip buffer (61 MB per paper batch).
            out = []
            for rows, offsets, swaps in sides:
                crops = self.clips.read_crops(rows, offsets, length)
                crops[swaps] = crops[swaps][..., ::-1]
                out.append(crops)
            return out[0], out[1]
        # Any other source: one read for both sides; sorted, duplicate-free rows.
        union = np.unique(np.concatenate([rows_first, rows_second]))
        data = self.clips.read_batch(union)
        shape = list(self.clip_shape)
        shape[self.time_axis] = length
        window = [slice(None)] * len(shape)
        out = []
        for rows, offsets, swaps in sides:
            crops = np.empty((len(rows), *shape), dtype=np.float32)
            for i, (w, o, s) in enumerate(zip(np.searchsorted(union, rows), offsets, swaps)):
                window[self.time_axis] = slice(o, o + length)
                clip = data[w][tuple(window)]
                crops[i] = clip[..., ::-1] if s else clip
            out.append(crops)
        return out[0], out[1]

    def _random_batch(self, epoch_index: int, batch_index: int):
        """Per example, from one generator: augment(x_i), λ, augment(x_j) (module docstring)."""
        first, second = self.batch_sources(epoch_index, batch_index)
        aug, mixing = self.augment, self.augment.mixup_alpha > 0
        rng = np.random.default_rng([self.seed, epoch_index, batch_index])
        needed = np.concatenate([first, second]) if mixing else first
        union = np.unique(self.rows[needed])
        data = self.clips.read_batch(union)

        def source(position: int) -> np.ndarray:
            clip = data[np.searchsorted(union, self.rows[position])]
            return augment_source(clip, aug, rng, self.time_axis)

        x1, x2, lam = [], [], []
        for i, j in zip(first, second):
            x1.append(source(int(i)))
            if mixing:
                lam.append(np.float32(rng.beta(aug.mixup_alpha, aug.mixup_alpha)))
                x2.append(source(int(j)))
        eye = np.eye(self.num_classes, dtype=np.float32)
        x, y = np.stack(x1), eye[self.labels[first]]
        if mixing:
            lam = np.asarray(lam, dtype=np.float32)
            x = mixup(x, np.stack(x2), lam, in_place=True)
            y = mix_targets(y, eye[self.labels[second]], lam)
        return x.astype(np.float32, copy=False), y.astype(np.float32, copy=False), rng

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        epoch_index, batch_index = divmod(int(index), self.steps_per_epoch)
        return self.batch(self.start_epoch + epoch_index, batch_index)
