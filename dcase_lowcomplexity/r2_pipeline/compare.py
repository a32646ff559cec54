"""The five systems side by side: the analogue of [R2] Tables 1–3 with [R1]/[R2]'s figures.

Reads finished run folders (nothing is recomputed but the scores, which come from each
run's validation_predictions.csv files):
- an [R2] run (experiments/task1b_{int8,lottery,distill,gccgram}.py) by its system.json
  (sizes), its own predictions (the shipped .tflite file), fp32/ (the FP32 base) and, for
  the KD system, teacher/;
- the [R1] run (experiments/task1b_binary.py) by size.csv (one bit per weight), size.md
  (batch-norm floats excluded), model.1bit and its predictions.

Per system: parameters as the report counts them (ours beside the report's where they
differ), non-zero parameters by the DCASE rule (batch norm excluded), bytes per parameter
(1/8 for one bit), DCASE size, file size, FP32 base size and the reduction (FP32 base size /
shipped size), macro accuracy, log loss, the FP32 base accuracy and the accuracy drop
(FP32 base − shipped, percentage points). The KD teacher gets its own row.

Imports no TensorFlow: tables of finished runs build in a second.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.config import (
    CLASS_NAMES, R2_TABLE, R2_TEACHER_ACCURACY, R2_TEACHER_PARAMETERS, dcase_size_kb,
)
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.metrics import ClipScores
from dcase_lowcomplexity.evaluation.tables import R1_TABLE1
from dcase_lowcomplexity.atomic import atomic_write_text

SYSTEM_FILE = "system.json"
R1_NAME = "1-bit ResNet ([R1])"
TEACHER_NAME = "VGG-12 teacher (KD, not submitted)"
# SPEC §3/§5: 3,987,000 one-bit conv weights = 486.69 KB; Table 1 overall 97.1 % / 0.094.
R1_WEIGHTS = 3_987_000
R1_SIZE_KB = 486.69
# The report's own runs (default folders of `experiments/compare_systems.py`), in table order.
RUN_KEYS = ("task1b_binary", "task1b_int8", "task1b_lottery", "task1b_distill",
            "task1b_gccgram")


@dataclass(frozen=True)
class Reported:
    """What [R1] or [R2] prints for a system (None where it prints nothing)."""

    source: str
    parameters: int
    size_kb: float | None
    accuracy: float
    log_loss: float | None = None
    fp32_accuracy: float | None = None
    fp32_size_kb: float | None = None

    @property
    def reduction(self) -> float | None:
        if self.fp32_size_kb is None or self.size_kb is None:
            return None
        return self.fp32_size_kb / self.size_kb

    @property
    def drop(self) -> float | None:
        return None if self.fp32_accuracy is None else self.fp32_accuracy - self.accuracy


def reported_r2(system: str) -> Reported:
    """[R2]'s row (SPEC §6). The FP32 base of the LT system is the unpruned AclNet0.5."""
    rows = {r.system: r for r in R2_TABLE}
    row = rows[system]
    base = rows["AclNet0.5 INT8"].parameters if system == "AclNet0.5 LT" else row.parameters
    return Reported("[R2]", row.parameters, row.size_kb, row.accuracy,
                    fp32_accuracy=row.fp32_accuracy, fp32_size_kb=dcase_size_kb(base, 4))


REPORTED_R1 = Reported("[R1]", R1_WEIGHTS, R1_SIZE_KB, R1_TABLE1["overall"][0],
                       log_loss=R1_TABLE1["overall"][1],
                       fp32_size_kb=dcase_size_kb(R1_WEIGHTS, 4))
REPORTED_TEACHER = Reported("[R2]", R2_TEACHER_PARAMETERS, None, R2_TEACHER_ACCURACY)


@dataclass(frozen=True)
class SystemRow:
    """One system of one run: our sizes and scores beside the report's."""

    system: str
    run_dir: Path
    storage: str
    bytes_per_parameter: float
    parameters: int  # counted as the report counts (see `parameters_rule`)
    parameters_rule: str
    dcase_non_zero: int
    dcase_kb: float
    file_name: str | None
    file_bytes: int | None
    fp32_kb: float | None
    scores: ClipScores | None
    fp32_scores: ClipScores | None
    reported: Reported | None

    @property
    def accuracy(self) -> float | None:
        return None if self.scores is None else 100 * self.scores.balanced_accuracy

    @property
    def fp32_accuracy(self) -> float | None:
        return None if self.fp32_scores is None else 100 * self.fp32_scores.balanced_accuracy

    @property
    def reduction(self) -> float | None:
        return None if self.fp32_kb is None else self.fp32_kb / self.dcase_kb

    @property
    def drop(self) -> float | None:
        """FP32 base accuracy − shipped accuracy, percentage points."""
        if self.accuracy is None or self.fp32_accuracy is None:
            return None
        return self.fp32_accuracy - self.accuracy


