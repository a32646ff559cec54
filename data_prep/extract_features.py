#!/usr/bin/env python
"""Extracts one input kind of a TAU 2020 3Class folder into an HDF5 store (SPEC §2, §6).

    python data_prep/extract_features.py DATASET_DIR STORE.h5 [--workers N]
        [--input logmel256|waveform|logmel64|gccgram] [--dtype float32|float16]
        [--on-error raise|skip]

DATASET_DIR is the development folder (every file of meta.csv, in meta.csv order) or the
evaluation folder (audio/0.wav …); its layout decides (evaluation_setup/fold*_train.csv or a
labelled meta.csv: development, whose meta.csv is then required). Failure modes and how each
resumes: docs/failure_modes.md. `--input` picks the kind, with the paper's parameters:
logmel256 (default, [R1]): (N, 256, 469, 2) log-mels; waveform ([R2] AclNet): (N, 160000)
16 kHz mono; logmel64 ([R2] KD): (N, 64, 1001, 1); gccgram ([R2] GCC-grams): (N, 40, 500, 3).
One clip per HDF5 chunk. Interrupted (Ctrl-C, kill -9, power off of the process)? Rerun the
same command: it resumes and the finished store is identical to an uninterrupted one.
See docs/data.md.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dcase_lowcomplexity.data.dataset import TauDataset, folder_kind, load_evaluation_set
from dcase_lowcomplexity.data.extraction import extract_inputs
from dcase_lowcomplexity.data.inputs import KINDS, InputSpec
from dcase_lowcomplexity.data.store import FeatureStore
from dcase_lowcomplexity.errors import DatasetError, cli_errors


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset_dir", type=Path, help="development or evaluation folder")
    parser.add_argument("store", type=Path, help="output HDF5 store, e.g. features/fold.h5")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"worker processes (default: all {os.cpu_count()} cores)")
    parser.add_argument("--input", choices=KINDS, default="logmel256",
                        help="input kind, with the paper's parameters: logmel256 ([R1]), "
                             "waveform (16 kHz mono), logmel64 (KD), gccgram ([R2])")
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32",
                        help="storage type (float16 halves the disk space; reads are float32)")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                        help="bad audio: stop with its name (raise) or leave it out and list "
                             "it in STORE.h5.skipped.csv (skip)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def file_list(dataset_dir: Path, check_audio: bool) -> list[str]:
    """meta.csv files of a development folder, or the listing of an evaluation folder: the
    folder's layout decides (`folder_kind`), so a development folder whose meta.csv is missing,
    a folder or not UTF-8 is refused, never extracted as an evaluation set."""
    if not dataset_dir.is_dir():
        raise DatasetError("dataset folder not found.", path=dataset_dir,
                           fix="pass the development or evaluation folder (it holds audio/)")
    if folder_kind(dataset_dir) == "development":
        return list(TauDataset(dataset_dir, check_audio=check_audio).table["filename"])
    return list(load_evaluation_set(dataset_dir, check_audio=check_audio)["filename"])


def main(argv=None) -> int:
    args = parse_args(argv)
    with cli_errors():
        filenames = file_list(args.dataset_dir, check_audio=args.on_error == "raise")
        path = extract_inputs(args.dataset_dir, filenames, args.store, InputSpec(args.input),
                              dtype=args.dtype, workers=args.workers,
                              on_error=args.on_error, progress=not args.quiet)
        with FeatureStore.open(path) as store:
            skipped = (f", {len(store.skipped)} skipped (see {path}.skipped.csv)"
                       if store.skipped else "")
            print(f"{path}: {len(store)} {store.spec.kind} clips of {store.spec.shape} "
                  f"{store.dtype}{skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
