"""The one path every system walks: `run_system(system, options)`.

    dataset (the demo one is written when --data is absent)
    → the system's input store (data.extraction.ensure_store: resumable, kill-safe, cached)
    → seeded mixup batch stream (data.generator.MixupStream)
    → network(s) trained in resumable phases: single | lottery ticket | distillation
    → export of the shipped file (1 bit, INT8 or FP16: export.formats)
    → THAT FILE reloaded and scored on the validation split through the system's views
    → size tables, summary.json, and the DCASE submission files for an evaluation folder.

Every phase checkpoints after each epoch; rerunning the same command resumes where the run
stopped. Arguments are typed (`RunOptions`, `systems.System`); command-line parsing lives in
`cli/` and experiments/.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.data.dataset import (
    DEVELOPMENT_FOLDER, EVALUATION_FOLDER, Split, TauDataset, load_evaluation_set,
)
from dcase_lowcomplexity.data.demo import make_demo_dataset
from dcase_lowcomplexity.errors import DatasetError
from dcase_lowcomplexity.phases import train_system
from dcase_lowcomplexity.systems import System

DEMO_ROOT = Path("demo_data")
STORE_DIR = Path("features")
# The demo dataset: enough clips for a few balanced mixup batches per epoch, and an
# unlabelled evaluation folder so the submission files are written too.
DEMO_CLIPS_PER_CLASS = 60
DEMO_EVAL_CLIPS = 24
MODEL_FILES = {"1bit": "model.1bit", "int8": "model_int8.tflite",
               "float16": "model_fp16.tflite"}


@dataclass(frozen=True)
class RunOptions:
    """Where the data are and where the run goes; nothing here changes the trained model."""

    profile: str = "demo"
    data: Path | None = None
    eval_data: Path | None = None
    split: str = "fold1"
    out: Path | None = None
    store_dir: Path = STORE_DIR
    store_dtype: str = "float32"
    workers: int | None = None
    on_error: str = "raise"  # bad development audio stops ("raise") or is left out ("skip")
    label: str | None = None
    loader_workers: int = 1
    strategy: str = "default"
    devices: tuple[str, ...] | None = None  # --strategy mirrored: e.g. ("/cpu:0", "/cpu:1")
    progress: bool = True


@dataclass(frozen=True)
class PreparedData:
    """A development set with its split, and the evaluation folder when there is one."""

    dataset: TauDataset
    split: Split
    evaluation: pd.DataFrame | None
    evaluation_root: Path | None


@dataclass
class Inputs:
    """The system's input stores and the split's rows in them."""

    development: object  # FeatureStore
    evaluation: object | None
    train_rows: np.ndarray
    train_labels: np.ndarray
    validation_rows: np.ndarray | None
    validation_labels: np.ndarray | None


@dataclass
class RunResult:
    run_dir: Path
    model_file: Path
    scores: object | None  # ClipScores of the shipped file, None for --split all
    sizes: dict = field(default_factory=dict)
    submission: tuple[Path, Path] | None = None


def run_dir_for(system: System, options: RunOptions) -> Path:
    if options.out is not None:
        return Path(options.out)
    split = options.split.replace(":", "-")
    return Path("runs") / system.key / f"{system.profile}-{split}-seed{system.training.seed}"


def prepare_data(options: RunOptions) -> PreparedData:
    """Resolves and checks the development and evaluation folders before any work: the demo
    dataset is written only once the evaluation folder given (if any) is known to be good."""
    dev_root, eval_root = options.data, options.eval_data
    if options.profile == "paper" and dev_root is None:
        raise DatasetError(
            "the paper profile trains on the real dataset, and --data was not given.",
            fix=f"download {DEVELOPMENT_FOLDER} (Zenodo 3670185) and pass --data DIR, "
                "or use --profile demo")
    if dev_root is not None and not Path(dev_root).is_dir():
        raise DatasetError("development set folder not found.", path=dev_root,
                           fix=f"pass the folder that holds meta.csv and audio/ "
                               f"({DEVELOPMENT_FOLDER})")
    evaluation = (load_evaluation_set(eval_root, check_audio=True) if eval_root is not None
                  else None)
    if dev_root is None:
        dev_root = make_demo_dataset(DEMO_ROOT, clips_per_class=DEMO_CLIPS_PER_CLASS, seed=0,
                                     eval_clips=DEMO_EVAL_CLIPS)
        if eval_root is None:
            eval_root = DEMO_ROOT / EVALUATION_FOLDER
            evaluation = load_evaluation_set(eval_root, check_audio=True)
    dataset = TauDataset(Path(dev_root))
    split = dataset.split(options.split)
    _check_split(dataset, split)
    return PreparedData(dataset, split, evaluation,
                        None if eval_root is None else Path(eval_root))


def _check_split(dataset: TauDataset, split: Split) -> None:
    """Every class in the training part, and a validation part that is not empty."""
    source = (dataset.root / "evaluation_setup" / f"{split.name}_train.csv"
              if split.name.startswith("fold") else dataset.root / "meta.csv")
    counts = split.train.class_index.value_counts()
    absent = [name for k, name in enumerate(CLASS_NAMES) if counts.get(k, 0) == 0]
    if absent:
        raise DatasetError(f"split {split.name!r} has no training file of class "
                           f"{', '.join(absent)}; balanced training needs all three.",
                           path=source, fix="restore the list from the dataset archive")
    if split.validation is not None and len(split.validation) == 0:
        raise DatasetError(f"split {split.name!r} has no validation file.", path=source,
                           fix="restore the list from the dataset archive, or use --split all")


def prepare_inputs(system: System, data: PreparedData, options: RunOptions) -> Inputs:
    """The system's input store of the whole development set (and of the evaluation set)."""
    from dcase_lowcomplexity.data.extraction import ensure_store

    def store(root, filenames, on_error="raise"):
        return ensure_store(options.store_dir, root, filenames, system.input,
                            dtype=options.store_dtype, workers=options.workers,
                            on_error=on_error, progress=options.progress)

    # A submission lists every evaluation file: bad evaluation audio always stops the run,
    # and it is extracted first, so a bad file is found before hours of development work.
    evaluation = None
    if data.evaluation is not None:
        evaluation = store(data.evaluation_root, data.evaluation.filename)
    development = store(data.dataset.root, data.dataset.table.filename, options.on_error)
    val = data.split.validation
    return Inputs(development, evaluation,
                  development.index_of(data.split.train.filename),
                  data.split.train.class_index.to_numpy(),
                  None if val is None else development.index_of(val.filename),
                  None if val is None else val.class_index.to_numpy())


