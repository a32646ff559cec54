"""The TAU Urban Acoustic Scenes 2020 3Class folders and their splits (SPEC §1).

`TauDataset` reads a development folder in the official layout (Zenodo 3670185):

    meta.csv                          TAB: filename scene_label identifier source_label
    evaluation_setup/fold1_train.csv  TAB: filename scene_label   (9,185 rows)
    evaluation_setup/fold1_evaluate.csv                           (4,185 rows)
    evaluation_setup/fold1_test.csv   filename
    audio/<scene>-<city>-<location>-<segment>-<device>.wav

and offers the splits used by [R1]: the official fold 1 (§3.7, Table 1), all development
files (the final submission model, §4) and leave-one-city-out folds (C1's LOCO validation).
`load_evaluation_set` lists the unlabelled evaluation folder (Zenodo 3685835).

Every malformed line is reported as one `DatasetError` naming the CSV, the line number
(the header is line 1, as in a text editor) and the fix; so is a listed path that would leave
the dataset folder (absolute, or with `..`), a CSV that is not UTF-8, and a CSV that is a
folder. `folder_kind` tells a development folder from an evaluation folder by its layout.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dcase_lowcomplexity.config import CLASS_NAMES, SCENE_TO_CLASS
from dcase_lowcomplexity.errors import ConfigError, DatasetError

META_HEADER = ("filename", "scene_label", "identifier", "source_label")
FOLD_HEADER = ("filename", "scene_label")
TEST_HEADER = ("filename",)
TABLE_COLUMNS = (
    "filename", "scene_label", "class_index", "scene", "city",
    "location", "identifier", "segment", "source_label",
)
DEVELOPMENT_FOLDER = "TAU-urban-acoustic-scenes-2020-3class-development"
EVALUATION_FOLDER = "TAU-urban-acoustic-scenes-2020-3class-evaluation"

# <scene>-<city>-<location>-<segment>-<device>.wav; scenes may contain "_" but never "-".
_FILE_NAME = re.compile(
    r"^audio/(?P<scene>[a-z_]+)-(?P<city>[a-z]+)-(?P<location>[0-9A-Za-z]+)"
    r"-(?P<segment>[0-9A-Za-z]+)-(?P<device>[0-9A-Za-z]+)\.wav$"
)
_LAYOUT_FIX = (
    "restore the file from the dataset archive (Zenodo 3670185), or regenerate the demo "
    "dataset with data_prep/make_demo_dataset.py"
)


@dataclass(frozen=True)
class Split:
    """A named train/validation partition; frames have the columns of `TauDataset.table`
    and keep its index (the meta.csv row), so `table.loc[split.train.index]` round-trips."""

    name: str
    train: pd.DataFrame
    validation: pd.DataFrame | None  # None for "all"


def read_lines(path: Path, fix: str = _LAYOUT_FIX) -> list[str]:
    """The lines of a UTF-8 text file; one DatasetError naming it if it is missing, a folder,
    unreadable or not UTF-8."""
    if path.is_dir():
        raise DatasetError("is a folder, not a file.", path=path, fix=fix)
    if not path.is_file():
        raise DatasetError("file not found.", path=path, fix=fix)
    try:
        return path.read_bytes().decode("utf-8-sig").splitlines()
    except OSError as err:
        raise DatasetError(f"cannot be read ({err.strerror or err}).", path=path,
                           fix=fix) from None
    except UnicodeDecodeError as err:
        raise DatasetError(f"is not UTF-8 text (byte {err.start}: {err.reason}).", path=path,
                           fix=fix) from None


def check_inside(name: str, path: Path, number: int, fix: str = _LAYOUT_FIX) -> None:
    """DatasetError (list file and line) if a listed path could leave the dataset folder."""
    if "\\" in name or ":" in name or any(s in ("", ".", "..") for s in name.split("/")):
        raise DatasetError(
            f"line {number}: {name!r} is not a plain path inside the dataset folder "
            "(absolute paths, '..', '.', '\\' and ':' are refused).", path=path, fix=fix)


def folder_kind(root: str | Path) -> str:
    """'development' when the folder's layout says so (an evaluation_setup/fold*_train.csv,
    or a meta.csv with a scene_label column), else 'evaluation'. A development folder whose
    meta.csv is missing is still a development folder (and is refused as such)."""
    root = Path(root)
    setup = root / "evaluation_setup"
    if setup.is_dir() and any(setup.glob("fold*_train.csv")):
        return "development"
    meta = root / "meta.csv"
    if meta.is_file():
        header = (read_lines(meta) or [""])[0].split("\t")
        if header[:2] == list(FOLD_HEADER):
            return "development"
    return "evaluation"


def read_tsv(path: Path, header: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    """Rows of a TAB separated file with the exact `header`, as (line number, fields).

    Blank lines are skipped; any other line must have exactly len(header) fields.
    """
    lines = read_lines(path)
    got = tuple(lines[0].split("\t")) if lines else ()
    if got != header:
        raise DatasetError(
            f"line 1: header is {'<TAB>'.join(got) or '<empty>'!r}, expected "
            f"{'<TAB>'.join(header)!r} (TAB separated).",
            path=path, fix=_LAYOUT_FIX,
        )
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DatasetError(
                f"line {number}: {len(fields)} TAB separated field(s), expected {len(header)} "
                f"({', '.join(header)}): {line!r}.",
                path=path, fix=_LAYOUT_FIX,
            )
        rows.append((number, fields))
    return rows


def parse_file_name(filename: str) -> dict[str, str] | None:
    """scene, city, location, segment, device of `audio/<scene>-<city>-…-<device>.wav`."""
    match = _FILE_NAME.match(filename)
    return None if match is None else match.groupdict()


def _meta_record(path: Path, number: int, fields: list[str]) -> dict:
    """One validated meta.csv row as a table record."""
    filename, scene_label, identifier, source_label = fields

    def fail(message: str) -> DatasetError:
        return DatasetError(f"line {number}: {message}", path=path, fix=_LAYOUT_FIX)

    parts = parse_file_name(filename)
    if parts is None:
        raise fail(f"file name {filename!r} does not follow "
                   "audio/<scene>-<city>-<location>-<segment>-<device>.wav.")
    if parts["scene"] not in SCENE_TO_CLASS:
        raise fail(f"unknown scene {parts['scene']!r} in {filename!r} "
                   f"(expected one of {', '.join(SCENE_TO_CLASS)}).")
    if scene_label not in CLASS_NAMES:
        raise fail(f"unknown label {scene_label!r} (expected one of {', '.join(CLASS_NAMES)}).")
    if SCENE_TO_CLASS[parts["scene"]] != scene_label:
        raise fail(f"scene {parts['scene']!r} of {filename!r} belongs to class "
                   f"{SCENE_TO_CLASS[parts['scene']]!r}, but the label is {scene_label!r}.")
    if identifier != f"{parts['city']}-{parts['location']}":
        raise fail(f"identifier {identifier!r} does not match the file name {filename!r} "
                   f"(expected {parts['city']}-{parts['location']}).")
    if source_label != parts["device"]:
        raise fail(f"source_label {source_label!r} does not match device "
                   f"{parts['device']!r} of {filename!r}.")
    return {
        "filename": filename, "scene_label": scene_label,
        "class_index": CLASS_NAMES.index(scene_label), "scene": parts["scene"],
        "city": parts["city"], "location": parts["location"], "identifier": identifier,
        "segment": parts["segment"], "source_label": source_label,
    }


def _read_meta(path: Path) -> pd.DataFrame:
    records, first_line = [], {}
    for number, fields in read_tsv(path, META_HEADER):
        record = _meta_record(path, number, fields)
        if record["filename"] in first_line:
            raise DatasetError(
                f"line {number}: {record['filename']!r} repeats line "
                f"{first_line[record['filename']]}.", path=path, fix=_LAYOUT_FIX)
        first_line[record["filename"]] = number
        records.append(record)
    if not records:
        raise DatasetError("no files listed.", path=path, fix=_LAYOUT_FIX)
    table = pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))
    table["class_index"] = table["class_index"].astype("int64")
    table.attrs["line_of"] = first_line
    return table


def _read_fold_list(path: Path, header: tuple[str, ...], labels: dict[str, str]) -> list[str]:
    """File names of a fold list, checked against meta.csv (`labels`: filename → class)."""
    names, seen = [], {}
    for number, fields in read_tsv(path, header):
        filename = fields[0]
        check_inside(filename, path, number)
        if filename not in labels:
            raise DatasetError(f"line {number}: {filename!r} is not listed in meta.csv.",
                               path=path, fix=_LAYOUT_FIX)
        if len(fields) > 1 and fields[1] != labels[filename]:
            raise DatasetError(
                f"line {number}: label {fields[1]!r} of {filename!r} differs from meta.csv "
                f"({labels[filename]!r}).", path=path, fix=_LAYOUT_FIX)
        if filename in seen:
            raise DatasetError(f"line {number}: {filename!r} repeats line {seen[filename]}.",
                               path=path, fix=_LAYOUT_FIX)
        seen[filename] = number
        names.append(filename)
    return names


class TauDataset:
    """The development set in the official layout, validated on load (SPEC §1)."""

    def __init__(self, root: str | Path, check_audio: bool = False):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(
                "dataset folder not found.", path=self.root,
                fix=f"pass the folder that holds meta.csv, e.g. {DEVELOPMENT_FOLDER}/")
        meta = self.root / "meta.csv"
        if not meta.is_file() and folder_kind(self.root) == "development":
            raise DatasetError(
                f"{'is a folder, not a file' if meta.is_dir() else 'is missing'}: this is a "
                "development folder (evaluation_setup/fold*_train.csv is present), which needs "
                "its meta.csv (labels of every clip).", path=meta, fix=_LAYOUT_FIX)
        self.table = _read_meta(meta)
        self._line_of: dict[str, int] = self.table.attrs.pop("line_of")
        self._row_of = {f: i for i, f in enumerate(self.table["filename"])}
        self._folds = self._read_folds()
        if check_audio:
            self.check_audio()

    def _read_folds(self) -> dict[str, tuple[list[str], list[str]]]:
        """fold<k>: (train names, evaluate names) for every fold<k>_train.csv present."""
        setup = self.root / "evaluation_setup"
        labels = dict(zip(self.table["filename"], self.table["scene_label"]))
        folds = {}
        for train_csv in sorted(setup.glob("fold*_train.csv")) if setup.is_dir() else []:
            fold = train_csv.name[: -len("_train.csv")]
            train = _read_fold_list(train_csv, FOLD_HEADER, labels)
            evaluate_csv = setup / f"{fold}_evaluate.csv"
            evaluate = _read_fold_list(evaluate_csv, FOLD_HEADER, labels)
            overlap = set(train).intersection(evaluate)
            if overlap:
                name = sorted(overlap)[0]
                raise DatasetError(
                    f"{name!r} is listed in both {train_csv.name} and {evaluate_csv.name} "
                    f"({len(overlap)} file(s) in both).", path=evaluate_csv, fix=_LAYOUT_FIX)
            test_csv = setup / f"{fold}_test.csv"
            if test_csv.is_file():
                _read_fold_list(test_csv, TEST_HEADER, labels)
            folds[fold] = (train, evaluate)
        return folds

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"TauDataset({str(self.root)!r}, {len(self)} files)"

    @property
    def cities(self) -> tuple[str, ...]:
        return tuple(sorted(self.table["city"].unique()))

    @property
    def folds(self) -> tuple[str, ...]:
        return tuple(self._folds)

    def audio_path(self, filename: str) -> Path:
        return self.root / filename

    def line_of(self, filename: str) -> int:
        """Line of meta.csv that lists `filename` (header = line 1)."""
        return self._line_of[filename]

    def check_audio(self) -> None:
        """DatasetError naming the first listed file missing from audio/ (and how many)."""
        missing = [f for f in self.table["filename"] if not self.audio_path(f).is_file()]
        if missing:
            more = f" ({len(missing) - 1} more missing)" if len(missing) > 1 else ""
            raise DatasetError(
                f"line {self._line_of[missing[0]]}: {missing[0]!r} is listed but "
                f"{self.audio_path(missing[0])} does not exist{more}.",
                path=self.root / "meta.csv",
                fix="unpack all audio archives of the dataset into audio/ (or remove the "
                    "rows of files you do not have from meta.csv and the fold lists)")

    def _rows(self, filenames: list[str]) -> pd.DataFrame:
        return self.table.iloc[[self._row_of[f] for f in filenames]]

    def split(self, name: str) -> Split:
        """"fold1" (official lists), "all" (no validation) or "loco:<city>" (SPEC §1, §5)."""
        if name == "all":
            return Split(name, self.table.copy(), None)
        if name.startswith("loco:"):
            city = name[len("loco:"):]
            if city not in self.cities:
                raise ConfigError(f"split {name!r}: no city {city!r} in {self.root}.",
                                  fix=f"use one of: {', '.join('loco:' + c for c in self.cities)}")
            held_out = self.table["city"] == city
            return Split(name, self.table[~held_out].copy(), self.table[held_out].copy())
        if name in self._folds:
            train, evaluate = self._folds[name]
            return Split(name, self._rows(train), self._rows(evaluate))
        if re.fullmatch(r"fold\d+", name):
            raise DatasetError(f"{name}_train.csv not found: this dataset has the fold(s) "
                               f"{', '.join(self._folds) or 'none'}.",
                               path=self.root / "evaluation_setup",
                               fix="use --split fold1 (the official one), all or loco:CITY")
        raise ConfigError(f"unknown split {name!r}.",
                          fix="use 'fold1', 'all' or 'loco:<city>' (e.g. 'loco:barcelona')")

    def loco_splits(self) -> list[Split]:
        """The leave-one-city-out folds, one per city in alphabetical order."""
        return [self.split(f"loco:{city}") for city in self.cities]


def load_evaluation_set(root: str | Path, check_audio: bool = False) -> pd.DataFrame:
    """The unlabelled evaluation folder (audio/0.wav …) as a frame with a `filename` column.

    Reads evaluation_setup/fold1_test.csv, else meta.csv (first column `filename`), else the
    audio/ listing in numeric order. A development folder (`folder_kind`) is refused.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("evaluation folder not found.", path=root,
                           fix=f"pass the folder that holds audio/, e.g. {EVALUATION_FOLDER}/")
    if folder_kind(root) == "development":
        raise DatasetError(
            "is a development folder: a development set (it has evaluation_setup/"
            "fold*_train.csv or a labelled meta.csv), not an evaluation folder.", path=root,
            fix=f"pass the unlabelled evaluation folder, e.g. {EVALUATION_FOLDER}/ (the "
                "experiment scripts take it as --eval-data)")
    for csv in (root / "evaluation_setup" / "fold1_test.csv", root / "meta.csv"):
        if csv.is_file():
            filenames = _read_listing(csv)
            break
    else:
        audio = root / "audio"
        if not audio.is_dir():
            raise DatasetError("neither meta.csv, evaluation_setup/fold1_test.csv nor audio/ "
                               "found.", path=root, fix="pass the evaluation dataset folder")
        stems = sorted(audio.glob("*.wav"), key=lambda p: (not p.stem.isdigit(),
                                                           int(p.stem) if p.stem.isdigit() else 0,
                                                           p.name))
        filenames = [f"audio/{p.name}" for p in stems]
        csv = audio
    if not filenames:
        raise DatasetError("no audio files listed.", path=csv, fix="pass the evaluation folder")
    if check_audio:
        missing = [f for f in filenames if not (root / f).is_file()]
        if missing:
            raise DatasetError(f"{missing[0]!r} is listed but missing ({len(missing)} missing).",
                               path=csv, fix="unpack all audio archives into audio/")
    return pd.DataFrame({"filename": filenames})


def _read_listing(csv: Path) -> list[str]:
    """First column (`filename`) of an evaluation listing; extra columns are ignored."""
    lines = read_lines(csv, fix="restore the file from the evaluation dataset archive")
    if not lines or lines[0].split("\t")[0] != "filename":
        raise DatasetError("line 1: header must start with 'filename'.", path=csv,
                           fix="restore the file from the evaluation dataset archive")
    names, seen = [], {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        name = line.split("\t")[0]
        check_inside(name, csv, number, fix="restore the file from the evaluation dataset "
                     "archive (listed paths stay inside the folder: audio/<name>.wav)")
        if not (name.startswith("audio/") and name.endswith(".wav")):
            raise DatasetError(f"line {number}: {name!r} is not of the form audio/<name>.wav.",
                               path=csv, fix="restore the file from the evaluation dataset archive")
        if name in seen:
            raise DatasetError(f"line {number}: {name!r} repeats line {seen[name]}.", path=csv,
                               fix="restore the file from the evaluation dataset archive")
        seen[name] = number
        names.append(name)
    return names
