#!/usr/bin/env python
"""The five systems side by side: the analogue of [R2] Tables 1–3, with [R1]/[R2]'s figures.

    python experiments/compare_systems.py                      # runs/*/demo-fold1-seed0
    python experiments/compare_systems.py --profile paper      # runs/*/paper-fold1-seed0
    python experiments/compare_systems.py RUN_DIR [RUN_DIR ...] --out DIR

Reads the summary.json of finished run folders of experiments/task1b_binary.py ([R1], one
bit per weight) and of task1b_int8.py, task1b_lottery.py, task1b_distill.py and
task1b_gccgram.py ([R2]) (dcase_lowcomplexity/evaluation/compare.py); writes compare.md and
compare.csv and prints the tables: parameters (ours / the report's; [R2]'s are trainable
parameters), DCASE size (non-zero parameters × bytes, batch norm excluded) and file size,
accuracy and log loss of the SHIPPED model (the .tflite file or the packed bits), and [R2]
Table 3's reduction and accuracy drop against [R2]'s references (the teacher for the KD
student, the FP32 base for the others), the report's figures beside ours.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dcase_lowcomplexity.errors import cli_errors
from dcase_lowcomplexity.evaluation import compare


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR",
                   help="finished run folders, in table order (default: the five runs of "
                        "--profile under --runs-root)")
    p.add_argument("--profile", choices=("demo", "paper"), default="demo",
                   help="which default run folders: runs/<script>/PROFILE-fold1-seed0")
    p.add_argument("--runs-root", type=Path, default=Path("runs"))
    p.add_argument("--out", type=Path, default=None,
                   help="where compare.md / compare.csv go (default RUNS_ROOT/compare-PROFILE)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    with cli_errors():
        run_dirs = args.run_dirs or compare.default_run_dirs(args.profile, args.runs_root)
        rows = [row for run_dir in run_dirs for row in compare.read_run(run_dir)]
        out = args.out or args.runs_root / f"compare-{args.profile}"
        md, csv_path = compare.write_compare(rows, out)
        print(compare.compare_markdown(rows))
        print(f"written: {md}\n         {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
