"""dataset.py on the real TAU 2020 3Class metadata (SPEC §1) and on malformed copies."""
from pathlib import Path

import pandas as pd
import pytest

from dcase_lowcomplexity.config import CLASS_NAMES, DEVELOPMENT_CITIES
from dcase_lowcomplexity.data.dataset import (
    TABLE_COLUMNS, Split, TauDataset, folder_kind, load_evaluation_set, parse_file_name,
)
from dcase_lowcomplexity.errors import ConfigError, DatasetError

# The dataset README's per-city totals (SPEC §1).
CITY_COUNTS = {"barcelona": 1421, "helsinki": 1447, "lisbon": 1440, "london": 1444,
               "lyon": 1440, "milan": 1440, "paris": 1452, "prague": 1440,
               "stockholm": 1456, "vienna": 1420}


@pytest.fixture(scope="module")
def tau(tau_metadata_root) -> TauDataset:
    return TauDataset(tau_metadata_root)


def class_counts(frame: pd.DataFrame) -> list[int]:
    return [int((frame["scene_label"] == name).sum()) for name in CLASS_NAMES]


def test_development_set_counts(tau):
    assert len(tau.table) == 14400
    assert class_counts(tau.table) == [4320, 5760, 4320]
    assert tau.table.groupby("city").size().to_dict() == CITY_COUNTS
    assert tau.cities == DEVELOPMENT_CITIES
    assert set(tau.table["source_label"]) == {"a"}


def test_table_columns_and_parsing(tau):
    assert tuple(tau.table.columns) == TABLE_COLUMNS
    first = tau.table.iloc[0]
    assert first["filename"] == "audio/airport-lisbon-1000-40000-a.wav"
    assert (first["scene"], first["city"], first["location"], first["segment"]) == (
        "airport", "lisbon", "1000", "40000")
    assert first["identifier"] == "lisbon-1000" and first["class_index"] == 0
    mall = tau.table[tau.table["scene"] == "shopping_mall"]
    assert len(mall) == 1440 and set(mall["scene_label"]) == {"indoor"}
    assert tau.table.groupby("scene").size().eq(1440).all() and tau.table["scene"].nunique() == 10


def test_class_index_is_alphabetical(tau):
    assert list(CLASS_NAMES) == sorted(CLASS_NAMES)
    for index, name in enumerate(CLASS_NAMES):
        assert set(tau.table.loc[tau.table["scene_label"] == name, "class_index"]) == {index}
    assert tau.table["class_index"].dtype == "int64"


def test_fold1_counts(tau):
    split = tau.split("fold1")
    assert isinstance(split, Split) and split.name == "fold1"
    assert len(split.train) == 9185 and class_counts(split.train) == [2704, 3757, 2724]
    assert len(split.validation) == 4185 and class_counts(split.validation) == [1297, 1604, 1284]
    used = set(split.train["filename"]) | set(split.validation["filename"])
    assert len(set(tau.table["filename"]) - used) == 1030
    assert "milan" not in set(split.train["city"]) and "milan" in set(split.validation["city"])
    # locations are never shared between the two sides of the official fold
    assert not set(split.train["identifier"]) & set(split.validation["identifier"])
    # the frames keep meta.csv's row index and columns
    assert tuple(split.train.columns) == TABLE_COLUMNS
    assert (tau.table.loc[split.validation.index, "filename"].values
            == split.validation["filename"].values).all()


def test_fold1_keeps_the_official_list_order(tau, tau_metadata_root):
    listed = (tau_metadata_root / "evaluation_setup" / "fold1_evaluate.csv").read_text().split("\n")
    assert list(tau.split("fold1").validation["filename"][:3]) == [
        line.split("\t")[0] for line in listed[1:4]]


def test_all_split(tau):
    split = tau.split("all")
    assert split.validation is None and len(split.train) == 14400


