"""What every experiment script shares: profiles, options, data preparation, run outputs.

The scripts in experiments/ stay thin: they build one system's model and training, and call
these functions for the rest, so that every system is trained from the same dataset layout and
scored, tabulated and packaged by the same code ([R1] Table 1 layout, Figure 2 analogue,
DCASE2020 submission files).

Profiles:
- `demo` (default): the built-in synthetic dataset (written to `demo_data/` when absent), a
  narrow network, short clips and few epochs: minutes on a laptop CPU.
- `paper`: every number of the report; `--data` must point at the real development set.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from dcase_lowcomplexity.config import CLASS_NAMES, FeatureConfig
from dcase_lowcomplexity.data.dataset import (
    DEVELOPMENT_FOLDER, EVALUATION_FOLDER, Split, TauDataset, load_evaluation_set,
)
from dcase_lowcomplexity.data.demo import make_demo_dataset
from dcase_lowcomplexity.data import extraction
from dcase_lowcomplexity.data.store import FeatureStore
from dcase_lowcomplexity.errors import ConfigError, DatasetError
from dcase_lowcomplexity.evaluation.figures import plot_confusion_matrix, plot_training_curves
from dcase_lowcomplexity.evaluation.metrics import ClipScores, score_clips
from dcase_lowcomplexity.evaluation.submission import (
    submission_paths, write_meta_yaml, write_output_csv,
)
from dcase_lowcomplexity.evaluation.tables import ResultsTable, comparison_table, results_table
from dcase_lowcomplexity.atomic import atomic_write_text

PROFILES = ("demo", "paper")
DEMO_ROOT = Path("demo_data")
STORE_DIR = Path("features")
# The demo dataset the scripts create: enough clips for a few balanced mixup batches per
# epoch, and an unlabelled evaluation folder so the submission files are written too.
DEMO_CLIPS_PER_CLASS = 60
DEMO_EVAL_CLIPS = 24


def base_parser(description: str, system: str) -> argparse.ArgumentParser:
    """The options every experiment script has (named as in the reports)."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--profile", choices=PROFILES, default="demo",
                   help="demo: synthetic data, narrow network, minutes on a CPU; "
                        "paper: every number of the report (needs --data)")
    p.add_argument("--data", type=Path, default=None,
                   help=f"development set folder ({DEVELOPMENT_FOLDER}); the demo profile "
                        f"writes a synthetic one under {DEMO_ROOT}/ when omitted")
    p.add_argument("--eval-data", type=Path, default=None,
                   help=f"unlabelled evaluation folder ({EVALUATION_FOLDER}) to write the "
                        "DCASE submission files for; the demo profile uses its own")
    p.add_argument("--split", default="fold1",
                   help="fold1 (official), all (train on every development file, no "
                        "validation) or loco:CITY (leave one city out)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and data order")
    p.add_argument("--out", type=Path, default=None,
                   help=f"run folder (default runs/{system}/PROFILE-SPLIT-seedSEED); rerun "
                        "the same command to resume an interrupted run")
    p.add_argument("--store-dir", type=Path, default=STORE_DIR,
                   help="where feature stores are cached (one per dataset and parameters)")
    p.add_argument("--store-dtype", choices=("float32", "float16"), default="float32",
                   help="feature store precision (float16 halves its size)")
    p.add_argument("--workers", type=int, default=None,
                   help="feature extraction processes (default: all cores)")
    p.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    p.add_argument("--label", default=None,
                   help="submission label Lastname_Inst_task1b_N (default: derived from seed)")
    return p


def run_dir_for(args: argparse.Namespace, system: str) -> Path:
    if args.out is not None:
        return Path(args.out)
    split = args.split.replace(":", "-")
    return Path("runs") / system / f"{args.profile}-{split}-seed{args.seed}"


@dataclass(frozen=True)
class PreparedData:
    """A development set with its split, and the evaluation folder when there is one."""

    dataset: TauDataset
    split: Split
    evaluation: pd.DataFrame | None
    evaluation_root: Path | None


