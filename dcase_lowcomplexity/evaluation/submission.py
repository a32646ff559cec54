"""DCASE2020 Task 1b submission files (SPEC §1), as the challenge's validator expects them.

- `<label>.output.csv`: TAB separated, header `filename scene_label indoor outdoor
  transportation`, one row per evaluation file. `filename` is written exactly as the
  evaluation set lists it, i.e. relative to the dataset root (`audio/0.wav` … `audio/8639.wav`),
  which is what the official task pages show; `scene_label` is the class of highest
  probability; the three probabilities are written with fixed decimals (6 by default).
- `<label>.meta.yaml`, in the shape and types of the challenge's Task 1b template:
  `submission` (label `Lastname_Inst_task1b_N`, name, abbreviation of at most 10 characters,
  authors — lastname, firstname, email, `corresponding: true` on exactly one, affiliation
  {abbreviation, institute, department, location}), `system.description` (the template's ten
  keys, text or null; ensemble_method_subsystem_count an integer or null),
  `system.complexity` (total_parameters and total_parameters_non_zero integers, model_size a
  number in KB), `system.external_datasets` (a list, empty when none is used: the validator
  iterates over it), `system.source_code` (URL or null) and `results.development_dataset`
  (overall and class-wise accuracy in % and log loss, numbers; nulls when the run was not
  scored, which `evaluation.validator` then reports).

The package layout of the challenge is `task1/<label>/<label>.{output.csv,meta.yaml}`
(`submission_paths`). Every input is checked first (ConfigError) and files are written
atomically.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.metrics import ClipScores
from dcase_lowcomplexity.evaluation.validator import (
    EXTERNAL_DATASET_FIELDS,
    MAX_ABBREVIATION,
    RESULT_FIELDS,
)
from dcase_lowcomplexity.atomic import atomic_write_text

LABEL_PATTERN = re.compile(
    r"^(?P<lastname>[A-Za-z][A-Za-z-]*)_(?P<institute>[A-Za-z0-9][A-Za-z0-9-]*)"
    r"_task1b_(?P<index>[1-4])$")
AUTHOR_KEYS = ("lastname", "firstname", "email", "corresponding", "affiliation")
AFFILIATION_KEYS = ("abbreviation", "institute", "department", "location")
AFFILIATION_ALIASES = {"institution": "institute"}  # spelling used by older run scripts

# [R1]'s system in the template's vocabulary; override any key with `description=`.
R1_DESCRIPTION: dict[str, Any] = {
    "input_channels": "binaural",
    "input_sampling_rate": "48kHz",
    "acoustic_features": "log-mel energies",
    "embeddings": None,
    "data_augmentation": "mixup, random cropping, channel swapping",
    "machine_learning_method": "CNN",
    "ensemble_method_subsystem_count": None,
    "decision_making": None,
    "external_data_usage": None,
    "complexity_management": "weight quantization (1 bit per weight)",
}


def submission_paths(root: str | Path, label: str) -> tuple[Path, Path]:
    """(`output.csv`, `meta.yaml`) paths of `label` in the package layout under `root`."""
    check_label(label)
    folder = Path(root) / "task1" / label
    return folder / f"{label}.output.csv", folder / f"{label}.meta.yaml"


def check_label(label: str) -> re.Match:
    match = LABEL_PATTERN.match(label or "")
    if match is None:
        raise ConfigError(
            f"submission label {label!r} does not follow Lastname_Inst_task1b_N",
            fix="use the corresponding author's last name, the institute's abbreviation "
                "and a submission index 1-4, e.g. McDonnell_UniSA_task1b_1")
    return match


def _check_probabilities(filenames: Sequence[str], probs, k: int) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (len(filenames), k):
        raise ConfigError(f"probabilities must have shape ({len(filenames)}, {k}), "
                          f"got {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ConfigError("class probabilities must be finite and within [0, 1]")
    names = [str(f) for f in filenames]
    if len(set(names)) != len(names):
        raise ConfigError("an evaluation file is listed twice",
                          fix="pass each file of the evaluation list once")
    for name in names:
        if not name or name.startswith("/") or any(c in name for c in "\t\r\n"):
            raise ConfigError(
                f"bad file name {name!r} for the output file",
                fix="use the names of the evaluation list, relative to the dataset root, "
                    "e.g. audio/0.wav")
    return p


def write_output_csv(filenames: Sequence[str], probs, path: str | Path, *,
                     class_names: Sequence[str] = CLASS_NAMES, decimals: int = 6) -> Path:
    """The system output file: filename, scene_label (argmax) and one column per class."""
    filenames = [str(f) for f in filenames]
    p = _check_probabilities(filenames, probs, len(class_names))
    lines = ["\t".join(["filename", "scene_label", *class_names])]
    for name, row in zip(filenames, p):
        values = "\t".join(f"{v:.{decimals}f}" for v in row)
        lines.append(f"{name}\t{class_names[int(row.argmax())]}\t{values}")
    return atomic_write_text(path, "\n".join(lines) + "\n")


def _affiliation(value, i: int) -> dict[str, Any]:
    """The template's affiliation mapping, keys in its order ('institution' → 'institute')."""
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"author {i}: affiliation must be a mapping of "
                          f"{', '.join(AFFILIATION_KEYS)}",
                          fix="give at least the institute, e.g. {'institute': 'Intel Labs'}")
    renamed = {AFFILIATION_ALIASES.get(k, k): v for k, v in value.items()}
    unknown = sorted(set(renamed) - set(AFFILIATION_KEYS))
    if unknown:
        raise ConfigError(f"author {i}: unknown affiliation keys {', '.join(unknown)}",
                          fix=f"use the template's keys: {', '.join(AFFILIATION_KEYS)}")
    return {k: renamed[k] for k in AFFILIATION_KEYS if k in renamed}


