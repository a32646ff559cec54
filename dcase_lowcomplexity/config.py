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

from dcase_lowcomplexity.errors import ConfigError

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
    # Padding of the centred STFT: "reflect" = C1 (librosa 0.6.3, the report's features);
    # "constant" = zeros (librosa ≥ 0.10). Only the first and last two frames differ.
    pad_mode: str = "reflect"
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
    # Batch statistics over the global batch when training on several replicas
    # (tf.distribute); one device, as in [R1], computes them over the whole batch anyway.
    synchronized_bn: bool = False

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


PAIRINGS = ("balanced_reversed", "random")
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class AugmentConfig:
    """How training batches are drawn and augmented (`data.generator.MixupStream`).

    The defaults are [R1]'s (§2.2, C1 / SPEC §4). `ACLNET_AUGMENT` and `FEATURE_AUGMENT` below
    are the [R2] systems' (SPEC §6; [R2] names no value, so those are ours).
    """

    # "balanced_reversed": [R1]/C1 balanced triplets, entry j mixed with entry N − 1 − j;
    # "random": two random permutations per epoch ([R2] systems, ours).
    pairing: str = "balanced_reversed"
    mixup_alpha: float = 0.4  # λ ~ Beta(α, α) per example ([R1] §2.2); 0 = no mixup
    crop: int | None = 400  # random crop along time, frames or samples (469 → 400, [R1] §2.2)
    channel_swap_prob: float = 0.5  # left/right swap per source ([R1] §2.2)
    gain_db: tuple[float, float] | None = None  # uniform random gain (AclNet, ours)
    noise_prob: float = 0.0  # share of sources given white noise (AclNet, ours)
    noise_snr_db: tuple[float, float] = (20.0, 50.0)  # uniform SNR of that noise (ours)
    freq_masks: int = 0  # SpecAugment (Park et al. 2019): frequency masks per example
    freq_mask_width: int = 0  # widest frequency mask (bins)
    time_masks: int = 0  # time masks per example
    time_mask_width: int = 0  # widest time mask (frames)

    def __post_init__(self):
        # JSON round trips (run folders) give lists; keep the frozen value hashable.
        for name in ("gain_db", "noise_snr_db"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))


@dataclass(frozen=True)
class TrainingConfig:
    """Optimiser and SGDR schedule of every network ([R1] §2.5, §3.5–3.6, C1 / SPEC §4).

    [R2] gives no optimiser, rate, batch or epoch count; its systems reuse these (ours).
    """

    epochs: int = 310  # = 10 + 20 + 40 + 80 + 160
    batch_size: int = 32
    optimizer: str = "sgd"  # [R1] §2.5: SGD with momentum; "adam" offered for [R2] (ours)
    momentum: float = 0.9  # SGD only, not Nesterov ([R1] §2.5)
    nesterov: bool = False
    lr_max: float = 0.025  # SGDR peak ([R1] §2.5)
    lr_min: float = 2.5e-6  # SGDR floor
    sgdr_first_cycle: int = 10  # T_0: cycles of 10, 20, 40, 80, 160 epochs
    sgdr_cycle_mult: int = 2  # T_mult
    seed: int = 0

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer {self.optimizer!r} is not one of {OPTIMIZERS}")

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
    """The whole [R1] system: features, network, training, augmentation, inference."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
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
            augment=AugmentConfig(**d["augment"]),
            inference=InferenceConfig(**d["inference"]),
        )


def model_config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Rebuilds a ModelConfig from `dataclasses.asdict` output (unknown keys refused)."""
    return ModelConfig(**d)


def demo_config(seed: int = 0) -> PaperConfig:
    """The paper's system shrunk to run in minutes on a 2-core CPU (the `demo` profile).

    Same features (the first 3 s of each clip: 141 frames, cropped to 120 for training),
    same architecture shape (36 binary convs, split frequency, same strides) at width 8, same
    generator, SGDR and inference. Batch 8 so that a small dataset still gives several
    balanced mixup batches per epoch; 30 epochs in SGDR cycles of 2, 4, 8, 16. Batch-norm
    momentum 0.9: with 7 steps per epoch, 0.99 would leave the moving statistics half-way
    to the data's after 70 steps.
    """
    return PaperConfig(
        features=FeatureConfig(duration_s=3.0),
        model=ModelConfig(num_filters=8, head_width=32, bn_momentum=0.9),
        training=TrainingConfig(epochs=30, sgdr_first_cycle=2, batch_size=8, seed=seed),
        augment=AugmentConfig(crop=120),
        inference=InferenceConfig(frames=141),
    )


