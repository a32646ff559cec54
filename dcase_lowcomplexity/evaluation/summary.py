"""ONE run summary for every system: `summary.json` in the run folder.

It says which system the run is (key, name in the tables, submission label), how its model
ships (storage, sizes from `export.size.size_summary` or, for [R1]'s size table,
`export.size.summary_of_report`), which file was scored, and which sub-folders hold the
reference scores (each with its own validation_predictions.csv): e.g. {"fp32": "fp32",
"teacher": "teacher"}. `reference` names the one [R2] Table 3 measures the system against
("fp32": its own FP32 base, "teacher": the KD teacher); `reference_sizes` holds the sizes of
references other than the FP32 base (the teacher's). The scores themselves are not stored:
evaluation/compare.py rescores the predictions files.

Imports no TensorFlow.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from dcase_lowcomplexity.atomic import atomic_write_text
from dcase_lowcomplexity.errors import ConfigError

SUMMARY_FILE = "summary.json"
SUMMARY_FORMAT = "dcase_lowcomplexity.run_summary/1"
SIZE_KEYS = ("storage", "bytes_per_parameter", "trainable", "trainable_non_zero",
             "bn_parameters", "dcase_parameters", "dcase_non_zero", "dcase_kb", "file",
             "file_bytes", "fp32_base")  # export.size.SizeSummary's fields


@dataclass(frozen=True)
class RunSummary:
    """What a finished run wrote and how to read it (see the module docstring)."""

    system: str  # system key, e.g. "task1b_int8"
    table_name: str  # its row in the tables, e.g. "AclNet0.5 INT8" (reported.R2_TABLE)
    label: str  # DCASE submission label
    storage: str  # "1bit" | "int8" | "float16"
    sizes: dict  # SizeSummary.to_dict() of the shipped model
    scored: str  # the file whose predictions the run folder holds
    folders: dict[str, str] = field(default_factory=dict)  # reference → sub-folder
    reference: str = "fp32"  # the reference of [R2] Table 3 (a key of `folders`)
    reference_sizes: dict[str, dict] = field(default_factory=dict)  # e.g. {"teacher": sizes}
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"format": SUMMARY_FORMAT, **dataclasses.asdict(self)}


def _sizes_dict(sizes: Any, what: str) -> dict:
    d = sizes.to_dict() if hasattr(sizes, "to_dict") else dict(sizes)
    missing = [k for k in SIZE_KEYS if k not in d]
    if missing:
        raise ConfigError(f"{what} lack {', '.join(missing)}",
                          fix="build them with export.size.size_summary")
    return d


def _checked(summary: RunSummary) -> RunSummary:
    sizes = _sizes_dict(summary.sizes, "the sizes")
    refs = {k: _sizes_dict(v, f"the sizes of {k!r}") for k, v in summary.reference_sizes.items()}
    if summary.reference != "fp32" and summary.reference not in refs:
        raise ConfigError(f"reference {summary.reference!r} has no sizes",
                          fix=f"pass reference_sizes={{{summary.reference!r}: size_summary(...)}}")
    return dataclasses.replace(summary, sizes=sizes, reference_sizes=refs,
                               folders=dict(summary.folders), extra=dict(summary.extra))


def write_summary(run_dir: str | Path, summary: RunSummary) -> Path:
    """run_dir/summary.json, written atomically; returns its path."""
    summary = _checked(summary)
    text = json.dumps(summary.to_dict(), indent=2, sort_keys=True, default=float) + "\n"
    return atomic_write_text(Path(run_dir) / SUMMARY_FILE, text)


def read_summary(run_dir: str | Path) -> RunSummary:
    """The RunSummary of a finished run; ConfigError naming summary.json otherwise."""
    path = Path(run_dir) / SUMMARY_FILE
    fix = "finish the run (rerun its command), or check the folder"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("no run summary: not a finished run folder", path, fix=fix) from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read the run summary ({err})", path, fix=fix) from None
    if not isinstance(data, Mapping) or data.get("format") != SUMMARY_FORMAT:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise ConfigError(f"not a run summary of format {SUMMARY_FORMAT} (found {found!r})",
                          path, fix=fix)
    names = {f.name for f in dataclasses.fields(RunSummary)}
    try:
        summary = RunSummary(**{k: v for k, v in data.items() if k in names})
        return _checked(summary)
    except (TypeError, ConfigError) as err:
        message = str(err).split(" Fix: ")[0]
        raise ConfigError(f"damaged run summary: {message}", path, fix=fix) from None
