"""Log-mel spectrograms of [R1] §3.1 (SPEC §2), identical to C1's librosa call, but fast.

The reference is, per channel,

    np.log(librosa.feature.melspectrogram(y=y, sr=48000, n_fft=4096, hop_length=1024,
           window="hann", center=True, power=2.0, n_mels=256, fmin=0, fmax=24000,
           htk=True, norm=None) + 1e-8)

This module computes the same numbers (max |difference| < 1e-5 in the log domain on noise,
sweeps, clicks and silence; tests/data/test_features.py) about 2–3× faster per core:

- centred frames padded by n_fft // 2 samples on each side as `FeatureConfig.pad_mode` says:
  "reflect" (default: C1 ran librosa 0.6.3, whose `stft` reflected the signal) or "constant"
  (zeros, librosa ≥ 0.10's default); both checked against librosa with the same `pad_mode`.
  For a 10 s clip only frames 0, 1, 467 and 468 differ between the two;
- the periodic Hann window librosa uses (`scipy.signal.get_window("hann", n_fft)`);
- the FFT stays in float64, as in librosa (its float64 window promotes the frames): a float32
  FFT rounds far-from-peak bins of tonal frames to ~1e-10 instead of ~1e-14 and moves
  log(power + 1e-8) by up to 0.4 on a sine;
- frames are transformed in small blocks that stay in cache, both channels feed ONE sparse
  projection on the mel filterbank (256 HTK triangles touch ~2 FFT bins each: 4,065 non-zeros
  out of 524,544), and librosa itself is only called once per process, to build that
  filterbank (`librosa.filters.mel(..., htk=True, norm=None)`, the faithful reference).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import scipy.fft
import scipy.signal
import scipy.sparse

from dcase_lowcomplexity.config import FeatureConfig

_BLOCK_FRAMES = 32  # 32 × 4096 float64 frames + their spectra ≈ 2 MB: fits in L2


@functools.lru_cache(maxsize=8)
def mel_filterbank(config: FeatureConfig = FeatureConfig()) -> scipy.sparse.csr_matrix:
    """(n_mels, 1 + n_fft // 2) float32 CSR matrix: librosa's filterbank for `config`."""
    import librosa  # only here: workers get the matrix and never import librosa

    with warnings.catch_warnings():
        # 256 HTK bands keep every filter non-empty at n_fft 4096; other configs may not.
        warnings.filterwarnings("ignore", message="Empty filters detected")
        dense = librosa.filters.mel(
            sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
            fmin=config.fmin, fmax=config.fmax, htk=config.htk, norm=config.mel_norm,
            dtype=np.float32,
        )
    return scipy.sparse.csr_matrix(dense)


@functools.lru_cache(maxsize=8)
def analysis_window(n_fft: int) -> np.ndarray:
    """librosa's `window="hann"`: the periodic (fftbins=True) Hann window, float64."""
    return scipy.signal.get_window("hann", n_fft, fftbins=True)


def n_frames(n_samples: int, config: FeatureConfig = FeatureConfig()) -> int:
    """Frames of a signal of `n_samples` (469 for 10 s at the paper's settings)."""
    if config.center:
        return 1 + n_samples // config.hop_length
    return 1 + (n_samples - config.n_fft) // config.hop_length


def _centre_pad(signal: np.ndarray, pad: int, mode: str) -> np.ndarray:
    """`pad` samples on each side: zeros ("constant") or the mirrored signal ("reflect")."""
    if mode == "constant":
        padded = np.zeros(len(signal) + 2 * pad, dtype=np.float64)
        padded[pad: pad + len(signal)] = signal
        return padded
    if mode == "reflect":
        if len(signal) <= pad:
            raise ValueError(f"reflect padding of {pad} needs more than {pad} samples, "
                             f"got {len(signal)}")
        return np.pad(np.asarray(signal, dtype=np.float64), pad, mode="reflect")
    raise ValueError(f"pad_mode must be 'reflect' or 'constant', got {mode!r}")


def power_spectrogram(signal: np.ndarray, config: FeatureConfig = FeatureConfig(),
                      out: np.ndarray | None = None) -> np.ndarray:
    """|STFT|**power of one channel as (n_frames, 1 + n_fft // 2) float32."""
    n_fft, hop = config.n_fft, config.hop_length
    if config.center:
        padded = _centre_pad(signal, n_fft // 2, config.pad_mode)
    else:
        padded = np.asarray(signal, dtype=np.float64)
    frames_total = n_frames(len(signal), config)
    if frames_total < 1:
        raise ValueError(f"signal of {len(signal)} samples is shorter than n_fft={n_fft}")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:frames_total]
    window = analysis_window(n_fft)
    if out is None:
        out = np.empty((frames_total, n_fft // 2 + 1), dtype=np.float32)
    for start in range(0, frames_total, _BLOCK_FRAMES):
        stop = min(start + _BLOCK_FRAMES, frames_total)
        spectrum = scipy.fft.rfft(frames[start:stop] * window, axis=-1)
        if config.power == 2.0:
            parts = spectrum.view(np.float64)  # interleaved re, im: square in place
            parts *= parts
            np.add(parts[:, 0::2], parts[:, 1::2], out=out[start:stop], casting="same_kind")
        else:
            out[start:stop] = np.abs(spectrum) ** config.power
    return out


def log_mel(audio: np.ndarray, config: FeatureConfig = FeatureConfig(),
            filterbank: scipy.sparse.csr_matrix | None = None) -> np.ndarray:
    """(n_samples, channels) audio → (n_mels, n_frames, channels) float32 log-mel ([R1] §3.1).

    Each channel is processed separately, as in C1; a 1-D signal is treated as one channel.
    `filterbank` (from `mel_filterbank(config)`) lets worker processes skip importing librosa.
    """
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2:
        raise ValueError(f"audio must be (n_samples, channels), got shape {audio.shape}")
    n_channels = audio.shape[1]
    frames_total = n_frames(audio.shape[0], config)
    power = np.empty((n_channels * frames_total, config.n_fft // 2 + 1), dtype=np.float32)
    for c in range(n_channels):
        power_spectrogram(audio[:, c], config,
                          out=power[c * frames_total:(c + 1) * frames_total])
    if filterbank is None:
        filterbank = mel_filterbank(config)
    mel = filterbank @ power.T  # (n_mels, channels · frames), one sparse product
    mel += np.float32(config.log_offset)
    np.log(mel, out=mel)
    return np.ascontiguousarray(mel.reshape(config.n_mels, n_channels, frames_total)
                                .transpose(0, 2, 1))


def log_mel_reference(audio: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """C1's computation with librosa itself, channel by channel (tests and benchmarks)."""
    import librosa

    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[:, None]
    channels = [
        np.log(librosa.feature.melspectrogram(
            y=audio[:, c], sr=config.sample_rate, n_fft=config.n_fft,
            hop_length=config.hop_length, window="hann", center=config.center,
            pad_mode=config.pad_mode, power=config.power, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax,
            htk=config.htk, norm=config.mel_norm) + config.log_offset)
        for c in range(audio.shape[1])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)
