"""FP16 and full-integer INT8 TFLite export, and LiteRT inference ([R2], SPEC §6).

- `convert_fp16`: float16 weights (the AclNet0.5 LT, KD student and GCC-grams submissions).
  The graph computes in float32; weights are stored in float16 and dequantised at load.
- `convert_int8`: full-integer post-training quantisation (the AclNet0.5 INT8 submission):
  only TFLITE_BUILTINS_INT8 ops, int8 weights (per-channel scales for convolutions), int32
  biases, activations calibrated on `representative_data`. The inputs and outputs are int8 by
  default (`io_dtype="int8"`: a model that runs on integer-only hardware); `io_dtype="float32"`
  keeps float I/O around the same int8 graph. The accuracy is the same either way: the first
  op quantises the input to int8 in both. `TFLiteModel.predict` does the (de)quantisation.
- `TFLiteModel`: runs a .tflite file with the LiteRT interpreter
  (`ai_edge_litert.interpreter.Interpreter`), any batch size, float32 probabilities out.
- `export_sizes`: the DCASE size (non-zero parameters × bytes per parameter / 1024, batch
  norm excluded, `export.size.model_size_report`) beside the real file size. A .tflite file
  is larger than its DCASE size: int32 biases, per-channel scales, batch norm folded into the
  weights, graph metadata — and zeros of a pruned model are still stored.

Command line: export/tflite/__main__.py (`python -m dcase_lowcomplexity.export.tflite`).

Files are written atomically (temp file, then `os.replace`); a missing, truncated or tampered
file raises `ModelFileError` naming it. A .tflite file carries no checksum, so `TFLiteModel`
also runs a fixed probe input when it loads a file and refuses one whose output is not finite
(overwritten float weights); `export.formats.load_predictor` further requires class
probabilities (each row in [0, 1], summing to 1).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from dcase_lowcomplexity.atomic import atomic_write_bytes
from dcase_lowcomplexity.errors import ConfigError, ModelFileError
from dcase_lowcomplexity.export.size import model_size_report

IO_DTYPES = ("int8", "float32")
_TFLITE_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 9: "int8"}


def _input_shape(model: keras.Model, input_shape) -> tuple[int, ...]:
    """The per-example input shape; every dimension but the batch must be known."""
    shape = tuple(input_shape) if input_shape is not None else tuple(model.input_shape[1:])
    if any(d is None for d in shape):
        raise ConfigError(
            f"model {model.name!r} accepts inputs of shape {model.input_shape}: the TFLite "
            "file needs a fixed size", fix="pass input_shape=(bins, frames, channels)",
        )
    return shape


def _converter(model: keras.Model, input_shape: tuple[int, ...], workdir: str):
    """TFLiteConverter from a SavedModel of `model(x, training=False)`, dynamic batch."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve", lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((None, *input_shape), tf.float32)],
    )
    archive.write_out(workdir, verbose=False)
    return tf.lite.TFLiteConverter.from_saved_model(workdir)


def _atomic_write(path: Path, data: bytes) -> Path:
    return atomic_write_bytes(path, data)


def convert_fp16(model: keras.Model, path: str | Path, input_shape=None) -> Path:
    """Writes `model` as a .tflite file with float16 weights; returns the path."""
    shape = _input_shape(model, input_shape)
    with tempfile.TemporaryDirectory() as workdir:
        converter = _converter(model, shape, workdir)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        data = converter.convert()
    return _atomic_write(Path(path), data)


def convert_int8(model: keras.Model, representative_data, path: str | Path,
                 io_dtype: str = "int8", input_shape=None, max_samples: int = 500) -> Path:
    """Full-integer INT8 .tflite of `model`, calibrated on up to `max_samples` examples of
    `representative_data` (an array-like of model inputs, e.g. training crops)."""
    if io_dtype not in IO_DTYPES:
        raise ConfigError(f"io_dtype={io_dtype!r} is not one of {IO_DTYPES}")
    shape = _input_shape(model, input_shape)
    n = min(len(representative_data), max_samples)
    if n == 0:
        raise ConfigError("INT8 calibration needs representative data", fix="pass training inputs")

    def samples():
        for i in range(n):
            x = np.asarray(representative_data[i], dtype=np.float32)
            if x.shape != shape:
                raise ConfigError(f"representative example {i} has shape {x.shape}, not {shape}")
            yield [x[None]]

    with tempfile.TemporaryDirectory() as workdir:
        converter = _converter(model, shape, workdir)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8 if io_dtype == "int8" else tf.float32
        converter.inference_output_type = tf.int8 if io_dtype == "int8" else tf.float32
        data = converter.convert()
    return _atomic_write(Path(path), data)


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a .tflite graph; `constant` ones are the stored weights."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    constant: bool
    nbytes: int


