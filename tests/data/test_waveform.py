"""data/waveform.py: 48 → 16 kHz resampling, AclNet augmentations, batches (SPEC §6)."""
import numpy as np
import pytest

from dcase_lowcomplexity.config import WaveformAugmentConfig, WaveformConfig
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


def test_random_crop_is_a_window_of_the_source():
    x = np.arange(100, dtype=np.float32)
    y = wf.random_crop(x, 30, np.random.default_rng(1))
    assert y.shape == (30,) and np.all(np.diff(y) == 1) and 0 <= y[0] <= 70


def test_random_gain_stays_in_range():
    rng = np.random.default_rng(0)
    gains = [wf.random_gain(np.ones(1), (-6.0, 6.0), rng)[0] for _ in range(200)]
    assert 10 ** (-6 / 20) <= min(gains) < 0.6 and 1.9 < max(gains) <= 10 ** (6 / 20)


def test_add_noise_hits_the_requested_snr():
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(200000) * 0.01).astype(np.float32)
    noise = wf.add_noise(x, 20.0, rng) - x
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert abs(snr - 20.0) < 0.1
    assert np.all(wf.add_noise(np.zeros(10, np.float32), 20.0, rng) == 0)


def _sequence(**kw):
    waves = np.arange(6 * 40, dtype=np.float32).reshape(6, 40)
    augment = WaveformAugmentConfig(crop_samples=16, **kw)
    return wf.WaveformSequence(waves, [0, 1, 2, 0, 1, 2], augment, batch_size=2, seed=3)


def test_sequence_without_mixup_gives_crops_and_one_hot_labels():
    seq = _sequence(gain_db=(0.0, 0.0), noise_prob=0.0, mixup_alpha=0.0)
    assert len(seq) == 3
    for b in range(len(seq)):
        x, y = seq[b]
        assert x.shape == (2, 16) and y.shape == (2, 3)
        for row, target in zip(x, y):
            clip = int(row[0]) // 40  # every crop lies inside one clip …
            assert np.all(np.diff(row) == 1) and int(row[-1]) // 40 == clip
            assert target[clip % 3] == 1.0 and target.sum() == 1.0  # … with its label


def test_sequence_mixup_targets_are_convex_and_seeded_per_epoch():
    seq = _sequence()
    x, y = seq[1]
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-6)
    assert np.any((y > 0) & (y < 1))
    x_again, _ = seq[1]
    np.testing.assert_array_equal(x, x_again)
    seq.on_epoch_end()
    assert seq.epoch == 1 and not np.array_equal(seq[1][0], x)


def test_sequence_rejects_mismatched_inputs():
    with pytest.raises(ConfigError):
        wf.WaveformSequence(np.zeros((3, 40)), [0, 1], batch_size=1)
