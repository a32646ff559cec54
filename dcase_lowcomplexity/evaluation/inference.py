"""Clip-level prediction with channel-swap averaging, [R1] §3.5, §3.7 (SPEC §5).

The network is all-convolutional, so inference uses the full 469 frames. [R1] runs every clip
twice, once as recorded and once with left and right channels swapped, and averages the two
softmax outputs; this is the default. C1 runs a single pass: `channel_swap_average=False`.
Both orientations go through the network as one batch of 2n clips (batch norm is in inference
mode, so the clips do not influence each other).
"""
from __future__ import annotations

from typing import Callable

import keras
import numpy as np
from tqdm.auto import tqdm

from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.metrics import score_clips


def _read(clip_source, chunk: np.ndarray) -> np.ndarray:
    # Sorted, duplicate-free reads are what an HDF5 store serves fastest; undo the sort after.
    unique, inverse = np.unique(chunk, return_inverse=True)
    return np.asarray(clip_source.read_batch(unique), dtype=np.float32)[inverse.reshape(-1)]


def predict_clips(
    model: keras.Model,
    clip_source,
    indices=None,
    *,
    channel_swap_average: bool = True,
    batch_size: int = 32,
    progress: bool = True,
) -> np.ndarray:
    """Class probabilities (n, classes) of the clips `indices` (default: all), in that order."""
    indices = (np.arange(len(clip_source), dtype=np.int64) if indices is None
               else np.asarray(indices, dtype=np.int64).reshape(-1))
    if batch_size < 1:
        raise ConfigError(f"batch_size must be ≥ 1, got {batch_size}")
    outputs = []
    starts = range(0, len(indices), batch_size)
    for start in tqdm(starts, desc="predict", unit="batch", disable=not progress,
                      leave=False):
        x = _read(clip_source, indices[start:start + batch_size])
        if channel_swap_average:
            n = len(x)
            both = np.concatenate([x, x[..., ::-1]], axis=0)
            p = np.asarray(model.predict_on_batch(both), dtype=np.float64)
            outputs.append(0.5 * (p[:n] + p[n:]))
        else:
            outputs.append(np.asarray(model.predict_on_batch(x), dtype=np.float64))
    if not outputs:
        return np.zeros((0, int(model.output_shape[-1])), dtype=np.float64)
    return np.concatenate(outputs, axis=0)


def make_validation(
    clip_source,
    labels,
    rows=None,
    *,
    channel_swap_average: bool = False,
    batch_size: int = 32,
    class_names: tuple[str, ...] = CLASS_NAMES,
) -> Callable[[keras.Model], dict]:
    """A `validation(model)` callable for `training.run.fit_resumable`.

    It scores the WHOLE validation split (full 469 frames): `val_balanced_accuracy` (the
    task's metric, unlike C1's average over batches of 32), `val_accuracy` (raw) and
    `val_log_loss`. Single pass by default, as C1 validates; the final scoring uses
    `predict_clips` with channel-swap averaging.
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    rows = np.arange(len(labels)) if rows is None else np.asarray(rows, dtype=np.int64)
    if len(rows) != len(labels):
        raise ConfigError(f"{len(rows)} validation rows for {len(labels)} labels")

    def validation(model: keras.Model) -> dict:
        probs = predict_clips(model, clip_source, rows, batch_size=batch_size,
                              channel_swap_average=channel_swap_average, progress=False)
        scores = score_clips(labels, probs, class_names)
        return {"val_balanced_accuracy": scores.balanced_accuracy,
                "val_accuracy": scores.accuracy, "val_log_loss": scores.log_loss}

    return validation
