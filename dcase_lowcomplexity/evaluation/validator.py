"""The DCASE2020 Task 1b submission validator's rules, as functions that return problems.

The challenge's checker (toni-heittola/dcase2020_task1_submission_validator, `main.py -t B -o
OUTPUT -m META` for two files, `main.py -p ZIP` for a package) is not a PyPI package; this module
implements its published Task 1b rules (written here from its main.py, validators.py and
utils.py, not copied), each problem as one line of text. Where that checker crashes instead of
reporting (a `null` list, a missing file of a label, a non-numeric file name) the rule is
reported here as a problem. Three rules are stricter than the checker, in the direction of the
official meta.yaml template: the output header must be in the template's column order, the
probabilities must be finite, and every value the template gives as a number must be a YAML
number (the checker also accepts numeric strings).

`validate_output_file`, `validate_meta_file`, `validate_submission` and `validate_package`
return the list of problems, or with `enforce=True` raise a ConfigError naming the file.
"""
from __future__ import annotations

import csv
import io
import math
import posixpath
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from dcase_lowcomplexity.errors import ConfigError

TASK = "task1b"
SCENE_LABELS = ("indoor", "outdoor", "transportation")
OUTPUT_FIELDS = ("filename", "scene_label", *SCENE_LABELS)
EVALUATION_FILE_COUNT = 8640  # TAU Urban Acoustic Scenes 2020 3Class, evaluation: audio/0-8639.wav
MAX_ABBREVIATION = 10
MAX_SYSTEMS = 4  # submissions per subtask
EXAMPLES = 3  # file names quoted in one problem

# meta.yaml: the required keys of each block of the Task 1b template (validator main.py, 'B').
SUBMISSION_FIELDS = ("label", "name", "abbreviation", "authors")
AUTHOR_FIELDS = ("lastname", "firstname", "email", "affiliation")
SYSTEM_FIELDS = ("description", "complexity", "external_datasets", "source_code")
DESCRIPTION_FIELDS = ("input_sampling_rate", "acoustic_features", "embeddings",
                      "data_augmentation", "machine_learning_method",
                      "ensemble_method_subsystem_count", "decision_making",
                      "external_data_usage", "complexity_management")
COMPLEXITY_FIELDS = ("total_parameters", "total_parameters_non_zero", "model_size")
EXTERNAL_DATASET_FIELDS = ("name", "url", "total_audio_length")
RESULT_FIELDS = ("accuracy", "logloss")


def official_evaluation_files() -> list[str]:
    """The Task 1b evaluation set as its meta.csv lists it: audio/0.wav … audio/8639.wav."""
    return [f"audio/{i}.wav" for i in range(EVALUATION_FILE_COUNT)]


def read_evaluation_list(path: str | Path) -> list[str]:
    """The `filename` column (first, TAB separated) of an evaluation listing such as
    evaluation_setup/fold1_test.csv or meta.csv of the evaluation set."""
    path = Path(path)
    fix = "pass the evaluation set's evaluation_setup/fold1_test.csv (header 'filename')"
    if not path.is_file():
        raise ConfigError("evaluation list not found.", path, fix=fix)
    lines = [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if not lines or lines[0].split("\t")[0] != "filename":
        raise ConfigError("line 1: the header must start with 'filename'.", path, fix=fix)
    names = [line.split("\t")[0] for line in lines[1:]]
    if not names:
        raise ConfigError("the evaluation list names no file.", path, fix=fix)
    return names


def _examples(names) -> str:
    names = sorted(names, key=_natural)
    more = f" and {len(names) - EXAMPLES} more" if len(names) > EXAMPLES else ""
    return ", ".join(names[:EXAMPLES]) + more


def _natural(name: str):
    stem = posixpath.splitext(name)[0]
    return (0, int(stem), "") if stem.isdigit() else (1, 0, name)


# -- output.csv ---------------------------------------------------------------------------------
def _row_problems(number: int, row: list[str]) -> list[str]:
    """One data row: field count, .wav name, scene label, probabilities as finite numbers."""
    if len(row) != len(OUTPUT_FIELDS):
        return [f"row {number}: {len(row)} fields, expected {len(OUTPUT_FIELDS)}"]
    problems = []
    if posixpath.splitext(row[0])[1] != ".wav":
        problems.append(f"row {number}: file {row[0]!r} does not end with .wav")
    if row[1] not in SCENE_LABELS:
        problems.append(f"row {number}: illegal scene label {row[1]!r} "
                        f"(use {', '.join(SCENE_LABELS)})")
    for field, value in zip(SCENE_LABELS, row[2:]):
        try:
            ok = math.isfinite(float(value))
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"row {number}: {field}={value!r} is not a finite number")
    return problems


