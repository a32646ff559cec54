"""The five systems side by side: the analogue of [R2] Tables 1–3, with the reports' figures.

Reads finished run folders by their `summary.json` only (evaluation/summary.py, one format
for all five systems); nothing is recomputed but the scores, which come from each folder's
validation_predictions.csv (the shipped file's predictions) and from the reference folders
the summary names (fp32/, teacher/).

Per system: parameters as the report counts them ([R2]: trainable, non-zero; [R1]: its conv
weights) beside the report's, the DCASE rule (non-zero parameters × bytes, batch norm
excluded), the file size and the FP32 base; accuracy and log loss of the SHIPPED model; and
[R2] Table 3's compression metrics against [R2]'s own references: the KD student against the
TEACHER (report: 99.9×, 4.25 points), the INT8, lottery-ticket and GCC-grams systems against
their FP32 bases (4.0×, 0.58; 2.5×, 0.05; 2.0×, 0.00). The KD teacher gets its own row.

Imports no TensorFlow: tables of finished runs build in a second.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from dcase_lowcomplexity.atomic import atomic_write_text
from dcase_lowcomplexity.config import CLASS_NAMES, dcase_size_kb
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation import outputs
from dcase_lowcomplexity.evaluation.metrics import ClipScores
from dcase_lowcomplexity.evaluation.outputs import PREDICTIONS_FILE
from dcase_lowcomplexity.evaluation.summary import read_summary
from dcase_lowcomplexity.reported import (
    R1_NAME, R1_SIZE_KB, R1_TABLE1, R1_WEIGHTS, R2_TABLE, R2_TEACHER_ACCURACY,
    R2_TEACHER_PARAMETERS, R2_TEACHER_SIZE_KB, TEACHER_NAME,
)

# The runs of experiments/compare_systems.py's default folders, in table order.
RUN_KEYS = ("task1b_binary", "task1b_int8", "task1b_lottery", "task1b_distill",
            "task1b_gccgram")
REFERENCE_NAMES = {"fp32": "FP32 base", "teacher": "VGG-12 teacher"}


@dataclass(frozen=True)
class Reported:
    """What [R1] or [R2] prints for a system (None where it prints nothing)."""

    source: str
    parameters: int
    size_kb: float | None
    accuracy: float
    log_loss: float | None = None
    reference: str | None = None  # [R2] Table 3's reference model (a Table 1 row)
    reference_kb: float | None = None
    reference_accuracy: float | None = None
    reduction: float | None = None  # as printed in [R2] Table 3
    drop: float | None = None  # as printed in [R2] Table 3
    format: str | None = None


def reported_for(system: str) -> Reported | None:
    """The report's row for a table name (reported.R2_TABLE names, R1_NAME, TEACHER_NAME)."""
    if system == R1_NAME:
        accuracy, log_loss = R1_TABLE1["overall"]
        return Reported("[R1]", R1_WEIGHTS, R1_SIZE_KB, accuracy, log_loss, format="1 bit")
    if system == TEACHER_NAME:
        return Reported("[R2]", R2_TEACHER_PARAMETERS, R2_TEACHER_SIZE_KB, R2_TEACHER_ACCURACY,
                        format="FP32")
    for row in R2_TABLE:
        if row.system == system:
            return Reported("[R2]", row.parameters, row.size_kb, row.accuracy,
                            reference=row.reference, reference_kb=row.base.size_kb,
                            reference_accuracy=row.base.accuracy, reduction=row.reduction,
                            drop=row.drop, format=row.format)
    return None


def _percent(scores: ClipScores | None) -> float | None:
    return None if scores is None else 100 * scores.balanced_accuracy


