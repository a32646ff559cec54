"""data/waveform.py: 48 → 16 kHz resampling and 1 s segments (SPEC §6)."""
import numpy as np
import pytest

from dcase_lowcomplexity.config import WaveformConfig
from dcase_lowcomplexity.data import waveform as wf
from dcase_lowcomplexity.errors import AudioError, ConfigError


def _tone_level_db(freq: float, seconds: float = 1.0) -> float:
    """Peak level in dB of a unit sine after 48 → 16 kHz, away from the edges."""
    t = np.arange(int(48000 * seconds)) / 48000
    y = wf.resample(np.sin(2 * np.pi * freq * t), 48000, 16000)[1000:-1000]
    return 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)) * np.sqrt(2))


def test_config_numbers():
    c = WaveformConfig()
    assert (c.source_rate, c.sample_rate, c.n_samples) == (48000, 16000, 160000)
    assert (c.segment_samples, c.n_segments) == (16000, 10)


@pytest.mark.parametrize("freq", [100.0, 1000.0, 4000.0, 7000.0])
def test_resample_pass_band_is_flat(freq):
    assert abs(_tone_level_db(freq)) < 0.01


@pytest.mark.parametrize("freq", [8100.0, 9000.0, 12000.0, 20000.0])
def test_resample_stop_band_removes_aliases(freq):
    # scipy's default resample_poly filter leaves a 9 kHz tone at only −31 dB.
    assert _tone_level_db(freq) < -85.0


def test_resample_length_and_dtype():
    y = wf.resample(np.zeros((48000, 2)), 48000, 16000)
    assert y.shape == (16000, 2) and y.dtype == np.float32


def test_to_mono_modes():
    clip = np.stack([np.full(4, 1.0), np.full(4, 3.0)], axis=1)
    assert np.allclose(wf.to_mono(clip, "mean"), 2.0)
    assert np.allclose(wf.to_mono(clip, "left"), 1.0)
    assert np.allclose(wf.to_mono(clip, "right"), 3.0)
    with pytest.raises(ConfigError):
        wf.to_mono(clip, "sum")


def test_clip_to_waveform_and_stereo():
    config = WaveformConfig(duration_s=1.0)
    t = np.arange(48000) / 48000
    clip = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1)
    mono = wf.clip_to_waveform(clip, config)
    stereo = wf.clip_to_stereo(clip, config)
    assert mono.shape == (16000,) and stereo.shape == (16000, 2)
    np.testing.assert_allclose(mono, 0.5 * stereo[:, 0], atol=1e-6)
    assert np.abs(stereo[:, 1]).max() == 0.0


def test_clip_of_wrong_shape_is_an_audio_error():
    with pytest.raises(AudioError, match="480000"):
        wf.clip_to_waveform(np.zeros((47000, 2), np.float32))
    with pytest.raises(AudioError):
        wf.clip_to_waveform(np.zeros(480000, np.float32))


def test_split_segments_tiles_ten_seconds():
    x = np.arange(160000, dtype=np.float32)
    seg = wf.split_segments(x, 16000)
    assert seg.shape == (10, 16000)
    assert seg[3, 0] == 48000 and seg[9, -1] == 159999


