"""DCASE2020 Task 1b submission files: output.csv and meta.yaml parsed back (SPEC §1)."""
import numpy as np
import pandas as pd
import pytest
import yaml
from scoring_cases import FIGURE2, predictions_from_confusion

from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.metrics import score_clips
from dcase_lowcomplexity.evaluation.submission import (
    submission_paths,
    write_meta_yaml,
    write_output_csv,
)
from dcase_lowcomplexity.evaluation.validator import validate_meta_file

LABEL = "McDonnell_UniSA_task1b_1"
AUTHORS = [
    {"lastname": "McDonnell", "firstname": "Mark", "email": "mark@example.org",
     "corresponding": True,
     "affiliation": {"abbreviation": "UniSA", "institute": "University of South Australia",
                     "location": "Mawson Lakes, Australia"}},
    {"lastname": "Gao", "firstname": "Wei", "email": "wei@example.org",
     "affiliation": {"institute": "University of South Australia"}},
]
# [R1]'s DCASE sizes (SPEC §3): 3,987,000 one-bit conv weights = 486.69 KB.
COMPLEXITY = {"total_parameters": 3_987_000, "total_parameters_non_zero": 3_987_000,
              "model_size": 486.69}


class FakeSizeReport:  # the attributes of export.size.SizeReport that the meta file needs
    total_parameters, non_zero_parameters, size_kb = 3_987_000, 3_987_000, 486.6943359375


def test_output_csv_round_trip(tmp_path):
    filenames = [f"audio/{i}.wav" for i in range(5)]
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.05, 0.05, 0.9],
                      [1 / 3, 1 / 3, 1 / 3], [0.2, 0.3, 0.5]])
    out, _ = submission_paths(tmp_path, LABEL)
    assert out == tmp_path / "task1" / LABEL / f"{LABEL}.output.csv"
    write_output_csv(filenames, probs, out)
    text = out.read_text()
    assert text.splitlines()[0] == "filename\tscene_label\tindoor\toutdoor\ttransportation"
    assert text.splitlines()[1] == "audio/0.wav\tindoor\t0.700000\t0.200000\t0.100000"
    back = pd.read_csv(out, sep="\t")
    assert list(back.columns) == ["filename", "scene_label", "indoor", "outdoor",
                                  "transportation"]
    assert back.filename.tolist() == filenames
    assert back.scene_label.tolist() == ["indoor", "outdoor", "transportation", "indoor",
                                         "transportation"]
    np.testing.assert_allclose(back[["indoor", "outdoor", "transportation"]], probs,
                               atol=5e-7)
    assert [p.name for p in out.parent.iterdir()] == [out.name]


@pytest.mark.parametrize("filenames, probs, message", [
    (["audio/0.wav"], [[0.5, 0.5]], r"shape \(1, 3\)"),
    (["audio/0.wav", "audio/0.wav"], [[1, 0, 0], [0, 1, 0]], "listed twice"),
    (["/data/eval/audio/0.wav"], [[1, 0, 0]], "relative to the dataset root"),
    (["audio/0.wav"], [[1.2, 0, 0]], "within"),
    (["audio/0.wav"], [[np.nan, 0, 0]], "finite"),
])
def test_output_csv_refuses_bad_input(tmp_path, filenames, probs, message):
    with pytest.raises(ConfigError, match=message):
        write_output_csv(filenames, probs, tmp_path / "x.output.csv")
    assert not (tmp_path / "x.output.csv").exists()


