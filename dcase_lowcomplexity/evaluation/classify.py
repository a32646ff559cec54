"""Classifying any recording with a shipped model file, exactly as the model was scored.

Every run writes a model card beside its shipped file (`model.1bit.json`,
`model_int8.tflite.json`, …): the system, its input (kind and every feature parameter, the
clip length included: a demo model sees 3 s windows), its test-time views and the class
names. `classify_files` reads the card, loads the file (`export.formats.load_predictor`: the
packed bits, or the .tflite by LiteRT) and, for each recording:

- reads it at any sample rate (resampled to the input's 48 kHz with scipy's polyphase filter;
  warned) and one or two channels (a mono recording is duplicated to both channels, warned:
  the networks were trained on binaural audio); more channels are refused;
- cuts it into consecutive clip-length windows (a shorter recording is padded with zeros,
  warned; a longer one is classified per window, the last window ending at its end, and the
  window probabilities averaged);
- computes the same features as the input store (`data.inputs.InputSpec.compute`) and runs
  the same views as the scoring (channel-swap average, 1 s segments, or the whole clip).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from dcase_lowcomplexity.atomic import atomic_write_text
from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.errors import AudioError, ConfigError, DcaseError, ModelFileError

CARD_FORMAT = "dcase_lowcomplexity.model_card/1"
ON_ERROR = ("stop", "skip")


def card_path(model_path: str | Path) -> Path:
    return Path(f"{model_path}.json")


def write_card(model_path: str | Path, *, system: str, name: str, input_spec: dict,
               views: str, segment: int | None, batch_size: int) -> Path:
    """The model card beside `model_path`: what `classify_files` needs to use the file."""
    card = {"format": CARD_FORMAT, "system": system, "name": name, "model_file":
            Path(model_path).name, "input": input_spec, "views": views, "segment": segment,
            "batch_size": batch_size, "class_names": list(CLASS_NAMES)}
    return atomic_write_text(card_path(model_path), json.dumps(card, indent=2) + "\n")


def read_card(model_path: str | Path) -> dict:
    path = card_path(model_path)
    fix = ("keep the .json written beside the model by its run (rerun the run's command to "
           "rewrite it)")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError("the model card is missing.", path, fix=fix) from None
    except (OSError, ValueError) as err:
        raise ModelFileError(f"the model card cannot be read ({err}).", path, fix=fix) from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ModelFileError(f"not a model card of this package (format "
                             f"{card.get('format') if isinstance(card, dict) else None!r}).",
                             path, fix=fix)
    return card


def read_recording(path: Path) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 and the sample rate; AudioError naming the file."""
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, EOFError) as err:
        raise AudioError(f"cannot be decoded ({err}); the file is corrupt or not audio.",
                         path=path, fix="pass a readable WAV file") from None
    if audio.shape[0] == 0:
        raise AudioError("holds no samples.", path=path, fix="pass a non-empty recording")
    if not np.isfinite(audio).all():
        raise AudioError("holds NaN or infinite samples.", path=path,
                         fix="pass a recording with finite samples")
    return audio, int(rate)


def conform(audio: np.ndarray, rate: int, spec, path: Path,
            warn: Callable[[str], None]) -> np.ndarray:
    """The recording as the input's clips: (windows, n_samples, 2) at the input's rate."""
    from scipy.signal import resample_poly

    read = spec.read_config
    channels = audio.shape[1]
    if channels > read.n_channels:
        raise AudioError(f"has {channels} channels; the model takes {read.n_channels}.",
                         path=path, fix="convert it to stereo (or mono) first")
    if channels < read.n_channels:
        binaural = spec.kind in ("logmel256", "gccgram")  # the others mix to mono anyway
        warn(f"{path}: mono recording, duplicated to both channels" + (
            " (the model was trained on binaural audio: its channel cues are missing)"
            if binaural else ""))
        audio = np.repeat(audio, read.n_channels, axis=1)
    if rate != read.sample_rate:
        warn(f"{path}: resampled from {rate} Hz to {read.sample_rate} Hz")
        g = math.gcd(rate, read.sample_rate)
        audio = resample_poly(audio, read.sample_rate // g, rate // g, axis=0)
        audio = audio.astype(np.float32)
    n, length = audio.shape[0], read.n_samples
    if n < length:
        warn(f"{path}: {n / read.sample_rate:.2f} s is shorter than the model's "
             f"{read.duration_s:g} s clips: padded with zeros")
        audio = np.concatenate([audio, np.zeros((length - n, audio.shape[1]), np.float32)])
        n = length
    starts = list(range(0, n - length + 1, length))
    if starts[-1] + length < n:
        starts.append(n - length)  # the last window ends at the end of the recording
    return np.stack([audio[s:s + length] for s in starts])


def expand_audio(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given, folders as their *.wav files (sorted, recursively)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*")
                           if f.suffix.lower() == ".wav" and f.is_file())
            if not found:
                raise ConfigError("the folder holds no .wav file.", p,
                                  fix="pass WAV files or folders of WAV files")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise ConfigError("no such audio file or folder.", p, fix="check the path")
    return out


def classify_files(model_path: str | Path, audio: Sequence[str | Path], *,
                   on_error: str = "stop", progress: bool = True,
                   warn: Callable[[str], None] = print) -> tuple[pd.DataFrame, list[dict]]:
    """(predictions: filename, scene_label, one probability per class; skipped files)."""
    from dcase_lowcomplexity.data.inputs import InputSpec
    from dcase_lowcomplexity.evaluation.inference import predict_views
    from dcase_lowcomplexity.export.formats import load_predictor

    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error {on_error!r} is not one of {ON_ERROR}")
    card = read_card(model_path)
    spec = InputSpec.from_dict(card["input"])
    predict = load_predictor(model_path)
    state = spec.prepare()
    rows, skipped = [], []
    for path in tqdm(expand_audio(audio), desc="classify", unit="file", disable=not progress):
        try:
            recording, rate = read_recording(path)
            windows = conform(recording, rate, spec, path, warn)
            x = np.stack([spec.compute(w, state) for w in windows]).astype(np.float32)
            p = predict_views(predict, x, card["views"], card["segment"]).mean(axis=0)
        except DcaseError as err:
            if on_error == "stop":
                raise
            skipped.append({"filename": str(path), "reason": str(err)})
            continue
        rows.append([str(path), card["class_names"][int(np.argmax(p))], *p])
    frame = pd.DataFrame(rows, columns=["filename", "scene_label", *card["class_names"]])
    return frame, skipped


def write_predictions(frame: pd.DataFrame, path: str | Path) -> Path:
    """TAB separated, the DCASE output file's columns, probabilities with 6 decimals."""
    return atomic_write_text(path, frame.to_csv(sep="\t", index=False, float_format="%.6f"))
