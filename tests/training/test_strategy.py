"""tf.distribute options: names, TF_CONFIG and --devices are checked before any work.
The distributed runs themselves are tested end to end in tests/experiments/test_distributed.py
(MirroredStrategy on two logical CPUs, two workers with TF_CONFIG, a killed worker)."""
import pytest
import tensorflow as tf

from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.training.strategy import (
    cluster_config, is_chief, make_strategy, use_devices, worker_role,
)


def test_strategy_names():
    assert make_strategy("default") is tf.distribute.get_strategy()
    with pytest.raises(ConfigError, match="unknown distribution strategy 'tpu'.*mirrored"):
        make_strategy("tpu")
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        make_strategy("multiworker", devices=["/cpu:0"])
    with pytest.raises(ConfigError, match="one device.*--strategy mirrored"):
        make_strategy("default", devices=["/cpu:0", "/cpu:1"])


def test_default_strategy_is_a_chief_of_one():
    strategy = make_strategy("default")
    assert worker_role(strategy) == (0, 1) and is_chief(strategy)


@pytest.mark.parametrize("value, message", [
    (None, "needs the TF_CONFIG"), ("{not json", "not a valid cluster"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}',
     "not a valid cluster")])
def test_tf_config_is_checked(monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ConfigError, match=message) as err:
        cluster_config()
    assert "Fix:" in str(err.value)


def test_devices_are_checked():
    assert use_devices("/cpu:0") == ["/cpu:0"]
    for bad in ("0", "tpu:0", "two", ""):
        with pytest.raises(ConfigError, match="--devices"):
            use_devices(bad)


def test_devices_go_with_mirrored_only(capsys):
    from dcase_lowcomplexity.cli.experiment import run

    with pytest.raises(SystemExit) as exit_:
        run("task1b_binary", "test", ["--devices", "2", "--epochs", "1"])
    assert exit_.value.code == 2
    assert "--devices goes with --strategy mirrored" in capsys.readouterr().err