def test_meta_yaml_structure_and_values(tmp_path):
    scores = score_clips(*predictions_from_confusion(FIGURE2))
    _, path = submission_paths(tmp_path, LABEL)
    write_meta_yaml(path, LABEL, name="One-bit-per-weight ResNet", abbreviation="1bitResNet",
                    authors=AUTHORS, complexity=FakeSizeReport(), development_results=scores,
                    source_code="https://example.org/code")
    meta = yaml.safe_load(path.read_text())
    assert list(meta) == ["submission", "system", "results"]
    sub = meta["submission"]
    assert sub["label"] == LABEL and sub["abbreviation"] == "1bitResNet"
    assert [a["lastname"] for a in sub["authors"]] == ["McDonnell", "Gao"]
    assert [a.get("corresponding") for a in sub["authors"]] == [True, None]
    assert list(sub["authors"][0]) == ["lastname", "firstname", "email", "corresponding",
                                       "affiliation"]
    assert sub["authors"][0]["affiliation"] == {
        "abbreviation": "UniSA", "institute": "University of South Australia",
        "location": "Mawson Lakes, Australia"}
    desc = meta["system"]["description"]
    assert desc["input_sampling_rate"] == "48kHz"
    assert desc["acoustic_features"] == "log-mel energies"
    assert desc["data_augmentation"] == "mixup, random cropping, channel swapping"
    assert desc["machine_learning_method"] == "CNN"
    assert desc["embeddings"] is None
    assert meta["system"]["complexity"] == {"total_parameters": 3987000,
                                            "total_parameters_non_zero": 3987000,
                                            "model_size": 486.69}
    assert isinstance(meta["system"]["complexity"]["total_parameters"], int)
    dev = meta["results"]["development_dataset"]
    assert dev["overall"] == {"accuracy": 97.14, "logloss": 0.193}
    assert dev["class_wise"]["indoor"] == {"accuracy": 94.68, "logloss": 0.271}
    assert dev["class_wise"]["outdoor"]["accuracy"] == 97.82
    assert dev["class_wise"]["transportation"]["accuracy"] == 98.91


def test_meta_yaml_description_overrides(tmp_path):
    path = tmp_path / "m.meta.yaml"
    write_meta_yaml(path, LABEL, name="n", abbreviation="a", authors=AUTHORS,
                    complexity=COMPLEXITY, description={"decision_making": "average"})
    meta = yaml.safe_load(path.read_text())
    assert meta["system"]["description"]["decision_making"] == "average"
    assert meta["system"]["complexity"]["model_size"] == 486.69
    assert meta["system"]["external_datasets"] == []
    # Not scored: the template's shape with nulls, which the validator's rules report.
    assert meta["results"]["development_dataset"] == {
        "overall": {"accuracy": None, "logloss": None},
        "class_wise": {c: {"accuracy": None, "logloss": None}
                       for c in ("indoor", "outdoor", "transportation")}}


@pytest.mark.parametrize("changes, message", [
    ({"label": "McDonnell_UniSA_task1a_1"}, "does not follow Lastname_Inst_task1b_N"),
    ({"label": "McDonnell_UniSA_task1b_5"}, "does not follow"),
    ({"label": "Gao_UniSA_task1b_1"}, "corresponding author is 'McDonnell'"),
    ({"abbreviation": "ElevenChars"}, "must have 1-10 characters"),
    ({"authors": [dict(AUTHORS[0]), dict(AUTHORS[1], corresponding=True)]},
     "exactly one author .* found 2"),
    ({"authors": [AUTHORS[1]]}, "exactly one author .* found 0"),
    ({"authors": [{"lastname": "McDonnell", "corresponding": True}]},
     "lacks firstname, email, affiliation"),
    ({"authors": [dict(AUTHORS[0], affiliation="UniSA")]}, "affiliation must be a mapping"),
    ({"authors": [dict(AUTHORS[0], affiliation={"city": "Adelaide"})]},
     "unknown affiliation keys city"),
    ({"authors": [dict(AUTHORS[0], phone="123")]}, "unknown keys phone"),
    ({"description": {"ensemble_method_subsystem_count": "two"}},
     "ensemble_method_subsystem_count='two' must be an integer"),
    ({"description": {"embeddings": 3}}, "embeddings=3 must be text"),
    ({"external_datasets": [{"name": "AudioSet", "total_audio_length": 10}]}, "lacks url"),
    ({"external_datasets": [{"name": "AudioSet", "url": "https://x", "total_audio_length": "a"}]},
     "must be a number of minutes"),
    ({"source_code": 42}, "must be a URL or None"),
    ({"description": {"gpu": "yes"}}, "unknown system.description keys: gpu"),
    ({"complexity": dict(COMPLEXITY, total_parameters_non_zero=4_000_000)}, "non-zero ≤ total"),
])
def test_meta_yaml_refuses_bad_input(tmp_path, changes, message):
    kwargs = dict(label=LABEL, name="n", abbreviation="abbr", authors=AUTHORS,
                  complexity=COMPLEXITY)
    kwargs.update(changes)
    path = tmp_path / "bad.meta.yaml"
    with pytest.raises(ConfigError, match=message):
        write_meta_yaml(path, kwargs.pop("label"), **kwargs)
    assert not path.exists()