def _author(author: Mapping[str, Any], i: int) -> dict[str, Any]:
    missing = [k for k in ("lastname", "firstname", "email", "affiliation") if not author.get(k)]
    if missing:
        raise ConfigError(f"author {i} lacks {', '.join(missing)}",
                          fix="the template asks lastname, firstname, email and affiliation "
                              "of every author")
    unknown = sorted(set(author) - set(AUTHOR_KEYS))
    if unknown:
        raise ConfigError(f"author {i}: unknown keys {', '.join(unknown)}",
                          fix=f"use the template's keys: {', '.join(AUTHOR_KEYS)}")
    out = {k: str(author[k]) for k in ("lastname", "firstname", "email")}
    if author.get("corresponding") is True:
        out["corresponding"] = True
    out["affiliation"] = _affiliation(author["affiliation"], i)
    return out


def _check_authors(authors: Sequence[Mapping[str, Any]], label_lastname: str) -> list[dict]:
    if not authors:
        raise ConfigError("a submission needs at least one author")
    out = [_author(author, i) for i, author in enumerate(authors, start=1)]
    corresponding = [a for a in out if a.get("corresponding") is True]
    if len(corresponding) != 1:
        raise ConfigError(
            f"exactly one author must be marked corresponding: true, found "
            f"{len(corresponding)}", fix="mark the contact author alone with corresponding: true")

    def norm(s: str) -> str:
        return re.sub(r"[^a-z]", "", s.casefold())

    if norm(corresponding[0]["lastname"]) != norm(label_lastname):
        raise ConfigError(
            f"the label starts with {label_lastname!r} but the corresponding author is "
            f"{corresponding[0]['lastname']!r}",
            fix="labels begin with the corresponding author's last name")
    return out


def _description(description: Mapping[str, Any] | None) -> dict[str, Any]:
    """[R1]'s description overridden by `description`: text or null, the subsystem count an
    integer or null."""
    unknown = set(description or {}) - set(R1_DESCRIPTION)
    if unknown:
        raise ConfigError(f"unknown system.description keys: {', '.join(sorted(unknown))}",
                          fix=f"use the template's keys: {', '.join(R1_DESCRIPTION)}")
    out = {**R1_DESCRIPTION, **(description or {})}
    for key, value in out.items():
        count = key == "ensemble_method_subsystem_count"
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool)
                               if count else isinstance(value, str))
        if not ok:
            raise ConfigError(f"system.description.{key}={value!r} must be "
                              f"{'an integer' if count else 'text'} or None")
    return out