# -- reading run folders ---------------------------------------------------------------------
def _scores(folder: Path) -> ClipScores | None:
    return ex.load_scores(folder) if (folder / ex.PREDICTIONS_FILE).is_file() else None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read the run summary ({err})", path,
                          fix="rerun the run's command to rewrite it") from None


def read_r2_run(run_dir: Path) -> list[SystemRow]:
    """The shipped system (and the KD teacher) of an [R2] run folder."""
    data = _read_json(run_dir / SYSTEM_FILE)
    s = data["sizes"]
    fp32 = data.get("folders", {}).get("fp32")
    rows = [SystemRow(
        data["system"], run_dir, s["storage"], s["bytes_per_parameter"],
        s["parameters_non_zero"], "[R2]'s count: non-zero, batch norm included",
        s["dcase_non_zero"], s["dcase_kb"], s.get("model_file"), s.get("file_bytes"),
        s.get("fp32_base", {}).get("dcase_kb"), _scores(run_dir),
        _scores(run_dir / fp32) if fp32 else None, reported_r2(data["system"]))]
    teacher = data.get("extra", {}).get("teacher")
    if teacher and "teacher" in data.get("folders", {}):
        rows.append(SystemRow(
            TEACHER_NAME, run_dir, "float32", 4, teacher["parameters"],
            "all parameters", teacher["dcase_non_zero"], teacher["dcase_kb"], None, None,
            None, _scores(run_dir / data["folders"]["teacher"]), None, REPORTED_TEACHER))
    return rows


def _size_csv_total(path: Path) -> dict:
    with open(path, newline="", encoding="utf-8") as f:
        total = [r for r in csv.DictReader(f) if r.get("name") == "total"]
    if not total:
        raise ConfigError("size.csv has no total row", path, fix="rerun the run's command")
    return total[0]


def read_binary_run(run_dir: Path) -> list[SystemRow]:
    """The [R1] one-bit run: 1 bit per weight, FP32 base = the same weights in float32."""
    total = _size_csv_total(run_dir / "size.csv")
    weights, non_zero = int(total["parameters"]), int(total["non_zero"])
    size_kb = float(total["size_bytes"]) / 1024
    packed = run_dir / "model.1bit"
    return [SystemRow(
        R1_NAME, run_dir, "1 bit", 1 / 8, weights, "[R1]'s count: conv weights (BN excluded)",
        non_zero, size_kb, packed.name if packed.is_file() else None,
        packed.stat().st_size if packed.is_file() else None, dcase_size_kb(weights, 4),
        _scores(run_dir), None, REPORTED_R1)]


def read_run(run_dir: str | Path) -> list[SystemRow]:
    """Rows of one finished run folder ([R2] or [R1]); ConfigError naming it otherwise."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError("no such run folder", run_dir,
                          fix="run its experiments/task1b_*.py script first (same --profile), "
                              "or pass the folder it wrote")
    if (run_dir / SYSTEM_FILE).is_file():
        return read_r2_run(run_dir)
    if (run_dir / "size.csv").is_file() and (run_dir / "model.1bit").is_file():
        return read_binary_run(run_dir)
    raise ConfigError("not a finished run folder (no system.json, no size.csv + model.1bit)",
                      run_dir, fix="finish the run (rerun its command), or check the folder")


def default_run_dirs(profile: str, runs_root: str | Path = "runs") -> list[Path]:
    return [Path(runs_root) / key / f"{profile}-fold1-seed0" for key in RUN_KEYS]


# -- tables ----------------------------------------------------------------------------------
def _f(value, fmt: str) -> str:
    return "–" if value is None or (isinstance(value, float) and not np.isfinite(value)) \
        else format(value, fmt)


def _pair(ours, reported, fmt: str, *, delta: bool = False) -> str:
    """"ours / reported" ("ours" alone if equal); with Δ = ours − reported when asked."""
    if reported is None:
        return _f(ours, fmt)
    if ours is not None and format(ours, fmt) == format(reported, fmt):
        return format(ours, fmt)
    text = f"{_f(ours, fmt)} / {_f(reported, fmt)}"
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
            _f(r.fp32_kb, ",.2f"),
            _pair(r.reduction, rep and rep.reduction, ".2f")])
    return _markdown(["system", "weights", "bytes / param.", "parameters (ours / report)",
                      "DCASE non-zero (BN excl.)", "DCASE KB (ours / report)", "file KB",
                      "FP32 base KB", "reduction × (ours / report)"], body)


def accuracy_table(rows: Sequence[SystemRow]) -> str:
    """Table 2: the shipped model's scores and the drop from its FP32 base."""
    body = []
    for r in rows:
        rep = r.reported
        body.append([
            r.system, r.file_name or "Keras FP32",
            _pair(r.accuracy, rep and rep.accuracy, ".2f"),
            _f(None if r.scores is None else 100 * r.scores.accuracy, ".2f"),
            _pair(None if r.scores is None else r.scores.log_loss, rep and rep.log_loss, ".3f"),
            _pair(r.fp32_accuracy, rep and rep.fp32_accuracy, ".2f"),
            _pair(r.drop, rep and rep.drop, "+.2f")])
    return _markdown(["system", "scored", "accuracy % (ours / report)", "raw accuracy %",
                      "log loss (ours / report)", "FP32 base accuracy % (ours / report)",
                      "drop, pp (ours / report)"], body)


