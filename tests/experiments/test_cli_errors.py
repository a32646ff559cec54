"""Bad options and missing data end the experiment scripts with one clear message, exit 2."""
import pytest


@pytest.mark.parametrize("args, expected", [
    (["--profile", "paper"], "--data was not given"),
    (["--data", "no/such/folder"], "development set folder not found"),
    (["--epochs", "0"], "--epochs must be positive"),
])
def test_binary_script_refuses_bad_input(tmp_path, run_script, args, expected):
    result = run_script("task1b_binary.py", *args, "--out", tmp_path / "run", cwd=tmp_path,
                        timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_binary_script_refuses_unknown_city(tmp_path, run_script, demo_dataset):
    dev, _ = demo_dataset
    result = run_script("task1b_binary.py", "--data", dev, "--split", "loco:atlantis",
                        "--out", tmp_path / "run", "--store-dir", tmp_path / "features",
                        cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "atlantis" in result.stderr and "Traceback" not in result.stderr


def test_loco_refuses_unknown_city(tmp_path, run_script):
    result = run_script("loco.py", "--cities", "atlantis", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "atlantis" in result.stderr and "Traceback" not in result.stderr


def test_reproduce_tables_names_a_missing_run(tmp_path, run_script):
    result = run_script("reproduce_tables.py", tmp_path / "never-ran", cwd=tmp_path,
                        timeout=120)
    assert result.returncode == 2
    assert "never-ran" in result.stderr and "finish the run" in result.stderr
