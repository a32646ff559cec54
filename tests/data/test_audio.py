"""audio.read_clip: the first 10 s of both channels, and one AudioError per bad file."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dcase_lowcomplexity.config import FeatureConfig
from dcase_lowcomplexity.data.audio import read_clip, write_clip
from dcase_lowcomplexity.errors import AudioError

SR = 48000


def noise(seconds: float, channels: int = 2, seed: int = 0) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal((int(seconds * SR), channels))


def test_reads_first_ten_seconds_exactly(tmp_path):
    audio = noise(10.5)
    path = tmp_path / "clip.wav"
    write_clip(path, audio, SR, "PCM_24")
    clip = read_clip(path)
    assert clip.shape == (480000, 2) and clip.dtype == np.float32
    # 24-bit samples are exact in float32: identical to C1's float64 soundfile read
    reference, _ = sf.read(path, dtype="float64")
    np.testing.assert_array_equal(clip.astype(np.float64), reference[:480000])
    assert np.abs(clip - audio[:480000]).max() < 2**-23  # 24-bit quantisation step


def test_write_clip_is_atomic_and_24_bit(tmp_path):
    path = tmp_path / "a.wav"
    write_clip(path, noise(10.0), SR)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 2, 480000, "PCM_24")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]  # no temporary left


def test_demo_clip_reads(demo_root):
    first = sorted((demo_root / "audio").glob("*.wav"))[0]
    clip = read_clip(first)
    assert clip.shape == (480000, 2)
    assert np.isfinite(clip).all() and 0 < np.abs(clip).max() < 1


def bad_file(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.wav"
    if case == "corrupt":
        path.write_bytes(np.random.default_rng(0).bytes(100_000))
    elif case == "truncated":
        write_clip(path, noise(10.0), SR)
        path.write_bytes(path.read_bytes()[: 44 + 3 * 2 * 200_000])  # header claims 10 s
    elif case == "sample rate":
        write_clip(path, noise(10.0)[:441000], 44100)
    elif case == "mono":
        write_clip(path, noise(10.0, channels=1), SR)
    elif case == "short":
        write_clip(path, noise(9.5), SR)
    elif case == "nan":
        audio = noise(10.0)
        audio[1234, 1] = np.nan
        write_clip(path, audio, SR, "FLOAT")
    elif case == "empty":
        path.write_bytes(b"")
    return path


BAD = {
    "corrupt": "cannot be decoded",
    "truncated": "truncated: the header announces 480000 frames",
    "sample rate": "sample rate is 44100 Hz, expected 48000 Hz",
    "mono": "has 1 channel\\(s\\), expected 2",
    "short": "is 9.500 s long .* shorter than the 10 s",
    "nan": "1 sample\\(s\\) are NaN or infinite",
    "empty": "cannot be decoded",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_audio_raises_one_audio_error(tmp_path, case):
    path = bad_file(tmp_path, case)
    with pytest.raises(AudioError, match=BAD[case]) as err:
        read_clip(path)
    assert err.value.path == path and str(path) in str(err.value)
    assert "Fix:" in str(err.value) and "--on-error skip" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="audio file not found"):
        read_clip(tmp_path / "nothing.wav")


def test_other_durations_follow_the_config(tmp_path):
    path = tmp_path / "short.wav"
    write_clip(path, noise(2.0), SR)
    config = FeatureConfig(duration_s=1.5)
    assert read_clip(path, config).shape == (72000, 2)


def streamed(path: Path, keep_bytes: int | None = None) -> Path:
    """`path` as ffmpeg writes it to a pipe: RIFF and data sizes 0xFFFFFFFF (unknown)."""
    data = bytearray(path.read_bytes())
    data[4:8] = b"\xff" * 4
    at = data.index(b"data")
    data[at + 4: at + 8] = b"\xff" * 4
    out = path.with_name(f"streamed-{path.name}")
    out.write_bytes(bytes(data[:keep_bytes]))
    return out


def test_streamed_wav_is_read_by_the_frames_it_holds(tmp_path):
    """Issue 11, cause 10: a streamed WAV (sizes 0xFFFFFFFF) with all its frames is read, the
    same clip as the plain file; one cut short is still refused, naming it."""
    path = tmp_path / "clip.wav"
    write_clip(path, noise(10.0), SR)
    np.testing.assert_array_equal(read_clip(streamed(path)), read_clip(path))
    cut = streamed(path, keep_bytes=44 + 3 * 2 * 200_000)
    with pytest.raises(AudioError, match="shorter than the 10 s") as err:
        read_clip(cut)
    assert err.value.path == cut
    with pytest.raises(AudioError, match=BAD["truncated"]):  # plain headers: still "truncated"
        read_clip(bad_file(tmp_path, "truncated"))
