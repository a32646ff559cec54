"""Which input a system reads, as data: the four input kinds of the five systems (SPEC §2, §6).

| kind | shape of one clip | system | from |
|---|---|---|---|
| `"logmel256"` | (256, 469, 2) | [R1] one-bit ResNet (SPEC §2) | `features.log_mel` |
| `"waveform"` | (160000,) 16 kHz mono | [R2] AclNet INT8 and lottery ticket (SPEC §6) | `waveform.clip_to_waveform` |
| `"logmel64"` | (64, 1001, 1) | [R2] KD student / teacher (SPEC §6) | `features_r2.clip_to_logmel64` |
| `"gccgram"` | (40, 500, 3) | [R2] GCC-grams CNN (SPEC §6) | `gccphat.clip_to_gccgram` |

An `InputSpec` names the kind and the parameters it is computed with; it is what a store
records (`to_dict`, JSON) and checks (`differences`), and what extraction runs:
`read_clip(path, spec.read_config)` → `spec.compute(clip, spec.prepare())`. `prepare()`
builds the per-worker state once in the parent (the 256-band mel filterbank), so workers
never import librosa for [R1]. The [R2] feature modules are imported lazily, inside
`compute`: `data.waveform` imports Keras, and importing it here would make every extraction
spawn (not fork) its workers.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from dcase_lowcomplexity.config import FeatureConfig, GccPhatConfig, LogMel64Config, WaveformConfig
from dcase_lowcomplexity.errors import ConfigError

KINDS = ("logmel256", "waveform", "logmel64", "gccgram")
# The config fields each kind uses (the others stay None, so equal inputs compare equal).
_FIELDS = {"logmel256": ("features",), "waveform": ("waveform",),
           "logmel64": ("waveform", "logmel"), "gccgram": ("waveform", "gcc")}
_TYPES = {"features": FeatureConfig, "waveform": WaveformConfig, "logmel": LogMel64Config,
          "gcc": GccPhatConfig}


@dataclass(frozen=True)
class InputSpec:
    """One input kind and its parameters; the configs a kind does not use are None.

    Omitted configs of the kind get the paper's values: `InputSpec("gccgram")` is [R2]'s
    GCC-gram input (SPEC §6), `InputSpec("logmel256")` is [R1]'s log-mel (SPEC §2).
    """

    kind: str
    features: FeatureConfig | None = None
    waveform: WaveformConfig | None = None
    logmel: LogMel64Config | None = None
    gcc: GccPhatConfig | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"input kind {self.kind!r} is not one of {', '.join(KINDS)}.",
                              fix="choose one of the four input kinds")
        for name, cls in _TYPES.items():
            value = getattr(self, name)
            if name not in _FIELDS[self.kind]:
                if value is not None:
                    raise ConfigError(f"input kind {self.kind!r} does not use `{name}`.",
                                      fix=f"pass only {', '.join(_FIELDS[self.kind])}")
            elif value is None:
                object.__setattr__(self, name, cls())
            elif not isinstance(value, cls):
                raise ConfigError(f"`{name}` of an InputSpec must be a {cls.__name__}, "
                                  f"got {type(value).__name__}.")
        own = self.logmel if self.kind == "logmel64" else self.gcc
        if own is not None:
            _check_matches(self.kind, own, self.waveform)

    @property
    def shape(self) -> tuple[int, ...]:
        """One clip's array: (256, 469, 2), (160000,), (64, 1001, 1) or (40, 500, 3)."""
        if self.kind == "logmel256":
            return tuple(self.features.shape)
        if self.kind == "waveform":
            return (self.waveform.n_samples,)
        return tuple((self.logmel if self.kind == "logmel64" else self.gcc).shape)

    @property
    def time_axis(self) -> int:
        """Axis of time in one clip's array: 0 for the waveform, 1 for (F, T, C) inputs."""
        return 0 if self.kind == "waveform" else 1

    @property
    def read_config(self) -> FeatureConfig:
        """What `data.audio.read_clip` needs: 48 kHz stereo, the first duration_s seconds."""
        if self.kind == "logmel256":
            return self.features
        return FeatureConfig(sample_rate=self.waveform.source_rate,
                             duration_s=self.waveform.duration_s)

    def prepare(self):
        """Per-worker state for `compute`, built once: the 256-band mel filterbank ([R1]),
        None for the [R2] kinds (their modules cache what they need)."""
        if self.kind == "logmel256":
            from dcase_lowcomplexity.data.features import mel_filterbank
            return mel_filterbank(self.features)
        return None

    def compute(self, clip: np.ndarray, state=None) -> np.ndarray:
        """48 kHz stereo clip (`read_clip(path, self.read_config)`) → this input, float32."""
        if self.kind == "logmel256":
            from dcase_lowcomplexity.data.features import log_mel
            out = log_mel(clip, self.features, state)
        elif self.kind == "waveform":
            from dcase_lowcomplexity.data.waveform import clip_to_waveform
            out = clip_to_waveform(clip, self.waveform)
        elif self.kind == "logmel64":
            from dcase_lowcomplexity.data.features_r2 import clip_to_logmel64
            out = clip_to_logmel64(clip, self.waveform, self.logmel)
        else:
            from dcase_lowcomplexity.data.gccphat import clip_to_gccgram
            out = clip_to_gccgram(clip, self.waveform, self.gcc)
        if out.shape != self.shape:  # a parameter combination the shape formulas miss
            raise ConfigError(f"{self.kind} input of shape {out.shape}, expected {self.shape}.",
                              fix="check the duration and rate fields of the input configs")
        return out

    def to_dict(self) -> dict:
        """{"kind": …, "features": {…} | None, "waveform": …, "logmel": …, "gcc": …}."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        """Inverse of `to_dict` (also of its JSON); ConfigError for unknown fields."""
        unknown = set(d) - {"kind", *_TYPES}
        if unknown or "kind" not in d:
            raise ConfigError(f"not an input spec (fields {sorted(d)}).",
                              fix="pass the output of InputSpec.to_dict()")
        configs = {}
        for name, config_cls in _TYPES.items():
            fields = d.get(name)
            if fields is not None:
                known = {f.name for f in dataclasses.fields(config_cls)}
                if set(fields) - known:
                    raise ConfigError(f"unknown {name} field(s) {sorted(set(fields) - known)}.",
                                      fix="re-create the spec with this package version")
                configs[name] = config_cls(**fields)
        return cls(d["kind"], **configs)


def _check_matches(kind: str, own, waveform: WaveformConfig) -> None:
    """The feature config of an [R2] kind must describe the waveform it is computed from."""
    if own.duration_s != waveform.duration_s:
        raise ConfigError(f"{kind}: duration {own.duration_s} s ≠ waveform "
                          f"{waveform.duration_s} s.", fix="give both the same duration_s")
    if own.sample_rate != waveform.sample_rate:
        raise ConfigError(f"{kind}: rate {own.sample_rate} Hz ≠ waveform "
                          f"{waveform.sample_rate} Hz.", fix="give both the same sample_rate")


def as_spec(spec: InputSpec | FeatureConfig | None) -> InputSpec:
    """An InputSpec as is; a FeatureConfig (or None: the paper's) as the logmel256 spec."""
    if spec is None:
        return InputSpec("logmel256")
    if isinstance(spec, FeatureConfig):
        return InputSpec("logmel256", features=spec)
    if isinstance(spec, InputSpec):
        return spec
    raise ConfigError(f"expected an InputSpec or FeatureConfig, got {type(spec).__name__}.")


def flat_fields(spec: InputSpec) -> dict[str, object]:
    """{"kind": …, "features.n_mels": 256, …}: every used field, dotted (None kept)."""
    out: dict[str, object] = {"kind": spec.kind}
    for name, fields in spec.to_dict().items():
        if isinstance(fields, dict):
            out.update({f"{name}.{k}": v for k, v in fields.items()})
    return out


def differences(found: InputSpec, expected: InputSpec) -> list[str]:
    """'field=found (expected …)' for each field that differs, e.g. 'features.n_mels=256
    (expected 128)' or 'kind='waveform' (expected 'logmel256')'."""
    if found.kind != expected.kind:
        return [f"kind={found.kind!r} (expected {expected.kind!r})"]
    a, b = flat_fields(found), flat_fields(expected)
    return [f"{k}={a.get(k)!r} (expected {b.get(k)!r})"
            for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]
