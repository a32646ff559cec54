"""The shared command line of the five experiment scripts (cli/experiment.py): every bad
option or missing folder ends the run with one message naming the option (or path), exit
status 2, before anything is written. Checked in-process for all five scripts, and in real
processes for the traceback-free single message and the table scripts."""
import importlib.util
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SCRIPTS = ("task1b_binary.py", "task1b_int8.py", "task1b_lottery.py", "task1b_distill.py",
           "task1b_gccgram.py")
_MODULES = {}


def _main(script):
    """main() of experiments/<script>, loaded once per test session."""
    if script not in _MODULES:
        spec = importlib.util.spec_from_file_location(script[:-3], EXPERIMENTS / script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[script] = module
    return _MODULES[script].main


def _refused(script, args, tmp_path, monkeypatch, capsys) -> str:
    """Runs the script in tmp_path, expects exit 2 and no output written; returns stderr."""
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        _main(script)([*map(str, args), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert not (tmp_path / "run").exists()  # nothing half-written
    assert not (tmp_path / "demo_data").exists()  # the demo data only after the checks
    assert not (tmp_path / "features").exists() and not (tmp_path / "runs").exists()
    assert err.count("error:") == 1, err
    return err


# (arguments, what the message must say: the option's name and the reason)
COMMON_CASES = [
    (["--epochs", "0"], ["--epochs", "at least 1", "got 0"]),
    (["--batch-size", "-4"], ["--batch-size", "at least 1", "got -4"]),
    (["--lr-max", "nan"], ["--lr-max", "finite"]),
    (["--lr-max", "inf"], ["--lr-max", "finite"]),
    (["--lr-max=-inf"], ["--lr-max", "finite"]),
    (["--lr-max", "0"], ["--lr-max", "greater than 0"]),
    (["--mixup-alpha", "inf"], ["--mixup-alpha", "finite"]),
    (["--mixup-alpha", "nan"], ["--mixup-alpha", "finite"]),
    (["--mixup-alpha", "-0.2"], ["--mixup-alpha", "at least 0"]),
    (["--lr-min", "-1"], ["--lr-min", "at least 0", "got -1"]),
    (["--lr-min", "nan"], ["--lr-min", "finite"]),
    (["--lr-min", "0.1", "--lr-max", "0.01"], ["--lr-min", "--lr-max", "0.1", "0.01"]),
    (["--lr-min", "0.01", "--lr-max", "0.01"], ["--lr-min", "--lr-max"]),
    # Adam's default peak (1e-3) under a floor of 0.01
    (["--optimizer", "adam", "--lr-min", "0.01"], ["--lr-min", "--lr-max", "0.001"]),
    (["--seed", "-1"], ["--seed", "4294967295", "got -1"]),
    (["--seed", str(2**66)], ["--seed", "4294967295", "73786976294838206464"]),
    (["--seed", str(2**32)], ["--seed", "4294967295", "got 4294967296"]),
    (["--workers", "0"], ["--workers", "at least 1", "got 0"]),
    (["--workers", "-4"], ["--workers", "at least 1", "got -4"]),
    (["--loader-workers", "-4"], ["--loader-workers", "at least 1", "got -4"]),
    (["--loader-workers", "0"], ["--loader-workers", "at least 1", "got 0"]),
    (["--label", "foo"], ["--label", "'foo'", "Lastname_Inst_task1b_N"]),
    (["--label", "McDonnell_UniSA_task1a_1"], ["--label", "Lastname_Inst_task1b_N"]),
    (["--profile", "paper"], ["--data was not given", "--profile demo"]),
    (["--profile", "paper", "--data", "no/such/folder"],
     ["no/such/folder", "development set folder not found"]),
    (["--profile", "demo", "--data", "no/such/folder"],
     ["no/such/folder", "development set folder not found"]),
]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("args, expected", COMMON_CASES,
                         ids=[" ".join(a) for a, _ in COMMON_CASES])
def test_common_options_are_refused(script, args, expected, tmp_path, monkeypatch, capsys):
    err = _refused(script, args, tmp_path, monkeypatch, capsys)
    for part in expected:
        assert part in err, (part, err)
    assert "Traceback" not in err


SYSTEM_CASES = [
    ("task1b_lottery.py", ["--epochs", "3", "--rewind-epoch", "3"],
     ["--rewind-epoch 3", "smaller than the 3 epochs"]),
    ("task1b_lottery.py", ["--epochs", "3", "--rewind-epoch", "7"],
     ["--rewind-epoch 7", "smaller than the 3 epochs"]),
    ("task1b_lottery.py", ["--rewind-epoch", "-1"], ["--rewind-epoch", "at least 0"]),
    ("task1b_lottery.py", ["--prune-fraction", "1.0"], ["--prune-fraction", "[0, 1)", "1.0"]),
    ("task1b_lottery.py", ["--prune-fraction", "-0.1"], ["--prune-fraction", "[0, 1)"]),
    ("task1b_lottery.py", ["--prune-fraction", "nan"], ["--prune-fraction"]),
    ("task1b_lottery.py", ["--retrain-epochs", "0"], ["--retrain-epochs", "at least 1"]),
    ("task1b_distill.py", ["--teacher-epochs", "0"], ["--teacher-epochs", "at least 1"]),
    ("task1b_distill.py", ["--temperature", "nan"], ["--temperature", "finite"]),
    ("task1b_distill.py", ["--temperature", "inf"], ["--temperature", "finite"]),
    ("task1b_distill.py", ["--temperature", "0"], ["--temperature", "greater than 0"]),
    ("task1b_distill.py", ["--temperature", "-2"], ["--temperature", "greater than 0"]),
    ("task1b_distill.py", ["--freq-masks", "-1"], ["--freq-masks", "at least 0"]),
    ("task1b_distill.py", ["--time-mask-width", "-3"], ["--time-mask-width", "at least 0"]),
    ("task1b_int8.py", ["--calibration-examples", "0"],
     ["--calibration-examples", "at least 1"]),
    ("task1b_binary.py", ["--num-filters", "0"], ["--num-filters", "at least 1"]),
]


@pytest.mark.parametrize("script, args, expected", SYSTEM_CASES,
                         ids=[f"{s[:-3]} {' '.join(a)}" for s, a, _ in SYSTEM_CASES])
def test_system_options_are_refused(script, args, expected, tmp_path, monkeypatch, capsys):
    err = _refused(script, args, tmp_path, monkeypatch, capsys)
    for part in expected:
        assert part in err, (part, err)


@pytest.mark.parametrize("script", SCRIPTS)
def test_data_without_profile_means_the_paper_profile(script, tmp_path, monkeypatch, capsys):
    """Never the demo network on real data without a word: the paper profile is announced,
    then the (missing) development folder is named."""
    err = _refused(script, ["--data", "no/such/folder"], tmp_path, monkeypatch, capsys)
    assert "--data given without --profile: using the paper profile" in err
    assert "development set folder not found" in err and "no/such/folder" in err
    assert err.index("paper profile") < err.index("error:")


@pytest.mark.parametrize("script", SCRIPTS)
def test_no_announcement_when_the_profile_is_given(script, tmp_path, monkeypatch, capsys):
    err = _refused(script, ["--profile", "demo", "--data", "no/such/folder"],
                   tmp_path, monkeypatch, capsys)
    assert "paper profile" not in err


@pytest.mark.parametrize("script", SCRIPTS)
def test_unknown_city_is_named(script, tmp_path, monkeypatch, capsys, demo_dataset):
    dev, _ = demo_dataset
    err = _refused(script, ["--profile", "demo", "--data", dev, "--split", "loco:atlantis",
                            "--store-dir", tmp_path / "features"],
                   tmp_path, monkeypatch, capsys)
    assert "atlantis" in err and "loco:barcelona" in err


def test_a_real_process_prints_one_message_and_no_traceback(tmp_path, run_script):
    result = run_script("task1b_lottery.py", "--epochs", "2", "--rewind-epoch", "5",
                        "--out", tmp_path / "run", cwd=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.count("error:") == 1 and "--rewind-epoch 5" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "demo_data").exists()


def test_loco_refuses_an_unknown_city(tmp_path, run_script):
    result = run_script("loco.py", "--cities", "milan,atlantis", cwd=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "atlantis" in result.stderr and "barcelona" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "demo_data").exists()


@pytest.mark.parametrize("script", ["reproduce_tables.py", "compare_systems.py"])
def test_table_scripts_name_a_missing_run(script, tmp_path, run_script):
    result = run_script(script, tmp_path / "never-ran", cwd=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "never-ran" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1
    if script == "reproduce_tables.py":
        assert "finish the run" in result.stderr


# -- folders checked before any work (issue: checks that came only after training) -----------
def _linked_copy(src: Path, dst: Path) -> Path:
    """A copy of a dataset folder whose lists can be edited; audio/ is a link to src's."""
    dst.mkdir()
    for item in src.iterdir():
        if item.name == "audio":
            (dst / "audio").symlink_to(item.resolve(), target_is_directory=True)
        elif item.is_dir():
            (dst / item.name).mkdir()
            for f in item.iterdir():
                (dst / item.name / f.name).write_bytes(f.read_bytes())
        else:
            (dst / item.name).write_bytes(item.read_bytes())
    return dst


def test_a_missing_evaluation_wav_stops_before_any_work(tmp_path, monkeypatch, capsys,
                                                        demo_dataset):
    dev, evaluation = demo_dataset
    broken = tmp_path / "eval"
    broken.mkdir()
    (broken / "evaluation_setup").mkdir()
    listing = (evaluation / "evaluation_setup" / "fold1_test.csv").read_text()
    (broken / "evaluation_setup" / "fold1_test.csv").write_text(listing)
    (broken / "audio").mkdir()
    names = [line.strip() for line in listing.splitlines()[1:] if line.strip()]
    for name in names[1:]:  # the first listed file is missing
        (broken / name).symlink_to((evaluation / name).resolve())
    err = _refused("task1b_int8.py", ["--profile", "demo", "--data", dev, "--eval-data", broken],
                   tmp_path, monkeypatch, capsys)
    assert names[0] in err and "fold1_test.csv" in err


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_development_folder_is_refused_as_evaluation_folder(script, tmp_path, monkeypatch,
                                                                capsys, demo_dataset):
    dev, _ = demo_dataset
    err = _refused(script, ["--profile", "demo", "--data", dev, "--eval-data", dev],
                   tmp_path, monkeypatch, capsys)
    assert str(dev) in err and "development set" in err and "--eval-data" in err


def test_a_bad_evaluation_folder_without_data_writes_no_demo_data(tmp_path, monkeypatch,
                                                                  capsys):
    err = _refused("task1b_binary.py", ["--eval-data", tmp_path / "no-such-eval"], tmp_path,
                   monkeypatch, capsys)
    assert "no-such-eval" in err and "evaluation folder not found" in err


def test_a_class_absent_from_the_training_list_names_the_list(tmp_path, monkeypatch, capsys,
                                                              demo_dataset):
    dev, _ = demo_dataset
    copy = _linked_copy(dev, tmp_path / "dev")
    train = copy / "evaluation_setup" / "fold1_train.csv"
    lines = train.read_text().splitlines()
    train.write_text("\n".join([lines[0]] + [l for l in lines[1:]
                                             if not l.endswith("transportation")]) + "\n")
    err = _refused("task1b_gccgram.py", ["--profile", "demo", "--data", copy], tmp_path,
                   monkeypatch, capsys)
    assert "fold1_train.csv" in err and "transportation" in err


def test_a_fold_the_dataset_never_had_is_named(tmp_path, monkeypatch, capsys, demo_dataset):
    dev, _ = demo_dataset
    err = _refused("task1b_binary.py", ["--profile", "demo", "--data", dev, "--split", "fold2"],
                   tmp_path, monkeypatch, capsys)
    assert "fold2_train.csv not found" in err and "fold1" in err and "--split fold1" in err
