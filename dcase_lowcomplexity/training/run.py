"""Resumable training runs: per-epoch atomic checkpoints, a CSV log, a config guard.

A run folder holds
- `config.json`: the run's configuration; a folder made for another configuration is refused;
- `checkpoint.npz`: after every epoch, ONE file with the model weights (BN statistics
  included), the optimizer's variables (iteration count, momentum buffers), the number of
  completed epochs and the log rows so far; written to a temporary file and `os.replace`d, so
  a `kill -9` at any instant leaves the previous complete checkpoint;
- `training_log.csv`: one row per completed epoch (epoch, loss, accuracy, lr, validation
  metrics, epoch time), rewritten atomically from the checkpoint's rows, so it never holds a
  duplicated or half-written row.

Calling `fit_resumable` again with the same arguments continues after the last completed epoch:
SGDR ([R1] §2.5) is a function of (epoch, batch) and `data.generator.MixupStream` of (seed,
epoch, batch), so the resumed run sees the same learning rates and the same batches as an
uninterrupted one. Keras' `BackupAndRestore` is not used: it writes the weights and the epoch
number as two separate, non-atomic files, so a kill between them resumes from mismatched state.

Non-finite values stop a run where they arise (`NonFiniteGuard`): a NaN or infinite loss after
any batch, or a non-finite weight or logged value at an epoch end, raises one `RunError` naming
the run folder, the epoch, the batch and the cause. No checkpoint is written with non-finite
values (the guard runs before every other callback, and `save_checkpoint` refuses them too), so
the folder keeps the checkpoint of the last good epoch, and the caller writes no results.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

from dcase_lowcomplexity.config import AugmentConfig, TrainingConfig
from dcase_lowcomplexity.data.generator import MixupStream
from dcase_lowcomplexity.errors import RunError
from dcase_lowcomplexity.atomic import atomic_path, atomic_write_text
from dcase_lowcomplexity.training.sgdr import SGDRScheduler
from dcase_lowcomplexity.training.strategy import (
    check_agree, distribute_stream, is_chief, is_multiworker, needs_distribution,
)

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.npz"
LOG_FILE = "training_log.csv"
_CHECKPOINT_FORMAT = 1
# CSV columns in this order first; any other logged value follows alphabetically.
_LEADING_COLUMNS = ("epoch", "loss", "accuracy", "lr", "val_balanced_accuracy",
                    "val_accuracy", "val_log_loss")

Validation = Callable[[keras.Model], dict]


# -- the run folder ------------------------------------------------------------------------
def prepare_run_dir(run_dir: str | Path, run_config: dict[str, Any]) -> Path:
    """Creates `run_dir` with `config.json`, or checks that it belongs to `run_config`."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    wanted = json.loads(json.dumps(run_config, sort_keys=True, default=str))
    path = run_dir / CONFIG_FILE
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise RunError(f"unreadable run configuration ({err})", path,
                           fix="delete the run folder to start again") from None
        if stored != wanted:
            keys = sorted(_differing_keys(stored, wanted))[:5]
            raise RunError(
                f"this run folder belongs to a different configuration (differs in "
                f"{', '.join(keys)})", path,
                fix="choose another output folder (--out elsewhere) or delete this one to "
                    "start the run again")
    else:
        atomic_write_text(path, json.dumps(wanted, indent=2, sort_keys=True) + "\n")
    for stale in run_dir.glob(".*.tmp*"):  # left by a run killed in the middle of a write
        stale.unlink(missing_ok=True)
    return run_dir


def _differing_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in set(a) | set(b):
            out += _differing_keys(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "<root>"]


# -- checkpoints ---------------------------------------------------------------------------
def first_non_finite(named_arrays) -> str | None:
    """The name of the first array holding a NaN or an infinity, or None."""
    for name, array in named_arrays:
        array = np.asarray(array)
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            return name
    return None