def prepare_data(args: argparse.Namespace, clips_per_class: int = DEMO_CLIPS_PER_CLASS,
                 eval_clips: int = DEMO_EVAL_CLIPS) -> PreparedData:
    """Resolves --data/--eval-data for the profile (writing the demo dataset when needed)."""
    dev_root, eval_root = args.data, args.eval_data
    if dev_root is None:
        if args.profile == "paper":
            raise DatasetError(
                "the paper profile trains on the real dataset, and --data was not given.",
                fix=f"download {DEVELOPMENT_FOLDER} (Zenodo 3670185) and pass --data DIR, "
                    "or use --profile demo")
        dev_root = make_demo_dataset(DEMO_ROOT, clips_per_class=clips_per_class,
                                     seed=0, eval_clips=eval_clips)
        if eval_root is None and eval_clips > 0:
            eval_root = DEMO_ROOT / EVALUATION_FOLDER
    dev_root = Path(dev_root)
    if not dev_root.is_dir():
        raise DatasetError("development set folder not found.", path=dev_root,
                           fix=f"pass the folder that holds meta.csv and audio/ "
                               f"({DEVELOPMENT_FOLDER})")
    dataset = TauDataset(dev_root)
    split = dataset.split(args.split)
    evaluation = load_evaluation_set(eval_root) if eval_root is not None else None
    return PreparedData(dataset, split, evaluation,
                        None if eval_root is None else Path(eval_root))


def store_path(store_dir: Path, dataset_root: Path, config: FeatureConfig, dtype: str) -> Path:
    """One cached store per (dataset folder, input spec, dtype): `data.extraction.store_path`."""
    return extraction.store_path(store_dir, dataset_root, config, dtype)


def ensure_store(dataset_root: Path, filenames: Sequence[str], config: FeatureConfig,
                 args: argparse.Namespace) -> FeatureStore:
    """`data.extraction.ensure_store` with the script's --store-dir, --store-dtype, --workers."""
    return extraction.ensure_store(args.store_dir, dataset_root, list(filenames), config,
                                   dtype=args.store_dtype, workers=args.workers, progress=True)


def write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


PREDICTIONS_FILE = "validation_predictions.csv"


def write_scores(run_dir: Path, filenames: Sequence[str], y_true, probs, *,
                 log_csv: Path | None, reference: dict | None = None,
                 title: str = "") -> ResultsTable:
    """Validation predictions, results.md / results.csv in [R1] Table 1 layout, confusion
    matrix and training-curves PNGs."""
    y_true, probs = np.asarray(y_true), np.asarray(probs)
    frame = pd.DataFrame({"filename": list(filenames), "class_index": y_true})
    for k, name in enumerate(CLASS_NAMES):
        frame[name] = probs[:, k]
    atomic_write_text(run_dir / PREDICTIONS_FILE, frame.to_csv(index=False, float_format="%.8g"))
    table = results_table(y_true, probs)
    table.write(run_dir)
    if reference is not None:
        md = (run_dir / "results.md").read_text()
        md += "\n## Beside the report\n\n" + comparison_table(table, reference) + "\n"
        atomic_write_text(run_dir / "results.md", md)
    plot_confusion_matrix(table.scores.confusion, path=run_dir / "confusion_matrix.png",
                          title=title or None)
    if log_csv is not None and Path(log_csv).exists():
        plot_training_curves(log_csv, run_dir / "training_curves.png")
    return table


def load_scores(run_dir: Path) -> ClipScores:
    """Rescores a finished run from its saved validation predictions."""
    path = Path(run_dir) / PREDICTIONS_FILE
    if not path.is_file():
        raise ConfigError("no validation predictions in this run folder.", path,
                          fix="finish the run first (rerun its command), or check the folder")
    frame = pd.read_csv(path)
    return score_clips(frame.class_index.to_numpy(), frame[list(CLASS_NAMES)].to_numpy())


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


def check_positive(name: str, value: int | float | None) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
