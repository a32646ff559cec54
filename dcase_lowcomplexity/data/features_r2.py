"""64-band log-mel of the KD student and teacher of [R2] (SPEC §6).

[R2]: 64 mel bands, 25 ms window, 10 ms hop, one channel. Ours where [R2] is silent: 16 kHz
(the rate of its other systems, so one resampled waveform serves AclNet and the KD models),
mono = mean of left and right, FFT of 512 points around the 400-sample Hann window, centred
frames (1001 per 10 s), HTK mel formula without normalisation and natural log of
(power + 1e-8) as in [R1] (SPEC §2).

Training batches of these log-mels come from `data.generator.MixupStream` (random pairing).
"""
from __future__ import annotations

import dataclasses

import librosa
import numpy as np

from dcase_lowcomplexity.config import LogMel64Config, WaveformConfig
from dcase_lowcomplexity.data.waveform import clip_to_waveform
from dcase_lowcomplexity.errors import ConfigError


def logmel64(waveform: np.ndarray, config: LogMel64Config | None = None) -> np.ndarray:
    """16 kHz mono waveform → (64, frames, 1) float32 log-mel; 1001 frames for 10 s."""
    config = config or LogMel64Config()
    mel = librosa.feature.melspectrogram(
        y=np.asarray(waveform, dtype=np.float32), sr=config.sample_rate, n_fft=config.n_fft,
        hop_length=config.hop_length, win_length=config.win_length, window="hann",
        center=True, power=2.0, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax,
        htk=config.htk, norm=config.mel_norm,
    )
    return np.log(mel + config.log_offset).astype(np.float32)[..., None]


def clip_to_logmel64(clip: np.ndarray, waveform_config: WaveformConfig | None = None,
                     config: LogMel64Config | None = None) -> np.ndarray:
    """48 kHz stereo clip (`data.audio.read_clip`) → (64, 1001, 1): the KD models' input."""
    waveform_config = waveform_config or WaveformConfig()
    config = config or LogMel64Config()
    if waveform_config.sample_rate != config.sample_rate:
        raise ConfigError(
            f"waveform rate {waveform_config.sample_rate} Hz ≠ log-mel rate "
            f"{config.sample_rate} Hz", fix="give both configs the same sample_rate",
        )
    # The log-mel config owns the mono rule of this system.
    waveform_config = dataclasses.replace(waveform_config, mono=config.mono)
    return logmel64(clip_to_waveform(clip, waveform_config), config)
