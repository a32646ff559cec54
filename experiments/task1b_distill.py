#!/usr/bin/env python
"""[R2] Student CNN (KD): a VGG-12 teacher distilled into a 3-conv student, FP16, scored as a .tflite file.

    python experiments/task1b_distill.py                       # demo profile, minutes on a CPU
    python experiments/task1b_distill.py --profile paper --data DIR/TAU-urban-acoustic-scenes-2020-3class-development \
        --eval-data DIR/TAU-urban-acoustic-scenes-2020-3class-evaluation

Steps ([R2] §2.3): 64-band log-mels, 25 ms window, 10 ms hop, one channel (store cached,
resumable) → the VGG-12 teacher is trained with mixup and SpecAugment (teacher/, scored there
in FP32) → the student is trained through the Distiller, loss 0.25·KL(embeddings) +
0.25·KL(softmax outputs) + 0.5·CE (student/) → scored in FP32 (fp32/) → FP16 .tflite → THAT
FILE is scored by LiteRT on the whole clips → results, sizes, summary.json, submission files
(Lopez-Meyer_IL_task1b_3); both phases resume.
"""
from __future__ import annotations

import dataclasses
import sys

from dcase_lowcomplexity.cli.experiment import check_number, run

SYSTEM = "task1b_distill"
SPEC_AUGMENT = ("freq_masks", "freq_mask_width", "time_masks", "time_mask_width")


def add_options(p) -> None:
    g = p.add_argument_group("distillation ([R2]: weights 0.25 / 0.25 / 0.5) and SpecAugment")
    g.add_argument("--teacher-epochs", type=int, default=None,
                   help="epochs of the teacher (paper 70, demo 14); --epochs sets the student's")
    g.add_argument("--temperature", type=float, default=None,
                   help="softmax temperature of the KL terms ([R2]: none given; ours 1)")
    for name in SPEC_AUGMENT:
        g.add_argument(f"--{name.replace('_', '-')}", type=int, default=None,
                       help="SpecAugment (Park et al. 2019) of teacher and student training; "
                            "0 masks switch it off")


def configure(system, args):
    check_number("teacher_epochs", args.teacher_epochs, minimum=1)
    check_number("temperature", args.temperature, above=0)
    for name in SPEC_AUGMENT:
        check_number(name, getattr(args, name), minimum=0)
    augment = dataclasses.replace(system.augment, **{
        k: getattr(args, k) for k in SPEC_AUGMENT if getattr(args, k) is not None})
    changes = {"augment": augment}
    if args.teacher_epochs is not None:
        changes["teacher_training"] = dataclasses.replace(system.teacher_training,
                                                          epochs=args.teacher_epochs)
    if args.temperature is not None:
        changes["distillation"] = dataclasses.replace(system.distillation,
                                                      temperature=args.temperature)
    return system.replace(**changes)


def main(argv=None) -> int:
    return run(SYSTEM, __doc__.split("\n")[1], argv, add_options=add_options,
               configure=configure)


if __name__ == "__main__":
    sys.exit(main())
