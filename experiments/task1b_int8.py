#!/usr/bin/env python
"""[R2] AclNet0.5 INT8: raw 16 kHz audio, full-integer post-training quantisation, scored as a .tflite file.

    python experiments/task1b_int8.py                          # demo profile, minutes on a CPU
    python experiments/task1b_int8.py --profile paper --data DIR/TAU-urban-acoustic-scenes-2020-3class-development \
        --eval-data DIR/TAU-urban-acoustic-scenes-2020-3class-evaluation

Steps: 48 kHz stereo clips → 16 kHz mono waveforms (cached, resumable) → AclNet trained on
random 1 s crops with gain, noise and mixup, SGDR (resumable: rerun the same command) → the
FP32 base is scored (fp32/) → full-integer INT8 .tflite calibrated on training crops → THAT
FILE is run by the LiteRT interpreter on the validation split, each clip the mean of its 1 s
segments → results.md/.csv, confusion matrix, training curves, size.md (DCASE size and file
size), summary.json, and the DCASE submission files (Lopez-Meyer_IL_task1b_1) for an
evaluation folder. No AudioSet pre-training ([R2] used it; not available offline).
"""
from __future__ import annotations

import sys
import time

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.errors import ConfigError, cli_errors
from dcase_lowcomplexity.r2_pipeline import profiles

SYSTEM = "task1b_int8"


def parse_args(argv=None):
    p = ex.base_parser(__doc__.split("\n")[1], SYSTEM)
    profiles.add_training_options(p)
    p.add_argument("--calibration-examples", type=int, default=500,
                   help="1 s training crops that calibrate the INT8 activation ranges")
    return p.parse_args(argv)


def build_config(args) -> dict:
    """The profile's configuration with the command line's overrides (config.json)."""
    profiles.check_epochs(args)
    if args.calibration_examples <= 0:
        raise ConfigError(f"--calibration-examples must be positive, got "
                          f"{args.calibration_examples}")
    aclnet = profiles.aclnet_config(args.profile)
    return profiles.as_dict(
        system=SYSTEM, profile=args.profile, split=args.split,
        waveform=profiles.waveform_config(args.profile), model=aclnet,
        augment=profiles.waveform_augment_config(aclnet),
        training=profiles.training_config("aclnet", args, args.epochs),
        calibration_examples=args.calibration_examples)


def main(argv=None) -> int:
    args = parse_args(argv)
    with cli_errors():
        start = time.perf_counter()
        config = build_config(args)
        run_dir = ex.run_dir_for(args, SYSTEM)
        data = ex.prepare_data(args)

        import keras

        from dcase_lowcomplexity.config import AclNetConfig, WaveformAugmentConfig, WaveformConfig
        from dcase_lowcomplexity.models.aclnet import build_aclnet
        from dcase_lowcomplexity.r2_pipeline import report, runs, training
        from dcase_lowcomplexity.r2_pipeline.inputs import InputSpec

        aclnet = AclNetConfig(**config["model"])
        train_cfg = profiles.R2TrainingConfig(**config["training"])
        si = runs.split_inputs(data, InputSpec("waveform", WaveformConfig(**config["waveform"])),
                               args, segment_samples=aclnet.segment_samples)
        keras.utils.set_random_seed(args.seed)
        model = build_aclnet(aclnet)
        training.compile_classifier(model, train_cfg)
        stream = runs.waveform_stream(si, WaveformAugmentConfig(**config["augment"]), train_cfg)
        training.train_phase(model, stream, run_dir, train_cfg,
                             validation=runs.validation_for(si), run_config=config)
        report.save_keras(model, run_dir / "model_fp32.keras")
        runs.score_model(run_dir / "fp32", model, si, title="AclNet0.5 FP32 base")
        runs.ship(run_dir, profiles.SYSTEMS[SYSTEM], model, si, args, base=model,
                  log_csv=run_dir / "training_log.csv", folders={"fp32": "fp32"},
                  calibration=runs.calibration_crops(si, args.calibration_examples,
                                                     aclnet.segment_samples))
        print(f"run folder: {run_dir}  ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
