"""data/gccphat.py: GCC-PHAT grams and 40-band log-mels, 3 × 40 × 500 (SPEC §6)."""
import librosa
import numpy as np
import pytest

from dcase_lowcomplexity.config import GccPhatConfig, WaveformConfig
from dcase_lowcomplexity.data import gccphat
from dcase_lowcomplexity.errors import AudioError, ConfigError


def _delayed_pair(d: int, n: int = 160000, seed: int = 0) -> np.ndarray:
    """White noise; the right channel is the left delayed by d samples."""
    x = np.random.default_rng(seed).standard_normal(n + 64).astype(np.float32)
    return np.stack([x[32:32 + n], x[32 - d:32 - d + n]], axis=1)


def test_config_gives_500_frames_of_20_ms():
    c = GccPhatConfig()
    assert (c.n_fft, c.hop_length, c.pad) == (1024, 320, 352)  # 64 ms window, 20 ms hop
    assert c.n_frames == 500 and c.shape == (40, 500, 3)


def test_ten_seconds_give_40_by_500_by_3():
    f = gccphat.gccgram_features(_delayed_pair(0))
    assert f.shape == (40, 500, 3) and f.dtype == np.float32


@pytest.mark.parametrize("d", [-7, -3, 0, 3, 11])
def test_delay_peaks_at_lag_d(d):
    gram = gccphat.gccgram_features(_delayed_pair(d))[..., 2]
    assert np.all(np.argmax(gram, axis=0) == 20 + d)  # row 20 is lag 0
    assert gram[20 + d].min() >= 0.9


def test_swapping_channels_mirrors_the_lags():
    pair = _delayed_pair(5, n=32000)
    c = GccPhatConfig(duration_s=2.0)
    spec_l = gccphat.stft_frames(pair[:, 0], c)
    spec_r = gccphat.stft_frames(pair[:, 1], c)
    lr, rl = gccphat.gcc_phat(spec_l, spec_r, c), gccphat.gcc_phat(spec_r, spec_l, c)
    # lag k ↔ lag −k for k = −19…19 (lag −20 has no +20 partner)
    np.testing.assert_allclose(rl[1:], lr[1:][::-1], atol=1e-5)
    assert np.argmax(lr[:, 10]) == 25 and np.argmax(rl[:, 10]) == 15


def test_silence_gives_zero_gcc_not_nan():
    f = gccphat.gccgram_features(np.zeros((160000, 2), np.float32))
    assert np.all(f[..., 2] == 0.0)
    np.testing.assert_allclose(f[..., :2], np.log(1e-8), rtol=1e-6)


def test_log_mel_of_a_tone_peaks_in_its_band():
    t = np.arange(160000) / 16000
    left = np.sin(2 * np.pi * 1000 * t)
    f = gccphat.gccgram_features(np.stack([left, 0.5 * left], axis=1))
    centres = librosa.mel_frequencies(n_mels=42, fmin=0.0, fmax=8000.0, htk=True)[1:-1]
    band = int(np.argmax(f[:, 250, 0]))
    assert band == int(np.argmin(np.abs(centres - 1000)))
    # the right channel is 6.02 dB quieter: log power differs by 2·ln 2
    assert f[band, 250, 0] - f[band, 250, 1] == pytest.approx(2 * np.log(2), abs=1e-3)


def test_frames_are_centred_on_their_hop():
    x = np.zeros((160000, 2), np.float32)
    x[320 * 100 + 160] = 1.0  # an impulse in the middle of hop cell 100
    f = gccphat.gccgram_features(x)
    assert int(np.argmax(f[:, :, 0].sum(axis=0))) == 100


def test_clip_to_gccgram_from_48_khz():
    clip = np.random.default_rng(1).standard_normal((48000, 2)).astype(np.float32)
    f = gccphat.clip_to_gccgram(clip, WaveformConfig(duration_s=1.0), GccPhatConfig(duration_s=1.0))
    assert f.shape == (40, 50, 3)
    with pytest.raises(ConfigError):
        gccphat.clip_to_gccgram(clip, WaveformConfig(duration_s=1.0, sample_rate=8000))


def test_bad_inputs():
    with pytest.raises(AudioError):
        gccphat.gccgram_features(np.zeros(1000, np.float32))
    with pytest.raises(ConfigError):
        gccphat.gcc_phat(np.ones((2, 513)), np.ones((2, 513)), GccPhatConfig(n_lags=41))
