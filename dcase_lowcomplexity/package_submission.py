"""Builds the DCASE2020 Task 1b submission zip from up to four finished runs.

    python -m dcase_lowcomplexity.package_submission RUN_DIR... --report PDF --out ZIP
                                                     [--evaluation-list CSV]

Each RUN_DIR is the folder of a run scored on the evaluation set (it holds
task1/<label>/<label>.output.csv and .meta.yaml). Every run is checked against the challenge
validator's Task 1b rules first; a run that does not list the whole evaluation set (8,640 files
by default, or those of --evaluation-list), two runs with one label, a label not of the form
Lastname_Inst_task1b_N, more than four runs or a missing report stop the command with exit
status 2 and a message naming the file. The zip is written atomically in the layout the
validator's zip mode reads (see evaluation/package.py).
"""
from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

from dcase_lowcomplexity.errors import cli_errors
from dcase_lowcomplexity.evaluation.package import package_submission
from dcase_lowcomplexity.evaluation.validator import (
    EVALUATION_FILE_COUNT,
    MAX_SYSTEMS,
    read_evaluation_list,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dcase_lowcomplexity.package_submission",
        description="Pack up to four finished runs and the technical report into the "
                    "DCASE2020 Task 1b submission zip.")
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                        help=f"folder of a finished run (at most {MAX_SYSTEMS})")
    parser.add_argument("--report", type=Path, required=True, metavar="PDF",
                        help="technical report (PDF)")
    parser.add_argument("--out", type=Path, required=True, metavar="ZIP",
                        help="zip to write, e.g. McDonnell_USA_task1.zip")
    parser.add_argument("--evaluation-list", type=Path, default=None, metavar="CSV",
                        help="evaluation listing (header 'filename', TAB separated) the "
                             "outputs must cover; default: the official "
                             f"{EVALUATION_FILE_COUNT:,} files audio/0.wav … "
                             f"audio/{EVALUATION_FILE_COUNT - 1}.wav")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_errors():
        files = (None if args.evaluation_list is None
                 else read_evaluation_list(args.evaluation_list))
        out = package_submission(args.run_dirs, args.report, args.out, evaluation_files=files)
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
    print(f"wrote {out} ({out.stat().st_size:,} bytes), {len(names)} files:",
          *names, sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
