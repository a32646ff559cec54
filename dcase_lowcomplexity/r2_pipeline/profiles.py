"""The four [R2] systems, their demo and paper profiles, and the training [R2] leaves open.

[R2] (Lopez-Meyer et al., SPEC §6) gives the networks, inputs, pruning fraction, distillation
loss and export types, but no optimiser, learning rate, batch size or epoch count. Ours, in
`R2TrainingConfig`, reuse [R1]'s recipe (SGD, momentum 0.9, SGDR warm restarts from
lr_max 0.025 to lr_min 2.5e-6, batch 32; SPEC §4) for every network; `--optimizer adam`,
`--lr-max`, `--batch-size` and `--epochs` change them. Paper epochs are whole SGDR cycles:
150 (10 + 20 + 40 + 80) for AclNet, which sees one random 1 s crop of each clip per epoch,
70 (10 + 20 + 40) for the networks that see whole clips.

The demo profile (synthetic data, a 2-core CPU) keeps every layer table but narrows it with
`config.demo_*_config()`, reads the first 3 s of each clip (docs/r2_systems.md), uses batch 16
and short SGDR cycles, and sets batch-norm momentum 0.9: with ~7 steps per epoch, 0.99 would
leave the moving statistics far from the data's (the [R1] demo does the same).

This module imports no TensorFlow, so scripts validate their options in a second.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from dcase_lowcomplexity.config import (
    AclNetConfig, FeatureAugmentConfig, GccGramConfig, GccPhatConfig, LogMel64Config,
    LotteryTicketConfig, StudentConfig, TeacherConfig, TrainingConfig, WaveformAugmentConfig,
    WaveformConfig, demo_aclnet_config, demo_gccgram_config, demo_student_config,
    demo_teacher_config,
)
from dcase_lowcomplexity.errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
DEMO_DURATION_S = 3.0  # docs/r2_systems.md: demo inputs are the first 3 s of each clip
DEMO_BN_MOMENTUM = 0.9
DEMO_BATCH_SIZE = 16
DEMO_CROP_FRAMES = 100  # demo log-mel crops: 1 s of the 3 s (301 frames) per example

# Epochs per network (ours): whole SGDR cycles of 10, 20, 40, 80 (paper) or 2, 4, 8, 16
# (demo; AclNet sees one 1 s crop of each 3 s clip per epoch, so it gets the longest).
PAPER_EPOCHS = {"aclnet": 150, "teacher": 70, "student": 70, "gccgram": 70}
DEMO_EPOCHS = {"aclnet": 30, "teacher": 14, "student": 14, "gccgram": 14}


@dataclass(frozen=True)
class R2TrainingConfig:
    """How one [R2] network is trained. [R2] gives none of these numbers: all ours."""

    epochs: int = 70
    batch_size: int = 32
    optimizer: str = "sgd"  # SGD with momentum as [R1] §2.5, or "adam"
    lr_max: float = 0.025  # SGDR peak ([R1]'s value)
    lr_min: float = 2.5e-6  # SGDR floor ([R1]'s value)
    momentum: float = 0.9  # SGD only
    sgdr_first_cycle: int = 10
    sgdr_cycle_mult: int = 2
    seed: int = 0

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer {self.optimizer!r} is not one of {OPTIMIZERS}")
        for name in ("epochs", "batch_size", "lr_max", "sgdr_first_cycle", "sgdr_cycle_mult"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got "
                                  f"{getattr(self, name)}")
        if not 0 <= self.lr_min < self.lr_max:
            raise ConfigError(f"need 0 ≤ lr_min < lr_max, got {self.lr_min} and {self.lr_max}")

    def sgdr(self) -> TrainingConfig:
        """The SGDR schedule of `training.sgdr` for these epochs and rates."""
        return TrainingConfig(epochs=self.epochs, batch_size=self.batch_size,
                              lr_max=self.lr_max, lr_min=self.lr_min,
                              sgdr_first_cycle=self.sgdr_first_cycle,
                              sgdr_cycle_mult=self.sgdr_cycle_mult, seed=self.seed)


def training_config(network: str, args: argparse.Namespace,
                    epochs: int | None = None) -> R2TrainingConfig:
    """The profile's training of `network` with the command line's overrides."""
    demo = args.profile == "demo"
    default_epochs = (DEMO_EPOCHS if demo else PAPER_EPOCHS)[network]
    overrides = {k: v for k, v in {"batch_size": args.batch_size, "optimizer": args.optimizer,
                                   "lr_max": args.lr_max, "lr_min": args.lr_min}.items()
                 if v is not None}
    base = R2TrainingConfig(
        epochs=epochs or default_epochs, seed=args.seed,
        batch_size=DEMO_BATCH_SIZE if demo else 32,
        sgdr_first_cycle=2 if demo else 10,
    )
    if overrides.get("optimizer") == "adam" and args.lr_max is None:
        overrides["lr_max"] = 1e-3  # Adam's usual peak; SGD's 0.025 would diverge
    return dataclasses.replace(base, **overrides)


def add_training_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Training options shared by the four scripts ([R2] gives none: defaults are ours)."""
    g = parser.add_argument_group("training ([R2] gives none of these; defaults are ours)")
    g.add_argument("--batch-size", type=int, default=None, help="batch (paper 32, demo 16)")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                   help="sgd: momentum 0.9 as [R1] (default); adam: lr_max 1e-3 unless given")
    g.add_argument("--lr-max", type=float, default=None, help="SGDR peak (default 0.025)")
    g.add_argument("--lr-min", type=float, default=None, help="SGDR floor (default 2.5e-6)")
    return g


