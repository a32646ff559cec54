#!/usr/bin/env python
"""[R2] GCC-grams CNN: two log-mels and a GCC-PHAT gram, depthwise-separable CNN, FP16, scored as a .tflite file.

    python experiments/task1b_gccgram.py                       # demo profile, minutes on a CPU
    python experiments/task1b_gccgram.py --profile paper --data DIR/TAU-urban-acoustic-scenes-2020-3class-development \
        --eval-data DIR/TAU-urban-acoustic-scenes-2020-3class-evaluation

Steps ([R2]): 16 kHz stereo → per 64 ms frame (20 ms hop) a left and a right 40-band log-mel
and the 40 central lags of the GCC-PHAT, (40, 500, 3) per 10 s clip (cached, resumable) →
five depthwise-separable conv blocks trained with mixup and SGDR (resumable) → the FP32
model is scored (fp32/) → FP16 .tflite → THAT FILE is scored by LiteRT → results, size.md,
summary.json, submission files (Lopez-Meyer_IL_task1b_4).
"""
from __future__ import annotations

import sys
import time

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.config import FeatureAugmentConfig
from dcase_lowcomplexity.errors import cli_errors
from dcase_lowcomplexity.r2_pipeline import profiles

SYSTEM = "task1b_gccgram"


def parse_args(argv=None):
    p = ex.base_parser(__doc__.split("\n")[1], SYSTEM)
    profiles.add_training_options(p)
    return p.parse_args(argv)


def build_config(args) -> dict:
    profiles.check_epochs(args)
    return profiles.as_dict(
        system=SYSTEM, profile=args.profile, split=args.split,
        waveform=profiles.waveform_config(args.profile),
        gccphat=profiles.gccphat_config(args.profile),
        model=profiles.gccgram_config(args.profile),
        # whole clips: the GCC-grams CNN's input has a fixed size (global pooling aside)
        augment=FeatureAugmentConfig(),
        training=profiles.training_config("gccgram", args, args.epochs))


def main(argv=None) -> int:
    args = parse_args(argv)
    with cli_errors():
        start = time.perf_counter()
        config = build_config(args)
        run_dir = ex.run_dir_for(args, SYSTEM)
        data = ex.prepare_data(args)

        import keras

        from dcase_lowcomplexity.config import GccGramConfig, GccPhatConfig, WaveformConfig
        from dcase_lowcomplexity.models.gccgram import build_gccgram_cnn
        from dcase_lowcomplexity.r2_pipeline import report, runs, training
        from dcase_lowcomplexity.r2_pipeline.inputs import InputSpec

        train_cfg = profiles.R2TrainingConfig(**config["training"])
        spec = InputSpec("gccgram", WaveformConfig(**config["waveform"]),
                         gcc=GccPhatConfig(**config["gccphat"]))
        si = runs.split_inputs(data, spec, args)
        keras.utils.set_random_seed(args.seed)
        model = build_gccgram_cnn(GccGramConfig(**config["model"]))
        training.compile_classifier(model, train_cfg)
        stream = runs.feature_stream(si, FeatureAugmentConfig(**config["augment"]), train_cfg)
        training.train_phase(model, stream, run_dir, train_cfg,
                             validation=runs.validation_for(si), run_config=config)
        report.save_keras(model, run_dir / "model_fp32.keras")
        runs.score_model(run_dir / "fp32", model, si, title="GCC-grams CNN, FP32")
        runs.ship(run_dir, profiles.SYSTEMS[SYSTEM], model, si, args, base=model,
                  log_csv=run_dir / "training_log.csv", folders={"fp32": "fp32"})
        print(f"run folder: {run_dir}  ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