def classwise_table(rows: Sequence[SystemRow]) -> str:
    """Table 3: class-wise accuracy % / log loss ([R1] Table 1 layout, one row per system)."""
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


def compare_frame(rows: Sequence[SystemRow]) -> pd.DataFrame:
    """Every number of the three tables, one row per system (compare.csv)."""
    records = []
    for r in rows:
        rep = r.reported
        record = {
            "system": r.system, "run_dir": str(r.run_dir), "weights": r.storage,
            "bytes_per_parameter": r.bytes_per_parameter, "parameters": r.parameters,
            "parameters_rule": r.parameters_rule, "dcase_non_zero": r.dcase_non_zero,
            "dcase_kb": r.dcase_kb, "file": r.file_name,
            "file_kb": None if r.file_bytes is None else r.file_bytes / 1024,
            "fp32_base_kb": r.fp32_kb, "reduction": r.reduction,
            "accuracy_percent": r.accuracy,
            "raw_accuracy_percent": None if r.scores is None else 100 * r.scores.accuracy,
            "log_loss": None if r.scores is None else r.scores.log_loss,
            "fp32_accuracy_percent": r.fp32_accuracy, "accuracy_drop_pp": r.drop,
            "files": None if r.scores is None else r.scores.n_files,
        }
        if r.scores is not None:
            for name, a in zip(CLASS_NAMES, r.scores.per_class_accuracy):
                record[f"{name}_accuracy_percent"] = 100 * a
        for key in ("source", "parameters", "size_kb", "accuracy", "log_loss",
                    "fp32_accuracy", "reduction", "drop"):
            record[f"reported_{key}"] = None if rep is None else getattr(rep, key)
        records.append(record)
    return pd.DataFrame.from_records(records)


def compare_markdown(rows: Sequence[SystemRow]) -> str:
    notes = (
        "Parameters are counted as each report counts them: [R2] counts every parameter "
        "(batch norm included; non-zero ones for the pruned model), [R1] its conv weights. "
        "DCASE size = non-zero parameters × bytes per parameter / 1024, batch norm excluded "
        "(SPEC §1); the file is the shipped .tflite / packed-bit file. Reduction = FP32 base "
        "size / shipped size; drop = FP32 base accuracy − shipped accuracy (pp). Accuracy = "
        "macro average over the classes of the validation split. [R2] trained AclNet after "
        "AudioSet pre-training; ours train from scratch.")
    return (f"# The five systems side by side\n\n## Table 1: model size\n\n{size_table(rows)}\n\n"
            f"## Table 2: accuracy of the shipped model against its FP32 base\n\n"
            f"{accuracy_table(rows)}\n\n## Table 3: class-wise accuracy (%) / log loss\n\n"
            f"{classwise_table(rows)}\n\n{notes}\n")


def write_compare(rows: Sequence[SystemRow], out_dir: str | Path) -> tuple[Path, Path]:
    """compare.md and compare.csv in `out_dir`, written atomically."""
    out_dir = Path(out_dir)
    md = atomic_write_text(out_dir / "compare.md", compare_markdown(rows))
    frame = compare_frame(rows)
    csv_path = atomic_write_text(out_dir / "compare.csv",
                                 frame.to_csv(index=False, float_format="%.10g"))
    return md, csv_path
