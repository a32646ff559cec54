"""Packed one-bit model files: the sign bit of every weight plus the batch-norm arrays.

[R1] §3.7 / SPEC §5: at inference the one-bit ResNet needs only sign(W) of each BinaryConv2D
kernel (the per-layer constant sqrt(2 / (k_h·k_w·C_in)) follows from the kernel's shape) and
the batch-norm arrays in float32. [C1] stored booleans in a compressed .mat (≈ 592 KB); this
module stores the bits packed eight per byte, so the sign-bit section of the paper's network
is exactly 3,987,000 / 8 = 498,375 bytes. The byte layout is in docs/packed_format.md.

Files are written atomically (temporary file, then os.replace) and checked when read: magic,
format version, SHA-256 checksum; then, before any model is built, the header's ModelConfig
(positive sizes, 0 < bn_epsilon), its counts against those the ModelConfig implies
(`expected_counts`, computed without building) and against the file size, the layer table's
offsets, and the values (finite, moving variances ≥ 0), so that a file whose checksum was
recomputed after an edit is refused too; last, the table must match the architecture rebuilt
from the ModelConfig. Nothing is ever unpickled.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from dcase_lowcomplexity.config import ModelConfig, model_config_from_dict
from dcase_lowcomplexity.atomic import atomic_write_bytes
from dcase_lowcomplexity.errors import ConfigError, ModelFileError
from dcase_lowcomplexity.layers import BinaryConv2D, sign_bits
from dcase_lowcomplexity.models.binary_resnet import PATH_NAMES, build_binary_resnet

MAGIC = b"DCLC1BIT"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<8sHI")  # magic, format version (uint16), header length (uint32)
_DIGEST_BYTES = 32  # SHA-256
SIGN_KIND = "sign_bits"
BN_KINDS = ("gamma", "beta", "moving_mean", "moving_variance")
_REEXPORT = "re-export the trained model with dcase_lowcomplexity.export.bitpack.save_packed"


@dataclass(frozen=True)
class TableEntry:
    """One array of the file: for sign bits offset/length count bits of the sign-bit
    section, for batch-norm arrays float32 elements of the float section."""

    name: str
    kind: str
    shape: tuple[int, ...]
    offset: int
    length: int


@dataclass(frozen=True)
class PackedModel:
    """The decoded content of a packed file (before it is turned into a Keras model)."""

    path: Path
    model_config: ModelConfig
    table: tuple[TableEntry, ...]
    signs: np.ndarray  # bool, one per weight, concatenated in table order
    floats: np.ndarray  # float32, concatenated in table order

    @property
    def sign_bytes(self) -> int:
        """Size of the sign-bit section: ceil(bits / 8), 498,375 for the paper's network."""
        return math.ceil(self.signs.size / 8)

    def array(self, entry: TableEntry) -> np.ndarray:
        source = self.signs if entry.kind == SIGN_KIND else self.floats
        return source[entry.offset : entry.offset + entry.length].reshape(entry.shape)


def _arrays(model: keras.Model) -> list[tuple[str, str, np.ndarray]]:
    """(layer name, kind, array) of everything the file stores, in the model's layer order."""
    arrays = []
    for layer in model.layers:
        if isinstance(layer, BinaryConv2D):
            arrays.append((layer.name, SIGN_KIND, sign_bits(layer.kernel.numpy())))
        elif isinstance(layer, keras.layers.BatchNormalization):
            for kind in BN_KINDS:
                variable = getattr(layer, kind, None)
                if variable is not None:
                    arrays.append((layer.name, kind, np.asarray(variable.numpy(), "<f4")))
        elif isinstance(layer, keras.layers.Conv2D):
            raise ConfigError(
                f"layer {layer.name} is a float Conv2D: only one-bit models can be packed",
                fix="pack a model built with ModelConfig(binary=True); size float models with "
                "dcase_lowcomplexity.export.size",
            )
    return arrays


def _table(arrays) -> tuple[TableEntry, ...]:
    """Contiguous offsets: sign bits across layers form ONE bit stream (no per-layer padding)."""
    entries, offsets = [], {SIGN_KIND: 0, "float": 0}
    for name, kind, array in arrays:
        section = SIGN_KIND if kind == SIGN_KIND else "float"
        entries.append(TableEntry(name, kind, tuple(array.shape), offsets[section], array.size))
        offsets[section] += array.size
    return tuple(entries)


def _spec(table) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(e.name, e.kind, tuple(e.shape)) for e in table]


def expected_counts(config: ModelConfig) -> tuple[int, int]:
    """(sign bits, batch-norm floats) of `build_binary_resnet(config)`, from the config alone:
    the loader compares them with the header and the file size before building anything."""
    k2, c_in = config.kernel_size ** 2, config.input_channels
    bits = floats = 0
    for _ in PATH_NAMES:
        floats += 4 * c_in  # input BN+
        bits += k2 * c_in * config.num_filters  # stem
        width = config.num_filters
        for stack in config.stacks:
            for _ in range(stack.blocks):  # BN0, conv, BN0, conv
                floats += 2 * width + 2 * stack.width
                bits += k2 * width * stack.width + k2 * stack.width * stack.width
                width = stack.width
    head, classes = config.head_width, config.num_classes
    floats += 2 * width + 2 * head + 4 * classes  # head BN0, BN0, BN+
    bits += k2 * width * head + head * classes
    return bits, floats


