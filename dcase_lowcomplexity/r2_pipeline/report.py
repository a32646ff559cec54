"""Export, scoring and sizes of an [R2] run: what ships is what is scored (SPEC §6).

- `export_model`: the trained network as the .tflite file of its submission (full-integer
  INT8 or FP16 weights, `export.tflite`).
- `tflite_predictor`: runs that FILE with the LiteRT interpreter. An INT8 softmax has 1/256
  resolution (its output scale is fixed at 1/256, zero point −128), so a class can come out
  at exactly 0; the probabilities are floored at half a step, 1/512, and renormalised before
  scoring, otherwise one confident miss would cost −ln(2.2e-16) = 36 in the log loss instead
  of ln 512 = 6.2. Accuracy is unaffected (no argmax changes).
- `write_sizes`: the DCASE size of the shipped weights (non-zero parameters × bytes, batch
  norm excluded, `export.size.model_size_report`) beside the real file size and [R2]'s way
  of counting (every parameter, batch norm included), and the FP32 base's size;
  size.md / size.csv / the `sizes` block of system.json.
- `write_system_json`: the run's summary for experiments/compare_systems.py.
- `write_r2_submission`: DCASE2020 submission files, label Lopez-Meyer_IL_task1b_N.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.export.size import SizeReport, model_size_report
from dcase_lowcomplexity.export.tflite import TFLiteModel, convert_fp16, convert_int8
from dcase_lowcomplexity.r2_pipeline.profiles import AUTHORS, R2SystemInfo
from dcase_lowcomplexity.atomic import atomic_path, atomic_write_text

SYSTEM_FILE = "system.json"
SYSTEM_FORMAT = "dcase_lowcomplexity.r2_system/1"
BYTES_PER_PARAMETER = {"int8": 1, "float16": 2, "float32": 4}
INT8_PROBABILITY_FLOOR = 1.0 / 512  # half of the INT8 softmax's 1/256 step
TFLITE_FILES = {"int8": "model_int8.tflite", "float16": "model_fp16.tflite"}


def save_keras(model: keras.Model, path: Path) -> Path:
    """`model.save` to a temporary .keras file, then renamed into place."""
    with atomic_path(path) as tmp:
        model.save(tmp)
    return Path(path)


def export_model(model: keras.Model, run_dir: Path, storage: str, *, calibration=None,
                 input_shape=None) -> Path:
    """run_dir/model_int8.tflite (calibrated on `calibration`) or run_dir/model_fp16.tflite."""
    if storage not in TFLITE_FILES:
        raise ConfigError(f"storage {storage!r} is not one of {tuple(TFLITE_FILES)}")
    path = Path(run_dir) / TFLITE_FILES[storage]
    if storage == "int8":
        return convert_int8(model, calibration, path, input_shape=input_shape)
    return convert_fp16(model, path, input_shape=input_shape)


def tflite_predictor(path: Path, batch_size: int = 64):
    """x → float64 probabilities of the .tflite FILE (LiteRT), INT8 outputs floored."""
    model = TFLiteModel(path)
    int8_output = model.output_dtype == np.int8

    def predict(x: np.ndarray) -> np.ndarray:
        p = np.asarray(model.predict(x, batch_size=batch_size), dtype=np.float64)
        if int8_output:
            p = np.maximum(p, INT8_PROBABILITY_FLOOR)
            p /= p.sum(axis=1, keepdims=True)
        return p

    return predict


def size_summary(shipped: keras.Model, storage: str, tflite_path: Path | None,
                 base: keras.Model | None = None) -> tuple[SizeReport, dict[str, Any]]:
    """(SizeReport of the shipped weights, summary dict) — see the module docstring."""
    report = model_size_report(shipped, storage=storage)
    bpp = BYTES_PER_PARAMETER[storage]
    all_non_zero = report.non_zero_parameters + report.bn_parameters_excluded
    summary = {
        "storage": storage,
        "bytes_per_parameter": bpp,
        "parameters": int(shipped.count_params()),  # [R2]'s count: batch norm included
        "parameters_non_zero": int(all_non_zero),  # [R2]'s count of a pruned model
        "bn_parameters": int(report.bn_parameters_excluded),
        "dcase_parameters": int(report.total_parameters),
        "dcase_non_zero": int(report.non_zero_parameters),
        "dcase_kb": report.size_kb,
        "r2_style_kb": all_non_zero * bpp / 1024,
    }
    if tflite_path is not None:
        summary.update(model_file=Path(tflite_path).name,
                       file_bytes=int(Path(tflite_path).stat().st_size))
    if base is not None:
        fp32 = model_size_report(base, storage="float32")
        summary["fp32_base"] = {
            "parameters": int(base.count_params()),
            "dcase_non_zero": int(fp32.non_zero_parameters),
            "dcase_kb": fp32.size_kb,
        }
    return report, summary


def sizes_markdown(summary: dict, report: SizeReport) -> str:
    s = summary
    lines = [
        "| weights | parameters ([R2] count, BN incl.) | non-zero ([R2] count) | DCASE non-zero "
        "(BN excl.) | bytes / parameter | DCASE size (KB) | [R2]-style size (KB) | file (KB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| {s['storage']} (shipped) | {s['parameters']:,} | {s['parameters_non_zero']:,} | "
        f"{s['dcase_non_zero']:,} | {s['bytes_per_parameter']} | {s['dcase_kb']:,.2f} | "
        f"{s['r2_style_kb']:,.2f} | "
        + (f"{s['file_bytes'] / 1024:,.2f} ({s['model_file']}) |" if "file_bytes" in s
           else "– |"),
    ]
    if "fp32_base" in s:
        b = s["fp32_base"]
        lines.append(f"| float32 (FP32 base) | {b['parameters']:,} | – | {b['dcase_non_zero']:,} "
                     f"| 4 | {b['dcase_kb']:,.2f} | – | – |")
    return ("\n".join(lines) + "\n\nDCASE size = non-zero parameters × bytes per parameter / "
            "1024, batch norm excluded (SPEC §1). The file is larger: int32 biases, "
            "per-channel scales, folded batch norm, graph metadata, and the zeros of a pruned "
            "model are stored densely.\n\n## Per layer (shipped weights)\n\n"
            + report.to_markdown() + "\n")


def write_sizes(run_dir: Path, shipped: keras.Model, storage: str, tflite_path: Path | None,
                base: keras.Model | None = None) -> tuple[SizeReport, dict]:
    """size.md (summary + per-layer table) and size.csv (per layer) in `run_dir`."""
    report, summary = size_summary(shipped, storage, tflite_path, base)
    atomic_write_text(Path(run_dir) / "size.md", "# Model size\n\n" + sizes_markdown(summary, report))
    report.to_csv(Path(run_dir) / "size.csv")
    return report, summary


def score_split(folder: Path, split_frame, probs, *, log_csv: Path | None, title: str):
    """validation_predictions.csv, results.md/.csv, confusion matrix (+ training curves)."""
    return ex.write_scores(Path(folder), list(split_frame.filename),
                           split_frame.class_index.to_numpy(), probs, log_csv=log_csv,
                           title=title)


def write_system_json(run_dir: Path, info: R2SystemInfo, sizes: dict, *,
                      scored: str, folders: dict[str, str], extra: dict | None = None) -> Path:
    """The run's summary: system, sizes, which file was scored, where the reference scores
    (FP32 base, teacher, …) are. Scores themselves stay in the validation_predictions.csv
    files, which experiments/compare_systems.py rescores."""
    data = {"format": SYSTEM_FORMAT, "key": info.key, "system": info.r2_name,
            "label": info.label, "sizes": sizes, "scored": scored, "folders": folders,
            "extra": extra or {}}
    return atomic_write_text(Path(run_dir) / SYSTEM_FILE,
                             json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")


def write_r2_submission(run_dir: Path, info: R2SystemInfo, filenames: Sequence[str], probs, *,
                        complexity: SizeReport, scores, label: str | None = None):
    """task1/<label>/<label>.output.csv and .meta.yaml for this system."""
    return ex.write_submission(run_dir, label or info.label, filenames, probs,
                               complexity=complexity, scores=scores, name=info.name,
                               abbreviation=info.abbreviation, authors=AUTHORS,
                               description=info.description)
