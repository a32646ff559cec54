"""Model size by the DCASE2020 Task 1b rule (SPEC §1, §3, §6).

Size = Σ over non-zero parameters of the bits of their storage type; batch-norm parameters
(moving statistics included) are excluded; 1 KB = 1024 bytes. A BinaryConv2D kernel is one
bit per weight, and every weight counts: sign(0) = +1 is a real bit and Ŵ is never zero.
For the paper's network: 3,987,000 bits = 498,375 bytes = 486.69 KB, 6,340 BN floats
excluded ([R1] §3.4). For [R2]: 317,038 × 4 / 1024 = 1,238.43 KB, × 1 = 309.61 KB;
252,713 × 2 / 1024 = 493.58 KB.

[R2] counts parameters differently: its "trainable parameters" (`trainable_parameters`,
batch-norm γ and β included, moving statistics not; non-zero ones for a pruned model).
`size_summary` puts both beside the shipped file's bytes and the FP32 base's size.

Command line (export/size/__main__.py; prints the table, `--r2` the [R2] networks'
trainable counts beside the report's):

    python -m dcase_lowcomplexity.export.size [MODEL_FILE] [--storage S] [--config paper|demo]
    python -m dcase_lowcomplexity.export.size --r2
"""
from __future__ import annotations

import csv
import dataclasses
import importlib
import io
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from dcase_lowcomplexity.atomic import atomic_write_text
from dcase_lowcomplexity.errors import ConfigError, ModelFileError
from dcase_lowcomplexity.export.bitpack import MAGIC, file_head, load_packed
from dcase_lowcomplexity.layers import BinaryConv2D

KB = 1024  # DCASE: 1 KB = 1024 bytes
STORAGE_BITS = {"binary": 1, "int8": 8, "float16": 16, "float32": 32}
_DTYPE_BITS = {"bfloat16": 16}  # not a NumPy dtype; the others follow np.dtype(...).itemsize


@dataclass(frozen=True)
class SizeRow:
    """One layer's parameters (split by storage type only if the layer mixes types)."""

    name: str
    kind: str
    parameters: int
    non_zero: int
    bits_per_param: int
    size_bytes: float


@dataclass(frozen=True)
class SizeReport:
    """The DCASE size of a model: per-layer rows and totals (batch norm excluded)."""

    rows: tuple[SizeRow, ...]
    total_parameters: int
    non_zero_parameters: int
    size_bytes: float
    size_kb: float
    bn_parameters_excluded: int
    storage: str | None = None  # None: each weight's own type, BinaryConv2D kernels 1 bit

    @property
    def bn_kb(self) -> float:
        """What the excluded batch-norm floats would take as float32 (24.77 KB for [R1])."""
        return self.bn_parameters_excluded * 4 / KB

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"rows": [dataclasses.asdict(r) for r in self.rows]}

    def to_markdown(self) -> str:
        lines = [
            "| layer | kind | parameters | non-zero | bits | bytes |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            lines.append(f"| {r.name} | {r.kind} | {r.parameters:,} | {r.non_zero:,} | "
                         f"{r.bits_per_param} | {_bytes(r.size_bytes)} |")
        lines.append(f"| **total** | | {self.total_parameters:,} | "
                     f"{self.non_zero_parameters:,} | | {_bytes(self.size_bytes)} |")
        storage = self.storage or "native (BinaryConv2D 1 bit, others their dtype)"
        lines += [
            "",
            f"Storage: {storage}. DCASE2020 size (non-zero parameters × bits, batch norm "
            f"excluded, 1 KB = 1024 bytes): **{self.size_kb:,.2f} KB** "
            f"({_bytes(self.size_bytes)} bytes).",
            f"Batch-norm floats excluded: {self.bn_parameters_excluded:,} "
            f"({self.bn_kb:,.2f} KB as float32).",
        ]
        return "\n".join(lines)

    def to_csv(self, path: str | Path) -> Path:
        """Writes the rows and a total row (atomically) and returns the path."""
        path = Path(path)
        buffer = io.StringIO()
        fields = [f.name for f in dataclasses.fields(SizeRow)]
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(dataclasses.asdict(r) for r in self.rows)
        writer.writerow({"name": "total", "kind": "", "parameters": self.total_parameters,
                         "non_zero": self.non_zero_parameters, "bits_per_param": "",
                         "size_bytes": self.size_bytes})
        return atomic_write_text(path, buffer.getvalue())