def check_epochs(args: argparse.Namespace, *names: str) -> None:
    """`--epochs` and the given extra epoch options must be positive when set."""
    for name in ("epochs", *names):
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")


# -- inputs and networks per profile ---------------------------------------------------------
def waveform_config(profile: str) -> WaveformConfig:
    return WaveformConfig(duration_s=DEMO_DURATION_S) if profile == "demo" else WaveformConfig()


def logmel_config(profile: str) -> LogMel64Config:
    return LogMel64Config(duration_s=DEMO_DURATION_S) if profile == "demo" else LogMel64Config()


def gccphat_config(profile: str) -> GccPhatConfig:
    return GccPhatConfig(duration_s=DEMO_DURATION_S) if profile == "demo" else GccPhatConfig()


def aclnet_config(profile: str) -> AclNetConfig:
    if profile == "demo":
        return dataclasses.replace(demo_aclnet_config(), bn_momentum=DEMO_BN_MOMENTUM)
    return AclNetConfig()


def teacher_config(profile: str) -> TeacherConfig:
    if profile == "demo":
        return dataclasses.replace(demo_teacher_config(), bn_momentum=DEMO_BN_MOMENTUM)
    return TeacherConfig()


def student_config(profile: str) -> StudentConfig:
    if profile == "demo":
        return dataclasses.replace(demo_student_config(), bn_momentum=DEMO_BN_MOMENTUM)
    return StudentConfig()


def gccgram_config(profile: str) -> GccGramConfig:
    """The GCC-grams CNN whose input shape is the profile's GCC-gram shape."""
    shape = gccphat_config(profile).shape
    if profile == "demo":
        return dataclasses.replace(demo_gccgram_config(), input_shape=shape,
                                   bn_momentum=DEMO_BN_MOMENTUM)
    return dataclasses.replace(GccGramConfig(), input_shape=shape)


def feature_augment_config(profile: str) -> FeatureAugmentConfig:
    """Mixup α 0.2 (ours); the demo also crops 1 s of its 3 s log-mels (3× faster steps)."""
    if profile == "demo":
        return FeatureAugmentConfig(crop_frames=DEMO_CROP_FRAMES)
    return FeatureAugmentConfig()


def waveform_augment_config(aclnet: AclNetConfig) -> WaveformAugmentConfig:
    """1 s random crops (the AclNet segment) with gain, noise and mixup (values ours)."""
    return WaveformAugmentConfig(crop_samples=aclnet.segment_samples)


