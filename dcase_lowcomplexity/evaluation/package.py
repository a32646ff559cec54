"""The DCASE2020 Task 1b submission package: one zip for up to four finished runs.

Layout (what the challenge validator's zip mode, `main.py -p ZIP`, reads: every file whose path
holds 'task1' is taken as `<folder>/task1/<label>/<file>`, the label being the third part):

    <Lastname>_<Inst>_task1/task1/<Lastname>_<Inst>_task1.technical_report.pdf
    <Lastname>_<Inst>_task1/task1/<label>/<label>.meta.yaml
    <Lastname>_<Inst>_task1/task1/<label>/<label>.output.csv      (one pair per label)

The validator skips PDFs; the report's name follows the challenge's convention
`[Lastname]_[Inst]_task1.technical_report.pdf`. Each run folder holds the files the main job
wrote (`task1/<label>/<label>.output.csv` and `.meta.yaml`, evaluation.submission). Every run
is checked against the validator's rules (evaluation.validator) before anything is written,
the zip is written atomically and checked once more before it replaces `out_zip`.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import yaml

from dcase_lowcomplexity.atomic import atomic_path
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.submission import check_label
from dcase_lowcomplexity.evaluation.validator import (
    MAX_SYSTEMS,
    package_problems,
    validate_meta_file,
    validate_output_file,
)

RUN_FIX = ("pass the folder of a finished run scored on the evaluation set "
           "(its command with --eval-data EVALUATION_FOLDER writes task1/<label>/)")


@dataclass(frozen=True)
class RunSubmission:
    """The submission files one run wrote."""

    run_dir: Path
    label: str
    output_csv: Path
    meta_yaml: Path

    @property
    def team(self) -> str:
        """`Lastname_Inst` of the label `Lastname_Inst_task1b_N`."""
        return self.label.rsplit("_", 2)[0]


def find_run_submission(run_dir: str | Path) -> RunSubmission:
    """The one `task1/<label>/` of a run folder, its label checked and both files present."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError("run folder not found.", run_dir, fix=RUN_FIX)
    task1 = run_dir / "task1"
    folders = sorted(p for p in task1.iterdir() if p.is_dir()) if task1.is_dir() else []
    if not folders:
        raise ConfigError("no task1/<label>/ submission folder in this run.", run_dir,
                          fix=RUN_FIX)
    if len(folders) > 1:
        raise ConfigError(f"{len(folders)} submission folders "
                          f"({', '.join(p.name for p in folders)}).", task1,
                          fix="keep the one to submit; pass one run folder per system")
    folder = folders[0]
    try:
        check_label(folder.name)
    except ConfigError as err:
        raise ConfigError(f"folder name {folder.name!r} is not a submission label: it does "
                          "not follow Lastname_Inst_task1b_N.", folder, fix=err.fix) from None
    label = folder.name
    found = RunSubmission(run_dir, label, folder / f"{label}.output.csv",
                          folder / f"{label}.meta.yaml")
    for path in (found.output_csv, found.meta_yaml):
        if not path.is_file():
            raise ConfigError("submission file missing.", path,
                              fix="rerun the run's command to finish it")
    return found


def package_layout(labels: Sequence[str]) -> list[str]:
    """The zip's member names, in the order written: report, then meta and output per label."""
    teams = {label.rsplit("_", 2)[0] for label in labels}
    if len(teams) != 1:
        raise ConfigError(f"the labels name {len(teams)} teams ({', '.join(sorted(teams))}).",
                          fix="package one team's systems: one corresponding author and "
                              "institute per package")
    team = teams.pop()
    root = f"{team}_task1/task1"
    names = [f"{root}/{team}_task1.technical_report.pdf"]
    for label in sorted(labels):
        names += [f"{root}/{label}/{label}.meta.yaml", f"{root}/{label}/{label}.output.csv"]
    return names


def _check_report(report_pdf: Path) -> None:
    fix = "pass the technical report (PDF) with --report"
    if not report_pdf.is_file():
        raise ConfigError("technical report not found.", report_pdf, fix=fix)
    with open(report_pdf, "rb") as f:
        if f.read(5) != b"%PDF-":
            raise ConfigError("the technical report is not a PDF file.", report_pdf, fix=fix)


def _check_run(run: RunSubmission, evaluation_files: Sequence[str] | None) -> None:
    validate_output_file(run.output_csv, evaluation_files=evaluation_files, enforce=True)
    validate_meta_file(run.meta_yaml, enforce=True)
    meta_label = yaml.safe_load(run.meta_yaml.read_text(encoding="utf-8"))["submission"]["label"]
    if meta_label != run.label:
        raise ConfigError(f"submission.label {meta_label!r} differs from its folder "
                          f"{run.label!r}.", run.meta_yaml,
                          fix="rewrite the run's submission files under one label")


def gather_runs(run_dirs: Sequence[str | Path],
                evaluation_files: Sequence[str] | None = None) -> list[RunSubmission]:
    """Each run's submission, checked: at most four, labels distinct, files by the rules."""
    if not run_dirs:
        raise ConfigError("no run folder given.", fix=RUN_FIX)
    if len(run_dirs) > MAX_SYSTEMS:
        raise ConfigError(f"{len(run_dirs)} run folders given; the challenge takes at most "
                          f"{MAX_SYSTEMS} systems per subtask.", Path(run_dirs[MAX_SYSTEMS]),
                          fix=f"pass at most {MAX_SYSTEMS} run folders")
    runs: dict[str, RunSubmission] = {}
    for run_dir in run_dirs:
        run = find_run_submission(run_dir)
        if run.label in runs:
            raise ConfigError(f"label {run.label} is also the label of "
                              f"{runs[run.label].run_dir}.", run.run_dir,
                              fix="give each system its own index N in Lastname_Inst_task1b_N "
                                  "(--label) or drop one of the two runs")
        first = next(iter(runs.values()), run)
        if run.team != first.team:
            raise ConfigError(f"label {run.label} is of team {run.team}, the package's first "
                              f"run ({first.run_dir}) of team {first.team}.", run.run_dir,
                              fix="package one team's systems: one corresponding author and "
                                  "institute per package")
        _check_run(run, evaluation_files)
        runs[run.label] = run
    return list(runs.values())


def package_submission(run_dirs: Sequence[str | Path], report_pdf: str | Path,
                       out_zip: str | Path, *,
                       evaluation_files: Sequence[str] | None = None) -> Path:
    """Writes the challenge's zip of up to four runs and the report; returns its path.

    `evaluation_files`: the evaluation list each output.csv must cover (default: the official
    8,640 files audio/0.wav … audio/8639.wav).
    """
    report_pdf, out_zip = Path(report_pdf), Path(out_zip)
    if out_zip.suffix.lower() != ".zip":
        raise ConfigError("the package must be a .zip file.", out_zip,
                          fix="name it like Lastname_Inst_task1.zip")
    _check_report(report_pdf)
    runs = gather_runs(run_dirs, evaluation_files)
    names = package_layout([run.label for run in runs])
    sources = [report_pdf]
    for run in sorted(runs, key=lambda r: r.label):
        sources += [run.meta_yaml, run.output_csv]
    with atomic_path(out_zip) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for source, name in zip(sources, names):
                z.write(source, name)
        problems = package_problems(tmp, evaluation_files)
        if problems:  # the runs passed their checks, so this is a bug of this module
            raise ConfigError(f"the written package breaks the rules: {'; '.join(problems)}.",
                              out_zip, fix="report this as a bug")
    return out_zip
