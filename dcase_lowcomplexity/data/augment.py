"""Training augmentations as pure functions of (array, rng or drawn values) (SPEC §4, §6).

- `time_crop` / `random_crop`: a window along the time axis ([R1] §2.2: 469 → 400 frames;
  SPEC §6: AclNet's random 1 s crops at 16 kHz).
- `swap_channels`: left ↔ right along the last axis ([R1] §2.2).
- `random_gain`, `add_noise`: AclNet's random gain and additive white noise at an SNR (ours,
  [R2] names no augmentation values).
- `augment_source`: one [R2] training source (crop → swap → gain → noise), drawn in that order
  from one generator; `data.generator.MixupStream` calls it per example for random pairing.
- `mixup`, `mix_targets`: x = λ·x1 + (1 − λ)·x2 and the same for the one-hot targets
  ([R1] §2.2, λ ~ Beta(α, α) per example).
- `spec_augment`: frequency and time masking after Park et al. 2019 ([R2] §2.3 trains the KD
  teacher and student with SpecAugment; counts and widths are ours). A masked cell is set to
  the example's mean (over all its cells, before masking), not to 0: Park et al. mask
  mean-normalised features with 0, i.e. with the mean; our log-mels are not normalised
  (log(power + 1e-8) sits far below 0), so 0 would be a loud, out-of-range value.

Every function returns a new array (or writes into `out` where it says so); none draws from a
global random state.
"""
from __future__ import annotations

import numpy as np

from dcase_lowcomplexity.config import AugmentConfig
from dcase_lowcomplexity.errors import ConfigError


def time_crop(x: np.ndarray, offset: int, length: int, axis: int = 0) -> np.ndarray:
    """x[offset : offset + length] along `axis`."""
    if not 0 <= offset <= x.shape[axis] - length:
        raise ConfigError(f"crop {offset}…{offset + length} outside the input's "
                          f"{x.shape[axis]} steps")
    return np.take(x, np.arange(offset, offset + length), axis=axis)


def random_crop(x: np.ndarray, length: int, rng: np.random.Generator, axis: int = 0):
    """A window of `length` along `axis` at a uniformly random offset (one integer draw)."""
    total = x.shape[axis]
    if length > total:
        raise ConfigError(f"crop of {length} is longer than the input ({total})")
    start = int(rng.integers(0, total - length + 1))
    return np.take(x, np.arange(start, start + length), axis=axis)


def swap_channels(x: np.ndarray) -> np.ndarray:
    """Left and right exchanged: the last axis reversed ([R1] §2.2)."""
    return x[..., ::-1]


def random_gain(x: np.ndarray, gain_db: tuple[float, float], rng: np.random.Generator):
    """x · 10^(g / 20), g uniform in `gain_db` (one draw)."""
    return x * np.float32(10.0 ** (rng.uniform(*gain_db) / 20.0))


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """x + white Gaussian noise at `snr_db` below x's RMS (silence stays silent)."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    if rms == 0.0:
        return x
    noise = rng.standard_normal(x.shape).astype(np.float32)
    return x + noise * np.float32(rms / 10.0 ** (snr_db / 20.0))


def augment_source(x: np.ndarray, augment: AugmentConfig, rng: np.random.Generator,
                   time_axis: int) -> np.ndarray:
    """One source of a random-pairing example: crop → channel swap → gain → noise.

    Draws only what the config switches on, in that order: a crop offset (crop set), a swap
    coin (channel_swap_prob > 0), a gain (gain_db set), a noise coin (noise_prob > 0) and,
    when it lands, an SNR and the noise. With `ACLNET_AUGMENT` this is exactly the draw order
    of the former `augment_waveform` (crop, gain, noise coin, SNR, noise).
    """
    x = np.asarray(x, dtype=np.float32)
    if augment.crop is not None:
        x = random_crop(x, augment.crop, rng, axis=time_axis)
    if augment.channel_swap_prob > 0 and rng.random() < augment.channel_swap_prob:
        x = swap_channels(x)
    if augment.gain_db is not None:
        x = random_gain(x, augment.gain_db, rng)
    if augment.noise_prob > 0 and rng.random() < augment.noise_prob:
        x = add_noise(x, rng.uniform(*augment.noise_snr_db), rng)
    return x.astype(np.float32, copy=False)


def _per_example(lam: np.ndarray, ndim: int) -> np.ndarray:
    lam = np.asarray(lam, dtype=np.float32)
    return lam.reshape(lam.shape + (1,) * (ndim - lam.ndim))


def mixup(x1: np.ndarray, x2: np.ndarray, lam, *, in_place: bool = False) -> np.ndarray:
    """λ·x1 + (1 − λ)·x2 in float32, λ one per example (shape (B,)) or a scalar.

    `in_place=True` overwrites x1 (the result) and x2 (scratch) instead of allocating: a
    paper-size [R1] batch is 26 MB per side.
    """
    lam = _per_example(lam, np.ndim(x1))
    if not in_place:
        return lam * x1 + (1 - lam) * x2
    x1 *= lam
    x2 *= 1 - lam
    x1 += x2
    return x1


def mix_targets(y1: np.ndarray, y2: np.ndarray, lam) -> np.ndarray:
    """λ·y1 + (1 − λ)·y2 for one-hot (or soft) targets, float32."""
    lam = _per_example(lam, np.ndim(y1))
    return lam * y1 + (1 - lam) * y2


def spec_augment_masks(shape: tuple[int, ...], rng: np.random.Generator, freq_masks: int,
                       freq_mask_width: int, time_masks: int, time_mask_width: int
                       ) -> list[tuple[int, int, int]]:
    """The masks of one (F, T, C) example as (axis, start, width), axis 0 = frequency.

    Park et al. 2019: width w ~ U{0 … W}, start ~ U{0 … ν − w}; frequency masks are drawn
    first, then time masks, two integers each.
    """
    masks = []
    for axis, count, widest in ((0, freq_masks, freq_mask_width), (1, time_masks,
                                                                   time_mask_width)):
        size = shape[axis]
        for _ in range(count):
            width = int(rng.integers(0, min(widest, size) + 1))
            start = int(rng.integers(0, size - width + 1))
            masks.append((axis, start, width))
    return masks


def spec_augment(x: np.ndarray, rng: np.random.Generator, freq_masks: int,
                 freq_mask_width: int, time_masks: int, time_mask_width: int) -> np.ndarray:
    """Frequency and time masks on one (F, T, C) log-mel (Park et al. 2019), as a new array.

    Masked cells take the example's mean (see the module docstring); no masks (counts 0)
    returns an unchanged copy and draws nothing.
    """
    if np.ndim(x) != 3:
        raise ConfigError(f"SpecAugment needs (frequency, time, channel) inputs, got shape "
                          f"{np.shape(x)}", fix="set no masks for waveform inputs")
    out = np.array(x, dtype=np.float32)
    masks = spec_augment_masks(out.shape, rng, freq_masks, freq_mask_width, time_masks,
                               time_mask_width)
    if masks:
        fill = np.float32(out.mean(dtype=np.float64))
        for axis, start, width in masks:
            if axis == 0:
                out[start:start + width] = fill
            else:
                out[:, start:start + width] = fill
    return out
