"""The five systems of the package, as data: what each one reads, builds, trains, ships, scores.

One `System` per submission variant; `pipeline.run_system` walks the same path for all of them
(audio → input store → batch stream → network → training phases → export → the shipped file
scored → run summary → submission files). A new system is a new entry here, never a new
pipeline.

| key | report | input | network | phases | shipped | views |
|---|---|---|---|---|---|---|
| task1b_binary | [R1] | 256-band log-mel, 48 kHz stereo | one-bit ResNet | single | 1 bit | channel swap |
| task1b_int8 | [R2] §2.1 | 16 kHz waveform | AclNet0.5 | single | INT8 | 1 s segments |
| task1b_lottery | [R2] §2.2 | 16 kHz waveform | AclNet0.5 | lottery | FP16 | 1 s segments |
| task1b_distill | [R2] §2.3 | 64-band log-mel | VGG-12 → student | distill | FP16 | whole clip |
| task1b_gccgram | [R2] §2.4 | 2 log-mels + GCC-gram | depthwise CNN | single | FP16 | whole clip |

Profiles: `paper` holds the reports' numbers; `demo` narrows every network and reads the first
3 s of each clip so that a 2-core CPU trains each system in minutes. [R2] gives no optimiser,
schedule or augmentation values: ours reuse [R1]'s recipe (SGD, momentum 0.9, SGDR 0.025 →
2.5e-6, batch 32) with whole SGDR cycles (docs/r2_systems.md).

Imports no TensorFlow: command lines validate their options in a second.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from dcase_lowcomplexity.config import (
    AclNetConfig, AugmentConfig, DistillationConfig, GccGramConfig, GccPhatConfig,
    LogMel64Config, LotteryTicketConfig, PaperConfig, StudentConfig, TeacherConfig,
    TrainingConfig, WaveformConfig, demo_aclnet_config, demo_config, demo_gccgram_config,
    demo_student_config, demo_teacher_config,
)
from dcase_lowcomplexity.data.inputs import InputSpec
from dcase_lowcomplexity.errors import ConfigError

PROFILES = ("demo", "paper")
SYSTEM_KEYS = ("task1b_binary", "task1b_int8", "task1b_lottery", "task1b_distill",
               "task1b_gccgram")
PHASES = ("single", "lottery", "distill")
STORAGES = ("1bit", "int8", "float16")
VIEWS = ("channel_swap", "single", "segments", "whole")

DEMO_DURATION_S = 3.0  # the demo reads the first 3 s of each clip
DEMO_BN_MOMENTUM = 0.9  # ~7 steps per demo epoch: 0.99 would leave BN statistics behind
DEMO_R2_BATCH = 16
# Epochs of the [R2] networks (ours): whole SGDR cycles, 10 + 20 + 40 (+ 80 for AclNet, which
# sees one random 1 s crop of each clip per epoch); demo cycles of 2, 4, 8 (+ 16).
R2_EPOCHS = {"paper": {"aclnet": 150, "whole": 70}, "demo": {"aclnet": 30, "whole": 14}}


@dataclass(frozen=True)
class Submission:
    """DCASE2020 submission metadata of one system (SPEC §1)."""

    lastname: str
    institute: str
    index: int  # N of Lastname_Inst_task1b_N
    name: str
    abbreviation: str  # ≤ 10 characters
    authors: tuple[dict, ...]
    description: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.lastname}_{self.institute}_task1b_{self.index}"

    def label_for_seed(self, seed: int) -> str:
        """[R1]'s four submissions are four seeds of one system: N = seed mod 4 + 1."""
        return f"{self.lastname}_{self.institute}_task1b_{seed % 4 + 1}"


