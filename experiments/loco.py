#!/usr/bin/env python
"""Leave-one-city-out validation of [R1]'s system (SPEC §5): 10 models, each trained on nine
cities and scored on the tenth, then the per-city table with the mean (C1: 95.66 %).

    python experiments/loco.py                      # demo profile
    python experiments/loco.py --profile paper --data DIR [--cities barcelona,paris]

Every fold is an ordinary resumable run of experiments/task1b_binary.py in
runs/task1b_binary/PROFILE-loco-CITY-seedSEED; rerun the command to resume. Options other than
--cities and --table-out are passed to task1b_binary.py unchanged.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import task1b_binary

from dcase_lowcomplexity.atomic import atomic_write_text
from dcase_lowcomplexity.cli.experiment import base_parser, resolve_profile
from dcase_lowcomplexity.config import DEVELOPMENT_CITIES
from dcase_lowcomplexity.errors import ConfigError, cli_errors
from dcase_lowcomplexity.evaluation.outputs import load_scores
from dcase_lowcomplexity.evaluation.tables import loco_markdown, loco_table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cities", default=",".join(DEVELOPMENT_CITIES),
                   help="comma-separated left-out cities (default: all ten)")
    p.add_argument("--table-out", type=Path, default=None,
                   help="where to write loco.md/loco.csv (default runs/task1b_binary/PROFILE-loco)")
    args, passthrough = p.parse_known_args(argv)
    with cli_errors():
        cities = [c.strip() for c in args.cities.split(",") if c.strip()]
        unknown = sorted(set(cities) - set(DEVELOPMENT_CITIES))
        if unknown or not cities:
            raise ConfigError(f"unknown cities {unknown}",
                              fix=f"choose among {', '.join(DEVELOPMENT_CITIES)}")
        if any(a.split("=")[0] in ("--split", "--out") for a in passthrough):
            raise ConfigError("loco.py sets --split and --out of each fold itself")
        fold_parser = base_parser(task1b_binary.SYSTEM, "")
        task1b_binary.add_options(fold_parser)
        fold_args = fold_parser.parse_args(passthrough)
        profile = resolve_profile(fold_args)
        runs = Path("runs") / task1b_binary.SYSTEM
        per_city = {}
        for i, city in enumerate(cities, 1):
            print(f"\n=== fold {i}/{len(cities)}: left-out city {city} ===")
            out = runs / f"{profile}-loco-{city}-seed{fold_args.seed}"
            task1b_binary.main([*passthrough, "--profile", profile, "--split", f"loco:{city}",
                                "--out", str(out)])
            per_city[city] = load_scores(out)
        table = loco_table(per_city)
        out = args.table_out or runs / f"{profile}-loco"
        out.mkdir(parents=True, exist_ok=True)
        md = loco_markdown(table)
        atomic_write_text(out / "loco.md", md)
        atomic_write_text(out / "loco.csv", table.to_csv(float_format="%.6g"))
        print(md)
        print(f"written: {out / 'loco.md'}, {out / 'loco.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