def save_checkpoint(path: str | Path, model: keras.Model, epoch: int,
                    history: list[dict]) -> Path:
    """Writes weights, optimizer variables, completed epochs and log rows to one .npz file."""
    weights = model.get_weights()
    optimizer = model.optimizer
    opt_vars = [keras.ops.convert_to_numpy(v) for v in optimizer.variables] if (
        optimizer is not None and optimizer.built) else []
    meta = {"format": _CHECKPOINT_FORMAT, "epoch": int(epoch), "history": history,
            "n_weights": len(weights), "n_optimizer": len(opt_vars)}
    bad = first_non_finite([*((f"weight {i}", w) for i, w in enumerate(weights)),
                            *((f"optimizer variable {i}", v) for i, v in enumerate(opt_vars))])
    if bad is not None:
        raise RunError(f"not writing a checkpoint: {bad} is not finite", path,
                       fix="the run diverged; the previous checkpoint is kept")
    arrays = {f"w{i:04d}": w for i, w in enumerate(weights)}
    arrays.update({f"o{i:04d}": v for i, v in enumerate(opt_vars)})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Reads a checkpoint: {'epoch', 'history', 'weights', 'optimizer'}; RunError if broken."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            _check_meta(meta)
            weights = [data[f"w{i:04d}"] for i in range(meta["n_weights"])]
            optimizer = [data[f"o{i:04d}"] for i in range(meta["n_optimizer"])]
        bad = first_non_finite([*((f"weight {i}", w) for i, w in enumerate(weights)),
                                *((f"optimizer variable {i}", v)
                                  for i, v in enumerate(optimizer))])
        if bad is not None:
            raise ValueError(f"{bad} is not finite")
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:
        raise RunError(f"the checkpoint cannot be read ({err})", path,
                       fix="delete it to restart the run from its first epoch") from None
    return {"epoch": meta["epoch"], "history": meta["history"],
            "weights": weights, "optimizer": optimizer}


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_meta(meta) -> None:
    """ValueError unless `meta` is a checkpoint's: format, epoch, history (one row per epoch)."""
    if not isinstance(meta, dict):
        raise ValueError("its meta entry is not a JSON object")
    if meta.get("format") != _CHECKPOINT_FORMAT:
        raise ValueError(f"unknown checkpoint format {meta.get('format')!r}")
    for key in ("epoch", "n_weights", "n_optimizer"):
        if not _count(meta.get(key)):
            raise ValueError(f"its {key!r} entry is {meta.get(key, 'missing')!r}, not a "
                             "non-negative integer")
    history = meta.get("history")
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise ValueError("its 'history' entry is not a list of log rows")
    if len(history) != meta["epoch"]:
        raise ValueError(f"it holds {len(history)} log rows for {meta['epoch']} epochs")


def restore_checkpoint(model: keras.Model, state: dict[str, Any], path: str | Path) -> None:
    """Loads a checkpoint's weights and optimizer variables into a compiled model."""
    expected = [tuple(w.shape) for w in model.weights]
    found = [tuple(w.shape) for w in state["weights"]]
    fix = "use the model configuration the run was started with, or another --out folder"
    if expected != found:
        raise RunError("the checkpoint's weights do not fit this model", path, fix=fix)
    model.set_weights(state["weights"])
    if not state["optimizer"]:
        return
    optimizer = model.optimizer
    if optimizer is None:
        raise RunError("the model is not compiled", path, fix="compile before resuming")
    with model.distribute_strategy.scope():
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
    variables = optimizer.variables
    if [tuple(v.shape) for v in variables] != [a.shape for a in state["optimizer"]]:
        raise RunError("the checkpoint's optimizer state does not fit this optimizer", path,
                       fix=fix)
    for variable, value in zip(variables, state["optimizer"]):
        variable.assign(value)


# -- the CSV log ---------------------------------------------------------------------------
def write_log(path: str | Path, history: list[dict]) -> Path:
    """Rewrites the CSV log from `history` atomically (floats in shortest exact form)."""
    keys = {k for row in history for k in row}
    columns = [c for c in _LEADING_COLUMNS if c in keys] + sorted(keys - set(_LEADING_COLUMNS))
    lines = [",".join(columns)]
    for row in history:
        lines.append(",".join("" if row.get(c) is None else repr(row[c]) for c in columns))
    return atomic_write_text(path, "\n".join(lines) + "\n")