def lottery_config(profile: str, rewind_epoch: int | None = None,
                   prune_fraction: float | None = None,
                   scope: str | None = None) -> LotteryTicketConfig:
    """[R2]'s 19.6 %; rewinding after 2 epochs (ours), after 1 in the short demo."""
    config = LotteryTicketConfig(rewind_epoch=1) if profile == "demo" else LotteryTicketConfig()
    overrides = {k: v for k, v in {"rewind_epoch": rewind_epoch, "prune_fraction": prune_fraction,
                                   "scope": scope}.items() if v is not None}
    config = dataclasses.replace(config, **overrides)
    if not 0.0 <= config.prune_fraction < 1.0:
        raise ConfigError(f"--prune-fraction must be in [0, 1), got {config.prune_fraction}")
    if config.rewind_epoch < 0:
        raise ConfigError(f"--rewind-epoch must be ≥ 0, got {config.rewind_epoch}")
    return config


def as_dict(**configs: Any) -> dict[str, Any]:
    """{name: asdict(config)} for config.json (dataclasses), other values kept."""
    return {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
            for k, v in configs.items()}


# -- the four submissions --------------------------------------------------------------------
AUTHORS = [{
    "lastname": "Lopez-Meyer", "firstname": "Paulo",
    # SPEC does not give [R2]'s addresses: a reserved placeholder domain, not a guess.
    "email": "paulo.lopez-meyer@example.org", "corresponding": True,
    "affiliation": {"institution": "Intel Labs"},
}]
_MONO_16K = {"input_channels": "mono", "input_sampling_rate": "16kHz"}
_NO_PRETRAINING = ("none ([R2] pre-trained AclNet on AudioSet; not available offline, "
                   "trained from scratch)")


@dataclass(frozen=True)
class R2SystemInfo:
    """One [R2] submission: its run folder, [R2] table row and DCASE meta information."""

    key: str  # script and run-folder name, e.g. task1b_int8
    r2_name: str  # its row of config.R2_TABLE
    index: int  # N of the label Lopez-Meyer_IL_task1b_N
    storage: str  # exported weight type: "int8" or "float16"
    name: str
    abbreviation: str  # ≤ 10 characters
    description: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"Lopez-Meyer_IL_task1b_{self.index}"


# Both AclNet submissions describe the same network and inputs; only the compression differs.
_ACLNET_DESCRIPTION = {
    **_MONO_16K, "acoustic_features": "raw waveform (learned 1-D conv front end)",
    "data_augmentation": "random 1 s cropping, random gain, additive noise, mixup",
    "machine_learning_method": "CNN (AclNet, depthwise-separable)",
    "decision_making": "average of the 1 s segment probabilities",
    "external_data_usage": _NO_PRETRAINING,
}

SYSTEMS: dict[str, R2SystemInfo] = {s.key: s for s in (
    R2SystemInfo("task1b_int8", "AclNet0.5 INT8", 1, "int8",
                 "AclNet0.5, full-integer INT8 post-training quantisation", "AclNet-I8",
                 {**_ACLNET_DESCRIPTION,
                  "complexity_management": "post-training full-integer INT8 quantization"}),
    R2SystemInfo("task1b_lottery", "AclNet0.5 LT", 2, "float16",
                 "AclNet0.5, lottery-ticket pruning with rewinding, FP16", "AclNet-LT",
                 {**_ACLNET_DESCRIPTION,
                  "complexity_management": "lottery-ticket weight pruning (19.6 %), float16"}),
    R2SystemInfo("task1b_distill", "Student CNN (KD)", 3, "float16",
                 "Student CNN distilled from a VGG-12 teacher, FP16", "KD-CNN",
                 {**_MONO_16K, "acoustic_features": "log-mel energies (64 bands)",
                  "data_augmentation": "mixup",
                  "machine_learning_method": "CNN, knowledge distillation",
                  "complexity_management": "knowledge distillation, float16"}),
    R2SystemInfo("task1b_gccgram", "GCC-grams CNN", 4, "float16",
                 "GCC-PHAT grams and log-mels, depthwise-separable CNN, FP16", "GCC-CNN",
                 {"input_channels": "binaural", "input_sampling_rate": "16kHz",
                  "acoustic_features": "log-mel energies (40 bands, per channel), GCC-PHAT",
                  "data_augmentation": "mixup",
                  "machine_learning_method": "CNN (depthwise-separable)",
                  "complexity_management": "depthwise-separable convolutions, float16"}),
)}