# ---------------------------------------------------------------------------------------------
# [R2] systems (Lopez-Meyer et al.): configuration dataclasses below this line.
# ---------------------------------------------------------------------------------------------
# Every number that [R2] (or SPEC §6) states carries its source; the rest are this project's
# choices where [R2] is silent, marked "ours" and argued in docs/r2_systems.md.


@dataclass(frozen=True)
class WaveformConfig:
    """Raw audio of the [R2] systems: 48 kHz stereo clips → 16 kHz (SPEC §6)."""

    source_rate: int = 48000  # SPEC §1: the dataset's rate
    sample_rate: int = 16000  # SPEC §6: AclNet and the GCC-grams take 16 kHz audio
    duration_s: float = 10.0  # SPEC §1
    mono: str = "mean"  # ours: [R2] says "1 channel" without saying which → mean of L and R
    resample_taps: int = 385  # ours: polyphase anti-alias FIR, 2·64·3 + 1 taps (Kaiser)
    resample_cutoff: float = 0.95  # ours: FIR cutoff as a fraction of the 8 kHz Nyquist
    resample_kaiser_beta: float = 8.6  # ours: ≈ 86 dB stop band
    segment_s: float = 1.0  # SPEC §6: AclNet trains on 1 s crops, averages 1 s segments

    @property
    def n_samples(self) -> int:
        """Samples of a 16 kHz clip: 160,000."""
        return int(round(self.sample_rate * self.duration_s))

    @property
    def segment_samples(self) -> int:
        """Samples of one AclNet input: 16,000 (1 s)."""
        return int(round(self.sample_rate * self.segment_s))

    @property
    def n_segments(self) -> int:
        """1 s segments averaged at inference: 10."""
        return self.n_samples // self.segment_samples


# Augmentation of the [R2] systems (SPEC §6). [R2] names none of the values: all ours.
ACLNET_AUGMENT = AugmentConfig(
    pairing="random", mixup_alpha=0.2,
    crop=16000,  # SPEC §6: random 1 s crops at 16 kHz
    channel_swap_prob=0.0,  # mono input
    gain_db=(-6.0, 6.0), noise_prob=0.5, noise_snr_db=(20.0, 50.0),
)
# KD teacher/student log-mels and GCC-grams: whole clips, random pairing, mixup only.
FEATURE_AUGMENT = AugmentConfig(pairing="random", mixup_alpha=0.2, crop=None,
                                channel_swap_prob=0.0)


@dataclass(frozen=True)
class LogMel64Config:
    """One-channel 64-band log-mel of the KD student and teacher ([R2], SPEC §6)."""

    sample_rate: int = 16000  # ours: [R2] does not say; 16 kHz like its other systems
    duration_s: float = 10.0
    n_fft: int = 512  # ours: next power of two above the window
    win_length: int = 400  # [R2]: 25 ms window (400 samples at 16 kHz)
    hop_length: int = 160  # [R2]: 10 ms hop
    n_mels: int = 64  # [R2]: 64 bands
    fmin: float = 0.0
    fmax: float = 8000.0  # Nyquist of 16 kHz
    htk: bool = True  # ours: same mel formula as [R1] (SPEC §2)
    mel_norm: str | None = None  # ours: same as [R1]
    log_offset: float = 1e-8  # natural log of (power + 1e-8), as [R1]
    mono: str = "mean"  # [R2]: 1 channel; ours: the mean of left and right

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.duration_s))

    @property
    def n_frames(self) -> int:
        """Centred frames per clip: 1 + 160000 // 160 = 1001."""
        return 1 + self.n_samples // self.hop_length

    @property
    def shape(self) -> tuple[int, int, int]:
        """(mel, time, channel) of one clip: (64, 1001, 1)."""
        return (self.n_mels, self.n_frames, 1)