def test_leave_one_city_out(tau):
    splits = tau.loco_splits()
    assert [s.name for s in splits] == [f"loco:{c}" for c in DEVELOPMENT_CITIES]
    covered = []
    for split, city in zip(splits, DEVELOPMENT_CITIES):
        assert set(split.validation["city"]) == {city}
        assert len(split.validation) == CITY_COUNTS[city]
        assert len(split.train) == 14400 - CITY_COUNTS[city] and city not in set(split.train["city"])
        assert not set(split.train["filename"]) & set(split.validation["filename"])
        covered += list(split.validation["filename"])
    assert sorted(covered) == sorted(tau.table["filename"])  # disjoint and covering


def test_unknown_split_names(tau):
    with pytest.raises(ConfigError, match="loco:barcelona"):
        tau.split("loco:madrid")
    with pytest.raises(ConfigError, match="fold1"):
        tau.split("fold-one")
    with pytest.raises(DatasetError, match="fold2_train.csv"):
        tau.split("fold2")


def test_audio_path_and_check_audio(tau, tau_metadata_root):
    assert tau.audio_path("audio/x.wav") == tau_metadata_root / "audio" / "x.wav"
    with pytest.raises(DatasetError) as err:  # the fixture has metadata only
        TauDataset(tau_metadata_root, check_audio=True)
    message = str(err.value)
    assert "line 2:" in message and "airport-lisbon-1000-40000-a.wav" in message
    assert "14399 more missing" in message and "Fix:" in message


def test_parse_file_name():
    assert parse_file_name("audio/street_pedestrian-lyon-1003-40003-a.wav") == {
        "scene": "street_pedestrian", "city": "lyon", "location": "1003", "segment": "40003",
        "device": "a"}
    assert parse_file_name("audio/bus-lyon-1001-a.wav") is None


# -- malformed CSVs: one DatasetError naming the file, the line and the fix ----------------
GOOD_META = [
    "filename\tscene_label\tidentifier\tsource_label",
    "audio/airport-lisbon-1000-40000-a.wav\tindoor\tlisbon-1000\ta",
    "audio/bus-lyon-1001-40001-a.wav\ttransportation\tlyon-1001\ta",
    "audio/park-milan-1002-40002-a.wav\toutdoor\tmilan-1002\ta",
]
GOOD_TRAIN = ["filename\tscene_label", "audio/airport-lisbon-1000-40000-a.wav\tindoor",
              "audio/bus-lyon-1001-40001-a.wav\ttransportation"]
GOOD_EVALUATE = ["filename\tscene_label", "audio/park-milan-1002-40002-a.wav\toutdoor"]


def write_dataset(root: Path, meta=GOOD_META, train=GOOD_TRAIN, evaluate=GOOD_EVALUATE) -> Path:
    (root / "evaluation_setup").mkdir(parents=True)
    (root / "meta.csv").write_text("\n".join(meta) + "\n")
    (root / "evaluation_setup" / "fold1_train.csv").write_text("\n".join(train) + "\n")
    (root / "evaluation_setup" / "fold1_evaluate.csv").write_text("\n".join(evaluate) + "\n")
    (root / "evaluation_setup" / "fold1_test.csv").write_text(
        "\n".join(["filename"] + [r.split("\t")[0] for r in evaluate[1:]]) + "\n")
    return root


def test_small_valid_dataset(tmp_path):
    tau = TauDataset(write_dataset(tmp_path))
    split = tau.split("fold1")
    assert list(split.train["class_index"]) == [0, 2] and list(split.validation["city"]) == ["milan"]


def replaced(lines, number, new):
    """`lines` with line `number` (1-based, as in an editor) replaced by `new`."""
    out = list(lines)
    out[number - 1] = new
    return out


