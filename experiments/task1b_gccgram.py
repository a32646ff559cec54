#!/usr/bin/env python
"""[R2] GCC-grams CNN: GCC-PHAT grams and per-channel log-mels, depthwise CNN, FP16, scored as a .tflite file.

    python experiments/task1b_gccgram.py                       # demo profile, minutes on a CPU
    python experiments/task1b_gccgram.py --profile paper --data DIR/TAU-urban-acoustic-scenes-2020-3class-development \
        --eval-data DIR/TAU-urban-acoustic-scenes-2020-3class-evaluation

Steps ([R2] §2.4): 16 kHz stereo → two 40-band log-mels (64 ms window) and one GCC-PHAT
"GCC-gram" of the 40 central lags per frame, 3 × 40 × 500 (store cached, resumable) → the
5-conv depthwise CNN trained with mixup, SGDR (resumable) → FP32 scored (fp32/) → FP16 .tflite
→ THAT FILE scored by LiteRT → results, size tables, summary.json, submission files
(Lopez-Meyer_IL_task1b_4).
"""
from __future__ import annotations

import sys

from dcase_lowcomplexity.cli.experiment import run

SYSTEM = "task1b_gccgram"


def main(argv=None) -> int:
    return run(SYSTEM, __doc__.split("\n")[1], argv)


if __name__ == "__main__":
    sys.exit(main())
