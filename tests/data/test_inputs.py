"""InputSpec: the four input kinds, their shapes (SPEC §2, §6), serialisation and values."""
import json

import librosa
import numpy as np
import pytest

from dcase_lowcomplexity.config import (
    FeatureConfig, GccPhatConfig, LogMel64Config, WaveformConfig,
)
from dcase_lowcomplexity.data.features import log_mel_reference
from dcase_lowcomplexity.data.inputs import KINDS, InputSpec, as_spec, differences
from dcase_lowcomplexity.errors import ConfigError

SR = 48000
SHORT = WaveformConfig(duration_s=1.0)  # 1 s clips keep the value tests fast


def test_paper_shapes_and_time_axes():
    """SPEC §2: (256, 469, 2); SPEC §6: 160,000 samples, (64, 1001, 1), (40, 500, 3)."""
    shapes = {kind: InputSpec(kind).shape for kind in KINDS}
    assert shapes == {"logmel256": (256, 469, 2), "waveform": (160000,),
                      "logmel64": (64, 1001, 1), "gccgram": (40, 500, 3)}
    assert {kind: InputSpec(kind).time_axis for kind in KINDS} == {
        "logmel256": 1, "waveform": 0, "logmel64": 1, "gccgram": 1}


def test_defaults_and_read_config():
    spec = InputSpec("gccgram")
    assert spec.waveform == WaveformConfig() and spec.gcc == GccPhatConfig()
    assert spec.features is None and spec.logmel is None
    assert InputSpec("logmel256").features == FeatureConfig()
    read = InputSpec("waveform", waveform=SHORT).read_config
    assert (read.sample_rate, read.duration_s, read.n_channels, read.n_samples) == (
        48000, 1.0, 2, 48000)
    assert InputSpec("logmel256", features=FeatureConfig(duration_s=2.0)).read_config == \
        FeatureConfig(duration_s=2.0)


def test_refusals():
    with pytest.raises(ConfigError, match="'mfcc' is not one of logmel256, waveform"):
        InputSpec("mfcc")
    with pytest.raises(ConfigError, match="'waveform' does not use `gcc`"):
        InputSpec("waveform", gcc=GccPhatConfig())
    with pytest.raises(ConfigError, match="duration 10.0 s ≠ waveform 1.0 s"):
        InputSpec("logmel64", waveform=SHORT)
    with pytest.raises(ConfigError, match="rate 16000 Hz ≠ waveform 8000 Hz"):
        InputSpec("gccgram", waveform=WaveformConfig(sample_rate=8000))
    with pytest.raises(ConfigError, match="must be a FeatureConfig"):
        InputSpec("logmel256", features=WaveformConfig())


@pytest.mark.parametrize("spec", [
    InputSpec("logmel256", features=FeatureConfig(n_mels=128, mel_norm="slaney")),
    InputSpec("waveform", waveform=WaveformConfig(mono="left")),
    InputSpec("logmel64", waveform=SHORT, logmel=LogMel64Config(duration_s=1.0, n_mels=40)),
    InputSpec("gccgram"),
])
def test_dict_and_json_round_trip(spec):
    assert InputSpec.from_dict(spec.to_dict()) == spec
    assert InputSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_from_dict_refuses_unknown_fields():
    d = InputSpec("waveform").to_dict()
    d["waveform"]["bits"] = 8
    with pytest.raises(ConfigError, match="unknown waveform field\\(s\\) \\['bits'\\]"):
        InputSpec.from_dict(d)
    with pytest.raises(ConfigError, match="not an input spec"):
        InputSpec.from_dict({"kind": "waveform", "extra": 1})


def test_feature_config_means_logmel256():
    config = FeatureConfig(n_mels=128)
    assert as_spec(config) == InputSpec("logmel256", features=config)
    assert as_spec(None) == InputSpec("logmel256")
    spec = InputSpec("waveform")
    assert as_spec(spec) is spec
    with pytest.raises(ConfigError, match="expected an InputSpec or FeatureConfig"):
        as_spec({"kind": "waveform"})


def test_differences_name_the_fields():
    a = InputSpec("waveform", waveform=WaveformConfig(mono="left"))
    assert differences(a, InputSpec("waveform")) == ["waveform.mono='left' (expected 'mean')"]
    assert differences(a, InputSpec("logmel256")) == ["kind='waveform' (expected 'logmel256')"]
    assert differences(a, a) == []


# -- values --------------------------------------------------------------------------------
def stereo(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.stack([left, right], axis=1).astype(np.float32)


def test_logmel256_equals_librosa():
    """SPEC §2: C1's librosa call, here on 1 s of noise."""
    spec = InputSpec("logmel256", features=FeatureConfig(duration_s=1.0))
    clip = 0.1 * np.random.default_rng(0).standard_normal((SR, 2)).astype(np.float32)
    out = spec.compute(clip, spec.prepare())
    assert out.shape == (256, 47, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out, log_mel_reference(clip, spec.features), atol=1e-4)
    np.testing.assert_array_equal(spec.compute(clip), out)  # state is only a cache


def test_waveform_is_the_16k_mono_mix():
    """A 1 kHz sine in both ears comes out as the same sine at 16 kHz; opposite ears cancel."""
    spec = InputSpec("waveform", waveform=SHORT)
    t = np.arange(SR) / SR
    sine = 0.5 * np.sin(2 * np.pi * 1000 * t)
    out = spec.compute(stereo(sine, sine))
    assert out.shape == (16000,) and out.dtype == np.float32
    expected = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    np.testing.assert_allclose(out[400:-400], expected[400:-400], atol=2e-3)
    np.testing.assert_array_equal(spec.compute(stereo(sine, -sine)), np.zeros(16000))


def test_logmel64_silence_and_sine_band():
    spec = InputSpec("logmel64", waveform=SHORT, logmel=LogMel64Config(duration_s=1.0))
    silence = spec.compute(np.zeros((SR, 2), np.float32))
    assert silence.shape == (64, 101, 1)
    np.testing.assert_array_equal(silence, np.float32(np.log(1e-8)))
    tone = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(SR) / SR)
    out = spec.compute(stereo(tone, tone))
    centres = librosa.mel_frequencies(66, fmin=0.0, fmax=8000.0, htk=True)[1:-1]
    loudest = np.bincount(out[:, 10:-10, 0].argmax(axis=0)).argmax()
    assert loudest == np.abs(centres - 1000).argmin()


def test_gccgram_finds_the_interaural_delay():
    """Right ear 6 samples late at 48 kHz = 2 samples at 16 kHz: GCC peaks at lag +2, row 22."""
    spec = InputSpec("gccgram", waveform=SHORT, gcc=GccPhatConfig(duration_s=1.0))
    noise = 0.1 * np.random.default_rng(1).standard_normal(SR + 6)
    out = spec.compute(stereo(noise[6:], noise[:-6]))
    assert out.shape == (40, 50, 3) and out.dtype == np.float32
    peaks = out[:, 2:-2, 2].argmax(axis=0)
    assert (peaks == 22).mean() > 0.9
    np.testing.assert_allclose(out[:, 2:-2, 0], out[:, 2:-2, 1], atol=0.5)  # same noise, L ≈ R
