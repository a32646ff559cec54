"""GCC-PHAT grams and 40-band log-mels: the 3 × 40 × 500 input of [R2]'s GCC-grams CNN (SPEC §6).

Per frame (64 ms Hann window of 1024 samples at 16 kHz, hop 20 ms = 320 samples):
cross-spectrum G = conj(X_left) · X_right, cc = IRFFT(G / (|G| + ε)), and the central lags
−20…19 are kept (lag 0 at index 20). A right channel delayed by +d samples peaks at lag +d:
cc[τ] = Σ_n l[n] · r[n + τ] is largest where r[n + τ] = l[n], i.e. τ = d.

Frames: the signal is padded with (1024 − 320) / 2 = 352 zeros on each side, so frame t
spans samples [320 t − 352, 320 t + 672) and is centred on the middle of the t-th 20 ms hop;
10 s give exactly 500 frames (librosa-style centring would give 501). The two log-mels use
the same frames and the same spectra (HTK mel formula, no normalisation, log(power + 1e-8),
as [R1]; [R2] does not specify them).

Output layout, channels-last for Keras: (40, 500, 3) = (band or lag, frame, channel), the
channels being left log-mel, right log-mel, GCC-gram.
"""
from __future__ import annotations

import functools

import librosa
import numpy as np
from scipy import signal

from dcase_lowcomplexity.config import GccPhatConfig, WaveformConfig
from dcase_lowcomplexity.data.waveform import clip_to_stereo
from dcase_lowcomplexity.errors import AudioError, ConfigError


@functools.lru_cache(maxsize=4)
def _mel_basis(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm) -> np.ndarray:
    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                               fmax=fmax, htk=htk, norm=norm)


def stft_frames(x: np.ndarray, config: GccPhatConfig | None = None) -> np.ndarray:
    """(samples,) → (frames, n_fft / 2 + 1) complex spectra of Hann-windowed frames."""
    config = config or GccPhatConfig()
    x = np.asarray(x, dtype=np.float32)
    padded = np.pad(x, (config.pad, config.pad))
    if padded.shape[0] < config.n_fft:
        raise AudioError(f"{x.shape[0]} samples are too short for one {config.n_fft}-point frame")
    frames = np.lib.stride_tricks.sliding_window_view(padded, config.n_fft)[:: config.hop_length]
    window = signal.get_window("hann", config.n_fft).astype(np.float32)
    return np.fft.rfft(frames * window, axis=1)


def gcc_phat(spec_left: np.ndarray, spec_right: np.ndarray,
             config: GccPhatConfig | None = None) -> np.ndarray:
    """GCC-PHAT of framed spectra → (n_lags, frames); row k is lag k − n_lags / 2."""
    config = config or GccPhatConfig()
    if config.n_lags % 2 or config.n_lags >= config.n_fft:
        raise ConfigError(f"n_lags={config.n_lags} must be even and below n_fft={config.n_fft}")
    cross = np.conj(spec_left) * spec_right
    cc = np.fft.irfft(cross / (np.abs(cross) + config.phat_epsilon), n=config.n_fft, axis=1)
    half = config.n_lags // 2
    # Negative lags sit at the end of the circular correlation.
    lags = np.concatenate([cc[:, -half:], cc[:, :half]], axis=1)
    return lags.T.astype(np.float32)


def log_mel(spec: np.ndarray, config: GccPhatConfig | None = None) -> np.ndarray:
    """Framed spectra → (n_mels, frames) natural-log mel power."""
    config = config or GccPhatConfig()
    basis = _mel_basis(config.sample_rate, config.n_fft, config.n_mels, config.fmin,
                       config.fmax, config.htk, config.mel_norm)
    mel = basis @ (np.abs(spec) ** 2).T
    return np.log(mel + config.log_offset).astype(np.float32)


def gccgram_features(stereo: np.ndarray, config: GccPhatConfig | None = None) -> np.ndarray:
    """16 kHz stereo (samples, 2) → (40, 500, 3): left log-mel, right log-mel, GCC-gram."""
    config = config or GccPhatConfig()
    stereo = np.asarray(stereo, dtype=np.float32)
    if stereo.ndim != 2 or stereo.shape[1] != 2:
        raise AudioError(f"expected (samples, 2) stereo audio, got shape {stereo.shape}")
    if config.n_lags != config.n_mels:
        raise ConfigError(
            f"n_lags={config.n_lags} and n_mels={config.n_mels} must match to stack channels"
        )
    left, right = stft_frames(stereo[:, 0], config), stft_frames(stereo[:, 1], config)
    channels = (log_mel(left, config), log_mel(right, config), gcc_phat(left, right, config))
    return np.stack(channels, axis=-1)


def clip_to_gccgram(clip: np.ndarray, waveform_config: WaveformConfig | None = None,
                    config: GccPhatConfig | None = None) -> np.ndarray:
    """48 kHz stereo clip (`data.audio.read_clip`) → (40, 500, 3) GCC-grams CNN input."""
    waveform_config = waveform_config or WaveformConfig()
    config = config or GccPhatConfig()
    if waveform_config.sample_rate != config.sample_rate:
        raise ConfigError(
            f"waveform rate {waveform_config.sample_rate} Hz ≠ GCC rate {config.sample_rate} Hz",
            fix="give both configs the same sample_rate",
        )
    return gccgram_features(clip_to_stereo(clip, waveform_config), config)
