"""The submission package: `python -m dcase_lowcomplexity.package_submission` on finished runs."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scoring_cases import FIGURE2, predictions_from_confusion

from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.metrics import score_clips
from dcase_lowcomplexity.evaluation.package import package_layout, package_submission
from dcase_lowcomplexity.evaluation.submission import (
    submission_paths,
    write_meta_yaml,
    write_output_csv,
)
from dcase_lowcomplexity.evaluation.validator import official_evaluation_files, validate_package
from dcase_lowcomplexity.package_submission import main

DEMO_FILES = [f"audio/{i}.wav" for i in range(24)]  # the demo evaluation set's 24 clips
AUTHORS = [{"lastname": "McDonnell", "firstname": "Mark D.",
            "email": "mark.mcdonnell@unisa.edu.au", "corresponding": True,
            "affiliation": {"institute": "University of South Australia"}}]
COMPLEXITY = {"total_parameters": 3_987_000, "total_parameters_non_zero": 3_987_000,
              "model_size": 486.69}
SCORES = score_clips(*predictions_from_confusion(FIGURE2))


def make_run(root, label, files=DEMO_FILES, *, scored=True, seed=0):
    """A finished run's folder as the main job leaves it: task1/<label>/<label>.*"""
    run_dir = root / f"run_{label}_{seed}"
    output_csv, meta_yaml = submission_paths(run_dir, label)
    p = np.random.default_rng(seed).random((len(files), 3)) + 0.01
    write_output_csv(files, p / p.sum(axis=1, keepdims=True), output_csv)
    write_meta_yaml(meta_yaml, label, name="One-bit-per-weight ResNet", abbreviation="1bitResNet",
                    authors=[dict(AUTHORS[0], lastname=label.split("_")[0])],
                    complexity=COMPLEXITY, development_results=SCORES if scored else None)
    return run_dir


