"""tf.distribute: one MirroredStrategy step over two devices equals the single-device step."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.training.strategy import make_strategy

WORKER = Path(__file__).with_name("strategy_worker.py")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def two_device_report():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(WORKER)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_mirrored_step_equals_single_device_step(two_device_report):
    assert two_device_report["replicas"] == 2
    plain = two_device_report["None"]
    assert plain["max_update"] > 1e-4  # the step really moved the weights …
    assert plain["max_diff"] < 1e-5  # … identically on 1 and 2 devices (global batch 32)


@pytest.mark.slow
def test_batch_norm_needs_synchronized_statistics_across_replicas(two_device_report):
    # Per-replica BN sees 16 clips each: a different step. synchronized=True restores it.
    assert two_device_report["per_replica"]["max_diff"] > 1e-4
    assert two_device_report["sync"]["max_diff"] < 1e-5


def test_strategy_names():
    assert make_strategy("default") is tf.distribute.get_strategy()
    with pytest.raises(ConfigError, match="unknown distribution strategy 'tpu'.*mirrored"):
        make_strategy("tpu")
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        make_strategy("multiworker", devices=["/cpu:0"])
