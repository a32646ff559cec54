"""The DCASE2020 Task 1b validator's rules (evaluation/validator.py) on real submission files."""
import copy
import zipfile

import numpy as np
import pytest
import yaml
from scoring_cases import FIGURE2, predictions_from_confusion

from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.metrics import score_clips
from dcase_lowcomplexity.evaluation.submission import write_meta_yaml, write_output_csv
from dcase_lowcomplexity.evaluation.validator import (
    file_name_problems,
    meta_problems,
    official_evaluation_files,
    output_problems,
    package_problems,
    read_evaluation_list,
    validate_meta_file,
    validate_output_file,
    validate_package,
    validate_submission,
)

LABEL = "McDonnell_USA_task1b_1"
DEMO_FILES = [f"audio/{i}.wav" for i in range(24)]  # the demo evaluation set's 24 clips
AUTHORS = [{"lastname": "McDonnell", "firstname": "Mark D.", "email": "m@example.org",
            "corresponding": True, "affiliation": {"institute": "Univ. of South Australia"}}]
COMPLEXITY = {"total_parameters": 3_987_000, "total_parameters_non_zero": 3_987_000,
              "model_size": 486.69}
HEADER = "filename\tscene_label\tindoor\toutdoor\ttransportation"


def probabilities(n: int, seed: int = 0) -> np.ndarray:
    p = np.random.default_rng(seed).random((n, 3)) + 0.01
    return p / p.sum(axis=1, keepdims=True)


def output_text(tmp_path, files) -> str:
    path = write_output_csv(files, probabilities(len(files)), tmp_path / f"{LABEL}.output.csv")
    return path.read_text()


def good_meta(tmp_path) -> dict:
    path = tmp_path / f"{LABEL}.meta.yaml"
    write_meta_yaml(path, LABEL, name="One-bit ResNet", abbreviation="1bitResNet",
                    authors=AUTHORS, complexity=COMPLEXITY,
                    development_results=score_clips(*predictions_from_confusion(FIGURE2)))
    return yaml.safe_load(path.read_text())


def test_official_evaluation_set():
    files = official_evaluation_files()
    assert len(files) == len(set(files)) == 8640
    assert files[0] == "audio/0.wav" and files[-1] == "audio/8639.wav"


def test_full_official_output_passes_and_demo_output_passes_with_its_list(tmp_path):
    assert output_problems(output_text(tmp_path, official_evaluation_files())) == []
    demo = output_text(tmp_path, DEMO_FILES)
    assert output_problems(demo, DEMO_FILES) == []
    # the default is the official set: 24 rows are 8,616 files short
    assert output_problems(demo) == [
        "8616 of the 8640 files of the evaluation set missing: "
        "24.wav, 25.wav, 26.wav and 8613 more"]


def _edit(text: str, line: int, field: int, value: str) -> str:
    lines = text.splitlines()
    cells = lines[line].split("\t")
    cells[field] = value
    lines[line] = "\t".join(cells)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("change, problems", [
    (lambda t: t.replace(HEADER, "filename\tscene_label\toutdoor\tindoor\ttransportation"),
     ["header must be filename TAB scene_label TAB indoor TAB outdoor TAB transportation "
      "(TAB separated), found 'filename\\tscene_label\\toutdoor\\tindoor\\ttransportation'"]),
    (lambda t: t.replace("\t", ","), None),  # comma separated: header rule
    (lambda t: "\n".join(t.splitlines()[:-1]) + "\n",
     ["1 of the 24 files of the evaluation set missing: 23.wav"]),
    (lambda t: t + t.splitlines()[1] + "\n", ["1 duplicate file(s): audio/0.wav (row 25)"]),
    (lambda t: _edit(t, 3, 0, "audio/99.wav"),
     ["1 file(s) not in the evaluation set: 99.wav",
      "1 of the 24 files of the evaluation set missing: 2.wav"]),
    (lambda t: _edit(t, 1, 1, "car"),
     ["row 1: illegal scene label 'car' (use indoor, outdoor, transportation)"]),
    (lambda t: _edit(t, 2, 3, "abc"), ["row 2: outdoor='abc' is not a finite number"]),
    (lambda t: _edit(t, 2, 4, "nan"), ["row 2: transportation='nan' is not a finite number"]),
    (lambda t: t.replace("audio/5.wav\t", "audio/5.wav\t\t"), ["row 6: 6 fields, expected 5"]),
    (lambda t: t.replace("audio/7.wav", "audio/7.flac"),
     ["row 8: file 'audio/7.flac' does not end with .wav",
      "1 file(s) not in the evaluation set: 7.flac",
      "1 of the 24 files of the evaluation set missing: 7.wav"]),
])
def test_output_rules(tmp_path, change, problems):
    found = output_problems(change(output_text(tmp_path, DEMO_FILES)), DEMO_FILES)
    if problems is None:
        assert len(found) == 1 and found[0].startswith("header must be")
    else:
        assert found == problems


