"""tf.distribute strategies for training on one or several devices or machines.

Build and compile the model inside `strategy.scope()`. The generator's batch (32 in [R1]
§2.5) is the GLOBAL batch: Keras splits it across replicas, sums the gradients and scales
the loss (regularisation terms included) by 1 / replicas, so one step equals the single-device
step. One difference stays: batch normalisation computes its batch statistics per replica
(16 clips each on 2 devices) unless the layer is built with `synchronized=True`.

- "default": the default (no-op) strategy, one device;
- "mirrored": `MirroredStrategy`, synchronous data parallelism over the local GPUs (or the
  given `devices`, e.g. logical CPUs for testing);
- "multiworker": `MultiWorkerMirroredStrategy`, configured by the `TF_CONFIG` environment
  variable of each worker.
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from dcase_lowcomplexity.errors import ConfigError

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str = "default",
                  devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """Returns the tf.distribute strategy called `name` (one of STRATEGIES)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
    if name == "multiworker":
        if devices:
            raise ConfigError("the multiworker strategy takes its devices from TF_CONFIG",
                              fix="set TF_CONFIG on every worker and pass no devices")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"unknown distribution strategy {name!r}",
                      fix=f"use one of {', '.join(STRATEGIES)}")
