"""One exporter interface for the three shipped formats, and one loader that runs the FILE.

- `export_model(model, path, storage, ...)`: "1bit" → packed sign bits + batch-norm floats
  (`bitpack.save_packed`, .1bit, [R1]); "int8" → full-integer INT8 .tflite calibrated on
  `calibration` (`tflite.convert_int8`, AclNet0.5 INT8); "float16" → .tflite with float16
  weights (`tflite.convert_fp16`, the LT, KD and GCC-grams submissions).
- `load_predictor(path)`: a `Predictor` that maps inputs to float64 class probabilities by
  running the file itself: a .1bit file through the Keras model `bitpack.load_packed`
  rebuilds, a .tflite file through the LiteRT interpreter. The format is read from the
  file's first bytes, not its name. A .tflite file must give class probabilities on a probe
  input (it has no checksum: see `TFLiteModel`); a .1bit file is checked by `bitpack`.

An INT8 softmax has a 1/256 resolution (output scale 1/256, zero point −128), so a class can
come out at exactly 0; its probabilities are floored at half a step, 1/512, and renormalised,
otherwise one confident miss would cost −ln(2.2e-16) = 36 in the log loss instead of
ln 512 = 6.2. Accuracy is unaffected (no argmax changes).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import keras
import numpy as np

from dcase_lowcomplexity.errors import ConfigError, ModelFileError
from dcase_lowcomplexity.export.bitpack import MAGIC, file_head, load_packed, save_packed
from dcase_lowcomplexity.export.tflite import TFLiteModel, convert_fp16, convert_int8, tflite_tensors

STORAGES = ("1bit", "int8", "float16")
SUFFIXES = {"1bit": ".1bit", "int8": ".tflite", "float16": ".tflite"}
FILE_NAMES = {"1bit": "model.1bit", "int8": "model_int8.tflite",
              "float16": "model_fp16.tflite"}  # the name a run folder gives each
INT8_PROBABILITY_FLOOR = 1.0 / 512  # half of the INT8 softmax's 1/256 step


def export_model(model: keras.Model, path: str | Path, storage: str, *, calibration=None,
                 input_shape=None, model_config=None) -> Path:
    """Writes `model` to `path` (atomically) as `storage` stores it; returns the path.

    `calibration`: model inputs for INT8 (e.g. training crops); `input_shape`: the
    per-example shape of a .tflite file when the model accepts any length; `model_config`:
    the ModelConfig of a one-bit network when the model carries none."""
    if storage not in STORAGES:
        raise ConfigError(f"storage {storage!r} is not one of {STORAGES}")
    path = Path(path)
    if path.suffix != SUFFIXES[storage]:
        raise ConfigError(f"a {storage} file must end in {SUFFIXES[storage]}", path,
                          fix=f"name it e.g. {FILE_NAMES[storage]}")
    if storage == "1bit":
        return save_packed(model, path, config=model_config)
    if storage == "int8":
        if calibration is None:
            raise ConfigError("INT8 export needs calibration inputs", path,
                              fix="pass calibration=<array of model inputs>")
        return convert_int8(model, calibration, path, input_shape=input_shape)
    return convert_fp16(model, path, input_shape=input_shape)


class Predictor:
    """x (n, *input_shape) → float64 (n, classes) probabilities of a shipped file, in batches.

    `.path` the file, `.storage` ("1bit", "int8", "float16" or "float32"), `.input_shape`
    the per-example shape (None for a dimension the network leaves free)."""

    def __init__(self, path: Path, storage: str, input_shape: tuple,
                 run: Callable[[np.ndarray], np.ndarray], batch_size: int = 64):
        self.path, self.storage, self.input_shape = path, storage, input_shape
        self.batch_size = batch_size
        self._run = run

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != len(self.input_shape) + 1 or any(
                want is not None and got != want for got, want in zip(x.shape[1:], self.input_shape)):
            raise ConfigError(f"{self.path.name} expects inputs of shape (n, "
                              f"{', '.join(str(d) for d in self.input_shape)}), got {x.shape}")
        parts = [np.asarray(self._run(x[i:i + self.batch_size]), dtype=np.float64)
                 for i in range(0, len(x), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, 0))

    def __repr__(self) -> str:
        return f"Predictor({self.path.name!r}, storage={self.storage!r})"


def _packed_predictor(path: Path, batch_size: int) -> Predictor:
    model = load_packed(path)

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(x))  # as the scoring always ran it

    return Predictor(path, "1bit", tuple(model.input_shape[1:]), run, batch_size)


def _tflite_storage(path: Path) -> str:
    weights = {t.dtype for t in tflite_tensors(path) if t.constant and len(t.shape) >= 2}
    return "int8" if "int8" in weights else "float16" if "float16" in weights else "float32"


def _check_probabilities(path: Path, p: np.ndarray | None) -> None:
    """Refuses a file whose probe output is not rows of class probabilities."""
    if p is None:
        return
    tolerance = 0.01 + p.shape[-1] / 256  # an INT8 softmax is off by ≤ 1/512 per class
    if p.ndim != 2 or not np.isfinite(p).all() or (p < -tolerance).any() or (
            p > 1 + tolerance).any() or (np.abs(p.sum(axis=1) - 1) > tolerance).any():
        raise ModelFileError("its output on a probe input is not class probabilities (rows "
                             "in [0, 1] summing to 1): damaged, or not a classifier with a "
                             "softmax", path, fix="re-export the trained classifier")


def _tflite_predictor(path: Path, batch_size: int) -> Predictor:
    model = TFLiteModel(path)
    _check_probabilities(path, model.probe_output)
    int8_output = model.output_dtype == np.int8

    def run(x: np.ndarray) -> np.ndarray:
        p = np.asarray(model.predict(x, batch_size=len(x)), dtype=np.float64)
        if int8_output:
            p = np.maximum(p, INT8_PROBABILITY_FLOOR)
            p /= p.sum(axis=1, keepdims=True)
        return p

    return Predictor(path, _tflite_storage(path), model.input_shape, run, batch_size)


def load_predictor(path: str | Path, batch_size: int = 64) -> Predictor:
    """The Predictor of a shipped .1bit or .tflite file (read by its content)."""
    path = Path(path)
    head = file_head(path, fix="export the model first (export_model)")
    if head == MAGIC:
        return _packed_predictor(path, batch_size)
    if head[4:8] == b"TFL3":
        return _tflite_predictor(path, batch_size)
    raise ModelFileError("neither a packed one-bit file nor a .tflite file", path,
                         fix="export the model with export_model")
