#!/usr/bin/env python
"""[R1]: the one-bit-per-weight split-frequency ResNet, from audio to a scored packed-bit model.

    python experiments/task1b_binary.py                       # demo profile, minutes on a CPU
    python experiments/task1b_binary.py --profile paper --data DIR/TAU-urban-acoustic-scenes-2020-3class-development \
        --eval-data DIR/TAU-urban-acoustic-scenes-2020-3class-evaluation --seed 0

Steps: dataset → 256-band log-mel store (cached, resumable) → class-balanced mixup training
with SGDR (resumable: rerun the same command after an interruption) → packed one-bit export
(model.1bit) → the model is RELOADED from that file and scored on the validation split with
channel-swap averaging on the full clips → results.md/.csv (Table 1 layout),
confusion_matrix.png, training_curves.png, size tables, summary.json, and the DCASE
submission files (McDonnell_USA_task1b_N, N = seed mod 4 + 1) for an evaluation folder.
"""
from __future__ import annotations

import dataclasses
import sys

from dcase_lowcomplexity.cli.experiment import check_number, run

SYSTEM = "task1b_binary"


def add_options(p) -> None:
    g = p.add_argument_group("[R1] options (report behaviour by default)")
    g.add_argument("--single-pass", action="store_true",
                   help="C1's inference: one pass instead of averaging both channel orientations")
    g.add_argument("--num-filters", type=int, default=None, help="width of stack 1 (paper: 26)")
    g.add_argument("--stft-pad-mode", choices=("reflect", "constant"), default=None,
                   help="padding of the centred STFT: reflect (C1's librosa 0.6.3, default) "
                        "or constant (zeros, librosa ≥ 0.10)")


def configure(system, args):
    check_number("num_filters", args.num_filters, minimum=1)
    model = {"num_filters": args.num_filters} if args.num_filters is not None else {}
    if args.strategy != "default":  # batch statistics over the global batch of 32
        model["synchronized_bn"] = True
    features = system.input.features
    if args.stft_pad_mode is not None:
        features = dataclasses.replace(features, pad_mode=args.stft_pad_mode)
    return system.replace(model=dataclasses.replace(system.model, **model),
                          input=dataclasses.replace(system.input, features=features),
                          views="single" if args.single_pass else system.views)


def main(argv=None) -> int:
    return run(SYSTEM, __doc__.split("\n")[1], argv, add_options=add_options,
               configure=configure)


if __name__ == "__main__":
    sys.exit(main())
