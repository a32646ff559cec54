"""experiments/reproduce_tables.py and loco.py rebuild [R1]'s tables from finished runs."""
import numpy as np
import pandas as pd
import pytest

from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.data.dataset import TauDataset
from dcase_lowcomplexity.evaluation.outputs import PREDICTIONS_FILE, write_scores


def _finished_run(run_dir, seed, n_per_class=20):
    """A run folder as task1b_binary.py leaves it, from real (random but seeded) predictions."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    logits = rng.normal(size=(len(y), 3)) + 2.0 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    run_dir.mkdir(parents=True)
    names = [f"audio/clip{i}.wav" for i in range(len(y))]
    table = write_scores(run_dir, names, y, probs, log_csv=None)
    return table.scores


def test_reproduce_tables_gives_mean_and_std_over_runs(tmp_path, run_script):
    scores = [_finished_run(tmp_path / f"seed{s}", s) for s in range(4)]
    result = run_script("reproduce_tables.py", *(tmp_path / f"seed{s}" for s in range(4)),
                        "--out", tmp_path / "tables", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    table = pd.read_csv(tmp_path / "tables" / "tables.csv", index_col="row")
    macro = np.array([100 * s.balanced_accuracy for s in scores])
    assert table.loc["overall", "accuracy_mean"] == pytest.approx(macro.mean(), abs=1e-4)
    assert table.loc["overall", "accuracy_std"] == pytest.approx(macro.std(ddof=1), abs=1e-4)
    assert table.loc["indoor", "runs"] == 4
    md = (tmp_path / "tables" / "tables.md").read_text()
    assert md.count("## Table 1") == 4 and "96.6 ± 0.5" in md


@pytest.mark.slow
def test_loco_runs_each_left_out_city_and_tabulates_them(tmp_path, run_script, demo_dataset):
    dev, _ = demo_dataset
    cities = ["milan", "vienna"]
    result = run_script("loco.py", "--cities", ",".join(cities), "--profile", "demo",
                        "--data", dev,
                        "--epochs", "1", "--store-dir", tmp_path / "features",
                        "--table-out", tmp_path / "loco", cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "loco" / "loco.csv", index_col="city")
    assert list(table.index) == [*cities, "mean"]
    per_city = TauDataset(dev).table.city.value_counts()
    for city in cities:  # each fold is validated on exactly the left-out city's files
        assert table.loc[city, "files"] == per_city[city]
        run = tmp_path / "runs" / "task1b_binary" / f"demo-loco-{city}-seed0"
        predictions = pd.read_csv(run / PREDICTIONS_FILE)
        assert set(predictions.filename.str.split("-").str[1]) == {city}
        assert np.allclose(predictions[list(CLASS_NAMES)].sum(axis=1), 1.0, atol=1e-5)
    assert table.loc["mean", "accuracy_percent"] == pytest.approx(
        table.loc[cities, "accuracy_percent"].mean())
    assert table.loc["mean", "c1_percent"] == pytest.approx(95.66)
