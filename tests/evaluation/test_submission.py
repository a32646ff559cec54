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

LABEL = "McDonnell_UniSA_task1b_1"
AUTHORS = [
    {"lastname": "McDonnell", "firstname": "Mark", "email": "mark@example.org",
     "corresponding": True,
     "affiliation": {"abbreviation": "UniSA", "institute": "University of South Australia",
                     "location": "Mawson Lakes, Australia"}},
    {"lastname": "Gao", "firstname": "Wei", "email": "wei@example.org"},
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
    assert meta["results"]["development_dataset"] is None


@pytest.mark.parametrize("changes, message", [
    ({"label": "McDonnell_UniSA_task1a_1"}, "does not follow Lastname_Inst_task1b_N"),
    ({"label": "McDonnell_UniSA_task1b_5"}, "does not follow"),
    ({"label": "Gao_UniSA_task1b_1"}, "corresponding author is 'McDonnell'"),
    ({"abbreviation": "ElevenChars"}, "must have 1-10 characters"),
    ({"authors": [dict(AUTHORS[0]), dict(AUTHORS[1], corresponding=True)]},
     "exactly one author .* found 2"),
    ({"authors": [AUTHORS[1]]}, "exactly one author .* found 0"),
    ({"authors": [{"lastname": "McDonnell", "corresponding": True}]}, "lacks firstname, email"),
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
