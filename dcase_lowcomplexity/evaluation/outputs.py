"""What a scored run leaves in its folder, the same for every system.

- `validation_predictions.csv`: one row per validation clip (file name, class index, the three
  probabilities), from which every table is rebuilt without running a network;
- `results.md` / `results.csv`: [R1] Table 1 layout (per-class accuracy and log loss,
  macro-average and raw accuracy), with the report's figures beside ours when given;
- `confusion_matrix.png` ([R1] Figure 2) and `training_curves.png`;
- `task1/<label>/<label>.output.csv` and `.meta.yaml`: the DCASE2020 submission files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from dcase_lowcomplexity.atomic import atomic_write_text
from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.figures import plot_confusion_matrix, plot_training_curves
from dcase_lowcomplexity.evaluation.metrics import ClipScores, score_clips
from dcase_lowcomplexity.evaluation.submission import (
    submission_paths, write_meta_yaml, write_output_csv,
)
from dcase_lowcomplexity.evaluation.tables import ResultsTable, comparison_table, results_table

PREDICTIONS_FILE = "validation_predictions.csv"


def write_scores(folder: Path, filenames: Sequence[str], y_true, probs, *,
                 log_csv: Path | None = None, reference: Mapping | None = None,
                 title: str = "") -> ResultsTable:
    """Validation predictions, results.md / results.csv, confusion matrix and curves."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    y_true, probs = np.asarray(y_true), np.asarray(probs)
    frame = pd.DataFrame({"filename": list(filenames), "class_index": y_true})
    for k, name in enumerate(CLASS_NAMES):
        frame[name] = probs[:, k]
    atomic_write_text(folder / PREDICTIONS_FILE, frame.to_csv(index=False, float_format="%.8g"))
    table = results_table(y_true, probs)
    table.write(folder)
    if reference is not None:
        md = (folder / "results.md").read_text()
        md += "\n## Beside the report\n\n" + comparison_table(table, reference) + "\n"
        atomic_write_text(folder / "results.md", md)
    plot_confusion_matrix(table.scores.confusion, path=folder / "confusion_matrix.png",
                          title=title or None)
    if log_csv is not None and Path(log_csv).exists():
        plot_training_curves(log_csv, folder / "training_curves.png")
    return table


def load_scores(folder: Path) -> ClipScores:
    """Rescores a finished run (or one of its reference folders) from its saved predictions.

    ConfigError naming the CSV when it cannot be parsed, lacks a column, holds no row, a label
    outside 0…2, or a row that is not probabilities (finite, in [0, 1], summing to 1)."""
    path = Path(folder) / PREDICTIONS_FILE
    if not path.is_file():
        raise ConfigError("no validation predictions in this run folder.", path,
                          fix="finish the run first (rerun its command), or check the folder")
    fix = "rerun the run's command to rewrite it"
    try:
        frame = pd.read_csv(path)
        labels = frame["class_index"].to_numpy()
        probs = frame[list(CLASS_NAMES)].to_numpy(dtype=np.float64)
    except (KeyError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ConfigError(f"unreadable predictions ({type(err).__name__}: {err})", path,
                          fix=fix) from None
    problem = _predictions_problem(labels, probs)
    if problem is not None:
        raise ConfigError(problem, path, fix=fix)
    return score_clips(labels.astype(np.int64), probs)


def _predictions_problem(labels: np.ndarray, probs: np.ndarray) -> str | None:
    """What is wrong with the rows of a predictions CSV (row numbers as a viewer shows them,
    the header being row 1), or None."""
    if len(labels) == 0:
        return "no predictions (the file holds a header only)"
    numeric = pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(numeric) & (numeric == np.round(numeric)) & (numeric >= 0) & (
        numeric < len(CLASS_NAMES))
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        return (f"row {row + 2}: class_index {labels[row]} is not an integer in "
                f"0…{len(CLASS_NAMES) - 1}")
    checks = [(np.isfinite(probs).all(axis=1), "holds a probability that is not a finite number"),
              (((probs >= 0) & (probs <= 1)).all(axis=1), "holds a probability outside [0, 1]"),
              (np.abs(probs.sum(axis=1) - 1) <= 1e-3, "has probabilities that do not sum to 1")]
    for good, what in checks:
        if not good.all():
            return f"row {int(np.flatnonzero(~good)[0]) + 2} {what}"
    return None


def write_submission(run_dir: Path, label: str, filenames: Sequence[str], probs, *,
                     complexity, scores: ClipScores | None, name: str, abbreviation: str,
                     authors: Sequence[dict], description: dict | None = None) -> tuple[Path, Path]:
    """`<label>.output.csv` and `<label>.meta.yaml` under run_dir/task1/<label>/."""
    output_csv, meta_yaml = submission_paths(run_dir, label)
    output_csv.parent.mkdir(parents=True, exist_ok=True)
    write_output_csv(filenames, probs, output_csv)
    write_meta_yaml(meta_yaml, label, name=name, abbreviation=abbreviation, authors=authors,
                    complexity=complexity, development_results=scores,
                    description=description)
    return output_csv, meta_yaml