def test_enforce_names_the_file(tmp_path):
    path = tmp_path / f"{LABEL}.output.csv"
    path.write_text(_edit(output_text(tmp_path, DEMO_FILES), 1, 1, "car"))
    assert len(validate_output_file(path, evaluation_files=DEMO_FILES)) == 1
    with pytest.raises(ConfigError, match="1 problem.*illegal scene label 'car'") as err:
        validate_output_file(path, evaluation_files=DEMO_FILES, enforce=True)
    assert err.value.path == path and str(path) in str(err.value)
    with pytest.raises(ConfigError, match="file not found") as err:
        validate_meta_file(tmp_path / "absent.meta.yaml", enforce=True)
    assert err.value.path == tmp_path / "absent.meta.yaml"


def test_good_meta_passes(tmp_path):
    assert meta_problems(good_meta(tmp_path)) == []


def _set(path: str, value):
    def change(meta):
        *parents, last = path.split(".")
        block = meta
        for key in parents:
            block = block[int(key)] if isinstance(block, list) else block[key]
        if value is KeyError:
            del block[last]
        else:
            block[last] = value
    return change


@pytest.mark.parametrize("change, problem", [
    (_set("system.external_datasets", None),
     "system.external_datasets must be a list (empty when no external data is used), "
     "found NoneType"),
    (_set("system.external_datasets", [{"name": "AudioSet", "total_audio_length": 1}]),
     "system.external_datasets[1] lacks url"),
    (_set("system.description.complexity_management", KeyError),
     "system.description lacks complexity_management"),
    (_set("system.source_code", KeyError), "system lacks source_code"),
    (_set("system.complexity.total_parameters", "many"),
     "system.complexity.total_parameters='many' is not an integer"),
    (_set("system.complexity.total_parameters_non_zero", 3.5e6),
     "system.complexity.total_parameters_non_zero=3500000.0 is not an integer"),
    (_set("system.complexity.model_size", None),
     "system.complexity.model_size=None is not a number (KB)"),
    (_set("system.complexity.model_size", KeyError), "system.complexity lacks model_size"),
    (_set("submission.label", "McDonnell_USA_task1a_1"),
     "submission.label 'McDonnell_USA_task1a_1' is not of the form "
     "Lastname_Institute_task1b_N"),
    (_set("submission.label", "McDonnell_USA_task1b_5"),
     "submission.label 'McDonnell_USA_task1b_5': the submission index N must be 1-4"),
    (_set("submission.abbreviation", "ElevenChars"),
     "submission.abbreviation 'ElevenChars' must be text of 1-10 characters"),
    (_set("submission.authors.0.affiliation", KeyError),
     "submission.authors[1] lacks affiliation"),
    (_set("submission.authors.0.corresponding", False),
     "exactly one author must be marked corresponding, found 0"),
    (_set("submission.name", KeyError), "submission lacks name"),
    (_set("results", KeyError), "results is missing"),
    (_set("results.development_dataset", None),
     "results.development_dataset must be a mapping, found NoneType"),
    (_set("results.development_dataset.class_wise.outdoor", KeyError),
     "results.development_dataset.class_wise lacks outdoor"),
    (_set("results.development_dataset.overall.logloss", "0.2"),
     "results.development_dataset.overall.logloss='0.2' is not a number"),
    (_set("results.development_dataset.class_wise.indoor.accuracy", KeyError),
     "results.development_dataset.class_wise.indoor lacks accuracy"),
])
def test_meta_rules(tmp_path, change, problem):
    meta = copy.deepcopy(good_meta(tmp_path))
    change(meta)
    assert meta_problems(meta) == [problem]


def test_meta_file_not_yaml_or_not_a_mapping(tmp_path):
    path = tmp_path / f"{LABEL}.meta.yaml"
    path.write_text("submission: [unclosed\n")
    assert validate_meta_file(path)[0].startswith("not valid YAML:")
    path.write_text("- just a list\n")
    assert validate_meta_file(path) == [
        "meta.yaml must be a mapping with the submission, system and results blocks"]


@pytest.mark.parametrize("output, meta, problems", [
    (f"{LABEL}.output.csv", f"{LABEL}.meta.yaml", []),
    (f"{LABEL}.csv", f"{LABEL}.meta.yaml",
     [f"file name '{LABEL}.csv' is not of the form <label>.output.csv"]),
    ("McDonnell_USA_task1b_2.output.csv", f"{LABEL}.meta.yaml",
     [f"file name 'McDonnell_USA_task1b_2.output.csv' does not start with submission.label "
      f"'{LABEL}'"]),
    (f"{LABEL}.output.csv", f"{LABEL}.yaml",
     [f"file name '{LABEL}.yaml' is not of the form <label>.meta.yaml"]),
])
def test_file_name_rules(output, meta, problems):
    assert file_name_problems(output, meta, LABEL) == problems


