"""Reading the recordings: the first 10 s of both channels at 48 kHz ([R1] §3.1, SPEC §2).

C1 reads with soundfile and keeps the first 10 × 48000 samples of each channel. This module
does the same and refuses, with one `AudioError` naming the file and the fix, anything the
features would silently get wrong: unreadable or truncated files, another sample rate (no
resampling: [R1] works at the native 48 kHz), the wrong channel count, clips shorter than
10 s, and non-finite samples.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from dcase_lowcomplexity.config import FeatureConfig
from dcase_lowcomplexity.errors import AudioError

_REPLACE_FIX = ("replace it with the original file from the dataset archive, or extract with "
                "--on-error skip to leave it out")


def read_clip(path: str | Path, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """The first `config.n_samples` frames of `path` as (n_samples, n_channels) float32.

    24-bit PCM is represented exactly in float32 (24-bit mantissa), so reading in float32
    loses nothing against C1's float64 read.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError("audio file not found.", path=path,
                         fix="restore the file, or extract with --on-error skip to leave it out")
    try:
        with sf.SoundFile(str(path)) as f:
            sample_rate, channels, frames = f.samplerate, f.channels, f.frames
            declared = _declared_frames(path, channels * _BYTES.get(f.subtype, 0))
            if declared is not None and declared > frames:
                raise AudioError(
                    f"truncated: the header announces {declared} frames but the file holds "
                    f"only {frames} ({frames / sample_rate:.3f} s).", path=path, fix=_REPLACE_FIX)
            _check_format(path, config, sample_rate, channels, frames)
            audio = f.read(config.n_samples, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, EOFError) as err:
        raise AudioError(f"cannot be decoded ({err}); the file is corrupt or not audio.",
                         path=path, fix=_REPLACE_FIX) from None
    if audio.shape[0] < config.n_samples:
        raise AudioError(
            f"truncated: the header announces {frames} frames but only {audio.shape[0]} "
            f"could be read ({audio.shape[0] / config.sample_rate:.3f} s < "
            f"{config.duration_s:g} s).", path=path, fix=_REPLACE_FIX)
    if not np.isfinite(audio).all():
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise AudioError(f"{bad} sample(s) are NaN or infinite.", path=path, fix=_REPLACE_FIX)
    return audio


_BYTES = {"PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8, "PCM_U8": 1}


_STREAMED_SIZE = 0xFFFFFFFF


def _declared_frames(path: Path, frame_bytes: int) -> int | None:
    """Frames announced by a RIFF/WAVE `data` chunk header (None if not a plain WAV, or a
    streamed one whose sizes are 0xFFFFFFFF): libsndfile silently shortens a truncated file,
    this tells the two apart. A streamed file cut short is still refused, by its length."""
    if frame_bytes <= 0:
        return None
    with open(path, "rb") as f:
        if f.read(4) != b"RIFF" or f.read(8)[4:] != b"WAVE":
            return None
        while True:
            header = f.read(8)
            if len(header) < 8:
                return None
            size = int.from_bytes(header[4:], "little")
            if header[:4] == b"data":
                # 0xFFFFFFFF: a streamed WAV (ffmpeg to a pipe) whose writer could not seek
                # back to fill in the sizes; it holds what libsndfile finds in the file.
                return None if size == _STREAMED_SIZE else size // frame_bytes
            f.seek(size + (size & 1), 1)


def _check_format(path: Path, config: FeatureConfig, sample_rate: int, channels: int,
                  frames: int) -> None:
    if sample_rate != config.sample_rate:
        raise AudioError(
            f"sample rate is {sample_rate} Hz, expected {config.sample_rate} Hz (features are "
            "computed at the native rate, without resampling).", path=path,
            fix=f"use the original {config.sample_rate} Hz recording ({_REPLACE_FIX})")
    if channels != config.n_channels:
        raise AudioError(
            f"has {channels} channel(s), expected {config.n_channels} (binaural left/right).",
            path=path, fix=f"use the original stereo recording ({_REPLACE_FIX})")
    if frames < config.n_samples:
        raise AudioError(
            f"is {frames / sample_rate:.3f} s long ({frames} frames), shorter than the "
            f"{config.duration_s:g} s ({config.n_samples} frames) every clip must have.",
            path=path, fix=_REPLACE_FIX)


def write_clip(path: str | Path, audio: np.ndarray, sample_rate: int = 48000,
               subtype: str = "PCM_24") -> None:
    """Writes (n_samples, channels) audio atomically (temporary file, then os.replace)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(str(tmp), audio, sample_rate, subtype=subtype, format="WAV")
    tmp.replace(path)