@pytest.fixture
def report(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4\n% technical report\n")
    return path


@pytest.fixture
def demo_list(tmp_path):
    path = tmp_path / "fold1_test.csv"
    path.write_text("filename\n" + "\n".join(DEMO_FILES) + "\n")
    return path


def labels(n):
    return [f"McDonnell_USA_task1b_{i}" for i in range(1, n + 1)]


def test_cli_packs_four_demo_runs_in_the_challenge_layout(tmp_path, report, demo_list, capsys):
    runs = [make_run(tmp_path, label) for label in reversed(labels(4))]
    out = tmp_path / "McDonnell_USA_task1.zip"
    assert main([*map(str, runs), "--report", str(report), "--out", str(out),
                 "--evaluation-list", str(demo_list)]) == 0
    root = "McDonnell_USA_task1/task1"
    expected = [f"{root}/McDonnell_USA_task1.technical_report.pdf"]
    for i in (1, 2, 3, 4):
        label = f"McDonnell_USA_task1b_{i}"
        expected += [f"{root}/{label}/{label}.meta.yaml", f"{root}/{label}/{label}.output.csv"]
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == expected
        assert z.read(expected[0]) == report.read_bytes()
        label = "McDonnell_USA_task1b_3"
        out_csv, meta = submission_paths(runs[1], label)
        assert z.read(f"{root}/{label}/{label}.output.csv") == out_csv.read_bytes()
        assert z.read(f"{root}/{label}/{label}.meta.yaml") == meta.read_bytes()
    assert package_layout(labels(4)) == expected
    with pytest.raises(ConfigError, match="the labels name 2 teams"):
        package_layout(["McDonnell_USA_task1b_1", "Gao_USA_task1b_2"])
    assert validate_package(out, evaluation_files=DEMO_FILES) == []
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "9 files:" in printed and expected[-1] in printed
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_default_evaluation_set_is_the_official_8640_files(tmp_path, report, capsys):
    full = make_run(tmp_path, "McDonnell_USA_task1b_1", official_evaluation_files())
    out = package_submission([full], report, tmp_path / "full.zip")
    assert validate_package(out) == []
    with zipfile.ZipFile(out) as z:
        name = "McDonnell_USA_task1/task1/McDonnell_USA_task1b_1/McDonnell_USA_task1b_1.output.csv"
        assert len(z.read(name).decode().splitlines()) == 8641
    # a demo run (24 clips) is refused unless its list is passed
    demo = make_run(tmp_path, "McDonnell_USA_task1b_2")
    with pytest.raises(SystemExit) as exit_:
        main([str(demo), "--report", str(report), "--out", str(tmp_path / "demo.zip")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert str(submission_paths(demo, "McDonnell_USA_task1b_2")[0]) in err
    assert "8616 of the 8640 files of the evaluation set missing" in err
    assert not (tmp_path / "demo.zip").exists()


def _rename_label(run_dir, old, new):
    folder = run_dir / "task1" / old
    for path in folder.iterdir():
        path.rename(folder / path.name.replace(old, new))
    folder.rename(run_dir / "task1" / new)
    return run_dir / "task1" / new


def _incomplete_output(run_dir):
    path, _ = submission_paths(run_dir, "McDonnell_USA_task1b_1")
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    return path


REFUSALS = {
    "two runs with one label": (
        lambda t: [make_run(t, "McDonnell_USA_task1b_1"),
                   make_run(t, "McDonnell_USA_task1b_1", seed=1)],
        lambda t, runs: runs[1], "is also the label of"),
    "label not Lastname_Inst_task1b_N": (
        lambda t: [make_run(t, "McDonnell_USA_task1b_1")],
        lambda t, runs: _rename_label(runs[0], "McDonnell_USA_task1b_1", "McDonnell_task1b_1"),
        "folder name 'McDonnell_task1b_1' is not a submission label: it does not follow "
        "Lastname_Inst_task1b_N. Fix: use the corresponding author's last name"),
    "more than four runs": (
        lambda t: [make_run(t, label) for label in labels(4)]
        + [make_run(t, "McDonnell_USA_task1b_1", seed=5)],
        lambda t, runs: runs[4], "5 run folders given; the challenge takes at most 4"),
    "run without submission files": (
        lambda t: [t / "empty_run"],
        lambda t, runs: runs[0].mkdir() or runs[0], "no task1/<label>/ submission folder"),
    "output.csv not listing the whole evaluation set": (
        lambda t: [make_run(t, "McDonnell_USA_task1b_1")],
        lambda t, runs: _incomplete_output(runs[0]),
        "1 of the 24 files of the evaluation set missing: 23.wav"),
    "meta.yaml without development results": (
        lambda t: [make_run(t, "McDonnell_USA_task1b_1", scored=False)],
        lambda t, runs: submission_paths(runs[0], "McDonnell_USA_task1b_1")[1],
        "results.development_dataset.overall.accuracy=None is not a number"),
    "two teams": (
        lambda t: [make_run(t, "McDonnell_USA_task1b_1"), make_run(t, "Gao_USA_task1b_2")],
        lambda t, runs: runs[1], "label Gao_USA_task1b_2 is of team Gao_USA, the package's "
                                 "first run"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_cli_refusals_exit_2_naming_the_file(tmp_path, report, demo_list, capsys, case):
    make_runs, named, message = REFUSALS[case]
    runs = make_runs(tmp_path)
    path = named(tmp_path, runs)
    out = tmp_path / "package.zip"
    with pytest.raises(SystemExit) as exit_:
        main([*map(str, runs), "--report", str(report), "--out", str(out),
              "--evaluation-list", str(demo_list)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert str(path) in err
    assert not out.exists()


@pytest.mark.parametrize("report_bytes, message", [
    (None, "technical report not found"), (b"Hello", "the technical report is not a PDF")])
def test_cli_refuses_a_missing_report(tmp_path, demo_list, capsys, report_bytes, message):
    run = make_run(tmp_path, "McDonnell_USA_task1b_1")
    report = tmp_path / "Report.pdf"
    if report_bytes is not None:
        report.write_bytes(report_bytes)
    with pytest.raises(SystemExit) as exit_:
        main([str(run), "--report", str(report), "--out", str(tmp_path / "p.zip"),
              "--evaluation-list", str(demo_list)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{report}: {message}" in err and "--report" in err


def test_refusal_keeps_an_existing_zip_and_success_replaces_it(tmp_path, report):
    good = make_run(tmp_path, "McDonnell_USA_task1b_1")
    out = package_submission([good], report, tmp_path / "p.zip", evaluation_files=DEMO_FILES)
    before = out.read_bytes()
    bad = make_run(tmp_path, "McDonnell_USA_task1b_2", scored=False)
    with pytest.raises(ConfigError, match="is not a number"):
        package_submission([good, bad], report, out, evaluation_files=DEMO_FILES)
    assert out.read_bytes() == before
    shutil.rmtree(bad)
    second = make_run(tmp_path, "McDonnell_USA_task1b_2")
    package_submission([good, second], report, out, evaluation_files=DEMO_FILES)
    with zipfile.ZipFile(out) as z:
        assert len(z.namelist()) == 5
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".zip"
                  or p.name.startswith(".p.zip")) == ["p.zip"]


def test_python_m_entry_point(tmp_path, report, demo_list):
    run = make_run(tmp_path, "McDonnell_USA_task1b_1")
    out = tmp_path / "p.zip"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-m", "dcase_lowcomplexity.package_submission", str(run),
         "--report", str(report), "--out", str(out), "--evaluation-list", str(demo_list)],
        capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert validate_package(out, evaluation_files=DEMO_FILES) == []
    done = subprocess.run(
        [sys.executable, "-m", "dcase_lowcomplexity.package_submission", str(run),
         "--report", str(report), "--out", str(tmp_path / "p.tar")],
        capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (f"error: {tmp_path / 'p.tar'}: the package must be a .zip file. "
                           "Fix: name it like Lastname_Inst_task1.zip\n")