def output_problems(text: str, evaluation_files: Sequence[str] | None = None) -> list[str]:
    """Problems of an output.csv's content. Files are matched by base name, as the checker
    does: one row per file of `evaluation_files` (default: the official 8,640), none twice,
    none outside the list."""
    expected = official_evaluation_files() if evaluation_files is None else evaluation_files
    expected = {posixpath.basename(str(f)) for f in expected}
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    if not rows or tuple(rows[0]) != OUTPUT_FIELDS:
        found = "nothing" if not rows else "\t".join(rows[0])
        return [f"header must be {' TAB '.join(OUTPUT_FIELDS)} (TAB separated), found {found!r}"]
    problems, seen, duplicates = [], set(), []
    for number, row in enumerate(rows[1:], start=1):
        problems += _row_problems(number, row)
        if row:
            name = posixpath.basename(row[0])
            if name in seen:
                duplicates.append(f"{row[0]} (row {number})")
            seen.add(name)
    if duplicates:
        problems.append(f"{len(duplicates)} duplicate file(s): {_examples(duplicates)}")
    if seen - expected:
        problems.append(f"{len(seen - expected)} file(s) not in the evaluation set: "
                        f"{_examples(seen - expected)}")
    if expected - seen:
        problems.append(f"{len(expected - seen)} of the {len(expected)} files of the evaluation "
                        f"set missing: {_examples(expected - seen)}")
    return problems


# -- meta.yaml ----------------------------------------------------------------------------------
def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _block(meta: Mapping, key: str, fields: Sequence[str], where: str) -> tuple[Any, list[str]]:
    """meta[key] and the problems of it being absent, not a mapping or lacking `fields`."""
    if key not in meta:
        return None, [f"{where} is missing"]
    block = meta[key]
    if not isinstance(block, Mapping):
        return None, [f"{where} must be a mapping, found {type(block).__name__}"]
    missing = [f for f in fields if f not in block]
    return block, [f"{where} lacks {', '.join(missing)}"] if missing else []


def label_problems(label, where: str = "submission.label") -> list[str]:
    """Lastname_Institute_task1b_N with N in 1-4 (four '_' separated parts)."""
    parts = str(label).split("_")
    if not isinstance(label, str) or len(parts) != 4 or parts[2] != TASK:
        return [f"{where} {label!r} is not of the form Lastname_Institute_{TASK}_N"]
    if parts[3] not in ("1", "2", "3", "4"):
        return [f"{where} {label!r}: the submission index N must be 1-4"]
    return []


def _submission_problems(meta: Mapping) -> list[str]:
    sub, problems = _block(meta, "submission", SUBMISSION_FIELDS, "submission")
    if sub is None:
        return problems
    if "label" in sub:
        problems += label_problems(sub["label"])
    abbreviation = sub.get("abbreviation")
    if not isinstance(abbreviation, str) or not 0 < len(abbreviation) <= MAX_ABBREVIATION:
        problems.append(f"submission.abbreviation {abbreviation!r} must be text of 1-"
                        f"{MAX_ABBREVIATION} characters")
    authors = sub.get("authors")
    if not isinstance(authors, list) or not authors:
        return problems + ["submission.authors must be a non-empty list"]
    corresponding = 0
    for i, author in enumerate(authors, start=1):
        if not isinstance(author, Mapping):
            problems.append(f"submission.authors[{i}] must be a mapping")
            continue
        missing = [f for f in AUTHOR_FIELDS if f not in author]
        if missing:
            problems.append(f"submission.authors[{i}] lacks {', '.join(missing)}")
        corresponding += bool(author.get("corresponding"))
    if corresponding != 1:
        problems.append(f"exactly one author must be marked corresponding, found {corresponding}")
    return problems


def _system_problems(meta: Mapping) -> list[str]:
    system, problems = _block(meta, "system", SYSTEM_FIELDS, "system")
    if system is None:
        return problems
    if "description" in system:
        problems += _block(system, "description", DESCRIPTION_FIELDS, "system.description")[1]
    if "complexity" in system:
        complexity, found = _block(system, "complexity", COMPLEXITY_FIELDS, "system.complexity")
        for key in [k for k in COMPLEXITY_FIELDS if k in (complexity or {})]:
            check = _is_number if key == "model_size" else _is_int
            if not check(complexity[key]):
                kind = "a number (KB)" if key == "model_size" else "an integer"
                found.append(f"system.complexity.{key}={complexity[key]!r} is not {kind}")
        problems += found
    datasets = system.get("external_datasets", [])
    if not isinstance(datasets, list):
        problems.append("system.external_datasets must be a list (empty when no external "
                        f"data is used), found {type(datasets).__name__}")
        datasets = []
    for i, item in enumerate(datasets, start=1):
        if not isinstance(item, Mapping):
            problems.append(f"system.external_datasets[{i}] must be a mapping")
            continue
        missing = [f for f in EXTERNAL_DATASET_FIELDS if f not in item]
        if missing:
            problems.append(f"system.external_datasets[{i}] lacks {', '.join(missing)}")
    return problems