@dataclass(frozen=True)
class SystemRow:
    """One system of one run: our sizes and scores beside the report's."""

    system: str
    run_dir: Path
    storage: str
    bytes_per_parameter: float
    parameters: int | None  # counted as the report counts (see `parameters_rule`)
    parameters_rule: str
    dcase_non_zero: int
    dcase_kb: float
    file_name: str | None
    file_bytes: int | None
    fp32_kb: float | None
    scores: ClipScores | None
    fp32_scores: ClipScores | None
    reference: str | None  # [R2] Table 3's reference: "fp32" or "teacher"
    reference_kb: float | None
    reference_scores: ClipScores | None
    reported: Reported | None

    @property
    def accuracy(self) -> float | None:
        return _percent(self.scores)

    @property
    def fp32_accuracy(self) -> float | None:
        return _percent(self.fp32_scores)

    @property
    def reference_accuracy(self) -> float | None:
        return _percent(self.reference_scores)

    @property
    def reduction(self) -> float | None:
        """Reference size / shipped size ([R2] Table 3 "Reduction")."""
        return None if self.reference_kb is None else self.reference_kb / self.dcase_kb

    @property
    def drop(self) -> float | None:
        """Reference accuracy − shipped accuracy, points ([R2] Table 3 "Acc drop")."""
        if self.accuracy is None or self.reference_accuracy is None:
            return None
        return self.reference_accuracy - self.accuracy


# -- reading run folders ---------------------------------------------------------------------
def load_scores(folder: Path) -> ClipScores | None:
    """Scores of folder/validation_predictions.csv, None when the folder has none."""
    return outputs.load_scores(folder) if (Path(folder) / PREDICTIONS_FILE).is_file() else None


def _counted(sizes: dict) -> tuple[int | None, str]:
    if sizes["storage"] == "1bit":
        return sizes["dcase_parameters"], "[R1]'s count: conv weights (batch norm excluded)"
    return sizes["trainable_non_zero"], "[R2]'s count: trainable, non-zero"


def _reference_row(run_dir: Path, name: str, sizes: dict, folder: str) -> SystemRow:
    """A reference network's own row (the KD teacher), scored from its folder."""
    system = TEACHER_NAME if name == "teacher" else f"{run_dir.name}: {name}"
    return SystemRow(
        system, run_dir, sizes["storage"], sizes["bytes_per_parameter"], sizes["trainable"],
        "[R2]'s count: trainable", sizes["dcase_non_zero"], sizes["dcase_kb"], sizes["file"],
        sizes["file_bytes"], None, load_scores(run_dir / folder), None, None, None, None,
        reported_for(system))