def test_two_file_mode(tmp_path):
    out = tmp_path / f"{LABEL}.output.csv"
    write_output_csv(DEMO_FILES, probabilities(24), out)
    meta = tmp_path / f"{LABEL}.meta.yaml"
    meta.write_text(yaml.safe_dump(good_meta(tmp_path), sort_keys=False))
    assert validate_submission(out, meta, evaluation_files=DEMO_FILES) == []
    renamed = out.rename(tmp_path / "McDonnell_USA_task1b_2.output.csv")
    assert validate_submission(renamed, meta, evaluation_files=DEMO_FILES) == [
        f"file name 'McDonnell_USA_task1b_2.output.csv' does not start with submission.label "
        f"'{LABEL}'"]
    with pytest.raises(ConfigError, match="2 problem.*8616 of the 8640 files of the "
                                          "evaluation set missing: 24.wav") as err:
        validate_submission(renamed, meta, enforce=True)
    assert err.value.path == renamed


def test_read_evaluation_list(tmp_path):
    good = tmp_path / "fold1_test.csv"
    good.write_text("filename\n" + "\n".join(DEMO_FILES) + "\n")
    assert read_evaluation_list(good) == DEMO_FILES
    bad = tmp_path / "bad.csv"
    bad.write_text("file\n" + "\n".join(DEMO_FILES) + "\n")
    with pytest.raises(ConfigError, match="header must start with 'filename'") as err:
        read_evaluation_list(bad)
    assert err.value.path == bad


# -- zip mode ----------------------------------------------------------------------------------
def _label_files(tmp_path, label: str) -> dict[str, bytes]:
    meta = good_meta(tmp_path)
    meta["submission"]["label"] = label
    out = output_text(tmp_path, DEMO_FILES)
    return {f"{label}.output.csv": out.encode(), f"{label}.meta.yaml":
            yaml.safe_dump(meta, sort_keys=False).encode()}


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


ROOT = "McDonnell_USA_task1/task1"
REPORT = {f"{ROOT}/McDonnell_USA_task1.technical_report.pdf": b"%PDF-1.4\n"}


def _package(tmp_path, labels=(LABEL,), root=ROOT, report=True) -> dict[str, bytes]:
    members = dict(REPORT) if report else {}
    for label in labels:
        members.update({f"{root}/{label}/{name}": data
                        for name, data in _label_files(tmp_path, label).items()})
    return members


def test_zip_mode_accepts_the_layout(tmp_path):
    labels = [f"McDonnell_USA_task1b_{i}" for i in (1, 2, 3, 4)]
    path = _zip(tmp_path / "p.zip", _package(tmp_path, labels))
    assert validate_package(path, evaluation_files=DEMO_FILES) == []


@pytest.mark.parametrize("edit, problems", [
    (lambda m, t: _package(t, root="task1"),
     [f"task1/{LABEL}/{LABEL}.{ext}: not at <folder>/task1/<label>/<file>, where the checker "
      "reads the label from the third path part" for ext in ("output.csv", "meta.yaml")]
     + ["no <folder>/task1/<label>/ submission in the package"]),
    (lambda m, t: {k: v for k, v in m.items() if not k.endswith(".meta.yaml")},
     [f"{LABEL}: no .meta.yaml file"]),
    (lambda m, t: {**m, f"{ROOT}/{LABEL}/notes.txt": b"x"},
     [f"{ROOT}/{LABEL}/notes.txt: neither a .output.csv nor a .meta.yaml file"]),
    (lambda m, t: _package(t, report=False), ["no technical report (PDF) in the package"]),
    (lambda m, t: _package(t, [f"McDonnell_USA_task1b_{i}" for i in (1, 2, 3, 4)]
                           + ["McDonnell_UniSA_task1b_1"]),
     ["5 systems, at most 4 per subtask"]),
    (lambda m, t: {**m, f"{ROOT}/McDonnell_USA_task1a_1/McDonnell_USA_task1a_1.output.csv":
                   b""},
     [f"{ROOT}/McDonnell_USA_task1a_1/McDonnell_USA_task1a_1.output.csv: folder "
      "'McDonnell_USA_task1a_1' is not a task1b label"]),
    (lambda m, t: {k.replace(f"/{LABEL}/", "/McDonnell_USA_task1b_2/"): v
                   for k, v in m.items()},
     ["folder 'McDonnell_USA_task1b_2' and submission.label 'McDonnell_USA_task1b_1' differ"]),
])
def test_zip_mode_rules(tmp_path, edit, problems):
    path = _zip(tmp_path / "p.zip", edit(_package(tmp_path), tmp_path))
    assert package_problems(path, DEMO_FILES) == problems


def test_zip_mode_checks_the_files_inside(tmp_path):
    members = _package(tmp_path)
    name = f"{ROOT}/{LABEL}/{LABEL}.output.csv"
    members[name] = members[name].replace(b"audio/3.wav", b"audio/4.wav")
    path = _zip(tmp_path / "p.zip", members)
    assert package_problems(path, DEMO_FILES) == [
        f"{name}: 1 duplicate file(s): audio/4.wav (row 5)",
        f"{name}: 1 of the 24 files of the evaluation set missing: 3.wav"]
    not_zip = tmp_path / "n.zip"
    not_zip.write_bytes(b"PK not really")
    assert package_problems(not_zip)[0].startswith("not a readable zip file")
    with pytest.raises(ConfigError, match="not a readable zip file") as err:
        validate_package(not_zip, enforce=True)
    assert err.value.path == not_zip
