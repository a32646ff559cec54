#!/usr/bin/env python
"""Writes the synthetic demo dataset in the official TAU 2020 3Class layout (docs/data.md).

    python data_prep/make_demo_dataset.py OUT_DIR [--clips-per-class N] [--seed S]
        [--eval-clips M]

Creates OUT_DIR/TAU-urban-acoustic-scenes-2020-3class-development (audio/, meta.csv,
evaluation_setup/fold1_*.csv) and, with --eval-clips M > 0,
OUT_DIR/TAU-urban-acoustic-scenes-2020-3class-evaluation (audio/0.wav …). The same seed
gives byte-identical files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dcase_lowcomplexity.data.demo import make_demo_dataset
from dcase_lowcomplexity.errors import cli_errors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--clips-per-class", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-clips", type=int, default=0)
    args = parser.parse_args(argv)
    with cli_errors():
        dev = make_demo_dataset(args.out_dir, args.clips_per_class, args.seed, args.eval_clips)
    print(f"{dev}: {3 * args.clips_per_class} clips"
          + (f"; evaluation set of {args.eval_clips} clips beside it" if args.eval_clips else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
