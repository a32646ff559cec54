"""64-band log-mel of the KD student and teacher of [R2], and feature-domain batches (SPEC §6).

[R2]: 64 mel bands, 25 ms window, 10 ms hop, one channel. Ours where [R2] is silent: 16 kHz
(the rate of its other systems, so one resampled waveform serves AclNet and the KD models),
mono = mean of left and right, FFT of 512 points around the 400-sample Hann window, centred
frames (1001 per 10 s), HTK mel formula without normalisation and natural log of
(power + 1e-8) as in [R1] (SPEC §2).

`FeatureSequence` batches any precomputed feature array — these log-mels (64, 1001, 1) or the
GCC-grams (40, 500, 3) — with an optional random time crop and per-example mixup, seeded per
(seed, epoch, batch) like `data.waveform.WaveformSequence`.
"""
from __future__ import annotations

import dataclasses

import librosa
import numpy as np

from dcase_lowcomplexity.config import FeatureAugmentConfig, LogMel64Config, WaveformConfig
from dcase_lowcomplexity.data.waveform import MixupSequence, clip_to_waveform, random_crop
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


class FeatureSequence(MixupSequence):
    """Training batches of precomputed features (N, bins, frames, channels) with soft targets.

    `features[i]` is read one example at a time (array, `np.memmap`, h5py dataset). With
    `augment.crop_frames` set, each source is cropped to that many frames at a random offset.
    """

    def __init__(self, features, labels, augment: FeatureAugmentConfig | None = None,
                 batch_size: int = 32, seed: int = 0, num_classes: int = 3, **kwargs):
        augment = augment or FeatureAugmentConfig()
        if len(features) != len(labels):
            raise ConfigError(f"{len(features)} feature arrays but {len(labels)} labels")
        super().__init__(labels, batch_size, augment.mixup_alpha, seed, num_classes, **kwargs)
        self.features, self.augment = features, augment

    def _example(self, i: int, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(self.features[i], dtype=np.float32)
        if self.augment.crop_frames is not None:
            x = random_crop(x, self.augment.crop_frames, rng, axis=1)
        return x