# The five systems' submission metadata, as experiments/task1b_binary.py and
# r2_pipeline/profiles.py give them (literal copies: the dicts are moving to systems.py).
R1_AUTHORS = [{"lastname": "McDonnell", "firstname": "Mark D.",
               "email": "mark.mcdonnell@unisa.edu.au", "corresponding": True,
               "affiliation": {"institution": "University of South Australia"}}]
R2_AUTHORS = [{"lastname": "Lopez-Meyer", "firstname": "Paulo",
               "email": "paulo.lopez-meyer@example.org", "corresponding": True,
               "affiliation": {"institution": "Intel Labs"}}]
ACLNET = {"input_channels": "mono", "input_sampling_rate": "16kHz",
          "acoustic_features": "raw waveform (learned 1-D conv front end)",
          "data_augmentation": "random 1 s cropping, random gain, additive noise, mixup",
          "machine_learning_method": "CNN (AclNet, depthwise-separable)",
          "decision_making": "average of the 1 s segment probabilities",
          "external_data_usage": "none ([R2] pre-trained AclNet on AudioSet; not available "
                                 "offline, trained from scratch)"}
FIVE_SYSTEMS = {
    "task1b_binary": dict(
        label="McDonnell_USA_task1b_1", name="One-bit-per-weight split-frequency ResNet",
        abbreviation="1bitResNet", authors=R1_AUTHORS, description=None,
        complexity={"total_parameters": 3_987_000, "total_parameters_non_zero": 3_987_000,
                    "model_size": 486.69}),
    "task1b_int8": dict(
        label="Lopez-Meyer_IL_task1b_1",
        name="AclNet0.5, full-integer INT8 post-training quantisation", abbreviation="AclNet-I8",
        authors=R2_AUTHORS,
        description={**ACLNET, "complexity_management": "post-training full-integer INT8 "
                                                         "quantization"},
        complexity={"total_parameters": 317_038, "total_parameters_non_zero": 317_038,
                    "model_size": 309.6}),
    "task1b_lottery": dict(
        label="Lopez-Meyer_IL_task1b_2",
        name="AclNet0.5, lottery-ticket pruning with rewinding, FP16", abbreviation="AclNet-LT",
        authors=R2_AUTHORS,
        description={**ACLNET, "complexity_management": "lottery-ticket weight pruning "
                                                         "(19.6 %), float16"},
        complexity={"total_parameters": 317_038, "total_parameters_non_zero": 255_740,
                    "model_size": 499.49}),
    "task1b_distill": dict(
        label="Lopez-Meyer_IL_task1b_3", name="Student CNN distilled from a VGG-12 teacher, FP16",
        abbreviation="KD-CNN", authors=R2_AUTHORS,
        description={"input_channels": "mono", "input_sampling_rate": "16kHz",
                     "acoustic_features": "log-mel energies (64 bands)",
                     "data_augmentation": "mixup",
                     "machine_learning_method": "CNN, knowledge distillation",
                     "complexity_management": "knowledge distillation, float16"},
        complexity={"total_parameters": 252_713, "total_parameters_non_zero": 252_713,
                    "model_size": 493.58}),
    "task1b_gccgram": dict(
        label="Lopez-Meyer_IL_task1b_4",
        name="GCC-PHAT grams and log-mels, depthwise-separable CNN, FP16",
        abbreviation="GCC-CNN", authors=R2_AUTHORS,
        description={"input_channels": "binaural", "input_sampling_rate": "16kHz",
                     "acoustic_features": "log-mel energies (40 bands, per channel), GCC-PHAT",
                     "data_augmentation": "mixup",
                     "machine_learning_method": "CNN (depthwise-separable)",
                     "complexity_management": "depthwise-separable convolutions, float16"},
        complexity={"total_parameters": 252_491, "total_parameters_non_zero": 252_491,
                    "model_size": 493.15}),
}
TEMPLATE_DESCRIPTION = ["input_channels", "input_sampling_rate", "acoustic_features",
                        "embeddings", "data_augmentation", "machine_learning_method",
                        "ensemble_method_subsystem_count", "decision_making",
                        "external_data_usage", "complexity_management"]


