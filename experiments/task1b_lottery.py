#!/usr/bin/env python
"""[R2] AclNet0.5 LT: lottery-ticket pruning (19.6 %), rewound to the initial weights, then FP16, scored as a .tflite file.

    python experiments/task1b_lottery.py                       # demo profile, minutes on a CPU
    python experiments/task1b_lottery.py --profile paper --data DIR/TAU-urban-acoustic-scenes-2020-3class-development \
        --eval-data DIR/TAU-urban-acoustic-scenes-2020-3class-evaluation

Steps ([R2] §2.2): 16 kHz waveform store (shared with task1b_int8) → phase 1: train AclNet0.5
(phase1_train/) → the FP32 base is scored (fp32/) → prune the 19.6 % smallest-magnitude
weights (masks.npz) → reset the survivors to "the original randomly initialized weights
values assigned at the initial pre-training stage" (rewind_snapshot.npz) → phase 2: retrain
with the mask held after every step (phase2_retrain/) → sparsity checked (lottery.json) → the
pruned FP32 model is scored (fp32_pruned/) → FP16 .tflite → THAT FILE scored by LiteRT →
results, sizes, summary.json, submission files (Lopez-Meyer_IL_task1b_2). Every phase resumes.
"""
from __future__ import annotations

import dataclasses
import sys

from dcase_lowcomplexity.cli.experiment import check_number, run
from dcase_lowcomplexity.errors import ConfigError

SYSTEM = "task1b_lottery"


def add_options(p) -> None:
    g = p.add_argument_group("lottery ticket ([R2]: 19.6 %, rewound to the initial weights)")
    g.add_argument("--retrain-epochs", type=int, default=None,
                   help="epochs of phase 2 (default: those of phase 1, --epochs)")
    g.add_argument("--rewind-epoch", type=int, default=None,
                   help="0 = the initial weights ([R2], default); k > 0 = late rewinding to "
                        "the weights after k epochs (Frankle et al. 2019)")
    g.add_argument("--prune-fraction", type=float, default=None, help="[R2]: 0.196")
    g.add_argument("--prune-scope", choices=("global", "per_layer"), default=None,
                   help="one magnitude threshold over all kernels (default) or per kernel")


def configure(system, args):
    check_number("retrain_epochs", args.retrain_epochs, minimum=1)
    check_number("rewind_epoch", args.rewind_epoch, minimum=0)
    if args.prune_fraction is not None and not 0 <= args.prune_fraction < 1:
        raise ConfigError(f"--prune-fraction must lie in [0, 1), got {args.prune_fraction}")
    lottery = dataclasses.replace(system.lottery, **{k: v for k, v in {
        "rewind_epoch": args.rewind_epoch, "prune_fraction": args.prune_fraction,
        "scope": args.prune_scope}.items() if v is not None})
    if lottery.rewind_epoch >= system.training.epochs:
        raise ConfigError(f"--rewind-epoch {lottery.rewind_epoch} must be smaller than the "
                          f"{system.training.epochs} epochs of phase 1",
                          fix="lower --rewind-epoch or raise --epochs")
    return system.replace(lottery=lottery, retraining=dataclasses.replace(
        system.retraining, epochs=args.retrain_epochs or system.training.epochs))


def main(argv=None) -> int:
    return run(SYSTEM, __doc__.split("\n")[1], argv, add_options=add_options,
               configure=configure)


if __name__ == "__main__":
    sys.exit(main())