@dataclass(frozen=True)
class GccPhatConfig:
    """GCC-PHAT grams + two 40-band log-mels, 3 × 40 × 500 ([R2], SPEC §6)."""

    sample_rate: int = 16000  # [R2]: 16 kHz
    duration_s: float = 10.0
    n_fft: int = 1024  # [R2]: 64 ms window at 16 kHz
    hop_length: int = 320  # SPEC §6: 20 ms hop → 500 frames per 10 s
    n_mels: int = 40  # [R2]: 40-band log-mels
    n_lags: int = 40  # [R2]: 40 central lags, −20…19, lag 0 at index 20
    fmin: float = 0.0
    fmax: float = 8000.0
    htk: bool = True  # ours: same mel formula as [R1]
    mel_norm: str | None = None
    log_offset: float = 1e-8
    phat_epsilon: float = 1e-12  # guards |G| = 0 (silence) in G / |G|

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.duration_s))

    @property
    def pad(self) -> int:
        """Zeros on each side, (n_fft − hop) / 2 = 352: frame t is centred on hop cell t."""
        return (self.n_fft - self.hop_length) // 2

    @property
    def n_frames(self) -> int:
        """1 + (160000 + 2·352 − 1024) // 320 = 500 = 10 s / 20 ms exactly."""
        return 1 + (self.n_samples + 2 * self.pad - self.n_fft) // self.hop_length

    @property
    def shape(self) -> tuple[int, int, int]:
        """(band/lag, time, channel): (40, 500, 3), channels (left mel, right mel, GCC)."""
        return (self.n_mels, self.n_frames, 3)


@dataclass(frozen=True)
class AclNetConfig:
    """AclNet [Huang & Leanos 2018] as used by [R2] §2.1 (SPEC §6), width multiplier 0.5.

    [R2] gives 317,038 trainable parameters and no layer table. This table (PyTorch's default
    biases, MobileNet-style separable convs, FC-ReLU classifier) has 317,027 trainable
    parameters (−11); no reading with even widths and a biased 3-class output can be exact
    (parity: docs/r2_systems.md, with the readings tried).
    """

    sample_rate: int = 16000  # SPEC §6: raw audio at 16 kHz
    segment_samples: int = 16000  # SPEC §6: 1 s inputs
    llf_filters: tuple[int, ...] = (32, 64)  # LLF 1-D convs; 64 channels per 10 ms frame
    llf_kernel_sizes: tuple[int, ...] = (9, 5)  # SPEC §6: kernel 9, then kernel 5
    llf_strides: tuple[int, ...] = (2, 4)  # SPEC §6: stride 2, then stride 4
    llf_pool_size: int = 20  # 2 · 4 · 20 = 160 samples = 10 ms frames
    llf_use_bias: bool = True  # ours: PyTorch's default ([R2] used PyTorch)
    width_multiplier: float = 0.5  # [R2]: AclNet0.5
    hlf_widths: tuple[int, ...] = (32, 64, 64, 128, 128, 256, 256, 512, 512)  # × multiplier
    hlf_pool_after: tuple[int, ...] = (0, 2, 4, 6, 8)  # 2×2 max-pool after these HLF convs
    hlf_first_separable: int = 3  # ours: HLF convs from this index on are depthwise-separable
    hlf_depthwise_bn: bool = True  # ours: BN + ReLU after the depthwise step too (MobileNet)
    hlf_use_bias: bool = True  # ours: PyTorch's default
    embedding: str = "dense"  # ours: "dense" (GAP → FC) or "separable" (sep. 3×3 conv → GAP)
    embedding_dim: int = 512  # [R2] §2.1: 512 embeddings
    classifier_hidden: tuple[int, ...] = (40,)  # [R2] §2.1: FC + ReLU classifier; width ours
    num_classes: int = 3
    bn_epsilon: float = 1e-3  # Keras default
    bn_momentum: float = 0.99

    @property
    def frame_samples(self) -> int:
        """Samples per LLF frame: 2 · 4 · 20 = 160 (10 ms at 16 kHz)."""
        stride = self.llf_pool_size
        for s in self.llf_strides:
            stride *= s
        return stride

    @property
    def hlf_channels(self) -> tuple[int, ...]:
        """HLF widths after the multiplier: 16, 32, 32, 64, 64, 128, 128, 256, 256."""
        return tuple(max(1, int(round(w * self.width_multiplier))) for w in self.hlf_widths)


@dataclass(frozen=True)
class LotteryTicketConfig:
    """Lottery-ticket pruning with rewinding, then FP16 ([R2], SPEC §6)."""

    prune_fraction: float = 0.196  # [R2]: 19.6 % of the weights pruned
    scope: str = "global"  # ours: one magnitude threshold over all kernels; or "per_layer"
    # [R2] §2.2: survivors restart from "the original randomly initialized weights values
    # assigned at the initial pre-training stage" = 0; k > 0 rewinds to the weights after k
    # epochs instead ("late rewinding", Frankle et al. 2019), an option of ours.
    rewind_epoch: int = 0