def _bytes(n: float) -> str:
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.1f}"


def _dtype_bits(dtype) -> int:
    name = keras.backend.standardize_dtype(dtype)
    if name in _DTYPE_BITS:
        return _DTYPE_BITS[name]
    try:
        return np.dtype(name).itemsize * 8
    except TypeError:
        raise ConfigError(f"no storage size known for weights of dtype {name!r}",
                          fix="pass storage='float32', 'float16', 'int8' or 'binary'") from None


def _leaf_layers(model, prefix=""):
    """(display name, layer) of every layer, descending into nested models."""
    for layer in model.layers:
        if isinstance(getattr(layer, "layers", None), list) and layer.layers:
            yield from _leaf_layers(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


def _rows(name: str, kind: str, weights, one_bit_ids: set, storage) -> list[SizeRow]:
    """One row per storage width among `weights` (a layer normally has a single one)."""
    groups: dict[int, list] = {}
    for weight in weights:
        binary = id(weight) in one_bit_ids
        bits = STORAGE_BITS[storage] if storage else 1 if binary else _dtype_bits(weight.dtype)
        values = np.asarray(keras.ops.convert_to_numpy(weight))
        # A one-bit weight is ±scale, never zero: every one of them is stored.
        non_zero = values.size if binary or bits == 1 else int(np.count_nonzero(values))
        groups.setdefault(bits, []).append((weight.name, values.size, non_zero))
    rows = []
    for bits, group in groups.items():
        label = name if len(groups) == 1 else f"{name} [{', '.join(n for n, _, _ in group)}]"
        non_zero = sum(n for _, _, n in group)
        rows.append(SizeRow(label, kind, sum(s for _, s, _ in group), non_zero, bits,
                            non_zero * bits / 8))
    return rows


def model_size_report(model: keras.Model, storage: str | None = None) -> SizeReport:
    """DCASE2020 size of `model` ([R1] §3.4, [R2] §2; SPEC §1).

    storage None: BinaryConv2D kernels 1 bit each, other weights their dtype's bits
    (float32 32, float16 16, int8 8). A string ("binary", "float32", "float16", "int8")
    forces those bits for every non-batch-norm parameter. Zero weights are not counted
    (pruned models of [R2]), except one-bit weights, which are all stored.
    """
    if storage is not None and storage not in STORAGE_BITS:
        raise ConfigError(f"unknown storage {storage!r}",
                          fix=f"use one of {', '.join(STORAGE_BITS)} or None")
    rows, seen, bn_parameters = [], set(), 0
    one_bit_ids = {id(layer.kernel) for _, layer in _leaf_layers(model)
                   if isinstance(layer, BinaryConv2D)}
    for name, layer in _leaf_layers(model):
        weights = [w for w in layer.weights if id(w) not in seen]  # shared weights count once
        seen.update(id(w) for w in weights)
        if isinstance(layer, keras.layers.BatchNormalization):
            bn_parameters += sum(int(np.prod(w.shape)) for w in weights)
        else:
            rows += _rows(name, type(layer).__name__, weights, one_bit_ids, storage)
    own = [w for w in model.weights if id(w) not in seen]
    if own:  # weights a subclassed model created itself, outside any layer
        rows += _rows(f"{model.name} (own weights)", type(model).__name__, own, one_bit_ids,
                      storage)
    size_bytes = sum(r.non_zero * r.bits_per_param for r in rows) / 8
    return SizeReport(
        rows=tuple(rows),
        total_parameters=sum(r.parameters for r in rows),
        non_zero_parameters=sum(r.non_zero for r in rows),
        size_bytes=size_bytes,
        size_kb=size_bytes / KB,
        bn_parameters_excluded=bn_parameters,
        storage=storage,
    )


# -- parameters as [R2] counts them, and the run's size summary --------------------------------
SUMMARY_STORAGE = {"1bit": ("binary", 1 / 8), "int8": ("int8", 1), "float16": ("float16", 2),
                   "float32": ("float32", 4)}


def trainable_parameters(model: keras.Model) -> int:
    """[R2]'s count: the model's trainable weights (batch-norm γ and β count, the moving mean
    and variance do not). 12,621,635 for the VGG-12 teacher ([R2] Table 1)."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def non_zero_trainable_parameters(model: keras.Model) -> int:
    """[R2]'s count of a pruned model: trainable weights that are not zero (255,740 for the
    lottery ticket, [R2] Table 2)."""
    return int(sum(int(np.count_nonzero(keras.ops.convert_to_numpy(w)))
                   for w in model.trainable_weights))


@dataclass(frozen=True)
class SizeSummary:
    """The sizes of a shipped model, as `summary.json` stores them (`to_dict`).

    `trainable` / `trainable_non_zero`: [R2]'s count; `dcase_parameters` / `dcase_non_zero` /
    `dcase_kb`: the DCASE rule (non-zero parameters × bytes, batch norm excluded);
    `file` / `file_bytes`: the shipped file; `fp32_base`: the FP32 base network's sizes
    (keys trainable, trainable_non_zero, dcase_non_zero, dcase_kb) or None."""

    storage: str
    bytes_per_parameter: float
    trainable: int | None
    trainable_non_zero: int | None
    bn_parameters: int
    dcase_parameters: int
    dcase_non_zero: int
    dcase_kb: float
    file: str | None = None
    file_bytes: int | None = None
    fp32_base: dict | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _storage(storage: str) -> tuple[str, float]:
    if storage not in SUMMARY_STORAGE:
        raise ConfigError(f"unknown storage {storage!r}",
                          fix=f"use one of {', '.join(SUMMARY_STORAGE)}")
    return SUMMARY_STORAGE[storage]


def _file_sizes(file: str | Path | None) -> dict:
    if file is None:
        return {}
    path = Path(file)
    if not path.is_file():
        raise ModelFileError("the shipped file does not exist", path, fix="export the model first")
    return {"file": path.name, "file_bytes": int(path.stat().st_size)}


def size_summary(shipped: keras.Model, storage: str, file: str | Path | None = None,
                 base: keras.Model | None = None) -> SizeSummary:
    """Sizes of `shipped` stored as `storage` ("1bit", "int8", "float16", "float32"): [R2]'s
    trainable counts, the DCASE rule, the shipped `file`'s bytes and the FP32 `base`'s sizes
    (the network before quantisation / pruning; the shipped one itself for [R1])."""
    report_storage, bytes_per_parameter = _storage(storage)
    report = model_size_report(shipped, storage=report_storage)
    fp32_base = None
    if base is not None:
        fp32 = model_size_report(base, storage="float32")
        fp32_base = {"trainable": trainable_parameters(base),
                     "trainable_non_zero": non_zero_trainable_parameters(base),
                     "dcase_non_zero": int(fp32.non_zero_parameters), "dcase_kb": fp32.size_kb}
    return SizeSummary(
        storage=storage, bytes_per_parameter=bytes_per_parameter,
        trainable=trainable_parameters(shipped),
        trainable_non_zero=non_zero_trainable_parameters(shipped),
        bn_parameters=int(report.bn_parameters_excluded),
        dcase_parameters=int(report.total_parameters),
        dcase_non_zero=int(report.non_zero_parameters), dcase_kb=report.size_kb,
        fp32_base=fp32_base, **_file_sizes(file))


def summary_of_report(report: SizeReport, storage: str = "1bit",
                      file: str | Path | None = None) -> SizeSummary:
    """A SizeSummary from a SizeReport alone ([R1]'s size table): no trainable counts; the
    FP32 base is the same weights in float32 (one-bit weights: reduction 32)."""
    _, bytes_per_parameter = _storage(storage)
    fp32_base = {"trainable": None, "trainable_non_zero": None,
                 "dcase_non_zero": int(report.total_parameters),
                 "dcase_kb": report.total_parameters * 4 / KB}
    return SizeSummary(
        storage=storage, bytes_per_parameter=bytes_per_parameter, trainable=None,
        trainable_non_zero=None, bn_parameters=int(report.bn_parameters_excluded),
        dcase_parameters=int(report.total_parameters),
        dcase_non_zero=int(report.non_zero_parameters), dcase_kb=report.size_kb,
        fp32_base=fp32_base, **_file_sizes(file))


def sizes_markdown(s: SizeSummary, report: SizeReport) -> str:
    """size.md: the shipped model's counts and sizes, its FP32 base, then per layer."""
    lines = [
        "| weights | trainable ([R2]'s count) | non-zero trainable | DCASE non-zero "
        "(BN excl.) | bytes / parameter | DCASE size (KB) | file (KB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| {s.storage} (shipped) | {s.trainable:,} | {s.trainable_non_zero:,} | "
        f"{s.dcase_non_zero:,} | {s.bytes_per_parameter:g} | {s.dcase_kb:,.2f} | "
        + (f"{s.file_bytes / KB:,.2f} ({s.file}) |" if s.file_bytes is not None else "– |"),
    ]
    if s.fp32_base is not None:
        b = s.fp32_base
        lines.append(f"| float32 (FP32 base) | {b['trainable']:,} | {b['trainable_non_zero']:,} "
                     f"| {b['dcase_non_zero']:,} | 4 | {b['dcase_kb']:,.2f} | – |")
    return ("\n".join(lines) + "\n\nDCASE size = non-zero parameters × bytes per parameter / "
            "1024, batch norm excluded (SPEC §1). [R2] counts trainable parameters (batch-norm "
            "γ and β included, moving statistics not). A .tflite file is larger: int32 biases, "
            "per-channel scales, folded batch norm, graph metadata, and the zeros of a pruned "
            "model are stored densely.\n\n## Per layer (shipped weights)\n\n"
            + report.to_markdown() + "\n")


def write_sizes(folder: str | Path, shipped: keras.Model, storage: str,
                file: str | Path | None = None,
                base: keras.Model | None = None) -> tuple[SizeReport, SizeSummary]:
    """size.md (summary + per-layer table) and size.csv (per layer) in `folder`."""
    summary = size_summary(shipped, storage, file, base)
    report = model_size_report(shipped, storage=_storage(storage)[0])
    atomic_write_text(Path(folder) / "size.md", "# Model size\n\n" +
                      sizes_markdown(summary, report))
    report.to_csv(Path(folder) / "size.csv")
    return report, summary


def _register_package_layers() -> None:
    """Imports every model module so their registered layers are known to load_model."""
    import dcase_lowcomplexity.models as models

    for info in pkgutil.iter_modules(models.__path__, prefix=f"{models.__name__}."):
        try:
            importlib.import_module(info.name)
        except Exception:  # a broken sibling module must not stop sizing other models
            continue


def load_model_file(path: str | Path) -> keras.Model:
    """A `.keras` file (loaded with safe_mode=True) or a packed one-bit file."""
    path = Path(path)
    magic = file_head(path, fix="check the path")
    if magic == MAGIC:
        return load_packed(path)
    if not magic.startswith(b"PK\x03\x04"):
        raise ModelFileError("neither a .keras file nor a packed one-bit file", path,
                             fix="pass a file written by model.save(...keras) or save_packed")
    _register_package_layers()
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # Keras raises many types for a bad archive
        raise ModelFileError(f"cannot load the .keras file ({type(err).__name__}: {err})",
                             path, fix="re-save the model with model.save(path)") from None