_SIZE_FIELDS = ("input_bins", "input_channels", "freq_split", "num_filters", "num_stacks",
                "blocks_per_stack", "stem_time_stride", "head_width", "num_classes",
                "kernel_size")


def _config_problem(config: ModelConfig) -> str | None:
    for name in _SIZE_FIELDS:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"{name} is {value!r}, not a positive integer"
    eps, momentum = config.bn_epsilon, config.bn_momentum
    if not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        return f"bn_epsilon is {eps!r}, not a finite number > 0"
    if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
        return f"bn_momentum is {momentum!r}, not in [0, 1]"
    return None


def _value_problem(table, floats: np.ndarray) -> str | None:
    """What is wrong with the batch-norm values, or None: all finite, variances ≥ 0 (with
    bn_epsilon > 0, 1 / sqrt(variance + epsilon) is then finite)."""
    for entry in table:
        if entry.kind == SIGN_KIND:
            continue
        values = floats[entry.offset : entry.offset + entry.length]
        if not np.isfinite(values).all():
            return f"{entry.name} {entry.kind} holds NaN or infinite values"
        if entry.kind == "moving_variance" and (values < 0).any():
            return f"{entry.name} moving_variance holds negative values"
    return None


def save_packed(model: keras.Model, path: str | Path, config: ModelConfig | None = None) -> Path:
    """Writes `model` as one packed file at `path` (atomically) and returns the path.

    `config` is the model's architecture; it defaults to `model.model_config`, which every
    model of `build_binary_resnet` carries (also after `.keras` loading).
    """
    path = Path(path)
    config = config if config is not None else getattr(model, "model_config", None)
    if config is None:
        raise ConfigError(
            f"model {model.name!r} does not say its ModelConfig",
            fix="pass config=ModelConfig(...) to save_packed",
        )
    if not config.binary:
        raise ConfigError(f"model {model.name!r} is the float twin (ModelConfig.binary is "
                          "False): it has no sign bits to pack", path,
                          fix="pack a model built with ModelConfig(binary=True)")
    arrays = _arrays(model)
    table = _table(arrays)
    if _spec(table) != _spec(_table(_arrays(build_binary_resnet(config)))):
        raise ConfigError(
            f"model {model.name!r} does not have the layers of its ModelConfig",
            fix="pass the config the model was built with",
        )
    signs = [a.reshape(-1) for _, kind, a in arrays if kind == SIGN_KIND]
    floats = [a.reshape(-1) for _, kind, a in arrays if kind != SIGN_KIND]
    problem = _config_problem(config) or _value_problem(table, np.concatenate(floats))
    if problem is not None:
        raise ConfigError(f"model {model.name!r} cannot be packed: {problem}", path,
                          fix="retrain it (a diverged run leaves NaN batch-norm values)")
    header = {
        "model_config": dataclasses.asdict(config),
        "bit_count": int(sum(s.size for s in signs)),
        "float_count": int(sum(f.size for f in floats)),
        "table": [dataclasses.asdict(e) for e in table],
    }
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    body = b"".join([
        _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header_bytes)),
        header_bytes,
        np.packbits(np.concatenate(signs), bitorder="big").tobytes(),
        np.concatenate(floats).astype("<f4").tobytes(),
    ])
    _write_atomically(path, body + hashlib.sha256(body).digest())
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    if not path.parent.is_dir():  # a typo in the folder should not create a new tree
        raise ModelFileError("the folder is missing", path,
                             fix="create the folder or choose a writable path")
    try:
        atomic_write_bytes(path, data)
    except OSError as err:
        raise ModelFileError(f"cannot write here ({err.strerror})", path,
                             fix="create the folder or choose a writable path") from None

