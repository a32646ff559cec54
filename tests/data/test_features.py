"""features.log_mel against C1's librosa call (SPEC §2), on signals at 24-bit levels."""
import dataclasses
import inspect

import librosa
import numpy as np
import pytest
import scipy.signal

from dcase_lowcomplexity.config import FeatureConfig
from dcase_lowcomplexity.data.features import (
    analysis_window, log_mel, mel_filterbank, n_frames, power_spectrogram,
)

SR = 48000
N = 480000
TOLERANCE = 1e-3  # max |difference| in the log domain allowed by the task


PAD_MODES = ("reflect", "constant")  # C1 / librosa 0.6.3 (default), zeros (librosa >= 0.10)


def librosa_log_mel(channel: np.ndarray, pad_mode: str = "reflect") -> np.ndarray:
    """The reference, written out with SPEC §2's parameters (not via the package)."""
    mel = librosa.feature.melspectrogram(
        y=channel, sr=48000, n_fft=4096, hop_length=1024, window="hann", center=True,
        pad_mode=pad_mode, power=2.0, n_mels=256, fmin=0, fmax=24000, htk=True, norm=None)
    return np.log(mel + 1e-8)


def pcm24(x: np.ndarray) -> np.ndarray:
    """Quantised to 24-bit full scale, as read from the dataset's PCM_24 WAVs."""
    return np.round(np.clip(x, -1, 1 - 2**-23) * 2**23) / 2**23


