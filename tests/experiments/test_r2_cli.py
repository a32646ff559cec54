"""Bad options and missing data end the [R2] scripts with one clear message and exit 2,
before anything is written (checked in-process, and once in a real process for tracebacks)."""
import importlib.util
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SCRIPTS = ("task1b_int8.py", "task1b_lottery.py", "task1b_distill.py", "task1b_gccgram.py")


def _main(script):
    spec = importlib.util.spec_from_file_location(script[:-3], EXPERIMENTS / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _refused(script, args, tmp_path, monkeypatch, capsys) -> str:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        _main(script)([*args, "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert not (tmp_path / "run").exists() and not (tmp_path / "demo_data").exists()
    return capsys.readouterr().err


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("args, expected", [
    (["--epochs", "0"], "--epochs must be positive"),
    (["--batch-size", "-4"], "--batch-size must be positive"),
    (["--lr-min", "0.1", "--lr-max", "0.01"], "need 0 ≤ lr_min < lr_max"),
    (["--profile", "paper"], "--data was not given"),
    (["--data", "no/such/folder"], "development set folder not found"),
])
def test_scripts_refuse_bad_input(script, args, expected, tmp_path, monkeypatch, capsys):
    assert expected in _refused(script, args, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("script, args, expected", [
    ("task1b_lottery.py", ["--epochs", "3", "--rewind-epoch", "3"],
     "--rewind-epoch 3 must be smaller than the 3 epochs of phase 1"),
    ("task1b_lottery.py", ["--prune-fraction", "1.0"], "--prune-fraction must be in [0, 1)"),
    ("task1b_lottery.py", ["--retrain-epochs", "0"], "--retrain-epochs must be positive"),
    ("task1b_distill.py", ["--teacher-epochs", "0"], "--teacher-epochs must be positive"),
    ("task1b_distill.py", ["--temperature", "0"], "--temperature must be positive"),
    ("task1b_int8.py", ["--calibration-examples", "0"], "--calibration-examples must be positive"),
])
def test_system_options_are_checked(script, args, expected, tmp_path, monkeypatch, capsys):
    assert expected in _refused(script, args, tmp_path, monkeypatch, capsys)


def test_unknown_city_is_named(tmp_path, monkeypatch, capsys, demo_dataset):
    dev, _ = demo_dataset
    err = _refused("task1b_gccgram.py", ["--data", str(dev), "--split", "loco:atlantis"],
                   tmp_path, monkeypatch, capsys)
    assert "atlantis" in err and "loco:barcelona" in err


def test_a_real_process_prints_one_message_and_no_traceback(tmp_path, run_script):
    result = run_script("task1b_lottery.py", "--epochs", "2", "--rewind-epoch", "5",
                        "--out", tmp_path / "run", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("error:") == 1 and "--rewind-epoch 5" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()
    result = run_script("compare_systems.py", tmp_path / "never-ran", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "never-ran" in result.stderr and "Traceback" not in result.stderr
