"""The steps every [R2] script runs around its own training (SPEC §6).

`split_inputs` caches the system's input for the development set (and the evaluation set)
and maps the split's files to rows; `waveform_stream` / `feature_stream` build the seeded
training batches; `validation_for` scores a model on the whole validation split every epoch;
`score_model` writes a model's Table-1 results into a folder (the FP32 base, the teacher);
`ship` exports the trained network, scores THE EXPORTED FILE with the LiteRT interpreter,
writes the size table, summary.json and the DCASE submission files.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.config import FeatureAugmentConfig, WaveformAugmentConfig
from dcase_lowcomplexity.export.formats import load_predictor
from dcase_lowcomplexity.r2_pipeline import report
from dcase_lowcomplexity.r2_pipeline.inputs import CachedInputs, InputSpec, ensure_inputs
from dcase_lowcomplexity.r2_pipeline.profiles import R2SystemInfo, R2TrainingConfig
from dcase_lowcomplexity.r2_pipeline.training import (
    EpochStream, keras_predictor, make_validation, predict_rows,
)


class RowView:
    """Rows of a cached array, indexable one example at a time (what the sequences read)."""

    def __init__(self, array: np.ndarray, rows):
        self.array, self.rows = array, np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.array[self.rows[i]], dtype=np.float32)


@dataclass(frozen=True)
class SplitInputs:
    """The cached inputs of a split; `segment_samples` set for AclNet's 1 s averaging."""

    data: ex.PreparedData
    spec: InputSpec
    development: CachedInputs
    evaluation: CachedInputs | None
    train_rows: np.ndarray
    validation_rows: np.ndarray | None
    segment_samples: int | None = None

    @property
    def train_labels(self) -> np.ndarray:
        return self.data.split.train.class_index.to_numpy()

    @property
    def validation_labels(self) -> np.ndarray | None:
        v = self.data.split.validation
        return None if v is None else v.class_index.to_numpy()


def split_inputs(data: ex.PreparedData, spec: InputSpec, args: argparse.Namespace,
                 segment_samples: int | None = None) -> SplitInputs:
    """Caches the development (and evaluation) inputs under --store-dir, resumably."""
    options = dict(store_dir=args.store_dir, dtype=args.store_dtype, workers=args.workers)
    development = ensure_inputs(data.dataset.root, data.dataset.table.filename, spec, **options)
    evaluation = None
    if data.evaluation is not None:
        evaluation = ensure_inputs(data.evaluation_root, data.evaluation.filename, spec,
                                   **options)
    validation = data.split.validation
    return SplitInputs(
        data, spec, development, evaluation,
        development.rows(data.split.train.filename),
        None if validation is None else development.rows(validation.filename),
        segment_samples)


def waveform_stream(si: SplitInputs, augment: WaveformAugmentConfig,
                    training: R2TrainingConfig) -> EpochStream:
    from dcase_lowcomplexity.data.waveform import WaveformSequence

    return EpochStream(WaveformSequence(RowView(si.development.array, si.train_rows),
                                        si.train_labels, augment, training.batch_size,
                                        training.seed))


def feature_stream(si: SplitInputs, augment: FeatureAugmentConfig,
                   training: R2TrainingConfig) -> EpochStream:
    from dcase_lowcomplexity.data.features_r2 import FeatureSequence

    return EpochStream(FeatureSequence(RowView(si.development.array, si.train_rows),
                                       si.train_labels, augment, training.batch_size,
                                       training.seed))


def validation_for(si: SplitInputs, model_of=lambda m: m):
    """Whole-split validation metrics every epoch; `model_of` picks the network to score
    (e.g. `distiller.student`). None for --split all."""
    if si.validation_rows is None:
        return None
    return make_validation(lambda m: keras_predictor(model_of(m)), si.development.array,
                           si.validation_rows, si.validation_labels,
                           segment_samples=si.segment_samples)


def calibration_crops(si: SplitInputs, n: int, segment_samples: int) -> np.ndarray:
    """Up to `n` 1 s training crops (consecutive segments of the first training clips) for
    INT8 calibration: inputs as the network sees them in training."""
    crops = []
    for row in si.train_rows:
        clip = np.asarray(si.development.array[row], dtype=np.float32)
        crops.extend(clip[: len(clip) // segment_samples * segment_samples]
                     .reshape(-1, segment_samples))
        if len(crops) >= n:
            break
    return np.stack(crops[:n])


def score_model(folder: Path, model: keras.Model, si: SplitInputs, *, log_csv=None,
                title: str = ""):
    """Table-1 results of a Keras model (FP32) on the validation split in `folder`."""
    if si.validation_rows is None:
        return None
    probs = predict_rows(keras_predictor(model), si.development.array, si.validation_rows,
                         segment_samples=si.segment_samples)
    return report.score_split(folder, si.data.split.validation, probs, log_csv=log_csv,
                              title=title).scores


def ship(run_dir: Path, info: R2SystemInfo, model: keras.Model, si: SplitInputs,
         args: argparse.Namespace, *, base: keras.Model | None, log_csv: Path | None,
         folders: dict[str, str], calibration=None, input_shape=None,
         extra: dict | None = None, reference: str = "fp32",
         reference_sizes: dict | None = None) -> dict:
    """Export → score the FILE → sizes → summary.json → submission files; returns the sizes."""
    path = report.export_model(model, run_dir, info.storage, calibration=calibration,
                               input_shape=input_shape)
    predict = load_predictor(path)
    scores = None
    if si.validation_rows is not None:
        probs = predict_rows(predict, si.development.array, si.validation_rows,
                             segment_samples=si.segment_samples)
        table = report.score_split(run_dir, si.data.split.validation, probs, log_csv=log_csv,
                                   title=f"{info.r2_name}: {path.name}")
        scores = table.scores
        print(f"{info.r2_name}, {path.name} run by LiteRT:\n{table.to_markdown()}")
    size_report, sizes = report.write_sizes(run_dir, model, info.storage, path, base)
    report.write_system_json(run_dir, info, sizes, scored=f"{path.name} (LiteRT interpreter)",
                             folders=folders, extra=extra, reference=reference,
                             reference_sizes=reference_sizes)
    if si.evaluation is not None:
        rows = np.arange(len(si.evaluation))
        probs = predict_rows(predict, si.evaluation.array, rows,
                             segment_samples=si.segment_samples)
        paths = report.write_r2_submission(run_dir, info, si.evaluation.filenames, probs,
                                           complexity=size_report, scores=scores,
                                           label=args.label)
        print("submission files:", *paths, sep="\n  ")
    print(f"{path.name}: {sizes['file_bytes']:,} bytes; DCASE size {sizes['dcase_kb']:.2f} KB "
          f"({sizes['dcase_non_zero']:,} non-zero {info.storage} parameters, batch norm "
          f"excluded)")
    return sizes