MALFORMED_META = {
    "wrong header": (replaced(GOOD_META, 1, "filename\tscene_label\tidentifier"),
                     "line 1: header"),
    "column count": (replaced(GOOD_META, 3, "audio/bus-lyon-1001-40001-a.wav\ttransportation"),
                     "line 3: 2 TAB separated field"),
    "space separated": (replaced(GOOD_META, 2, GOOD_META[1].replace("\t", " ")),
                        "line 2: 1 TAB separated field"),
    "unknown label": (replaced(GOOD_META, 4, GOOD_META[3].replace("outdoor", "outside")),
                      "line 4: unknown label 'outside'"),
    "unknown scene": (replaced(GOOD_META, 2, GOOD_META[1].replace("airport", "harbour")),
                      "line 2: unknown scene 'harbour'"),
    "scene/class mismatch": (replaced(GOOD_META, 3, GOOD_META[2].replace("transportation",
                                                                          "indoor")),
                             "line 3: scene 'bus' .* belongs to class 'transportation'"),
    "bad file name": (replaced(GOOD_META, 2, "audio/airport_lisbon.wav\tindoor\tlisbon-1000\ta"),
                      "line 2: file name"),
    "identifier mismatch": (replaced(GOOD_META, 2, GOOD_META[1].replace("lisbon-1000\t",
                                                                        "lisbon-1001\t")),
                            "line 2: identifier 'lisbon-1001'"),
    "duplicate row": (GOOD_META + [GOOD_META[2]], "line 5: .* repeats line 3"),
    "empty": (GOOD_META[:1], "no files listed"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_META))
def test_malformed_meta(tmp_path, case):
    meta, pattern = MALFORMED_META[case]
    write_dataset(tmp_path, meta=meta)
    with pytest.raises(DatasetError, match=pattern) as err:
        TauDataset(tmp_path)
    assert str(tmp_path / "meta.csv") in str(err.value) and "Fix:" in str(err.value)


MALFORMED_FOLDS = {
    "not in meta": ("fold1_train.csv", dict(train=GOOD_TRAIN + [
        "audio/tram-paris-1009-40009-a.wav\ttransportation"]), "line 4: .* not listed in meta.csv"),
    "label differs": ("fold1_evaluate.csv", dict(evaluate=replaced(
        GOOD_EVALUATE, 2, "audio/park-milan-1002-40002-a.wav\tindoor")), "line 2: label 'indoor'"),
    "duplicate": ("fold1_train.csv", dict(train=GOOD_TRAIN + [GOOD_TRAIN[1]]),
                  "line 4: .* repeats line 2"),
    "header": ("fold1_train.csv", dict(train=["filename"] + GOOD_TRAIN[1:]), "line 1: header"),
    "in both lists": ("fold1_evaluate.csv", dict(evaluate=GOOD_EVALUATE + [GOOD_TRAIN[1]]),
                      "listed in both fold1_train.csv and fold1_evaluate.csv"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_FOLDS))
def test_malformed_fold_lists(tmp_path, case):
    name, lists, pattern = MALFORMED_FOLDS[case]
    write_dataset(tmp_path, **lists)
    with pytest.raises(DatasetError, match=pattern) as err:
        TauDataset(tmp_path)
    assert name in str(err.value) and "Fix:" in str(err.value)


def test_missing_meta_and_folder(tmp_path):
    with pytest.raises(DatasetError, match="meta.csv: file not found"):
        TauDataset(tmp_path)
    with pytest.raises(DatasetError, match="dataset folder not found"):
        TauDataset(tmp_path / "nowhere")


def test_check_audio_names_the_missing_file(tmp_path):
    root = write_dataset(tmp_path)
    (root / "audio").mkdir()
    for line in GOOD_META[1:3]:
        (root / line.split("\t")[0]).write_bytes(b"")
    with pytest.raises(DatasetError, match=r"line 4: 'audio/park-milan-1002-40002-a.wav' is listed"):
        TauDataset(root, check_audio=True)


# -- evaluation folder ---------------------------------------------------------------------
def test_evaluation_set_from_demo(demo_out):
    frame = load_evaluation_set(demo_out / "TAU-urban-acoustic-scenes-2020-3class-evaluation",
                                check_audio=True)
    assert list(frame.columns) == ["filename"]
    assert list(frame["filename"]) == ["audio/0.wav", "audio/1.wav", "audio/2.wav"]


