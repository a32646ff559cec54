"""Packed one-bit model files: the sign bit of every weight plus the batch-norm arrays.

[R1] §3.7 / SPEC §5: at inference the one-bit ResNet needs only sign(W) of each BinaryConv2D
kernel (the per-layer constant sqrt(2 / (k_h·k_w·C_in)) follows from the kernel's shape) and
the batch-norm arrays in float32. [C1] stored booleans in a compressed .mat (≈ 592 KB); this
module stores the bits packed eight per byte, so the sign-bit section of the paper's network
is exactly 3,987,000 / 8 = 498,375 bytes. The byte layout is in docs/packed_format.md.

Files are written atomically (temporary file, then os.replace) and checked when read: magic,
format version, SHA-256 checksum, and a layer table that must match the architecture rebuilt
from the header's ModelConfig. Nothing is ever unpickled.
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
from dcase_lowcomplexity.models.binary_resnet import build_binary_resnet

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
        raise ConfigError("ModelConfig.binary is False: the float twin has no sign bits",
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


def _decode(path: Path) -> tuple[PackedModel, keras.Model]:
    """Decodes and validates a packed file; also returns the (untrained) model of its config."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelFileError(f"cannot read the model file ({err.strerror})", path,
                             fix="check the path") from None
    header, start = _read_header(path, data)
    config, table, (bit_count, float_count) = header["config"], header["table"], header["counts"]
    try:
        model = build_binary_resnet(config)
    except Exception as err:  # any failure to build from the header means a bad file
        raise _bad(path, f"the header's ModelConfig cannot be built ({err})") from None
    if table != _table(_arrays(model)) or bit_count != sum(
        e.length for e in table if e.kind == SIGN_KIND
    ) or float_count != sum(e.length for e in table if e.kind != SIGN_KIND):
        raise _bad(path, "layer table does not match the architecture in the header")
    sign_bytes = math.ceil(bit_count / 8)
    if len(data) != start + sign_bytes + 4 * float_count + _DIGEST_BYTES:
        raise _bad(path, "section sizes do not match the layer table")
    bits = np.unpackbits(np.frombuffer(data, np.uint8, sign_bytes, start), bitorder="big")
    if bits[bit_count:].any():
        raise _bad(path, "padding bits after the last sign bit are not zero")
    floats = np.frombuffer(data, "<f4", float_count, start + sign_bytes).astype(np.float32)
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
