"""data/features_r2.py: 64-band log-mel (25 ms / 10 ms, 1 channel) (SPEC §6)."""
import librosa
import numpy as np
import pytest

from dcase_lowcomplexity.config import LogMel64Config, WaveformConfig
from dcase_lowcomplexity.data import features_r2
from dcase_lowcomplexity.errors import ConfigError


def test_config_numbers():
    c = LogMel64Config()
    assert (c.win_length, c.hop_length, c.n_mels) == (400, 160, 64)  # 25 ms, 10 ms at 16 kHz
    assert c.n_frames == 1001 and c.shape == (64, 1001, 1)


def test_ten_seconds_give_64_by_1001_by_1():
    t = np.arange(160000) / 16000
    f = features_r2.logmel64(np.sin(2 * np.pi * 2000 * t))
    assert f.shape == (64, 1001, 1) and f.dtype == np.float32
    centres = librosa.mel_frequencies(n_mels=66, fmin=0.0, fmax=8000.0, htk=True)[1:-1]
    assert int(np.argmax(f[:, 500, 0])) == int(np.argmin(np.abs(centres - 2000)))


def test_hop_is_10_ms():
    x = np.zeros(16000, np.float32)
    x[16000 // 2] = 1.0  # 0.5 s → centred frame 50
    f = features_r2.logmel64(x, LogMel64Config(duration_s=1.0))
    assert f.shape[1] == 101 and int(np.argmax(f[:, :, 0].sum(axis=0))) == 50


def test_clip_to_logmel64_uses_the_mean_of_both_channels():
    rng = np.random.default_rng(0)
    left = rng.standard_normal(48000).astype(np.float32)
    w, c = WaveformConfig(duration_s=1.0), LogMel64Config(duration_s=1.0)
    both = features_r2.clip_to_logmel64(np.stack([left, -left], 1), w, c)
    np.testing.assert_allclose(both, np.log(1e-8), rtol=1e-5)  # L + R cancel: silence
    with pytest.raises(ConfigError):
        features_r2.clip_to_logmel64(np.stack([left, left], 1), w, LogMel64Config(sample_rate=8000))
