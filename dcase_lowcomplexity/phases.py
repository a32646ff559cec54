"""The training phases of every system, each resumable in its own folder (`train_system`).

- single: one fit (the [R1] ResNet, AclNet INT8, GCC-grams);
- lottery: train → prune 19.6 % → rewind to the initial weights → retrain with the mask held
  ([R2] §2.2, `training.pruning.lottery_ticket_phases`);
- distill: the VGG-12 teacher, then the student through the Distiller ([R2] §2.3).

The FP32 networks are saved (`model_fp32*.keras`) and scored (`fp32/`, `teacher/`) on the
way; `pipeline.ship` exports and scores what the phases return. Part of the pipeline layer:
it uses the data, model, training and evaluation layers below it. `inputs`, `data` and
`options` are the pipeline's `Inputs`, `PreparedData` and `RunOptions`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dcase_lowcomplexity.atomic import atomic_path, atomic_write_text
from dcase_lowcomplexity.systems import System


def save_keras(model, path: Path) -> Path:
    """`model.save` to a temporary .keras file, then renamed into place."""
    with atomic_path(path) as tmp:
        model.save(tmp)
    return Path(path)


def write_json(path: Path, data) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


@dataclass
class Trained:
    """What the phases leave: the network to ship, its FP32 base, where the scores are."""

    model: object
    base: object
    log_csv: Path
    folders: dict = field(default_factory=dict)  # reference scores: {"fp32": "fp32", …}
    extra: dict = field(default_factory=dict)
    reference: str = "fp32"  # what [R2] Table 3 measures the system against
    reference_sizes: dict = field(default_factory=dict)


def build_network(network: str, config):
    """The Keras model of a system's network kind."""
    from dcase_lowcomplexity.models import aclnet, binary_resnet, gccgram, student, teacher

    builders = {"binary_resnet": binary_resnet.build_binary_resnet, "aclnet": aclnet.build_aclnet,
                "student": student.build_student, "teacher": teacher.build_teacher,
                "gccgram": gccgram.build_gccgram_cnn}
    return builders[network](config)


def mixup_stream(system: System, inputs, training, workers: int = 1):
    from dcase_lowcomplexity.data.generator import MixupStream

    return MixupStream(inputs.development, inputs.train_labels, system.augment,
                       batch_size=training.batch_size, seed=training.seed,
                       rows=inputs.train_rows, workers=workers)


def validation_for(system: System, inputs, model_of=None):
    """Whole-split metrics every epoch ([R1] validates in one pass, as C1 does)."""
    from dcase_lowcomplexity.evaluation.inference import make_validation

    if inputs.validation_rows is None:
        return None
    views = "single" if system.views == "channel_swap" else system.views
    return make_validation(inputs.development, inputs.validation_labels, inputs.validation_rows,
                           views=views, segment=system.segment,
                           batch_size=system.inference_batch, model_of=model_of)


def score_keras(folder: Path, model, system: System, inputs, data,
                title: str, log_csv: Path | None = None):
    """Table-1 results of a Keras network (an FP32 base, the teacher) in `folder`."""
    from dcase_lowcomplexity.evaluation.inference import keras_predictor, predict_store
    from dcase_lowcomplexity.evaluation.outputs import write_scores

    if inputs.validation_rows is None:
        return None
    probs = predict_store(keras_predictor(model, 2 * system.inference_batch), inputs.development,
                          inputs.validation_rows, views=system.views, segment=system.segment,
                          batch_size=system.inference_batch, progress=False)
    return write_scores(folder, data.split.validation.filename, inputs.validation_labels, probs,
                        log_csv=log_csv, title=title).scores


def train_system(system: System, inputs, data, run_dir: Path,
                 options, strategy=None) -> Trained:
    """The system's phases, each resumable in its own folder, under `strategy` (default:
    `make_strategy(options.strategy, options.devices)`). The networks returned are plain
    copies built outside the strategy, ready to export and to predict clip by clip."""
    import keras

    from dcase_lowcomplexity.training.strategy import make_strategy, needs_distribution

    if strategy is None:
        strategy = make_strategy(options.strategy, options.devices)
    phase = {"single": _single, "lottery": _lottery, "distill": _distill}[system.phases]
    if system.phases != "single":  # phases train in sub-folders: guard the run folder itself
        from dcase_lowcomplexity.training.run import prepare_run_dir
        prepare_run_dir(run_dir, system.to_dict())
    keras.utils.set_random_seed(system.training.seed)
    with strategy.scope():
        trained = phase(system, inputs, data, Path(run_dir), options)
    if needs_distribution(strategy):
        model = plain_copy(system, trained.model)
        base = model if trained.base is trained.model else plain_copy(system, trained.base)
        trained.model, trained.base = model, base
    return trained


