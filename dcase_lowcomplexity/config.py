"""Every hyperparameter of the package, in frozen dataclasses.

`PaperConfig()` holds exactly the numbers of [R1] (McDonnell, DCASE2020 Task 1b) and of its
public code [C1]; each field names the section it comes from (see ../shared/SPEC.md).
`demo_config()` is the same system, narrowed and shortened so it trains on a 2-core CPU in
minutes. Everything else is derived with `dataclasses.replace`, never by editing numbers in
code.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

# Labels are coded alphabetically (SPEC §1).
CLASS_NAMES: tuple[str, ...] = ("indoor", "outdoor", "transportation")

# Scene → class, DCASE2020 Task 1b (SPEC §1).
SCENE_TO_CLASS: dict[str, str] = {
    "airport": "indoor",
    "shopping_mall": "indoor",
    "metro_station": "indoor",
    "park": "outdoor",
    "public_square": "outdoor",
    "street_pedestrian": "outdoor",
    "street_traffic": "outdoor",
    "bus": "transportation",
    "tram": "transportation",
    "metro": "transportation",
}

# The ten cities of the development set (SPEC §1); used for leave-one-city-out folds.
DEVELOPMENT_CITIES: tuple[str, ...] = (
    "barcelona", "helsinki", "lisbon", "london", "lyon",
    "milan", "paris", "prague", "stockholm", "vienna",
)


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel spectrogram of [R1] §3.1 / SPEC §2 (C1's librosa call)."""

    sample_rate: int = 48000  # [R1] §3.1: native 48 kHz, no resampling
    duration_s: float = 10.0  # first 10 × 48000 samples of each file
    n_channels: int = 2  # binaural; each channel processed separately
    n_fft: int = 4096  # [R1] §3.1
    hop_length: int = 1024  # [R1] §3.1
    n_mels: int = 256  # [R1] §3.1
    fmin: float = 0.0
    fmax: float = 24000.0  # sr / 2
    htk: bool = True  # C1: HTK mel formula
    mel_norm: str | None = None  # C1: no filter normalisation (librosa norm=None)
    power: float = 2.0
    center: bool = True  # librosa's default centred frames
    log_offset: float = 1e-8  # natural log of (power + 1e-8)

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.duration_s))

    @property
    def n_frames(self) -> int:
        """Frames per clip: 1 + 480000 // 1024 = 469 for the paper."""
        if self.center:
            return 1 + self.n_samples // self.hop_length
        return 1 + (self.n_samples - self.n_fft) // self.hop_length

    @property
    def shape(self) -> tuple[int, int, int]:
        """(frequency, time, channel) of one clip: (256, 469, 2)."""
        return (self.n_mels, self.n_frames, self.n_channels)


@dataclass(frozen=True)
class StackSpec:
    """One row of the ResNet's layer table: a stack of residual blocks."""

    width: int  # output channels of every conv in the stack
    blocks: int  # residual blocks in the stack
    time_stride: int  # stride along time of the first block's first conv (1 or 2)


@dataclass(frozen=True)
class ModelConfig:
    """The split-frequency one-bit ResNet of [R1] §2.1, §3.2–3.4 / SPEC §3."""

    input_bins: int = 256  # mel bins of the input
    input_channels: int = 2  # left, right
    freq_split: int = 128  # bins [0, 128) → path A, [128, 256) → path B (C1; [R1] says 0–125)
    num_filters: int = 26  # width of the first conv and stack 1 ([R1] §3.3)
    num_stacks: int = 4  # [R1] §3.3: 4 stacks …
    blocks_per_stack: int = 2  # … × 2 residual blocks
    stem_time_stride: int = 2  # first conv: stride (1, 2)
    head_width: int = 192  # head conv 3×3 → 192 ([R1] §3.4)
    num_classes: int = 3
    kernel_size: int = 3
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.99
    weight_decay: float = 5e-4  # Keras L2 on the float weights W ([R1] §2.2)
    binary: bool = True  # one bit per weight; False gives the float32 twin (benchmarks)

    @property
    def stacks(self) -> tuple[StackSpec, ...]:
        """The layer table: widths 26, 52, 104, 208; stride (1, 2) entering stacks 2–4."""
        return tuple(
            StackSpec(
                width=self.num_filters * 2**i,
                blocks=self.blocks_per_stack,
                time_stride=1 if i == 0 else 2,
            )
            for i in range(self.num_stacks)
        )

    @property
    def fusion_width(self) -> int:
        return self.stacks[-1].width


