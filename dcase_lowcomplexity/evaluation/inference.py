"""Clip-level prediction through each system's test-time views (SPEC §5, §6).

Every system is scored the same way: clips are read from its input store a batch at a time,
turned into the views its report averages, run through a `Predict` function (a Keras model,
or the SHIPPED file loaded by `export.formats.load_predictor`), and the view probabilities
averaged per clip:

- "channel_swap" ([R1] §3.5, §3.7): the full 469 frames twice, as recorded and with left and
  right swapped, in one batch of 2n clips (batch norm in inference mode, so clips do not
  influence each other); "single" is C1's one pass;
- "segments" ([R2] §2.1): "inference on 1-second non-overlapping consecutive audio segments,
  and then averaged the outputs over the length of the evaluation audio";
- "whole": one pass over the whole clip (the KD and GCC-grams networks).
"""
from __future__ import annotations

from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.metrics import score_clips

Predict = Callable[[np.ndarray], np.ndarray]
VIEWS = ("channel_swap", "single", "segments", "whole")


def keras_predictor(model: keras.Model, batch_size: int = 64) -> Predict:
    """x → float64 probabilities, `batch_size` examples per call, inference mode.

    A model built under a tf.distribute strategy with several replicas or workers is called
    directly, as one plain network outside the replica split: `predict_on_batch` would split
    the chunk over the replicas and gather the outputs (over every worker, a collective), and
    each worker scores its clips on its own."""
    from dcase_lowcomplexity.training.strategy import needs_distribution

    if needs_distribution(model.distribute_strategy):
        call = tf.function(lambda t: model(t, training=False), reduce_retracing=True)

        def run(chunk):
            return call(tf.convert_to_tensor(chunk)).numpy()
    else:
        run = model.predict_on_batch

    def predict(x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros((0, int(model.output_shape[-1])), dtype=np.float64)
        return np.concatenate([np.asarray(run(x[i:i + batch_size]), dtype=np.float64)
                               for i in range(0, len(x), batch_size)])
    return predict


def segment_average(predict: Predict, waveforms: np.ndarray, segment: int) -> np.ndarray:
    """Clip probabilities = mean over its consecutive `segment`-sample segments ([R2] §2.1).

    A tail shorter than one segment is dropped (the 1 s segments tile a 10 s clip exactly).
    """
    waveforms = np.asarray(waveforms, dtype=np.float32)
    if waveforms.ndim != 2:
        raise ConfigError(f"expected (clips, samples) waveforms, got shape {waveforms.shape}")
    n = waveforms.shape[1] // segment
    if n < 1:
        raise ConfigError(f"clips of {waveforms.shape[1]} samples are shorter than one "
                          f"{segment}-sample segment", fix="pass clips of at least one segment")
    probs = np.asarray(predict(waveforms[:, :n * segment].reshape(-1, segment)))
    return probs.reshape(len(waveforms), n, -1).mean(axis=1)


def predict_views(predict: Predict, x: np.ndarray, views: str,
                  segment: int | None = None) -> np.ndarray:
    """Probabilities (n, classes) of the n clips `x`, averaged over `views`."""
    if views == "channel_swap":
        n = len(x)
        p = np.asarray(predict(np.concatenate([x, x[..., ::-1]], axis=0)), dtype=np.float64)
        return 0.5 * (p[:n] + p[n:])
    if views == "segments":
        if not segment:
            raise ConfigError("the segments view needs the segment length")
        return segment_average(predict, x, segment)
    if views in ("single", "whole"):
        return np.asarray(predict(x), dtype=np.float64)
    raise ConfigError(f"views {views!r} is not one of {VIEWS}")


def _read(clip_source, chunk: np.ndarray) -> np.ndarray:
    # Sorted, duplicate-free reads are what an HDF5 store serves fastest; undo the sort after.
    unique, inverse = np.unique(chunk, return_inverse=True)
    return np.asarray(clip_source.read_batch(unique), dtype=np.float32)[inverse.reshape(-1)]


def predict_store(predict: Predict, clip_source, rows=None, *, views: str = "whole",
                  segment: int | None = None, batch_size: int = 32,
                  progress: bool = True) -> np.ndarray:
    """Probabilities (n, classes) of the clips `rows` (default: all) of `clip_source`."""
    rows = (np.arange(len(clip_source), dtype=np.int64) if rows is None
            else np.asarray(rows, dtype=np.int64).reshape(-1))
    if batch_size < 1:
        raise ConfigError(f"batch_size must be ≥ 1, got {batch_size}")
    outputs = [predict_views(predict, _read(clip_source, rows[s:s + batch_size]), views, segment)
               for s in tqdm(range(0, len(rows), batch_size), desc="predict", unit="batch",
                             disable=not progress, leave=False)]
    return np.concatenate(outputs) if outputs else np.zeros((0, len(CLASS_NAMES)))


def predict_clips(model: keras.Model, clip_source, indices=None, *,
                  channel_swap_average: bool = True, batch_size: int = 32,
                  progress: bool = True) -> np.ndarray:
    """[R1]'s inference with a Keras model: both channel orientations averaged by default."""
    return predict_store(keras_predictor(model, 2 * batch_size), clip_source, indices,
                         views="channel_swap" if channel_swap_average else "single",
                         batch_size=batch_size, progress=progress)


def make_validation(clip_source, labels, rows=None, *, views: str = "single",
                    segment: int | None = None, batch_size: int = 32,
                    model_of: Callable[[keras.Model], keras.Model] | None = None,
                    class_names: tuple[str, ...] = CLASS_NAMES) -> Callable[[keras.Model], dict]:
    """A `validation(model)` callable for `training.run.fit_resumable`.

    It scores the WHOLE validation split (full clips): `val_balanced_accuracy` (the task's
    metric, unlike C1's average over batches of 32), `val_accuracy` (raw) and `val_log_loss`.
    [R1] validates in a single pass as C1 does (the final scoring averages the channel
    swaps); `model_of` picks the network to score (e.g. a Distiller's student).
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    rows = np.arange(len(labels)) if rows is None else np.asarray(rows, dtype=np.int64)
    if len(rows) != len(labels):
        raise ConfigError(f"{len(rows)} validation rows for {len(labels)} labels")

    def validation(model: keras.Model) -> dict:
        network = model_of(model) if model_of is not None else model
        probs = predict_store(keras_predictor(network, 2 * batch_size), clip_source, rows,
                              views=views, segment=segment, batch_size=batch_size,
                              progress=False)
        scores = score_clips(labels, probs, class_names)
        return {"val_balanced_accuracy": scores.balanced_accuracy,
                "val_accuracy": scores.accuracy, "val_log_loss": scores.log_loss}

    return validation