class RunRecorder(keras.callbacks.Callback):
    """At each epoch end: validation metrics → logs, then checkpoint, then CSV (in that order).

    Put it after the schedule callbacks so that their `logs` entries (`lr`) are recorded; the
    progress bar, which Keras runs last, prints the validation metrics too.
    """

    def __init__(self, run_dir: Path, history: list[dict], validation: Validation | None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.history = history
        self.validation = validation
        self._t0 = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if self.validation is not None:
            logs.update({k: float(v) for k, v in self.validation(self.model).items()})
        if "lr" not in logs:
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {"epoch": int(epoch) + 1}
        row.update({k: float(v) for k, v in logs.items() if np.ndim(v) == 0})
        row["epoch_time_s"] = round(time.perf_counter() - self._t0, 3)
        self.history.append(row)
        save_checkpoint(self.run_dir / CHECKPOINT_FILE, self.model, epoch + 1, self.history)
        write_log(self.run_dir / LOG_FILE, self.history)


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training with a RunError at the first NaN or infinity: the loss after every batch,
    every logged value and every weight at each epoch end, before any other callback (the
    checkpoint, a rewinding snapshot) sees the epoch. Keras' TerminateOnNaN only stops."""

    FIX = ("the same settings diverge again on a rerun: lower --lr-max (or look for NaN in the "
           "inputs), and train in another --out folder or delete this one")

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = Path(run_dir)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = int(epoch)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self._stop(f"the loss became {float(loss)} at epoch {self._epoch + 1}, "
                       f"batch {int(batch) + 1}")

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            if np.ndim(value) == 0 and not np.isfinite(float(value)):
                self._stop(f"{key} became {float(value)} at epoch {epoch + 1}")
        bad = first_non_finite((v.path, keras.ops.convert_to_numpy(v))
                               for v in self.model.weights)
        if bad is not None:
            self._stop(f"weight {bad} became non-finite at epoch {epoch + 1}")

    def _stop(self, cause: str):
        kept = (f"the checkpoint of epoch {self._epoch} is kept" if self._epoch
                else "no epoch finished, so no checkpoint was written")
        raise RunError(f"training stopped: {cause}; {kept}, no results were written",
                       self.run_dir, fix=self.FIX)


def fit_resumable(
    model: keras.Model,
    train_seq,
    run_dir: str | Path,
    epochs: int,
    *,
    validation: Validation | None = None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    run_config: dict[str, Any] | None = None,
    steps_per_epoch: int | None = None,
    verbose: str | int = "auto",
) -> list[dict]:
    """Trains a compiled `model` for `epochs` epochs, resuming from `run_dir` if possible.

    `train_seq` is a PyDataset; a `MixupStream` is told the epoch to start at. Under a
    strategy with several replicas or workers, each replica gets its slice of every global
    batch (`training.strategy.distribute_stream`), and the workers must agree on the epoch.
    `validation(model)` returns metrics such as `val_balanced_accuracy` and `val_log_loss`
    computed over the whole validation split (see `evaluation.inference.make_validation`).
    `run_config` (e.g. `PaperConfig().to_dict()`) goes to `config.json` together with
    `epochs` and the steps per epoch. Returns the log rows of all completed epochs.
    """
    steps = int(steps_per_epoch or getattr(train_seq, "steps_per_epoch", None)
                or len(train_seq))
    run_dir = prepare_run_dir(run_dir, {"run": run_config or {},
                                        "fit": {"epochs": int(epochs), "steps_per_epoch": steps}})
    history: list[dict] = []
    initial_epoch = 0
    checkpoint = run_dir / CHECKPOINT_FILE
    if checkpoint.exists():
        state = load_checkpoint(checkpoint)
        restore_checkpoint(model, state, checkpoint)
        initial_epoch, history = state["epoch"], state["history"]
    write_log(run_dir / LOG_FILE, history)  # repairs a log the previous run left behind
    strategy = model.distribute_strategy
    check_agree(strategy, initial_epoch, "the epoch to resume at", checkpoint)
    if initial_epoch >= epochs:
        return history
    if hasattr(train_seq, "start_epoch"):
        train_seq.start_epoch = initial_epoch
    if not is_chief(strategy):  # only the chief's log is kept; the others train
        validation = None
    recorder = RunRecorder(run_dir, history, validation)
    guard = NonFiniteGuard(run_dir)  # first: no later callback sees a diverged epoch
    fit = dict(epochs=int(epochs), initial_epoch=initial_epoch, steps_per_epoch=steps,
               callbacks=[guard, *callbacks, recorder], verbose=verbose, shuffle=False)
    if not needs_distribution(strategy):
        model.fit(train_seq, **fit)
        return history
    data = distribute_stream(train_seq, strategy, 0)  # each replica its slice of each batch
    with strategy.scope(), _distributed_fit(model, train_seq[0]):
        model.fit(data, **fit)
    return history


@contextlib.contextmanager
def _distributed_fit(model: keras.Model, batch):
    """Two work-arounds of Keras 3.15 under a strategy, for the length of one `fit`:

    - it builds the model from the first DISTRIBUTED batch with `strategy.reduce("MEAN",
      (x, y))`, which MultiWorkerMirroredStrategy refuses for a structure (`ValueError:
      Attempt to convert a value (PerReplica:…) to a Tensor`): the build uses the shapes of
      one plain batch instead;
    - over several workers it averages each step's logs with `strategy.reduce("MEAN", v,
      axis=0)`, which fails on scalars: the step's logs are given one axis.
    """
    build = type(model)._maybe_symbolic_build
    step = model.train_step

    def from_batch(iterator=None, data_batch=None):
        build(model, data_batch=batch if data_batch is None else data_batch)

    def train_step(data):
        return {k: tf.reshape(v, [1]) for k, v in step(data).items()}

    model._maybe_symbolic_build = from_batch
    if is_multiworker(model.distribute_strategy):
        model.train_step = train_step
    try:
        yield
    finally:
        del model._maybe_symbolic_build
        model.__dict__.pop("train_step", None)


# -- optimiser, compilation, one training phase ------------------------------------------
def make_optimizer(config: TrainingConfig) -> keras.optimizers.Optimizer:
    """SGD with momentum 0.9, not Nesterov ([R1] §2.5, SPEC §4), or Adam ([R2] systems, ours),
    starting at `lr_max` (SGDR sets the rate at every batch)."""
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=config.lr_max)
    return keras.optimizers.SGD(learning_rate=config.lr_max, momentum=config.momentum,
                                nesterov=config.nesterov)


