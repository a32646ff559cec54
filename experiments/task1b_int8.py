#!/usr/bin/env python
"""[R2] AclNet0.5 INT8: raw 16 kHz audio, full-integer post-training quantisation, scored as a .tflite file.

    python experiments/task1b_int8.py                          # demo profile, minutes on a CPU
    python experiments/task1b_int8.py --profile paper --data DIR/TAU-urban-acoustic-scenes-2020-3class-development \
        --eval-data DIR/TAU-urban-acoustic-scenes-2020-3class-evaluation

Steps ([R2] §2.1): 48 kHz stereo clips → 16 kHz mono waveform store (cached, resumable) →
AclNet0.5 trained on random 1 s crops with gain, noise and mixup, SGDR (resumable) → the FP32
base is scored (fp32/) → full-integer INT8 .tflite calibrated on training crops → THAT FILE is
run by the LiteRT interpreter on the validation split, each clip the mean of its 1 s segments
→ results, size tables (DCASE size and file size), summary.json, and the DCASE submission
files (Lopez-Meyer_IL_task1b_1). No AudioSet pre-training ([R2] used it; not available offline).
"""
from __future__ import annotations

import sys

from dcase_lowcomplexity.cli.experiment import check_number, run

SYSTEM = "task1b_int8"


def add_options(p) -> None:
    p.add_argument("--calibration-examples", type=int, default=500,
                   help="1 s training crops that calibrate the INT8 activation ranges")


def configure(system, args):
    check_number("calibration_examples", args.calibration_examples, minimum=1)
    return system.replace(calibration_examples=args.calibration_examples)


def main(argv=None) -> int:
    return run(SYSTEM, __doc__.split("\n")[1], argv, add_options=add_options,
               configure=configure)


if __name__ == "__main__":
    sys.exit(main())