def _external_datasets(datasets: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Always a list (the validator iterates over it); each entry the template's three keys."""
    out = []
    for i, item in enumerate(datasets or [], start=1):
        missing = [k for k in EXTERNAL_DATASET_FIELDS if not isinstance(item, Mapping)
                   or item.get(k) in (None, "")]
        if missing:
            raise ConfigError(f"external dataset {i} lacks {', '.join(missing)}",
                              fix="give name, url and total_audio_length (minutes)")
        length = item["total_audio_length"]
        if isinstance(length, bool) or not isinstance(length, (int, float)):
            raise ConfigError(f"external dataset {i}: total_audio_length={length!r} must be "
                              "a number of minutes")
        out.append({"name": str(item["name"]), "url": str(item["url"]),
                    "total_audio_length": length})
    return out


def _complexity(complexity) -> dict[str, Any]:
    """From a `SizeReport` (export.size) or a mapping with the template's three keys."""
    if isinstance(complexity, Mapping):
        total, non_zero = complexity["total_parameters"], complexity["total_parameters_non_zero"]
        size_kb = complexity["model_size"]
    else:
        total, non_zero = complexity.total_parameters, complexity.non_zero_parameters
        size_kb = complexity.size_kb
    if int(total) != total or int(non_zero) != non_zero or non_zero > total:
        raise ConfigError("parameter counts must be integers, non-zero ≤ total")
    return {"total_parameters": int(total), "total_parameters_non_zero": int(non_zero),
            "model_size": round(float(size_kb), 2)}


def _results(scores: ClipScores | None) -> dict[str, Any]:
    """Accuracy in %, log loss; nulls in the same shape when the run was not scored."""
    def row(accuracy, logloss) -> dict[str, Any]:
        if accuracy is None:
            return dict.fromkeys(RESULT_FIELDS)
        return {"accuracy": round(100 * float(accuracy), 2), "logloss": round(float(logloss), 3)}

    if scores is None:
        return {"development_dataset": {
            "overall": row(None, None),
            "class_wise": {name: row(None, None) for name in CLASS_NAMES}}}
    class_wise = {name: row(a, ll) for name, a, ll in
                  zip(scores.class_names, scores.per_class_accuracy, scores.per_class_log_loss)}
    return {"development_dataset": {
        "overall": row(scores.balanced_accuracy, scores.log_loss),
        "class_wise": class_wise}}


def write_meta_yaml(
    path: str | Path,
    label: str,
    *,
    name: str,
    abbreviation: str,
    authors: Sequence[Mapping[str, Any]],
    complexity,
    development_results: ClipScores | None = None,
    description: Mapping[str, Any] | None = None,
    external_datasets: Sequence[Mapping[str, Any]] | None = None,
    source_code: str | None = None,
) -> Path:
    """The system meta information file (DCASE2020 template layout).

    `complexity`: a `SizeReport` or {total_parameters, total_parameters_non_zero,
    model_size (KB)}; `development_results`: fold-1 scores (overall accuracy = macro);
    `external_datasets`: [{name, url, total_audio_length (minutes)}], none → [].
    """
    match = check_label(label)
    if not name:
        raise ConfigError("the submission needs a name")
    if not abbreviation or len(abbreviation) > MAX_ABBREVIATION:
        raise ConfigError(f"abbreviation {abbreviation!r} must have 1-{MAX_ABBREVIATION} "
                          "characters", fix="shorten it (it labels tight result tables)")
    if source_code is not None and not isinstance(source_code, str):
        raise ConfigError(f"source_code={source_code!r} must be a URL or None")
    meta = {
        "submission": {"label": label, "name": str(name), "abbreviation": abbreviation,
                       "authors": _check_authors(authors, match["lastname"])},
        "system": {"description": _description(description),
                   "complexity": _complexity(complexity),
                   "external_datasets": _external_datasets(external_datasets),
                   "source_code": source_code},
        "results": _results(development_results),
    }
    text = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return atomic_write_text(path, "# DCASE2020 Task 1b submission information\n" + text)