@dataclass(frozen=True)
class System:
    """One system: everything `pipeline.run_system` needs besides the data and run options."""

    key: str  # script and run-folder name
    name: str  # its row in the comparison tables ([R2]'s model names)
    profile: str
    input: InputSpec
    network: str  # "binary_resnet" | "aclnet" | "student" | "gccgram"
    model: Any  # that network's config
    training: TrainingConfig
    augment: AugmentConfig
    phases: str = "single"
    storage: str = "float16"  # what ships: "1bit" | "int8" | "float16"
    views: str = "whole"  # test-time views averaged per clip
    submission: Submission | None = None
    inference_batch: int = 32
    calibration_examples: int = 500  # INT8 only: training crops that calibrate the ranges
    lottery: LotteryTicketConfig | None = None
    retraining: TrainingConfig | None = None
    teacher: TeacherConfig | None = None
    teacher_training: TrainingConfig | None = None
    distillation: DistillationConfig | None = None

    def __post_init__(self):
        checks = {"profile": (self.profile, PROFILES), "phases": (self.phases, PHASES),
                  "storage": (self.storage, STORAGES), "views": (self.views, VIEWS)}
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ConfigError(f"{self.key}: {name} {value!r} is not one of {allowed}")

    @property
    def segment(self) -> int | None:
        """Samples per test-time segment for the "segments" view (AclNet: 1 s)."""
        return self.model.segment_samples if self.views == "segments" else None

    @property
    def label(self) -> str:
        return self.submission.label_for_seed(self.training.seed) if self.key == \
            "task1b_binary" else self.submission.label

    def replace(self, **changes) -> "System":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every setting that shapes the trained weights (config.json of the run)."""
        d = dataclasses.asdict(self)
        d["input"] = self.input.to_dict()
        for k in ("submission", "inference_batch", "views"):
            d.pop(k)  # may change between reruns without changing the trained model
        return d


# -- [R1] ------------------------------------------------------------------------------------
R1_AUTHORS = ({"lastname": "McDonnell", "firstname": "Mark D.",
               "email": "mark.mcdonnell@unisa.edu.au", "corresponding": True,
               "affiliation": {"institute": "University of South Australia", "abbreviation": "UniSA"}},)


def binary_system(profile: str) -> System:
    """[R1] §2–3: the one-bit-per-weight split-frequency ResNet (PaperConfig / demo_config)."""
    config = demo_config() if profile == "demo" else PaperConfig()
    return System(
        "task1b_binary", "1-bit ResNet ([R1])", profile,
        InputSpec("logmel256", features=config.features), "binary_resnet", config.model,
        config.training, config.augment, storage="1bit",
        views="channel_swap" if config.inference.channel_swap_average else "single",
        inference_batch=config.inference.batch_size,
        submission=Submission("McDonnell", "USA", 1,
                              "One-bit-per-weight split-frequency ResNet", "1bitResNet",
                              R1_AUTHORS))


# -- [R2] ------------------------------------------------------------------------------------
R2_AUTHORS = ({
    "lastname": "Lopez-Meyer", "firstname": "Paulo",
    # SPEC does not give [R2]'s addresses: a reserved placeholder domain, not a guess.
    "email": "paulo.lopez-meyer@example.org", "corresponding": True,
    "affiliation": {"institute": "Intel Labs", "abbreviation": "IL"},
},)
_MONO_16K = {"input_channels": "mono", "input_sampling_rate": "16kHz"}
_NO_PRETRAINING = ("none ([R2] pre-trained AclNet on AudioSet; not available offline, "
                   "trained from scratch)")
_ACLNET_DESCRIPTION = {
    **_MONO_16K, "acoustic_features": "raw waveform (learned 1-D conv front end)",
    "data_augmentation": "random 1 s cropping, random gain, additive noise, mixup",
    "machine_learning_method": "CNN (AclNet, depthwise-separable)",
    "decision_making": "average of the 1 s segment probabilities",
    "external_data_usage": _NO_PRETRAINING,
}


def _r2_submission(index: int, name: str, abbreviation: str, description: dict) -> Submission:
    return Submission("Lopez-Meyer", "IL", index, name, abbreviation, R2_AUTHORS, description)


def _r2_training(profile: str, epochs: int) -> TrainingConfig:
    """[R1]'s recipe for the [R2] networks (ours): SGD 0.9, SGDR 0.025 → 2.5e-6."""
    demo = profile == "demo"
    return TrainingConfig(epochs=epochs, batch_size=DEMO_R2_BATCH if demo else 32,
                          sgdr_first_cycle=2 if demo else 10)


def _demo(config, profile: str):
    """Demo networks: batch-norm momentum 0.9 (few steps per epoch)."""
    return dataclasses.replace(config, bn_momentum=DEMO_BN_MOMENTUM) if profile == "demo" \
        else config


def _waveform(profile: str) -> WaveformConfig:
    return WaveformConfig(duration_s=DEMO_DURATION_S) if profile == "demo" else WaveformConfig()


