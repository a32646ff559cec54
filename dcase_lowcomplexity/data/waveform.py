"""Raw audio for the [R2] systems (SPEC §6): 16 kHz resampling, AclNet augmentation, batches.

- `resample`: 48 kHz → 16 kHz with `scipy.signal.resample_poly` and a long Kaiser-windowed
  FIR (385 taps, cutoff 0.95 × 8 kHz, β 8.6: flat pass band, ≈ 86 dB stop band), not
  scipy's short default filter, so nothing above 8 kHz folds back into the band.
- `clip_to_waveform` (mono, AclNet and the KD log-mels) and `clip_to_stereo` (GCC-grams) turn
  a 48 kHz stereo clip from `data.audio.read_clip` into each system's audio. Mono is the mean
  of left and right ([R2] says "1 channel"; `WaveformConfig.mono` selects left or right).
- Augmentations for AclNet (values are ours, [R2] names none): random 1 s crops, random gain,
  additive white noise at a random SNR, mixup; `WaveformSequence` draws them per example,
  seeded by (seed, epoch, batch), so an epoch is reproducible and resumable.
- `split_segments`: the ten 1 s segments of a 10 s clip, whose predictions are averaged.
"""
from __future__ import annotations

import functools
import math

import keras
import numpy as np
from scipy import signal

from dcase_lowcomplexity.config import WaveformAugmentConfig, WaveformConfig
from dcase_lowcomplexity.errors import AudioError, ConfigError

MONO_MODES = ("mean", "left", "right")


@functools.lru_cache(maxsize=8)
def antialias_filter(up: int, down: int, taps: int, cutoff: float, beta: float) -> np.ndarray:
    """Linear-phase low-pass FIR for `resample_poly`, cutoff relative to the lower Nyquist."""
    if taps % 2 == 0:
        raise ConfigError(f"resample_taps={taps} must be odd (a linear-phase FIR)")
    return signal.firwin(taps, cutoff / max(up, down), window=("kaiser", beta))


def resample(x: np.ndarray, source_rate: int, target_rate: int,
             config: WaveformConfig | None = None) -> np.ndarray:
    """Polyphase resampling along axis 0 (time); float32 out, length ⌈n · target / source⌉."""
    config = config or WaveformConfig()
    x = np.asarray(x, dtype=np.float32)
    if source_rate == target_rate:
        return x.copy()
    g = math.gcd(source_rate, target_rate)
    up, down = target_rate // g, source_rate // g
    h = antialias_filter(up, down, config.resample_taps, config.resample_cutoff,
                         config.resample_kaiser_beta)
    return signal.resample_poly(x, up, down, axis=0, window=h).astype(np.float32)


def to_mono(clip: np.ndarray, mode: str = "mean") -> np.ndarray:
    """(samples, 2) → (samples,): the mean of both channels, or one of them."""
    if mode not in MONO_MODES:
        raise ConfigError(f"mono={mode!r} is not one of {MONO_MODES}")
    clip = np.asarray(clip, dtype=np.float32)
    if clip.ndim == 1:
        return clip
    if mode == "mean":
        return clip.mean(axis=1)
    return clip[:, 0 if mode == "left" else 1].copy()


def _check_clip(clip: np.ndarray, config: WaveformConfig) -> np.ndarray:
    clip = np.asarray(clip, dtype=np.float32)
    expected = int(round(config.source_rate * config.duration_s))
    if clip.ndim != 2 or clip.shape != (expected, 2):
        raise AudioError(
            f"expected a stereo clip of shape ({expected}, 2) at {config.source_rate} Hz, got "
            f"{clip.shape}",
            fix="read it with data.audio.read_clip, or set WaveformConfig.duration_s",
        )
    return clip


def clip_to_waveform(clip: np.ndarray, config: WaveformConfig | None = None) -> np.ndarray:
    """48 kHz stereo clip → 16 kHz mono waveform, (160000,) float32 (AclNet, KD log-mels)."""
    config = config or WaveformConfig()
    mono = to_mono(_check_clip(clip, config), config.mono)
    return resample(mono, config.source_rate, config.sample_rate, config)[: config.n_samples]


def clip_to_stereo(clip: np.ndarray, config: WaveformConfig | None = None) -> np.ndarray:
    """48 kHz stereo clip → 16 kHz stereo, (160000, 2) float32 (GCC-grams)."""
    config = config or WaveformConfig()
    clip = _check_clip(clip, config)
    return resample(clip, config.source_rate, config.sample_rate, config)[: config.n_samples]


