"""tf.distribute strategies for training on one or several devices or machines.

Build and compile the model inside `strategy.scope()`. The stream's batch (32 in [R1] §2.5)
is the GLOBAL batch: `distribute_stream` hands every replica its slice of it, Keras sums the
gradients and scales the loss (regularisation terms included) by 1 / replicas, so one step
equals the single-device step. Batch normalisation computes its batch statistics per replica
unless the layer is built with `synchronized=True` ([R1]'s script sets it under a strategy).

- "default": the default (no-op) strategy, one device;
- "mirrored": `MirroredStrategy`, synchronous data parallelism over the local GPUs (or the
  given `devices`, e.g. logical CPUs: `use_devices`);
- "multiworker": `MultiWorkerMirroredStrategy`, configured by the `TF_CONFIG` environment
  variable of each worker. The chief (task "chief", or "worker" 0 when the cluster names no
  chief) writes the run folder; `is_chief`, `barrier` and `check_agree` coordinate the rest.

Sharding: EVERY worker builds the same global batch k of epoch e (`MixupStream` is a pure
function of (seed, epoch, batch)) and feeds its own replicas their slices of it, replica r
getting examples r·b … r·b + b − 1 (b = global batch / replicas). See docs/training.md.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import tensorflow as tf

from dcase_lowcomplexity.errors import ConfigError, RunError

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str = "default",
                  devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """Returns the tf.distribute strategy called `name` (one of STRATEGIES)."""
    if name == "default":
        if devices:
            raise ConfigError("the default strategy trains on one device",
                              fix="pass --strategy mirrored with --devices")
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
    if name == "multiworker":
        if devices:
            raise ConfigError("the multiworker strategy takes its devices from TF_CONFIG",
                              fix="set TF_CONFIG on every worker and pass no devices "
                                  "(CUDA_VISIBLE_DEVICES chooses each worker's GPUs)")
        return _multiworker()
    raise ConfigError(f"unknown distribution strategy {name!r}",
                      fix=f"use one of {', '.join(STRATEGIES)}")


_MULTIWORKER: list[tf.distribute.Strategy] = []


def _multiworker() -> tf.distribute.Strategy:
    """The process's one MultiWorkerMirroredStrategy, created on first use: TensorFlow needs
    it before any other TensorFlow work (the command line creates it at start-up)."""
    if not _MULTIWORKER:
        cluster_config()
        try:
            _MULTIWORKER.append(tf.distribute.MultiWorkerMirroredStrategy())
        except RuntimeError as err:
            raise ConfigError(f"the multiworker strategy cannot start ({err})",
                              fix="create it (make_strategy('multiworker')) before any "
                                  "other TensorFlow work, as the command line does") from None
    return _MULTIWORKER[0]


def cluster_config() -> dict:
    """TF_CONFIG as a dict; ConfigError when it is missing or malformed."""
    fix = ('set TF_CONFIG on every worker, e.g. {"cluster": {"worker": ["host1:12345", '
           '"host2:12345"]}, "task": {"type": "worker", "index": 0}} (docs/training.md)')
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError("--strategy multiworker needs the TF_CONFIG environment variable",
                          fix=fix)
    try:
        config = json.loads(raw)
        workers = config["cluster"]
        task = config["task"]
        workers[task["type"]][int(task["index"])]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ConfigError(f"TF_CONFIG is not a valid cluster description ({err!r})",
                          fix=fix) from None
    return config


def use_devices(spec: str) -> list[str]:
    """The devices of `--devices`: a count N (the first N GPUs, or N logical CPUs when there
    is no GPU) or a comma list such as `/gpu:0,/gpu:2` or `/cpu:0,/cpu:1`. Logical CPUs are
    configured here, so call it before TensorFlow initialises its devices."""
    spec = spec.strip()
    if spec.isdigit():
        count = int(spec)
        if count < 1:
            raise ConfigError(f"--devices must be at least 1, got {count}")
        gpus = tf.config.list_physical_devices("GPU")
        if gpus and len(gpus) < count:
            raise ConfigError(f"--devices {count}: only {len(gpus)} GPU(s) visible",
                              fix="lower --devices or set CUDA_VISIBLE_DEVICES")
        if gpus:
            return [f"/gpu:{i}" for i in range(count)]
        names = [f"/cpu:{i}" for i in range(count)]
    else:
        names = [n.strip().lower() for n in spec.split(",") if n.strip()]
        if not names or any(not n.lstrip("/").startswith(("cpu:", "gpu:")) for n in names):
            raise ConfigError(f"--devices {spec!r} is neither a count nor a list of devices",
                              fix="pass e.g. --devices 2 or --devices /gpu:0,/gpu:1")
    cpus = [int(n.split(":")[1]) for n in names if n.lstrip("/").startswith("cpu:")]
    if cpus and max(cpus) > 0:
        _logical_cpus(max(cpus) + 1)
    return names


def _logical_cpus(count: int) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError:  # TensorFlow already initialised its devices
        if len(tf.config.list_logical_devices("CPU")) < count:
            raise ConfigError(f"{count} logical CPUs are needed, and TensorFlow has already "
                              "set up its devices",
                              fix="choose the devices before any TensorFlow work") from None


# -- roles and coordination -----------------------------------------------------------------
def is_multiworker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        strategy.extended._in_multi_worker_mode()  # noqa: SLF001 (Keras tests it the same way)


def worker_role(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(this worker's index, number of workers); (0, 1) outside a multi-worker cluster."""
    if not is_multiworker(strategy):
        return 0, 1
    resolver = strategy.cluster_resolver
    spec = resolver.cluster_spec().as_dict()
    order = [(kind, i) for kind in ("chief", "worker") for i in range(len(spec.get(kind, [])))]
    return order.index((resolver.task_type, int(resolver.task_id))), len(order)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    return worker_role(strategy)[0] == 0


