#!/usr/bin/env python
"""[R2] Student CNN (KD): a VGG-12 teacher distilled into a 3-conv student, FP16, scored as a .tflite file.

    python experiments/task1b_distill.py                       # demo profile, minutes on a CPU
    python experiments/task1b_distill.py --profile paper --data DIR/TAU-urban-acoustic-scenes-2020-3class-development \
        --eval-data DIR/TAU-urban-acoustic-scenes-2020-3class-evaluation

Steps ([R2]): 64-band log-mels, 25 ms window, 10 ms hop, one channel (cached, resumable) →
the VGG-12 teacher is trained (teacher/, scored there in FP32) → the student is trained
through the Distiller, loss 0.25·KL(embeddings) + 0.25·KL(softmax outputs) + 0.5·CE
(student/) → the student is scored in FP32 (fp32/) → FP16 .tflite of the student → THAT FILE
is scored by LiteRT on the whole clips → results, size.md, summary.json, submission files
(Lopez-Meyer_IL_task1b_3). Both phases resume after an interruption.
"""
from __future__ import annotations

import dataclasses
import sys
import time

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.config import DistillationConfig
from dcase_lowcomplexity.errors import ConfigError, cli_errors
from dcase_lowcomplexity.r2_pipeline import profiles

SYSTEM = "task1b_distill"


def parse_args(argv=None):
    p = ex.base_parser(__doc__.split("\n")[1], SYSTEM)
    profiles.add_training_options(p)
    g = p.add_argument_group("distillation ([R2]: weights 0.25 / 0.25 / 0.5)")
    g.add_argument("--teacher-epochs", type=int, default=None,
                   help="epochs of the teacher (paper 70, demo 6); --epochs sets the student's")
    g.add_argument("--temperature", type=float, default=None,
                   help="softmax temperature of the KL terms ([R2]: 1)")
    return p.parse_args(argv)


def build_config(args) -> dict:
    profiles.check_epochs(args, "teacher_epochs")
    if args.temperature is not None and args.temperature <= 0:
        raise ConfigError(f"--temperature must be positive, got {args.temperature}")
    distillation = DistillationConfig()
    if args.temperature is not None:
        distillation = dataclasses.replace(distillation, temperature=args.temperature)
    return profiles.as_dict(
        system=SYSTEM, profile=args.profile, split=args.split,
        waveform=profiles.waveform_config(args.profile),
        logmel=profiles.logmel_config(args.profile),
        teacher=profiles.teacher_config(args.profile),
        student=profiles.student_config(args.profile),
        augment=profiles.feature_augment_config(args.profile),
        teacher_training=profiles.training_config("teacher", args, args.teacher_epochs),
        training=profiles.training_config("student", args, args.epochs),
        distillation=distillation)


def main(argv=None) -> int:
    args = parse_args(argv)
    with cli_errors():
        start = time.perf_counter()
        config = build_config(args)
        run_dir = ex.run_dir_for(args, SYSTEM)
        data = ex.prepare_data(args)

        import keras

        from dcase_lowcomplexity.config import (
            FeatureAugmentConfig, LogMel64Config, StudentConfig, TeacherConfig, WaveformConfig,
        )
        from dcase_lowcomplexity.export.size import size_summary
        from dcase_lowcomplexity.models.student import build_student
        from dcase_lowcomplexity.models.teacher import build_teacher
        from dcase_lowcomplexity.r2_pipeline import report, runs, training
        from dcase_lowcomplexity.r2_pipeline.inputs import InputSpec
        from dcase_lowcomplexity.training.distillation import Distiller
        from dcase_lowcomplexity.training.run import prepare_run_dir

        prepare_run_dir(run_dir, config)  # refuses a folder of another configuration
        logmel = LogMel64Config(**config["logmel"])
        augment = FeatureAugmentConfig(**config["augment"])
        si = runs.split_inputs(data, InputSpec("logmel64", WaveformConfig(**config["waveform"]),
                                               logmel=logmel), args)
        keras.utils.set_random_seed(args.seed)

        teacher_cfg = profiles.R2TrainingConfig(**config["teacher_training"])
        teacher = build_teacher(TeacherConfig(**config["teacher"]))
        training.compile_classifier(teacher, teacher_cfg)
        training.train_phase(teacher, runs.feature_stream(si, augment, teacher_cfg),
                             run_dir / "teacher", teacher_cfg, validation=runs.validation_for(si),
                             run_config={**config, "phase": "teacher"})
        report.save_keras(teacher, run_dir / "model_teacher_fp32.keras")
        runs.score_model(run_dir / "teacher", teacher, si, title="VGG-12 teacher, FP32",
                         log_csv=run_dir / "teacher" / "training_log.csv")

        student_cfg = profiles.R2TrainingConfig(**config["training"])
        student = build_student(StudentConfig(**config["student"]))
        distiller = Distiller(student, teacher, DistillationConfig(**config["distillation"]))
        distiller.compile(optimizer=training.make_optimizer(student_cfg), steps_per_execution=1,
                          jit_compile=False)
        student_log = run_dir / "student" / "training_log.csv"
        training.train_phase(distiller, runs.feature_stream(si, augment, student_cfg),
                             run_dir / "student", student_cfg,
                             validation=runs.validation_for(si, lambda d: d.student),
                             run_config={**config, "phase": "student"})
        report.save_keras(student, run_dir / "model_fp32.keras")
        runs.score_model(run_dir / "fp32", student, si, title="Student CNN, FP32",
                         log_csv=student_log)
        runs.ship(run_dir, profiles.SYSTEMS[SYSTEM], student, si, args, base=student,
                  log_csv=student_log, folders={"fp32": "fp32", "teacher": "teacher"},
                  input_shape=logmel.shape,
                  reference="teacher",  # [R2] Table 3 measures the student against it
                  reference_sizes={"teacher": size_summary(teacher, "float32").to_dict()})
        print(f"run folder: {run_dir}  ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