def split_segments(waveform: np.ndarray, segment_samples: int = 16000) -> np.ndarray:
    """(samples,) → (samples // segment, segment): 10 × 16000 for a 10 s clip at 16 kHz."""
    waveform = np.asarray(waveform, dtype=np.float32)
    n = waveform.shape[0] // segment_samples
    if n < 1:
        raise ConfigError(f"{waveform.shape[0]} samples hold no {segment_samples}-sample segment")
    return waveform[: n * segment_samples].reshape(n, segment_samples)


def random_crop(x: np.ndarray, length: int, rng: np.random.Generator, axis: int = 0):
    """A window of `length` along `axis` at a uniformly random offset."""
    total = x.shape[axis]
    if length > total:
        raise ConfigError(f"crop of {length} is longer than the input ({total})")
    start = int(rng.integers(0, total - length + 1))
    return np.take(x, np.arange(start, start + length), axis=axis)


def random_gain(x: np.ndarray, gain_db: tuple[float, float], rng: np.random.Generator):
    """x · 10^(g / 20), g uniform in `gain_db`."""
    return x * np.float32(10.0 ** (rng.uniform(*gain_db) / 20.0))


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """x + white Gaussian noise at `snr_db` below x's RMS (silence stays silent)."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    if rms == 0.0:
        return x
    noise = rng.standard_normal(x.shape).astype(np.float32)
    return x + noise * np.float32(rms / 10.0 ** (snr_db / 20.0))


def augment_waveform(x: np.ndarray, config: WaveformAugmentConfig,
                     rng: np.random.Generator) -> np.ndarray:
    """One AclNet training source: random crop → random gain → noise (with `noise_prob`)."""
    x = random_crop(x, config.crop_samples, rng)
    x = random_gain(x, config.gain_db, rng)
    if rng.random() < config.noise_prob:
        x = add_noise(x, rng.uniform(*config.noise_snr_db), rng)
    return x.astype(np.float32)


class MixupSequence(keras.utils.PyDataset):
    """Batches of augmented examples with per-example mixup, seeded per (seed, epoch, batch).

    Each epoch draws one permutation of the examples and one of their mixup partners from
    `default_rng([seed, epoch])`; batch b's augmentation draws come from
    `default_rng([seed, epoch, b])`, so any batch can be rebuilt in any order (workers,
    resumed runs: set `.epoch`). The last incomplete batch is dropped. Subclasses supply
    `_example(i, rng)`.
    """

    def __init__(self, labels, batch_size: int, mixup_alpha: float, seed: int = 0,
                 num_classes: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.labels) < batch_size:
            raise ConfigError(f"{len(self.labels)} examples cannot fill a batch of {batch_size}")
        self.batch_size, self.mixup_alpha = batch_size, mixup_alpha
        self.seed, self.num_classes, self.epoch = seed, num_classes, 0
        self._orders_epoch, self._orders = None, None

    def __len__(self) -> int:
        return len(self.labels) // self.batch_size

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def _epoch_orders(self) -> tuple[np.ndarray, np.ndarray]:
        if self._orders_epoch != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch])
            n = len(self.labels)
            self._orders = (rng.permutation(n), rng.permutation(n))
            self._orders_epoch = self.epoch
        return self._orders

    def _example(self, i: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, index: int):
        order, partners = self._epoch_orders()
        rng = np.random.default_rng([self.seed, self.epoch, index])
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        eye = np.eye(self.num_classes, dtype=np.float32)
        xs, ys = [], []
        for i, j in zip(order[rows], partners[rows]):
            x, y = self._example(int(i), rng), eye[self.labels[i]]
            if self.mixup_alpha > 0:
                lam = np.float32(rng.beta(self.mixup_alpha, self.mixup_alpha))
                x = lam * x + (1 - lam) * self._example(int(j), rng)
                y = lam * y + (1 - lam) * eye[self.labels[j]]
            xs.append(x)
            ys.append(y)
        return np.stack(xs).astype(np.float32), np.stack(ys)


class WaveformSequence(MixupSequence):
    """AclNet training batches: (batch, 16000) augmented 1 s crops, (batch, 3) soft targets.

    `waveforms[i]` is clip i at 16 kHz, mono (an array, `np.memmap` or h5py dataset of
    `clip_to_waveform` outputs); it is read one clip at a time.
    """

    def __init__(self, waveforms, labels, augment: WaveformAugmentConfig | None = None,
                 batch_size: int = 32, seed: int = 0, num_classes: int = 3, **kwargs):
        augment = augment or WaveformAugmentConfig()
        if len(waveforms) != len(labels):
            raise ConfigError(f"{len(waveforms)} waveforms but {len(labels)} labels")
        super().__init__(labels, batch_size, augment.mixup_alpha, seed, num_classes, **kwargs)
        self.waveforms, self.augment = waveforms, augment

    def _example(self, i: int, rng: np.random.Generator) -> np.ndarray:
        return augment_waveform(np.asarray(self.waveforms[i], np.float32), self.augment, rng)