def _all_reduce_sum(strategy, values: list[float]) -> list[float]:
    """Sum over every replica of every worker (each worker contributes `values` once)."""
    local = strategy.num_replicas_in_sync // worker_role(strategy)[1]

    def per_replica():
        return tf.constant(values, tf.float64) / local
    reduced = strategy.reduce("SUM", strategy.run(per_replica), axis=None)
    return [float(v) for v in reduced.numpy()]


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Returns when every worker has called it (a no-op outside a multi-worker cluster)."""
    if is_multiworker(strategy):
        _all_reduce_sum(strategy, [1.0])


def check_agree(strategy: tf.distribute.Strategy, value: int, what: str, path) -> None:
    """RunError unless every worker holds the same integer `value` (e.g. the epoch it resumes
    at): n·Σv² = (Σv)² exactly when all n values are equal."""
    if not is_multiworker(strategy):
        return
    count = worker_role(strategy)[1]
    total, squares = _all_reduce_sum(strategy, [float(value), float(value) ** 2])
    if round(count * squares) != round(total ** 2):
        raise RunError(
            f"the workers disagree on {what} (this worker: {value}, mean of all: "
            f"{total / count:g})", path,
            fix="give every worker the same --out on a shared folder, and restart all of "
                "them with the same command")


@contextlib.contextmanager
def worker_folder(strategy: tf.distribute.Strategy, run_dir) -> Iterator[Path]:
    """The run folder itself for the chief; for any other worker a temporary copy of the
    chief's folder (its checkpoints: every worker resumes where the chief stopped), removed
    when the worker is done, so that the chief alone writes the run folder."""
    if is_chief(strategy):
        yield Path(run_dir)
        return
    index, _ = worker_role(strategy)
    with tempfile.TemporaryDirectory(prefix=f"dcase-worker{index}-") as scratch:
        own = Path(scratch) / Path(run_dir).name
        if Path(run_dir).is_dir():
            shutil.copytree(run_dir, own, ignore=shutil.ignore_patterns(".*.tmp*"))
        yield own


# -- the data --------------------------------------------------------------------------------
def needs_distribution(strategy: tf.distribute.Strategy) -> bool:
    """True when batches must be split over replicas (`distribute_stream`)."""
    return strategy.num_replicas_in_sync > 1 or is_multiworker(strategy)


def distribute_stream(stream, strategy: tf.distribute.Strategy, first_item: int):
    """A tf.distribute dataset of stream items first_item, first_item + 1, … (endless) in
    which each replica receives its slice of each global batch (see the module docstring)."""
    replicas = strategy.num_replicas_in_sync
    if stream.batch_size % replicas:
        raise ConfigError(f"the global batch of {stream.batch_size} does not split over "
                          f"{replicas} replicas",
                          fix=f"use a --batch-size that is a multiple of {replicas}")
    per_replica = stream.batch_size // replicas
    x0, y0 = stream[first_item]

    def make(context: tf.distribute.InputContext):
        local = replicas // context.num_input_pipelines
        first_replica = context.input_pipeline_id * local
        lo, hi = first_replica * per_replica, (first_replica + local) * per_replica

        def slices(index):
            x, y = stream[int(index)]
            return (x[lo:hi].reshape(local, per_replica, *x.shape[1:]),
                    y[lo:hi].reshape(local, per_replica, *y.shape[1:]))

        def load(index):
            x, y = tf.numpy_function(slices, [index], (tf.float32, tf.float32), stateful=False)
            x.set_shape((local, per_replica, *x0.shape[1:]))
            y.set_shape((local, per_replica, *y0.shape[1:]))
            return x, y

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.OFF
        items = tf.data.Dataset.counter(first_item)
        return (items.map(load, num_parallel_calls=1, deterministic=True).unbatch()
                .prefetch(2 * local).with_options(options))

    return strategy.distribute_datasets_from_function(make)