def plain_copy(system: System, model):
    """`model`'s network rebuilt outside any tf.distribute strategy, with its weights."""
    plain = build_network(system.network, system.model)
    plain.set_weights(model.get_weights())
    return plain


def _single(system, inputs, data, run_dir, options) -> Trained:
    from dcase_lowcomplexity.training.run import compile_classifier, train_phase

    model = build_network(system.network, system.model)
    compile_classifier(model, system.training,
                       jit_compile="auto" if system.network == "binary_resnet" else False)
    train_phase(model, mixup_stream(system, inputs, system.training, options.loader_workers),
                run_dir, system.training, validation=validation_for(system, inputs),
                run_config=system.to_dict())
    log = run_dir / "training_log.csv"
    if system.storage == "1bit":  # the one-bit network has no FP32 twin to compare with
        return Trained(model, model, log)
    save_keras(model, run_dir / "model_fp32.keras")
    score_keras(run_dir / "fp32", model, system, inputs, data, f"{system.name}: FP32 base")
    return Trained(model, model, log, {"fp32": "fp32"})


def _lottery(system, inputs, data, run_dir, options) -> Trained:
    import keras

    from dcase_lowcomplexity.training.pruning import (
        lottery_ticket_counts, lottery_ticket_phases, masked_zero_counts,
    )

    model = build_network(system.network, system.model)
    base = keras.models.clone_model(model)

    def on_base_trained(trained):
        base.set_weights(trained.get_weights())
        save_keras(base, run_dir / "model_fp32_base.keras")
        score_keras(run_dir / "fp32", base, system, inputs, data,
                    f"{system.name}: FP32 base (unpruned)",
                    log_csv=run_dir / "phase1_train" / "training_log.csv")

    masks = lottery_ticket_phases(
        model, lambda cfg: mixup_stream(system, inputs, cfg, options.loader_workers), run_dir,
        system.training, system.retraining, system.lottery,
        validation=validation_for(system, inputs), run_config=system.to_dict(),
        on_base_trained=on_base_trained)
    counts = {**lottery_ticket_counts(model, masks), **masked_zero_counts(model, masks)}
    write_json(run_dir / "lottery.json", counts)
    save_keras(model, run_dir / "model_fp32_pruned.keras")
    score_keras(run_dir / "fp32_pruned", model, system, inputs, data, f"{system.name}, FP32")
    return Trained(model, base, run_dir / "phase2_retrain" / "training_log.csv",
                   {"fp32": "fp32", "fp32_pruned": "fp32_pruned"}, counts)


def _distill(system, inputs, data, run_dir, options) -> Trained:
    from dcase_lowcomplexity.export.size import size_summary
    from dcase_lowcomplexity.training.distillation import Distiller
    from dcase_lowcomplexity.training.run import compile_classifier, make_optimizer, train_phase

    config = system.to_dict()
    teacher = build_network("teacher", system.teacher)
    compile_classifier(teacher, system.teacher_training)
    train_phase(teacher, mixup_stream(system, inputs, system.teacher_training,
                                      options.loader_workers), run_dir / "teacher",
                system.teacher_training, validation=validation_for(system, inputs),
                run_config={**config, "phase": "teacher"})
    save_keras(teacher, run_dir / "model_teacher_fp32.keras")
    score_keras(run_dir / "teacher", teacher, system, inputs, data, "VGG-12 teacher, FP32",
                log_csv=run_dir / "teacher" / "training_log.csv")
    teacher_sizes = size_summary(teacher, "float32").to_dict()  # before the Distiller freezes it
    student = build_network(system.network, system.model)
    distiller = Distiller(student, teacher, system.distillation)
    distiller.compile(optimizer=make_optimizer(system.training), steps_per_execution=1,
                      jit_compile=False)
    log = run_dir / "student" / "training_log.csv"
    train_phase(distiller, mixup_stream(system, inputs, system.training, options.loader_workers),
                run_dir / "student", system.training,
                validation=validation_for(system, inputs, model_of=lambda d: d.student),
                run_config={**config, "phase": "student"})
    save_keras(student, run_dir / "model_fp32.keras")
    score_keras(run_dir / "fp32", student, system, inputs, data, "Student CNN, FP32",
                log_csv=log)
    return Trained(student, student, log, {"fp32": "fp32", "teacher": "teacher"},
                   reference="teacher",
                   reference_sizes={"teacher": teacher_sizes})