@dataclass(frozen=True)
class TrainingConfig:
    """Training of [R1] §2.2, §2.5, §3.5–3.6 and C1 / SPEC §4."""

    epochs: int = 310  # = 10 + 20 + 40 + 80 + 160
    batch_size: int = 32
    optimizer_momentum: float = 0.9  # SGD, not Nesterov
    nesterov: bool = False
    lr_max: float = 0.025  # SGDR peak ([R1] §2.5)
    lr_min: float = 2.5e-6  # SGDR floor
    sgdr_first_cycle: int = 10  # T_0: cycles of 10, 20, 40, 80, 160 epochs
    sgdr_cycle_mult: int = 2  # T_mult
    mixup_alpha: float = 0.4  # λ ~ Beta(0.4, 0.4), per example ([R1] §2.2)
    train_frames: int = 400  # random time crop 469 → 400 ([R1] §2.2)
    channel_swap_prob: float = 0.5  # left/right swap per source ([R1] §2.2)
    balanced_classes: bool = True  # class-balanced triplets (C1)
    seed: int = 0

    @property
    def sgdr_cycle_lengths(self) -> tuple[int, ...]:
        """Lengths of the SGDR cycles that fit in `epochs` (10, 20, 40, 80, 160)."""
        lengths, total, t = [], 0, self.sgdr_first_cycle
        while total < self.epochs:
            lengths.append(t)
            total += t
            t *= self.sgdr_cycle_mult
        return tuple(lengths)

    @property
    def sgdr_cycle_starts(self) -> tuple[int, ...]:
        """1-based epochs at which SGDR cycles start (1, 11, 31, 71, 151)."""
        starts, e = [], 1
        for length in self.sgdr_cycle_lengths:
            starts.append(e)
            e += length
        return tuple(starts)


@dataclass(frozen=True)
class InferenceConfig:
    """Inference of [R1] §3.5, §3.7 / SPEC §5."""

    frames: int = 469  # full clip (the network is all-convolutional)
    channel_swap_average: bool = True  # [R1]: average both channel orientations; C1: single pass
    batch_size: int = 32


@dataclass(frozen=True)
class PaperConfig:
    """The whole [R1] system: features, network, training, inference."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PaperConfig":
        return cls(
            features=FeatureConfig(**d["features"]),
            model=ModelConfig(**d["model"]),
            training=TrainingConfig(**d["training"]),
            inference=InferenceConfig(**d["inference"]),
        )


def model_config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Rebuilds a ModelConfig from `dataclasses.asdict` output (unknown keys refused)."""
    return ModelConfig(**d)


def demo_config(seed: int = 0) -> PaperConfig:
    """The paper's system narrowed for a 2-core CPU: width 8, 12 epochs in SGDR cycles 4 + 8.

    Features, architecture shape (36 binary convs, split frequency, same strides), the
    generator and inference are the paper's; only widths and epoch counts shrink.
    """
    return PaperConfig(
        model=ModelConfig(num_filters=8, head_width=32),
        training=TrainingConfig(epochs=12, sgdr_first_cycle=4, seed=seed),
    )


# ---------------------------------------------------------------------------------------------
# [R2] systems (Lopez-Meyer et al.): configuration dataclasses below this line.
# ---------------------------------------------------------------------------------------------
