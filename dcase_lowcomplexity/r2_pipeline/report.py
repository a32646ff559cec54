"""Export, scoring and sizes of an [R2] run: what ships is what is scored (SPEC §6).

- `export_model`: the trained network as the .tflite file of its submission
  (`export.formats.export_model`); `export.formats.load_predictor` runs that FILE.
- `write_sizes`: size.md / size.csv from `export.size.size_summary` ([R2]'s trainable
  count beside the DCASE rule, the file and the FP32 base).
- `write_system_json`: the run's summary.json (`evaluation.summary`) for
  experiments/compare_systems.py.
- `write_r2_submission`: DCASE2020 submission files, label Lopez-Meyer_IL_task1b_N.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import keras

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.summary import RunSummary, write_summary
from dcase_lowcomplexity.export import formats
from dcase_lowcomplexity.export.size import SizeReport, SizeSummary, model_size_report, size_summary
from dcase_lowcomplexity.r2_pipeline.profiles import AUTHORS, R2SystemInfo
from dcase_lowcomplexity.atomic import atomic_path, atomic_write_text

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
    return formats.export_model(model, Path(run_dir) / TFLITE_FILES[storage], storage,
                                calibration=calibration, input_shape=input_shape)


def sizes_markdown(s: SizeSummary, report: SizeReport) -> str:
    lines = [
        "| weights | trainable ([R2]'s count) | non-zero trainable | DCASE non-zero "
        "(BN excl.) | bytes / parameter | DCASE size (KB) | file (KB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| {s.storage} (shipped) | {s.trainable:,} | {s.trainable_non_zero:,} | "
        f"{s.dcase_non_zero:,} | {s.bytes_per_parameter:g} | {s.dcase_kb:,.2f} | "
        + (f"{s.file_bytes / 1024:,.2f} ({s.file}) |" if s.file_bytes is not None else "– |"),
    ]
    if s.fp32_base is not None:
        b = s.fp32_base
        lines.append(f"| float32 (FP32 base) | {b['trainable']:,} | {b['trainable_non_zero']:,} "
                     f"| {b['dcase_non_zero']:,} | 4 | {b['dcase_kb']:,.2f} | – |")
    return ("\n".join(lines) + "\n\nDCASE size = non-zero parameters × bytes per parameter / "
            "1024, batch norm excluded (SPEC §1). [R2] counts trainable parameters (batch-norm "
            "γ and β included, moving statistics not). The file is larger: int32 biases, "
            "per-channel scales, folded batch norm, graph metadata, and the zeros of a pruned "
            "model are stored densely.\n\n## Per layer (shipped weights)\n\n"
            + report.to_markdown() + "\n")


def write_sizes(run_dir: Path, shipped: keras.Model, storage: str, tflite_path: Path | None,
                base: keras.Model | None = None) -> tuple[SizeReport, dict]:
    """size.md (summary + per-layer table) and size.csv (per layer) in `run_dir`."""
    summary = size_summary(shipped, storage, tflite_path, base)
    report = model_size_report(shipped, storage=storage)
    atomic_write_text(Path(run_dir) / "size.md", "# Model size\n\n" + sizes_markdown(summary, report))
    report.to_csv(Path(run_dir) / "size.csv")
    return report, summary.to_dict()


def score_split(folder: Path, split_frame, probs, *, log_csv: Path | None, title: str):
    """validation_predictions.csv, results.md/.csv, confusion matrix (+ training curves)."""
    return ex.write_scores(Path(folder), list(split_frame.filename),
                           split_frame.class_index.to_numpy(), probs, log_csv=log_csv,
                           title=title)


def write_system_json(run_dir: Path, info: R2SystemInfo, sizes: dict, *,
                      scored: str, folders: dict[str, str], extra: dict | None = None,
                      reference: str = "fp32", reference_sizes: dict | None = None) -> Path:
    """The run's summary.json (evaluation/summary.py) for experiments/compare_systems.py."""
    return write_summary(run_dir, RunSummary(
        system=info.key, table_name=info.r2_name, label=info.label, storage=info.storage,
        sizes=sizes, scored=scored, folders=folders, reference=reference,
        reference_sizes=reference_sizes or {}, extra=extra or {}))


def write_r2_submission(run_dir: Path, info: R2SystemInfo, filenames: Sequence[str], probs, *,
                        complexity: SizeReport, scores, label: str | None = None):
    """task1/<label>/<label>.output.csv and .meta.yaml for this system."""
    return ex.write_submission(run_dir, label or info.label, filenames, probs,
                               complexity=complexity, scores=scores, name=info.name,
                               abbreviation=info.abbreviation, authors=AUTHORS,
                               description=info.description)