def _scores_problems(block, where: str) -> list[str]:
    if not isinstance(block, Mapping):
        return [f"{where} must be a mapping with {' and '.join(RESULT_FIELDS)}"]
    missing = [f for f in RESULT_FIELDS if f not in block]
    problems = [f"{where} lacks {', '.join(missing)}"] if missing else []
    return problems + [f"{where}.{key}={value!r} is not a number"
                       for key, value in block.items() if not _is_number(value)]


def _results_problems(meta: Mapping) -> list[str]:
    results, problems = _block(meta, "results", ("development_dataset",), "results")
    if results is None or problems:
        return problems
    dev, problems = _block(results, "development_dataset", ("overall", "class_wise"),
                           "results.development_dataset")
    if dev is None:
        return problems
    if "overall" in dev:
        problems += _scores_problems(dev["overall"], "results.development_dataset.overall")
    if "class_wise" in dev:
        class_wise, found = _block(dev, "class_wise", SCENE_LABELS,
                                   "results.development_dataset.class_wise")
        problems += found
        for name, block in (class_wise or {}).items():
            problems += _scores_problems(block, f"results.development_dataset.class_wise.{name}")
    return problems


def meta_problems(meta) -> list[str]:
    """Problems of a parsed meta.yaml: the template's blocks, required keys and types."""
    if not isinstance(meta, Mapping):
        return ["meta.yaml must be a mapping with the submission, system and results blocks"]
    return _submission_problems(meta) + _system_problems(meta) + _results_problems(meta)


def file_name_problems(output_name: str, meta_name: str, label: str) -> list[str]:
    """`<label>.output.csv` and `<label>.meta.yaml`, the label being submission.label."""
    problems = []
    for name, suffix in ((output_name, "output.csv"), (meta_name, "meta.yaml")):
        parts = posixpath.basename(name).split(".")
        if len(parts) != 3 or ".".join(parts[1:]) != suffix:
            problems.append(f"file name {name!r} is not of the form <label>.{suffix}")
        elif parts[0] != label:
            problems.append(f"file name {name!r} does not start with submission.label {label!r}")
    return problems


# -- files and packages -------------------------------------------------------------------------
def _parse_meta(text: str) -> tuple[Any, list[str]]:
    try:
        return yaml.safe_load(text), []
    except yaml.YAMLError as err:
        return None, [f"not valid YAML: {' '.join(str(err).split())}"]


def _enforce(problems: list[str], path: Path, fix: str, enforce: bool) -> list[str]:
    if enforce and problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more"
                                           if len(problems) > 5 else "")
        raise ConfigError(f"{len(problems)} problem(s) by the DCASE2020 Task 1b submission "
                          f"rules: {shown}.", path, fix=fix)
    return problems


OUTPUT_FIX = ("rewrite it from a finished run scored on the whole evaluation set "
              "(evaluation.submission.write_output_csv; --eval-data EVALUATION_FOLDER)")
META_FIX = ("rewrite it with evaluation.submission.write_meta_yaml from a run scored on "
            "the fold-1 validation split")


def validate_output_file(path: str | Path, *, evaluation_files: Sequence[str] | None = None,
                         enforce: bool = False) -> list[str]:
    """Problems of an `<label>.output.csv` (see `output_problems`)."""
    path = Path(path)
    if not path.is_file():
        return _enforce(["file not found"], path, OUTPUT_FIX, enforce)
    text = path.read_text(encoding="utf-8")
    return _enforce(output_problems(text, evaluation_files), path, OUTPUT_FIX, enforce)


def validate_meta_file(path: str | Path, *, enforce: bool = False) -> list[str]:
    """Problems of a `<label>.meta.yaml` (see `meta_problems`)."""
    path = Path(path)
    if not path.is_file():
        return _enforce(["file not found"], path, META_FIX, enforce)
    meta, problems = _parse_meta(path.read_text(encoding="utf-8"))
    return _enforce(problems or meta_problems(meta), path, META_FIX, enforce)