def tflite_tensors(path: str | Path) -> list[TensorInfo]:
    """Every tensor of the file's main graph, read from its flatbuffer."""
    from tensorflow.lite.tools import flatbuffer_utils

    path = _existing(path)
    try:
        model = flatbuffer_utils.read_model(str(path))
        graph, buffers = model.subgraphs[0], model.buffers
        infos = []
        for t in graph.tensors:
            data = buffers[t.buffer].data if t.buffer < len(buffers) else None
            nbytes = 0 if data is None else len(data)
            infos.append(TensorInfo(
                t.name.decode() if isinstance(t.name, bytes) else str(t.name),
                _TFLITE_TYPES.get(t.type, f"type{t.type}"),
                tuple(int(d) for d in (t.shape if t.shape is not None else ())),
                nbytes > 0, nbytes,
            ))
        return infos
    except Exception as err:  # flatbuffers raises many types on damaged data
        raise ModelFileError(f"not a readable .tflite file ({type(err).__name__})", path,
                             fix="re-export it with convert_fp16 / convert_int8") from None


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError("file not found", path, fix="export the model first")
    return path


class TFLiteModel:
    """A .tflite file run by the LiteRT interpreter; `predict` maps float32 in → float32 out."""

    def __init__(self, path: str | Path, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = _existing(path)
        data = self.path.read_bytes()
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ModelFileError("not a TFLite flatbuffer (no TFL3 identifier)", self.path,
                                 fix="re-export it with convert_fp16 / convert_int8")
        try:
            self._interpreter = Interpreter(model_content=data, num_threads=num_threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise ModelFileError(f"the LiteRT interpreter rejects it ({err})", self.path,
                                 fix="re-export it with convert_fp16 / convert_int8") from None
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = None
        self.probe_output = self._probe()

    def _probe(self) -> np.ndarray | None:
        """Outputs for two fixed random inputs; ModelFileError if they are not finite."""
        if any(d < 1 for d in self.input_shape):
            return None  # a free axis other than the batch: no probe size to choose
        x = np.random.default_rng(0).normal(0.0, 0.5, (2, *self.input_shape))
        try:
            y = self._run(x.astype(np.float32))
        except (ValueError, RuntimeError) as err:
            raise ModelFileError(f"the LiteRT interpreter cannot run it ({err})", self.path,
                                 fix="re-export it with convert_fp16 / convert_int8") from None
        if not np.isfinite(y).all():
            raise ModelFileError("it gives non-finite output (NaN or inf) on a probe input: "
                                 "its weights are damaged", self.path,
                                 fix="re-export it with convert_fp16 / convert_int8")
        return y

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-example input shape, e.g. (16000,) for AclNet."""
        return tuple(int(d) for d in self._input["shape_signature"][1:])

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    @property
    def output_dtype(self) -> np.dtype:
        return np.dtype(self._output["dtype"])

    @property
    def file_bytes(self) -> int:
        return self.path.stat().st_size

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self._batch != len(x):
            self._interpreter.resize_tensor_input(self._input["index"], [len(x), *self.input_shape])
            self._interpreter.allocate_tensors()
            self._batch = len(x)
        scale, zero = self._input["quantization"]
        if self.input_dtype == np.int8:
            x = np.clip(np.round(x / scale + zero), -128, 127)
        self._interpreter.set_tensor(self._input["index"], x.astype(self.input_dtype))
        self._interpreter.invoke()
        y = self._interpreter.get_tensor(self._output["index"])
        if self.output_dtype == np.int8:
            scale, zero = self._output["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)

    def predict(self, x, batch_size: int = 32) -> np.ndarray:
        """(n, *input_shape) float inputs → (n, classes) float32 outputs."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ConfigError(
                f"{self.path}: expects inputs of shape (n, {', '.join(map(str, self.input_shape))}),"
                f" got {x.shape}"
            )
        return np.concatenate([self._run(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)])


@dataclass(frozen=True)
class ExportSizes:
    """DCASE size of the exported parameters beside the size of the .tflite file."""

    storage: str
    non_zero_parameters: int
    dcase_kb: float
    file_bytes: int

    @property
    def file_kb(self) -> float:
        return self.file_bytes / 1024

    def to_markdown(self) -> str:
        return (f"| {self.storage} | {self.non_zero_parameters:,} | {self.dcase_kb:,.2f} | "
                f"{self.file_kb:,.2f} |")


def export_sizes(model: keras.Model, tflite_path: str | Path, storage: str) -> ExportSizes:
    """`storage` "int8" / "float16": DCASE size of `model` so stored, and the file's size."""
    report = model_size_report(model, storage=storage)
    return ExportSizes(storage, report.non_zero_parameters, report.size_kb,
                       _existing(tflite_path).stat().st_size)
