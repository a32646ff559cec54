"""The synthetic demo dataset: official layout, 24-bit 48 kHz stereo 10 s, deterministic,
and classes that a classifier separates, but not trivially."""
import json

import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dcase_lowcomplexity.config import CLASS_NAMES, DEVELOPMENT_CITIES, SCENE_TO_CLASS
from dcase_lowcomplexity.data.dataset import TauDataset, load_evaluation_set
from dcase_lowcomplexity.data.demo import GROUND_TRUTH, MARKER, demo_layout, make_demo_dataset
from dcase_lowcomplexity.data.extraction import features_array
from dcase_lowcomplexity.errors import ConfigError, DatasetError


def test_layout_loads_as_the_official_dataset(demo_root):
    tau = TauDataset(demo_root, check_audio=True)
    assert len(tau) == 12
    assert [int((tau.table["class_index"] == k).sum()) for k in range(3)] == [4, 4, 4]
    assert set(tau.table["city"]) <= set(DEVELOPMENT_CITIES)
    assert set(tau.table["source_label"]) == {"a"}
    assert (demo_root / "meta.csv").read_text().split("\n")[0] == (
        "filename\tscene_label\tidentifier\tsource_label")
    fold = tau.split("fold1")
    assert len(fold.train) + len(fold.validation) == 12 and len(fold.validation) >= 3
    assert set(fold.validation["class_index"]) == {0, 1, 2}
    assert (demo_root / "evaluation_setup" / "fold1_test.csv").read_text().split("\n")[0] == (
        "filename")


def test_default_layout_matches_the_real_fold():
    """30 clips per class: ~2/3 train, locations never shared, milan only in evaluate."""
    clips = demo_layout(30)
    assert len(clips) == 90 and len({c["filename"] for c in clips}) == 90
    train = [c for c in clips if c["fold"] == "train"]
    evaluate = [c for c in clips if c["fold"] == "evaluate"]
    assert len(train) == 63 and len(evaluate) == 27
    assert not {c["location"] for c in train} & {c["location"] for c in evaluate}
    assert "milan" not in {c["city"] for c in train} and "milan" in {c["city"] for c in evaluate}
    assert {c["scene"] for c in clips} == set(SCENE_TO_CLASS)
    assert all(SCENE_TO_CLASS[c["scene"]] == c["class_name"] for c in clips)
    assert [c["class_name"] for c in clips[:3]] == list(CLASS_NAMES)  # interleaved like meta.csv


def test_audio_format(demo_root):
    for path in sorted((demo_root / "audio").glob("*.wav")):
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.frames, info.subtype, info.format) == (
            48000, 2, 480000, "PCM_24", "WAV")


def test_binaural_and_level(demo_root):
    for path in sorted((demo_root / "audio").glob("*.wav"))[:6]:
        audio, _ = sf.read(path)
        left, right = audio.T
        assert not np.array_equal(left, right)
        assert 0.0 < np.corrcoef(left, right)[0, 1] < 0.999  # interaural differences
        rms_db = 20 * np.log10(np.sqrt(np.mean(audio**2)))
        assert -39 < rms_db < -21 and np.abs(audio).max() < 1


def test_evaluation_folder(demo_out):
    root = demo_out / "TAU-urban-acoustic-scenes-2020-3class-evaluation"
    assert (root / "meta.csv").read_text() == "filename\naudio/0.wav\naudio/1.wav\naudio/2.wav\n"
    assert list(load_evaluation_set(root, check_audio=True)["filename"]) == [
        "audio/0.wav", "audio/1.wav", "audio/2.wav"]
    truth = (demo_out / GROUND_TRUTH).read_text().splitlines()
    assert truth[0] == "filename\tscene_label\tscene" and len(truth) == 4
    assert sf.info(root / "audio" / "2.wav").frames == 480000


def test_deterministic_for_a_seed(tmp_path):
    a = make_demo_dataset(tmp_path / "a", clips_per_class=1, seed=3, eval_clips=1)
    b = make_demo_dataset(tmp_path / "b", clips_per_class=1, seed=3, eval_clips=1)
    c = make_demo_dataset(tmp_path / "c", clips_per_class=1, seed=4)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 3 + 5  # 3 clips, meta, README, three fold lists
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    eval_a = tmp_path / "a" / "TAU-urban-acoustic-scenes-2020-3class-evaluation" / "audio/0.wav"
    assert eval_a.read_bytes() == (tmp_path / "b" / eval_a.relative_to(tmp_path / "a")).read_bytes()
    first = sorted((a / "audio").iterdir())[0].name
    assert (a / "audio" / first).read_bytes() != (c / "audio" / first).read_bytes()


def test_rerun_is_instant_and_other_arguments_rewrite(tmp_path):
    dev = make_demo_dataset(tmp_path, clips_per_class=1, seed=0)
    stamp = (dev / "meta.csv").stat().st_mtime_ns
    assert make_demo_dataset(tmp_path, clips_per_class=1, seed=0) == dev
    assert (dev / "meta.csv").stat().st_mtime_ns == stamp
    make_demo_dataset(tmp_path, clips_per_class=2, seed=0)
    assert len(TauDataset(dev, check_audio=True)) == 6
    assert len(list((dev / "audio").iterdir())) == 6  # no stale clips left
    assert json.loads((tmp_path / MARKER).read_text())["clips_per_class"] == 2


def test_refuses_foreign_folders_and_bad_arguments(tmp_path):
    (tmp_path / "TAU-urban-acoustic-scenes-2020-3class-development").mkdir()
    with pytest.raises(DatasetError, match="not written by make_demo_dataset"):
        make_demo_dataset(tmp_path, clips_per_class=1)
    with pytest.raises(ConfigError):
        make_demo_dataset(tmp_path / "x", clips_per_class=0)


@pytest.fixture(scope="module")
def demo_features(tmp_path_factory):
    root = make_demo_dataset(tmp_path_factory.mktemp("separable"), clips_per_class=20, seed=1)
    tau = TauDataset(root)
    return features_array(root, tau.table["filename"]), tau.table["class_index"].to_numpy()


def cv_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(model, features, labels, cv=folds).mean())


def test_classes_are_separable_but_not_trivially(demo_features):
    """Mean log-mel bands: well above chance (1/3) on held-out clips, yet not perfect; the
    overall level alone is near chance (loudness carries no class)."""
    features, labels = demo_features
    assert features.shape == (60, 256, 469, 2)
    band_means = features.mean(axis=2).reshape(len(features), -1)
    level = features.mean(axis=(1, 2, 3))[:, None]
    assert 0.6 < cv_accuracy(band_means, labels) < 0.95
    assert cv_accuracy(level, labels) < 0.55