@dataclass(frozen=True)
class TeacherConfig:
    """VGG-12 teacher of [R2] §2.3: 12 convs, BN + ReLU, GAP, FC-512 embedding, FC to 3.

    12,621,635 trainable parameters: [R2] Table 1 exactly (the only 12-conv 64…512 table
    that is, docs/r2_systems.md).
    """

    input_bins: int = 64  # 64-band log-mel, one channel
    block_widths: tuple[tuple[int, ...], ...] = (
        (64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512),
    )  # [R2]: 12 convs, 64…512 channels
    pool_size: int = 2  # 2×2 max-pool after every block but the last
    conv_use_bias: bool = False  # each conv feeds a batch norm
    embedding_dim: int = 512  # [R2]: 512-d embedding after average pooling
    num_classes: int = 3
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.99


@dataclass(frozen=True)
class StudentConfig:
    """Student CNN of [R2] §2.3: 3 × (conv, BN, ReLU, max-pool), GAP, linear FC to 3 classes.

    The last conv gives the 512-d embedding ("the 512 embeddings of the last convolutional
    layers of the Teacher and Student"). 3×3 convs of 32, 51, 512 channels without biases:
    252,713 trainable parameters, [R2] §2.3 exactly (its Table 2 prints 252,712).
    """

    input_bins: int = 64
    conv_widths: tuple[int, ...] = (32, 51, 512)  # ours, fitted to [R2]'s 252,713 exactly
    conv_kernel_sizes: tuple[int, ...] = (3, 3, 3)
    pool_size: int = 2  # 2×2 max-pool after each conv
    conv_use_bias: bool = False  # each conv feeds a batch norm
    embedding_dim: int = 512  # [R2] §2.3: 512 embeddings = the pooled last conv (its width)
    num_classes: int = 3
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.99


@dataclass(frozen=True)
class DistillationConfig:
    """Knowledge-distillation loss of [R2] (SPEC §6)."""

    embedding_weight: float = 0.25  # [R2]: 0.25 · KL(teacher embedding ‖ student embedding)
    output_weight: float = 0.25  # [R2]: 0.25 · KL(teacher softmax ‖ student softmax)
    ce_weight: float = 0.5  # [R2]: 0.5 · CE(labels, student softmax)
    temperature: float = 1.0  # ours: [R2] gives none; KL terms × T² when T ≠ 1 (Hinton)


@dataclass(frozen=True)
class GccGramConfig:
    """GCC-grams CNN of [R2] §2.4: 5 depthwise-separable convs, BN, ReLU, max-pool, linear FC.

    252,484 trainable parameters against [R2]'s 252,491 (−7); no plausible table is exact
    (docs/r2_systems.md).
    """

    input_shape: tuple[int, int, int] = (40, 500, 3)  # channels-last of [R2]'s 3 × 40 × 500
    input_norm: bool = True  # ours: BN over the 3 input channels (log-mels vs. GCC ∈ [−1, 1])
    widths: tuple[int, ...] = (32, 96, 192, 384, 384)  # ours: closest to 252,491
    kernel_size: int = 3
    use_bias: bool = False  # each separable conv feeds a batch norm
    pool_size: int = 2  # 2×2 max-pool after each conv
    num_classes: int = 3
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.99


def dcase_size_kb(parameters: int, bytes_per_parameter: float) -> float:
    """DCASE size rule (SPEC §1, §6): parameters × bytes per parameter / 1024."""
    return parameters * bytes_per_parameter / 1024


def demo_aclnet_config() -> AclNetConfig:
    """AclNet with the same layer table, narrowed (width 0.125, LLF 8/32) for a 2-core CPU."""
    return AclNetConfig(llf_filters=(8, 32), width_multiplier=0.125, embedding_dim=64,
                        classifier_hidden=(16,))


def demo_teacher_config() -> TeacherConfig:
    """The VGG-12 layout (12 convs, 5 blocks) at 1/8 of the widths."""
    return TeacherConfig(
        block_widths=((8, 8), (16, 16), (32, 32, 32), (64, 64, 64), (64, 64)), embedding_dim=64,
    )


def demo_student_config() -> StudentConfig:
    """The student layout, narrowed; its 64-d embedding matches the demo teacher's."""
    return StudentConfig(conv_widths=(8, 13, 64), embedding_dim=64)


def demo_gccgram_config() -> GccGramConfig:
    """The GCC-grams CNN at 1/4 of the widths."""
    return GccGramConfig(widths=(8, 24, 48, 96, 96))