def file_head(path: Path, fix: str) -> bytes:
    """The first 8 bytes of a model file, which tell its format (MAGIC for a packed file);
    ModelFileError naming the file when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(8)
    except OSError as err:
        raise ModelFileError(f"cannot read the model file ({err.strerror})", path,
                             fix=fix) from None


def _bad(path: Path, message: str) -> ModelFileError:
    return ModelFileError(message, path, fix=_REEXPORT)


def _read_header(path: Path, data: bytes) -> tuple[dict, int]:
    """Checks magic, version and checksum; returns the header and where the bits start."""
    if len(data) < _PREAMBLE.size or data[:8] != MAGIC:
        raise ModelFileError(
            "not a packed one-bit model file (wrong magic bytes)", path,
            fix="pass a file written by dcase_lowcomplexity.export.bitpack.save_packed",
        )
    _, version, header_length = _PREAMBLE.unpack_from(data)
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"packed format version {version}; this package reads version {FORMAT_VERSION}",
            path, fix=f"use the dcase_lowcomplexity release that wrote it, or {_REEXPORT}",
        )
    if len(data) < _PREAMBLE.size + header_length + _DIGEST_BYTES:
        raise _bad(path, "file is truncated")
    if hashlib.sha256(data[:-_DIGEST_BYTES]).digest() != data[-_DIGEST_BYTES:]:
        raise _bad(path, "checksum mismatch: the file is truncated or corrupt")
    start = _PREAMBLE.size + header_length
    try:
        header = json.loads(data[_PREAMBLE.size : start].decode("utf-8"))
        config = model_config_from_dict(header["model_config"])
        table = tuple(
            TableEntry(str(e["name"]), str(e["kind"]), tuple(int(n) for n in e["shape"]),
                       int(e["offset"]), int(e["length"]))
            for e in header["table"]
        )
        counts = int(header["bit_count"]), int(header["float_count"])
    except (ValueError, KeyError, TypeError) as err:
        raise _bad(path, f"unreadable header ({err})") from None
    return {"config": config, "table": table, "counts": counts}, start


def _check_before_building(path: Path, data: bytes, header: dict, start: int) -> int:
    """Config, counts, file size, table offsets: all from the header, no model built yet.
    Returns the size of the sign-bit section."""
    config, table, (bit_count, float_count) = header["config"], header["table"], header["counts"]
    problem = _config_problem(config)
    if problem is not None:
        raise _bad(path, f"the header's ModelConfig is invalid: {problem}")
    try:
        expected = expected_counts(config)
    except (TypeError, ValueError, OverflowError) as err:
        raise _bad(path, f"the header's ModelConfig is invalid ({err})") from None
    if (bit_count, float_count) != expected:
        raise _bad(path, f"the header's counts ({bit_count:,} bits, {float_count:,} floats) do "
                         f"not match the layer table of its model_config ({expected[0]:,}, "
                         f"{expected[1]:,})")
    sign_bytes = math.ceil(bit_count / 8)
    if len(data) != start + sign_bytes + 4 * float_count + _DIGEST_BYTES:
        raise _bad(path, "section sizes do not match the layer table")
    offsets = {SIGN_KIND: 0, "float": 0}
    for e in table:
        section = SIGN_KIND if e.kind == SIGN_KIND else "float"
        if e.offset != offsets[section] or e.length != math.prod(e.shape) or e.length < 0:
            raise _bad(path, "layer table does not match the architecture in the header")
        offsets[section] += e.length
    if (offsets[SIGN_KIND], offsets["float"]) != (bit_count, float_count):
        raise _bad(path, "layer table does not match the architecture in the header")
    return sign_bytes


def _decode(path: Path) -> tuple[PackedModel, keras.Model]:
    """Decodes and validates a packed file; also returns the (untrained) model of its config."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelFileError(f"cannot read the model file ({err.strerror})", path,
                             fix="check the path") from None
    header, start = _read_header(path, data)
    config, table, (bit_count, float_count) = header["config"], header["table"], header["counts"]
    sign_bytes = _check_before_building(path, data, header, start)
    bits = np.unpackbits(np.frombuffer(data, np.uint8, sign_bytes, start), bitorder="big")
    if bits[bit_count:].any():
        raise _bad(path, "padding bits after the last sign bit are not zero")
    floats = np.frombuffer(data, "<f4", float_count, start + sign_bytes).astype(np.float32)
    problem = _value_problem(table, floats)
    if problem is not None:
        raise _bad(path, f"invalid batch-norm values: {problem}")
    try:
        model = build_binary_resnet(config)
    except Exception as err:  # any failure to build from the header means a bad file
        raise _bad(path, f"the header's ModelConfig cannot be built ({err})") from None
    if table != _table(_arrays(model)):
        raise _bad(path, "layer table does not match the architecture in the header")
    return PackedModel(path, config, table, bits[:bit_count].astype(bool), floats), model


def read_packed(path: str | Path) -> PackedModel:
    """Decodes and validates a packed file; raises ModelFileError naming it if anything is off."""
    return _decode(Path(path))[0]


def load_packed(path: str | Path) -> keras.Model:
    """Rebuilds the inference model of a packed file.

    Each BinaryConv2D kernel is set to ±1 (its sign bit); the layer turns it into
    ±sqrt(2 / (k_h·k_w·C_in)) exactly as the trained model did, so predictions are the
    trained model's. Batch-norm arrays are restored as stored.
    """
    packed, model = _decode(Path(path))
    for entry in packed.table:
        layer = model.get_layer(entry.name)
        values = packed.array(entry)
        if entry.kind == SIGN_KIND:
            layer.kernel.assign(np.where(values, 1.0, -1.0).astype(np.float32))
        else:
            getattr(layer, entry.kind).assign(values)
    return model