def run_system(system: System, options: RunOptions) -> RunResult:
    """Trains (or resumes) `system`, ships its file, scores THAT FILE, writes every output.

    In a multi-worker cluster the chief prepares the data first (the others then find the
    demo dataset and the stores cached when the folders are shared), every other worker
    trains in a temporary copy of the chief's run folder, and only the chief ships."""
    from dcase_lowcomplexity.training.strategy import (
        barrier, is_chief, make_strategy, worker_folder, worker_role,
    )

    strategy = make_strategy(options.strategy, options.devices)
    chief = is_chief(strategy)
    run_dir = run_dir_for(system, options)
    if not chief:
        barrier(strategy)  # wait for the chief's data preparation
    data = prepare_data(options)
    inputs = prepare_inputs(system, data, options)
    if chief:
        barrier(strategy)
    with worker_folder(strategy, run_dir) as own_dir:
        barrier(strategy)  # every worker holds its copy before the chief's folder changes
        trained = train_system(system, inputs, data, own_dir, options, strategy)
        if not chief:
            index, count = worker_role(strategy)
            print(f"worker {index} of {count}: training done; the chief writes {run_dir}")
            return RunResult(run_dir, run_dir / MODEL_FILES[system.storage], None)
    return ship(system, trained, inputs, data, run_dir, options)


def ship(system: System, trained, inputs: Inputs, data: PreparedData, run_dir: Path,
         options: RunOptions) -> RunResult:
    """Export → score the shipped FILE → sizes → summary.json → submission files."""
    from dcase_lowcomplexity.evaluation.classify import write_card
    from dcase_lowcomplexity.evaluation.inference import predict_store
    from dcase_lowcomplexity.evaluation.outputs import write_scores, write_submission
    from dcase_lowcomplexity.evaluation.summary import RunSummary, write_summary
    from dcase_lowcomplexity.export.formats import export_model, load_predictor
    from dcase_lowcomplexity.export.size import write_sizes
    from dcase_lowcomplexity.reported import R1_TABLE1

    model = trained.model
    path = export_model(model, run_dir / MODEL_FILES[system.storage], system.storage,
                        calibration=calibration_examples(system, inputs),
                        input_shape=system.input.shape if system.network != "aclnet" and
                        system.network != "binary_resnet" else None,
                        model_config=system.model if system.storage == "1bit" else None)
    write_card(path, system=system.key, name=system.name, input_spec=system.input.to_dict(),
               views=system.views, segment=system.segment, batch_size=system.inference_batch)
    predict = load_predictor(path)
    views = dict(views=system.views, segment=system.segment, batch_size=system.inference_batch,
                 progress=options.progress)
    scores = None
    if inputs.validation_rows is not None:
        probs = predict_store(predict, inputs.development, inputs.validation_rows, **views)
        val = data.split.validation
        reference = R1_TABLE1 if system.key == "task1b_binary" and \
            system.profile == "paper" else None
        table = write_scores(run_dir, val.filename, inputs.validation_labels, probs,
                             log_csv=trained.log_csv, reference=reference,
                             title=f"{system.name}: {path.name}")
        scores = table.scores
        print(f"{system.name}, {path.name} reloaded and scored:\n{table.to_markdown()}")
    report, sizes = write_sizes(run_dir, model, system.storage, path, trained.base)
    write_summary(run_dir, RunSummary(
        system.key, system.name, options.label or system.label, system.storage, sizes.to_dict(),
        scored=f"{path.name} (reloaded from the file)", folders=trained.folders,
        reference=trained.reference, reference_sizes=trained.reference_sizes,
        extra=trained.extra))
    submission = None
    if inputs.evaluation is not None:
        probs = predict_store(predict, inputs.evaluation, **views)
        sub = system.submission
        submission = write_submission(
            run_dir, options.label or system.label, inputs.evaluation.filenames, probs,
            complexity=report, scores=scores, name=sub.name, abbreviation=sub.abbreviation,
            authors=list(sub.authors), description=sub.description or None)
        print("submission files:", *submission, sep="\n  ")
    print(f"{path.name}: {path.stat().st_size:,} bytes; DCASE size {sizes.dcase_kb:.2f} KB "
          f"({sizes.dcase_non_zero:,} non-zero parameters, batch norm excluded)")
    return RunResult(run_dir, path, scores, sizes.to_dict(), submission)


def calibration_examples(system: System, inputs: Inputs) -> np.ndarray | None:
    """INT8 only: the first training clips' consecutive segments, as the network sees them."""
    if system.storage != "int8":
        return None
    crops, n = [], system.calibration_examples
    for row in inputs.train_rows:
        clip = inputs.development.read_batch([row])[0]
        if system.segment:
            clip = clip[: len(clip) // system.segment * system.segment].reshape(
                -1, system.segment)
            crops.extend(clip)
        else:
            crops.append(clip)
        if len(crops) >= n:
            break
    return np.stack(crops[:n])
