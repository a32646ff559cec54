"""Raw audio for the [R2] systems (SPEC §6): 16 kHz resampling and 1 s segments.

- `resample`: 48 kHz → 16 kHz with `scipy.signal.resample_poly` and a long Kaiser-windowed
  FIR (385 taps, cutoff 0.95 × 8 kHz, β 8.6: flat pass band, ≈ 86 dB stop band), not
  scipy's short default filter, so nothing above 8 kHz folds back into the band.
- `clip_to_waveform` (mono, AclNet and the KD log-mels) and `clip_to_stereo` (GCC-grams) turn
  a 48 kHz stereo clip from `data.audio.read_clip` into each system's audio. Mono is the mean
  of left and right ([R2] says "1 channel"; `WaveformConfig.mono` selects left or right).
- AclNet's augmentations (random 1 s crops, gain, white noise, mixup) are pure functions in
  `data.augment`; `data.generator.MixupStream` serves the training batches.
- `split_segments`: the ten 1 s segments of a 10 s clip, whose predictions are averaged.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy import signal

from dcase_lowcomplexity.config import WaveformConfig
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