def aclnet_system(profile: str, key: str = "task1b_int8") -> System:
    """[R2] §2.1 (INT8) and §2.2 (lottery ticket): AclNet0.5 on 16 kHz raw audio."""
    model = _demo(demo_aclnet_config() if profile == "demo" else AclNetConfig(), profile)
    training = _r2_training(profile, R2_EPOCHS[profile]["aclnet"])
    augment = AugmentConfig(pairing="random", mixup_alpha=0.2, crop=model.segment_samples,
                            channel_swap_prob=0.0, gain_db=(-6.0, 6.0), noise_prob=0.5,
                            noise_snr_db=(20.0, 50.0))
    common = dict(key=key, profile=profile, input=InputSpec("waveform", waveform=_waveform(
        profile)), network="aclnet", model=model, training=training, augment=augment,
        views="segments")
    if key == "task1b_int8":
        return System(name="AclNet0.5 INT8", storage="int8", **common, submission=_r2_submission(
            1, "AclNet0.5, full-integer INT8 post-training quantisation", "AclNet-I8",
            {**_ACLNET_DESCRIPTION,
             "complexity_management": "post-training full-integer INT8 quantization"}))
    lottery = LotteryTicketConfig()
    return System(name="AclNet0.5 LT", phases="lottery", lottery=lottery, retraining=training,
                  **common, submission=_r2_submission(
                      2, "AclNet0.5, lottery-ticket pruning, FP16", "AclNet-LT",
                      {**_ACLNET_DESCRIPTION, "complexity_management":
                       f"lottery-ticket weight pruning ({100 * lottery.prune_fraction:.1f} %), "
                       "float16"}))


def distill_system(profile: str) -> System:
    """[R2] §2.3: a VGG-12 teacher distilled into a 3-conv student on 64-band log-mels."""
    demo = profile == "demo"
    logmel = LogMel64Config(duration_s=DEMO_DURATION_S) if demo else LogMel64Config()
    epochs = R2_EPOCHS[profile]["whole"]
    # [R2] §2.3: "Spec augment [10] was used as a data augmentation process during training"
    # of both networks; mask counts and widths are ours (docs/r2_systems.md).
    augment = AugmentConfig(pairing="random", mixup_alpha=0.2, crop=100 if demo else None,
                            channel_swap_prob=0.0, freq_masks=2, freq_mask_width=8,
                            time_masks=2, time_mask_width=20 if demo else 50)
    return System(
        "task1b_distill", "Student CNN (KD)", profile, InputSpec(
            "logmel64", waveform=_waveform(profile), logmel=logmel), "student",
        _demo(demo_student_config() if demo else StudentConfig(), profile),
        _r2_training(profile, epochs), augment, phases="distill",
        teacher=_demo(demo_teacher_config() if demo else TeacherConfig(), profile),
        teacher_training=_r2_training(profile, epochs), distillation=DistillationConfig(),
        submission=_r2_submission(
            3, "Student CNN distilled from a VGG-12 teacher, FP16", "KD-CNN",
            {**_MONO_16K, "acoustic_features": "log-mel energies (64 bands)",
             "data_augmentation": "mixup, SpecAugment",
             "machine_learning_method": "CNN, knowledge distillation",
             "complexity_management": "knowledge distillation, float16"}))


def gccgram_system(profile: str) -> System:
    """[R2] §2.4: GCC-PHAT grams and per-channel 40-band log-mels into a depthwise CNN."""
    demo = profile == "demo"
    gcc = GccPhatConfig(duration_s=DEMO_DURATION_S) if demo else GccPhatConfig()
    model = _demo(demo_gccgram_config() if demo else GccGramConfig(), profile)
    return System(
        "task1b_gccgram", "GCC-grams CNN", profile,
        InputSpec("gccgram", waveform=_waveform(profile), gcc=gcc), "gccgram",
        dataclasses.replace(model, input_shape=gcc.shape),
        _r2_training(profile, R2_EPOCHS[profile]["whole"]),
        # whole clips: the network's input has a fixed size
        AugmentConfig(pairing="random", mixup_alpha=0.2, crop=None, channel_swap_prob=0.0),
        submission=_r2_submission(
            4, "GCC-PHAT grams and log-mels, depthwise-separable CNN, FP16", "GCC-CNN",
            {"input_channels": "binaural", "input_sampling_rate": "16kHz",
             "acoustic_features": "log-mel energies (40 bands, per channel), GCC-PHAT",
             "data_augmentation": "mixup",
             "machine_learning_method": "CNN (depthwise-separable)",
             "complexity_management": "depthwise-separable convolutions, float16"}))


def system(key: str, profile: str = "demo") -> System:
    """The system `key` (one of SYSTEM_KEYS) in `profile` ("demo" or "paper")."""
    if profile not in PROFILES:
        raise ConfigError(f"profile {profile!r} is not one of {PROFILES}")
    builders = {"task1b_binary": binary_system, "task1b_int8": aclnet_system,
                "task1b_lottery": lambda p: aclnet_system(p, "task1b_lottery"),
                "task1b_distill": distill_system, "task1b_gccgram": gccgram_system}
    if key not in builders:
        raise ConfigError(f"unknown system {key!r}", fix=f"use one of {', '.join(SYSTEM_KEYS)}")
    return builders[key](profile)