def stereo(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.stack([pcm24(left), pcm24(right)], axis=1)


def signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(N) / SR
    sweep_phase = 2 * np.pi * 20 * 10 / np.log(1200) * (1200 ** (t / 10) - 1)  # 20 Hz → 24 kHz
    clicks = np.zeros(N)
    clicks[::4800] = 0.9
    clicks[2400::9600] = -0.5
    return {
        "white noise": stereo(0.25 * rng.standard_normal(N), 0.05 * rng.standard_normal(N)),
        "sine sweep": stereo(0.5 * np.sin(sweep_phase), 0.9 * np.sin(sweep_phase[::-1])),
        "clicks": stereo(clicks, np.roll(clicks, 17)),
        "silence": np.zeros((N, 2)),
        "quiet sine": stereo(1e-4 * np.sin(2 * np.pi * 997 * t), 2**-23 * np.sign(np.sin(t))),
    }


@pytest.mark.parametrize("pad_mode", PAD_MODES)
@pytest.mark.parametrize("name", list(signals()))
def test_matches_librosa(name, pad_mode):
    audio = signals()[name]
    config = FeatureConfig(pad_mode=pad_mode)
    ours = log_mel(audio.astype(np.float32), config)  # float32 is exact for 24-bit audio
    assert ours.shape == (256, 469, 2) and ours.dtype == np.float32
    for c in range(2):
        reference = librosa_log_mel(audio[:, c], pad_mode)
        assert reference.shape == (256, 469)
        assert np.abs(ours[:, :, c] - reference).max() <= TOLERANCE


def test_silence_is_exactly_log_offset():
    ours = log_mel(np.zeros((N, 2), dtype=np.float32))
    assert (ours == np.float32(np.log(1e-8))).all()
    assert np.float32(np.log(1e-8)) == np.float32(-18.420681)


def test_tonal_frames_keep_float64_precision():
    """A loud sine: far-from-peak bins sit at the 1e-8 floor only with a float64 FFT."""
    sine = pcm24(0.9 * np.sin(2 * np.pi * 1000 * np.arange(N) / SR))
    ours = log_mel(sine.astype(np.float32))[:, :, 0]
    reference = librosa_log_mel(sine)
    assert np.abs(ours - reference).max() < 1e-4
    assert (reference < -18).mean() > 0.3  # most bands are at the floor: a real stress test


def test_default_padding_is_c1s_reflection():
    """SPEC §2: C1 ran librosa 0.6.3, whose centred STFT reflected the signal; librosa >= 0.10
    pads with zeros. The default follows C1; "constant" stays an option."""
    assert FeatureConfig().pad_mode == "reflect"
    assert inspect.signature(librosa.stft).parameters["pad_mode"].default == "constant"
    # a signal whose only energy is at its second sample: reflection mirrors it into frame 0
    impulse = np.zeros(N)
    impulse[1] = 0.5
    for pad_mode in PAD_MODES:
        ours = log_mel(impulse.astype(np.float32), FeatureConfig(pad_mode=pad_mode))[:, :, 0]
        np.testing.assert_allclose(ours, librosa_log_mel(impulse, pad_mode), atol=1e-5)
    with pytest.raises(ValueError, match="pad_mode"):
        log_mel(impulse.astype(np.float32), FeatureConfig(pad_mode="edge"))


def test_only_the_two_frames_at_each_end_depend_on_the_padding():
    """Frames 0, 1, 467 and 468 reach into the 2048 padded samples; no other frame does."""
    audio = signals()["white noise"].astype(np.float32)
    reflect = log_mel(audio, FeatureConfig(pad_mode="reflect"))
    zeros = log_mel(audio, FeatureConfig(pad_mode="constant"))
    differs = np.flatnonzero(np.abs(reflect - zeros).max(axis=(0, 2)) > 0)
    assert differs.tolist() == [0, 1, 467, 468]


def test_frames_and_shape():
    config = FeatureConfig()
    assert n_frames(N, config) == 469 == 1 + 480000 // 1024 == config.n_frames
    assert config.shape == (256, 469, 2)
    assert power_spectrogram(np.zeros(N)).shape == (469, 2049)


def test_filterbank_is_librosa_htk_without_normalisation():
    bank = mel_filterbank(FeatureConfig())
    assert bank.shape == (256, 2049) and bank.dtype == np.float32
    htk = librosa.filters.mel(sr=48000, n_fft=4096, n_mels=256, fmin=0, fmax=24000, htk=True,
                              norm=None)
    np.testing.assert_array_equal(bank.toarray(), htk)
    slaney = librosa.filters.mel(sr=48000, n_fft=4096, n_mels=256, fmin=0, fmax=24000)
    assert np.abs(bank.toarray() - slaney).max() > 0.5  # HTK and no norm really differ
    assert bank.nnz == 4065 and bank.toarray().max() <= 1.0  # triangles of height 1, sparse
    # HTK mel scale: the band centres are equally spaced in 2595 log10(1 + f / 700)
    centres = bank.toarray().argmax(axis=1)[100:] * SR / 4096
    mels = 2595 * np.log10(1 + centres / 700)
    assert np.abs(np.diff(mels) - 3990.5 / 257).max() < 6  # 15.5 mel apart within a bin


def test_window_is_librosas_periodic_hann():
    window = analysis_window(4096)
    np.testing.assert_array_equal(window, librosa.filters.get_window("hann", 4096, fftbins=True))
    np.testing.assert_array_equal(window, scipy.signal.get_window("hann", 4096))
    assert window[0] == 0 and window[2048] == 1 and window[1] == window[4095]


def test_channels_are_processed_separately():
    audio = signals()["white noise"].astype(np.float32)
    both = log_mel(audio)
    swapped = log_mel(audio[:, ::-1])
    np.testing.assert_array_equal(both[:, :, 0], swapped[:, :, 1])
    np.testing.assert_array_equal(log_mel(audio[:, 1])[:, :, 0], both[:, :, 1])
    np.testing.assert_allclose(log_mel(audio.astype(np.float64)), both, atol=1e-5)


def test_other_configurations_follow_librosa():
    config = dataclasses.replace(FeatureConfig(), n_fft=1024, hop_length=320, n_mels=64,
                                 fmin=50.0, fmax=20000.0, htk=False, mel_norm="slaney",
                                 power=1.0, center=False, duration_s=1.0)
    audio = pcm24(0.2 * np.random.default_rng(1).standard_normal(SR))
    reference = np.log(librosa.feature.melspectrogram(
        y=audio, sr=SR, n_fft=1024, hop_length=320, center=False, power=1.0, n_mels=64,
        fmin=50, fmax=20000, htk=False, norm="slaney") + 1e-8)
    ours = log_mel(audio.astype(np.float32), config)[:, :, 0]
    assert ours.shape == reference.shape == (64, n_frames(SR, config))
    assert np.abs(ours - reference).max() <= TOLERANCE