def validate_submission(output_csv: str | Path, meta_yaml: str | Path, *,
                        evaluation_files: Sequence[str] | None = None,
                        enforce: bool = False) -> list[str]:
    """The checker's two-file mode (`main.py -t B -o OUTPUT -m META`): both files' rules and
    their names against submission.label."""
    output_csv, meta_yaml = Path(output_csv), Path(meta_yaml)
    output_found = validate_output_file(output_csv, evaluation_files=evaluation_files)
    meta_found = validate_meta_file(meta_yaml)
    problems = ([f"{output_csv.name}: {p}" for p in output_found]
                + [f"{meta_yaml.name}: {p}" for p in meta_found])
    if meta_yaml.is_file() and not meta_found:
        label = yaml.safe_load(meta_yaml.read_text(encoding="utf-8"))["submission"]["label"]
        problems += file_name_problems(output_csv.name, meta_yaml.name, label)
    path, fix = (meta_yaml, META_FIX) if meta_found and not output_found else (output_csv,
                                                                                  OUTPUT_FIX)
    return _enforce(problems, path, fix, enforce)


def _package_members(names: Sequence[str]) -> tuple[dict[str, dict[str, str]], list[str], list]:
    """{label: {"output": member, "meta": member}}, problems, PDF members: the checker reads
    every file whose path holds 'task1' (PDFs aside) as <folder>/task1/<label>/<file>."""
    labels: dict[str, dict[str, str]] = {}
    problems, pdfs = [], []
    for name in names:
        if name.endswith("/"):
            continue
        if name.lower().endswith(".pdf"):
            pdfs.append(name)
            continue
        if "task1" not in name:
            continue  # the checker skips it
        folders = posixpath.dirname(name).split("/")
        if len(folders) < 3 or folders[1] != "task1":
            problems.append(f"{name}: not at <folder>/task1/<label>/<file>, where the checker "
                            "reads the label from the third path part")
            continue
        label = folders[2]
        if label.split("_")[2:3] != [TASK]:
            problems.append(f"{name}: folder {label!r} is not a {TASK} label")
            continue
        kind = ("output" if ".output.csv" in name else "meta" if ".meta.yaml" in name
                else None)
        if kind is None:
            problems.append(f"{name}: neither a .output.csv nor a .meta.yaml file")
        elif kind in labels.setdefault(label, {}):
            problems.append(f"{name}: a second {kind} file for {label}")
        else:
            labels[label][kind] = name
    return labels, problems, pdfs


def _label_problems(z: zipfile.ZipFile, label: str, members: dict[str, str],
                    evaluation_files) -> list[str]:
    missing = [f"{label}: no .{ext} file" for kind, ext in (("output", "output.csv"),
               ("meta", "meta.yaml")) if kind not in members]
    if missing:
        return missing
    output, meta_name = members["output"], members["meta"]
    problems = [f"{output}: {p}" for p in
                output_problems(z.read(output).decode("utf-8"), evaluation_files)]
    meta, found = _parse_meta(z.read(meta_name).decode("utf-8"))
    found = found or meta_problems(meta)
    problems += [f"{meta_name}: {p}" for p in found]
    if not found:
        meta_label = meta["submission"]["label"]
        problems += file_name_problems(output, meta_name, meta_label)
        if meta_label != label:
            problems.append(f"folder {label!r} and submission.label {meta_label!r} differ")
    return problems


def package_problems(zip_path: str | Path,
                     evaluation_files: Sequence[str] | None = None) -> list[str]:
    """The checker's zip mode (`main.py -p ZIP`) for Task 1b, plus the challenge's limits of
    four systems and one technical report (a PDF; the checker itself skips PDFs)."""
    try:
        with zipfile.ZipFile(zip_path) as z:
            bad = z.testzip()
            labels, problems, pdfs = _package_members(z.namelist())
            if bad is not None:
                problems.append(f"{bad}: damaged in the zip (CRC mismatch)")
            for label in sorted(labels):
                problems += _label_problems(z, label, labels[label], evaluation_files)
    except (zipfile.BadZipFile, OSError) as err:
        return [f"not a readable zip file: {err}"]
    if not labels:
        problems.append("no <folder>/task1/<label>/ submission in the package")
    if len(labels) > MAX_SYSTEMS:
        problems.append(f"{len(labels)} systems, at most {MAX_SYSTEMS} per subtask")
    if not pdfs:
        problems.append("no technical report (PDF) in the package")
    return problems


def validate_package(zip_path: str | Path, *, evaluation_files: Sequence[str] | None = None,
                     enforce: bool = False) -> list[str]:
    """Problems of a submission zip (see `package_problems`)."""
    return _enforce(package_problems(zip_path, evaluation_files), Path(zip_path),
                    "build it with python -m dcase_lowcomplexity.package_submission", enforce)
