#!/usr/bin/env python
"""Rebuilds [R1]'s tables from finished runs of experiments/task1b_binary.py.

    python experiments/reproduce_tables.py runs/task1b_binary/paper-fold1-seed*   # the "four submissions"

- Table 1 (per class and overall accuracy / log loss, official fold 1) of every run, beside
  the report's figures;
- mean ± std over the runs (independent seeds; [R1] abstract: 96.6 ± 0.5 % macro accuracy).
Writes tables.md and tables.csv into --out (default: runs/tables/).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dcase_lowcomplexity.errors import ConfigError, cli_errors
from dcase_lowcomplexity.evaluation.outputs import load_scores
from dcase_lowcomplexity.evaluation.tables import (
    ResultsTable, comparison_table, seeds_markdown, seeds_table,
)
from dcase_lowcomplexity.atomic import atomic_write_text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders of task1b_binary.py")
    p.add_argument("--out", type=Path, default=Path("runs") / "tables")
    args = p.parse_args(argv)
    with cli_errors():
        runs = sorted(set(args.runs))
        if not runs:
            raise ConfigError("no run folders given")
        scores = [load_scores(run) for run in runs]
        parts = ["# [R1] tables from finished runs\n"]
        for run, s in zip(runs, scores):
            parts += [f"## Table 1 — {run}\n", ResultsTable(s).to_markdown(),
                      comparison_table(s) + "\n"]
        table = seeds_table(scores)
        parts += [f"## Mean ± std over {len(runs)} runs\n", seeds_markdown(table)]
        args.out.mkdir(parents=True, exist_ok=True)
        md = "\n".join(parts)
        atomic_write_text(args.out / "tables.md", md)
        atomic_write_text(args.out / "tables.csv", table.to_csv(float_format="%.6g"))
        print(md)
        print(f"written: {args.out / 'tables.md'}, {args.out / 'tables.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