def test_evaluation_set_from_audio_listing_in_numeric_order(tmp_path):
    (tmp_path / "audio").mkdir()
    for name in ("10.wav", "2.wav", "0.wav", "1.wav"):
        (tmp_path / "audio" / name).write_bytes(b"")
    assert list(load_evaluation_set(tmp_path)["filename"]) == [
        "audio/0.wav", "audio/1.wav", "audio/2.wav", "audio/10.wav"]


def test_evaluation_set_errors(tmp_path):
    with pytest.raises(DatasetError, match="neither meta.csv"):
        load_evaluation_set(tmp_path)
    (tmp_path / "meta.csv").write_text("file\naudio/0.wav\n")
    with pytest.raises(DatasetError, match="line 1: header must start with 'filename'"):
        load_evaluation_set(tmp_path)
    (tmp_path / "meta.csv").write_text("filename\naudio/0.wav\naudio/0.wav\n")
    with pytest.raises(DatasetError, match="line 3: 'audio/0.wav' repeats line 2"):
        load_evaluation_set(tmp_path)
    (tmp_path / "meta.csv").write_text("filename\naudio/0.wav\n")
    with pytest.raises(DatasetError, match="listed but missing"):
        load_evaluation_set(tmp_path, check_audio=True)


# -- issue 11: paths leaving the folder, layout, encodings ---------------------------------
ESCAPES = ["audio/../../../x.wav", "/etc/x.wav", "audio/./0.wav", "audio//0.wav",
           "audio\\..\\x.wav", "C:/x.wav"]


@pytest.mark.parametrize("name", ESCAPES)
def test_evaluation_list_paths_stay_inside_the_folder(tmp_path, name):
    """Issue 11, cause 9: '..', absolute and other escaping paths are refused, naming the list
    file and its line."""
    setup = tmp_path / "evaluation_setup"
    setup.mkdir()
    (setup / "fold1_test.csv").write_text(f"filename\naudio/0.wav\n{name}\n")
    with pytest.raises(DatasetError, match="line 3: .* not a plain path inside") as err:
        load_evaluation_set(tmp_path)
    assert str(setup / "fold1_test.csv") in str(err.value)


@pytest.mark.parametrize("name", ESCAPES[:2])
def test_fold_list_paths_stay_inside_the_folder(tmp_path, name):
    write_dataset(tmp_path, train=GOOD_TRAIN + [f"{name}\tindoor"])
    with pytest.raises(DatasetError, match="line 4: .* not a plain path inside") as err:
        TauDataset(tmp_path)
    assert "fold1_train.csv" in str(err.value)


def test_folder_kind_and_a_development_folder_without_meta(tmp_path):
    """Issue 11, cause 2: the layout decides; a development folder's missing meta.csv (or one
    that is a folder, or not UTF-8) is named, never read as an evaluation folder."""
    root = write_dataset(tmp_path / "dev")
    assert folder_kind(root) == "development"
    (root / "meta.csv").unlink()
    assert folder_kind(root) == "development"
    with pytest.raises(DatasetError, match="meta.csv: is missing: this is a development"):
        TauDataset(root)
    with pytest.raises(DatasetError, match="is a development folder"):
        load_evaluation_set(root)
    (root / "meta.csv").mkdir()
    with pytest.raises(DatasetError, match="meta.csv: is a folder, not a file"):
        TauDataset(root)
    (root / "meta.csv").rmdir()
    (root / "meta.csv").write_bytes("\n".join(GOOD_META).encode("latin-1") + b"\xe9\xff\n")
    with pytest.raises(DatasetError, match=r"meta.csv: is not UTF-8 text \(byte"):
        TauDataset(root)
    evaluation = tmp_path / "eval"
    (evaluation / "audio").mkdir(parents=True)
    assert folder_kind(evaluation) == "evaluation"
    (evaluation / "meta.csv").write_bytes(b"filename\naudio/\xff.wav\n")
    with pytest.raises(DatasetError, match="meta.csv: is not UTF-8"):
        load_evaluation_set(evaluation)