def compile_classifier(model: keras.Model, config: TrainingConfig, *,
                       jit_compile: bool | str = False) -> None:
    """`make_optimizer`, categorical cross-entropy on (mixup-soft) targets, accuracy, one step
    per execution (the lottery ticket's MaskCallback re-applies its masks after every step),
    in the model's tf.distribute scope; a fresh optimizer at every call. [R1]'s runs use
    Keras' "auto" (XLA-compiled steps where the layers allow), the [R2] networks' plain graphs.
    """
    with model.distribute_strategy.scope():
        model.compile(optimizer=make_optimizer(config),
                      loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"],
                      steps_per_execution=1, jit_compile=jit_compile)


def compile_for_training(model: keras.Model, config: TrainingConfig | None = None) -> None:
    """[R1] ([R1] §2.5, SPEC §4): `compile_classifier` with XLA where Keras allows it."""
    compile_classifier(model, config or TrainingConfig(), jit_compile="auto")


def train_phase(model: keras.Model, stream, folder: str | Path, config: TrainingConfig, *,
                validation: Validation | None = None,
                callbacks: Iterable[keras.callbacks.Callback] = (),
                run_config: dict[str, Any] | None = None,
                verbose: str | int = "auto") -> list[dict]:
    """One resumable training phase of a compiled model in `folder`, SGDR set at every batch
    ([R1] §2.5); `stream` is a `MixupStream` (anything with `steps_per_epoch`)."""
    schedule = SGDRScheduler(config, n_batches=stream.steps_per_epoch)
    return fit_resumable(model, stream, folder, config.epochs, validation=validation,
                         callbacks=[schedule, *callbacks], run_config=run_config,
                         verbose=verbose)


# -- the [R1] recipe in one call -----------------------------------------------------------
def train_model(
    model: keras.Model,
    train_clips,
    train_labels,
    config: TrainingConfig,
    run_dir: str | Path,
    *,
    augment: AugmentConfig | None = None,
    train_rows=None,
    validation: Validation | None = None,
    run_config: dict[str, Any] | None = None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    workers: int = 1,
    verbose: str | int = "auto",
) -> list[dict]:
    """Compiles, attaches SGDR + the mixup stream + log + checkpoints, trains ([R1] §2.2–2.5).

    `augment` defaults to [R1]'s (`AugmentConfig()`: balanced reversed pairing, α 0.4, crop
    400, swaps 0.5). Build the model (and call this) inside `strategy.scope()` for
    tf.distribute; the stream's batch of `config.batch_size` is the global batch. Rerun the
    same call after an interruption to resume.
    """
    augment = augment or AugmentConfig()
    compile_for_training(model, config)
    stream = MixupStream(train_clips, train_labels, augment, batch_size=config.batch_size,
                         seed=config.seed, rows=train_rows, workers=workers)
    if run_config is None:
        run_config = {"training": dataclasses.asdict(config),
                      "augment": dataclasses.asdict(augment)}
    return train_phase(model, stream, run_dir, config, validation=validation,
                       callbacks=callbacks, run_config=run_config, verbose=verbose)


def read_log(path: str | Path) -> list[dict]:
    """Reads a `training_log.csv` back as rows of floats (epoch as int)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [{k: (int(v) if k == "epoch" else float(v)) for k, v in r.items() if v != ""}
            for r in rows]