def read_run(run_dir: str | Path) -> list[SystemRow]:
    """Rows of one finished run folder; ConfigError naming the folder or file otherwise."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError("no such run folder", run_dir,
                          fix="run its experiments/task1b_*.py script first (same --profile), "
                              "or pass the folder it wrote")
    s = read_summary(run_dir)
    sizes, folders = s.sizes, s.folders
    fp32_base = sizes.get("fp32_base") or {}
    fp32_scores = load_scores(run_dir / folders["fp32"]) if "fp32" in folders else None
    if s.reference == "fp32":
        reference_kb, reference_scores = fp32_base.get("dcase_kb"), fp32_scores
    else:
        reference_kb = s.reference_sizes[s.reference]["dcase_kb"]
        folder = folders.get(s.reference)
        reference_scores = load_scores(run_dir / folder) if folder else None
    parameters, rule = _counted(sizes)
    rows = [SystemRow(
        s.table_name, run_dir, s.storage, sizes["bytes_per_parameter"], parameters, rule,
        sizes["dcase_non_zero"], sizes["dcase_kb"], sizes["file"], sizes["file_bytes"],
        fp32_base.get("dcase_kb"), load_scores(run_dir), fp32_scores, s.reference,
        reference_kb, reference_scores, reported_for(s.table_name))]
    rows += [_reference_row(run_dir, name, ref, folders[name])
             for name, ref in s.reference_sizes.items() if name in folders]
    return rows


def default_run_dirs(profile: str, runs_root: str | Path = "runs") -> list[Path]:
    return [Path(runs_root) / key / f"{profile}-fold1-seed0" for key in RUN_KEYS]


# -- tables ----------------------------------------------------------------------------------
def _f(value, fmt: str) -> str:
    return "–" if value is None or (isinstance(value, float) and not np.isfinite(value)) \
        else format(value, fmt)


def _pair(ours, reported, fmt: str, *, delta: bool = False, reported_fmt: str | None = None) -> str:
    """"ours / reported" ("ours" alone if equal); with Δ = ours − reported when asked."""
    if reported is None:
        return _f(ours, fmt)
    rfmt = reported_fmt or fmt
    if ours is not None and format(ours, fmt) == format(reported, rfmt):
        return format(ours, fmt)
    text = f"{_f(ours, fmt)} / {_f(reported, rfmt)}"
    if delta and ours is not None:
        text += f" ({ours - reported:+{fmt}})"
    return text


def _bytes_per_parameter(b: float) -> str:
    return "1/8" if b == 1 / 8 else f"{b:g}"


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|---|" + "---:|" * (len(header) - 1)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def size_table(rows: Sequence[SystemRow]) -> str:
    """Table 1: sizes (ours / reported)."""
    body = []
    for r in rows:
        rep = r.reported
        body.append([
            r.system, r.storage, _bytes_per_parameter(r.bytes_per_parameter),
            _pair(r.parameters, rep and rep.parameters, ",d", delta=True),
            f"{r.dcase_non_zero:,}", _pair(r.dcase_kb, rep and rep.size_kb, ",.2f"),
            _f(None if r.file_bytes is None else r.file_bytes / 1024, ",.2f"),
            _f(r.fp32_kb, ",.2f")])
    return _markdown(["system", "weights", "bytes / param.", "parameters (ours / report)",
                      "DCASE non-zero (BN excl.)", "DCASE KB (ours / report)", "file KB",
                      "FP32 base KB"], body)


def accuracy_table(rows: Sequence[SystemRow]) -> str:
    """Table 2: the shipped model's scores (and its FP32 base's accuracy)."""
    body = []
    for r in rows:
        rep = r.reported
        body.append([
            r.system, r.file_name or "Keras FP32",
            _pair(r.accuracy, rep and rep.accuracy, ".2f"),
            _f(None if r.scores is None else 100 * r.scores.accuracy, ".2f"),
            _pair(None if r.scores is None else r.scores.log_loss, rep and rep.log_loss, ".3f"),
            _f(r.fp32_accuracy, ".2f")])
    return _markdown(["system", "scored", "accuracy % (ours / report)", "raw accuracy %",
                      "log loss (ours / report)", "FP32 base accuracy %"], body)


def compression_table(rows: Sequence[SystemRow]) -> str:
    """Table 3: [R2] Table 3's metrics against its references, ours / the report's."""
    body = []
    for r in rows:
        if r.reference is None:
            continue
        rep = r.reported
        ours = REFERENCE_NAMES.get(r.reference, r.reference)
        body.append([
            r.system, ours if rep is None or rep.reference is None else f"{ours} / {rep.reference}",
            _pair(r.reference_kb, rep and rep.reference_kb, ",.2f"),
            _pair(r.reduction, rep and rep.reduction, ".2f", reported_fmt=".1f"),
            _pair(r.reference_accuracy, rep and rep.reference_accuracy, ".2f"),
            _pair(r.drop, rep and rep.drop, ".2f"),
            rep.format if rep and rep.format else r.storage])
    return _markdown(["system", "reference (ours / report)", "reference KB (ours / report)",
                      "reduction × (ours / report)", "reference accuracy % (ours / report)",
                      "accuracy drop, points (ours / report)", "format"], body)


def classwise_table(rows: Sequence[SystemRow]) -> str:
    """Table 4: class-wise accuracy % / log loss ([R1] Table 1 layout, one row per system)."""
    body = []
    for r in rows:
        if r.scores is None:
            body.append([r.system] + ["–"] * (len(CLASS_NAMES) + 1))
            continue
        s = r.scores
        cells = [f"{100 * a:.2f} / {ll:.3f}"
                 for a, ll in zip(s.per_class_accuracy, s.per_class_log_loss)]
        body.append([r.system, *cells, f"{100 * s.balanced_accuracy:.2f} / {s.log_loss:.3f}"])
    return _markdown(["system", *CLASS_NAMES, "overall"], body)


def _record(r: SystemRow) -> dict:
    record = {
        "system": r.system, "run_dir": str(r.run_dir), "weights": r.storage,
        "bytes_per_parameter": r.bytes_per_parameter, "parameters": r.parameters,
        "parameters_rule": r.parameters_rule, "dcase_non_zero": r.dcase_non_zero,
        "dcase_kb": r.dcase_kb, "file": r.file_name,
        "file_kb": None if r.file_bytes is None else r.file_bytes / 1024,
        "fp32_base_kb": r.fp32_kb, "accuracy_percent": r.accuracy,
        "raw_accuracy_percent": None if r.scores is None else 100 * r.scores.accuracy,
        "log_loss": None if r.scores is None else r.scores.log_loss,
        "fp32_accuracy_percent": r.fp32_accuracy, "reference": r.reference,
        "reference_kb": r.reference_kb, "reference_accuracy_percent": r.reference_accuracy,
        "reduction": r.reduction, "accuracy_drop_pp": r.drop,
        "files": None if r.scores is None else r.scores.n_files,
    }
    if r.scores is not None:
        for name, a in zip(CLASS_NAMES, r.scores.per_class_accuracy):
            record[f"{name}_accuracy_percent"] = 100 * a
    for key in ("source", "parameters", "size_kb", "accuracy", "log_loss", "reference",
                "reference_kb", "reference_accuracy", "reduction", "drop"):
        record[f"reported_{key}"] = None if r.reported is None else getattr(r.reported, key)
    return record


def compare_frame(rows: Sequence[SystemRow]) -> pd.DataFrame:
    """Every number of the tables, one row per system (compare.csv)."""
    return pd.DataFrame.from_records([_record(r) for r in rows])


def compare_markdown(rows: Sequence[SystemRow]) -> str:
    notes = (
        "Parameters are counted as each report counts them: [R2] its trainable parameters "
        "(batch-norm γ and β included, moving statistics not; non-zero ones for the pruned "
        "model), [R1] its conv weights. DCASE size = non-zero parameters × bytes per "
        "parameter / 1024, batch norm excluded (SPEC §1); the file is the shipped .tflite / "
        "packed-bit file. Table 3 measures each system against [R2]'s reference: the KD "
        "student against the teacher, the others against their FP32 base (reduction = "
        "reference size / shipped size; drop = reference accuracy − shipped accuracy, "
        f"points); [R1]'s reference is its weights in float32 ({dcase_size_kb(R1_WEIGHTS, 4):,.2f}"
        " KB for the paper's network). Accuracy = macro average over the classes of the "
        "validation split. [R2] trained AclNet and the teacher after AudioSet pre-training; "
        "ours train from scratch.")
    return (f"# The five systems side by side\n\n## Table 1: model size\n\n{size_table(rows)}\n\n"
            f"## Table 2: accuracy of the shipped model\n\n{accuracy_table(rows)}\n\n"
            f"## Table 3: compression against [R2]'s references\n\n{compression_table(rows)}\n\n"
            f"## Table 4: class-wise accuracy (%) / log loss\n\n{classwise_table(rows)}\n\n"
            f"{notes}\n")


def write_compare(rows: Sequence[SystemRow], out_dir: str | Path) -> tuple[Path, Path]:
    """compare.md and compare.csv in `out_dir`, written atomically."""
    out_dir = Path(out_dir)
    md = atomic_write_text(out_dir / "compare.md", compare_markdown(rows))
    csv_path = atomic_write_text(out_dir / "compare.csv",
                                 compare_frame(rows).to_csv(index=False, float_format="%.10g"))
    return md, csv_path