@pytest.mark.parametrize("key", list(FIVE_SYSTEMS))
def test_meta_yaml_of_each_system_passes_the_validator_rules(tmp_path, key):
    system = dict(FIVE_SYSTEMS[key])
    label = system.pop("label")
    scores = score_clips(*predictions_from_confusion(FIGURE2))
    _, path = submission_paths(tmp_path, label)
    write_meta_yaml(path, label, development_results=scores, **system)

    assert validate_meta_file(path) == []
    meta = yaml.safe_load(path.read_text())
    assert list(meta) == ["submission", "system", "results"]
    assert meta["submission"]["label"] == label
    assert len(meta["submission"]["abbreviation"]) <= 10
    author = meta["submission"]["authors"][0]
    assert author["corresponding"] is True and list(author["affiliation"]) == ["institute"]
    assert list(meta["system"]) == ["description", "complexity", "external_datasets",
                                    "source_code"]
    assert list(meta["system"]["description"]) == TEMPLATE_DESCRIPTION
    assert meta["system"]["description"]["complexity_management"] == (
        (system["description"] or {}).get("complexity_management",
                                          "weight quantization (1 bit per weight)"))
    assert meta["system"]["external_datasets"] == []
    assert "  external_datasets: []\n" in path.read_text()
    assert meta["system"]["source_code"] is None
    complexity = meta["system"]["complexity"]
    assert complexity == system["complexity"]
    assert type(complexity["total_parameters"]) is int
    assert type(complexity["total_parameters_non_zero"]) is int
    assert type(complexity["model_size"]) is float
    dev = meta["results"]["development_dataset"]
    assert dev["overall"] == {"accuracy": 97.14, "logloss": 0.193}
    assert list(dev["class_wise"]) == ["indoor", "outdoor", "transportation"]
    assert all(type(v) is float for row in dev["class_wise"].values() for v in row.values())


def test_meta_yaml_external_datasets_round_trip(tmp_path):
    path = tmp_path / "m.meta.yaml"
    audioset = {"name": "AudioSet", "url": "https://research.google.com/audioset/",
                "total_audio_length": 350_000}
    write_meta_yaml(path, LABEL, name="n", abbreviation="a", authors=AUTHORS,
                    complexity=COMPLEXITY, external_datasets=[audioset])
    assert yaml.safe_load(path.read_text())["system"]["external_datasets"] == [audioset]


def test_unscored_meta_yaml_is_reported_by_the_rules(tmp_path):
    path = tmp_path / "m.meta.yaml"
    write_meta_yaml(path, LABEL, name="n", abbreviation="a", authors=AUTHORS,
                    complexity=COMPLEXITY)
    problems = validate_meta_file(path)
    assert problems[0] == "results.development_dataset.overall.accuracy=None is not a number"
    assert len(problems) == 8  # overall and three classes, accuracy and logloss each
