"""Tables: [R1] Table 1 layout, comparison, mean ± std over seeds, leave-one-city-out."""
import math

import numpy as np
import pandas as pd
import pytest
from scoring_cases import FIGURE2, predictions_from_confusion

from dcase_lowcomplexity.evaluation import tables
from dcase_lowcomplexity.evaluation.metrics import score_clips

LL_RIGHT, LL_WRONG = -math.log(0.9), -math.log(0.04)


@pytest.fixture(scope="module")
def figure2_predictions():
    return predictions_from_confusion(FIGURE2)


def test_results_table_in_table1_layout(tmp_path, figure2_predictions):
    table = tables.results_table(*figure2_predictions)
    f = table.frame
    assert list(f.index) == ["indoor", "outdoor", "transportation", "overall"]
    per_class_acc = [100 * 1228 / 1297, 100 * 1569 / 1604, 100 * 1270 / 1284]
    np.testing.assert_allclose(f.accuracy_percent, [*per_class_acc, np.mean(per_class_acc)],
                               rtol=1e-12)
    assert round(table.macro_accuracy_percent, 2) == 97.14
    assert round(table.raw_accuracy_percent, 2) == 97.18
    wrong = FIGURE2.sum(axis=1) - np.diag(FIGURE2)
    per_class = (np.diag(FIGURE2) * LL_RIGHT + wrong * LL_WRONG) / FIGURE2.sum(axis=1)
    np.testing.assert_allclose(f.log_loss[:3], per_class, rtol=1e-12)
    overall = (4067 * LL_RIGHT + 118 * LL_WRONG) / 4185
    assert f.log_loss["overall"] == pytest.approx(overall, rel=1e-12)
    assert f.files.tolist() == [1297, 1604, 1284, 4185]

    md_path, csv_path = table.write(tmp_path)
    assert (md_path.name, csv_path.name) == ("results.md", "results.csv")
    md = md_path.read_text()
    assert "| indoor | 94.68 | 0.271 | 1297 |" in md
    assert "| **overall** | **97.14** | **0.193** | **4185** |" in md
    assert "raw accuracy (correct / total): 97.18 %" in md
    back = pd.read_csv(csv_path, index_col="row")
    assert list(back.index) == ["indoor", "outdoor", "transportation", "overall", "overall_raw"]
    assert back.loc["overall_raw", "accuracy_percent"] == pytest.approx(100 * 4067 / 4185)
    assert back.loc["outdoor", "log_loss"] == pytest.approx(per_class[1], rel=1e-9)


def test_comparison_with_r1(figure2_predictions):
    md = tables.comparison_table(tables.results_table(*figure2_predictions))
    lines = md.splitlines()
    assert lines[0] == "| class | accuracy (%) | [R1] (%) | Δ | log loss | [R1] | Δ |"
    assert lines[2] == "| indoor | 94.68 | 94.7 | -0.02 | 0.271 | 0.149 | +0.122 |"
    assert lines[5].startswith("| overall | 97.14 | 97.1 | +0.04 |")


def test_seeds_table_mean_and_sample_std():
    runs = [score_clips(*predictions_from_confusion(cm)) for cm in (
        FIGURE2,
        np.array([[1200, 60, 37], [30, 1560, 14], [10, 10, 1264]]),
        np.array([[1250, 30, 17], [20, 1574, 10], [5, 5, 1274]]),
        np.array([[1210, 50, 37], [28, 1566, 10], [6, 8, 1270]]),
    )]
    table = tables.seeds_table(runs)
    indoor = np.array([1228, 1200, 1250, 1210]) / 1297 * 100
    assert table.loc["indoor", "accuracy_mean"] == pytest.approx(indoor.mean())
    assert table.loc["indoor", "accuracy_std"] == pytest.approx(indoor.std(ddof=1))
    macro = [100 * r.balanced_accuracy for r in runs]
    assert table.loc["overall", "accuracy_mean"] == pytest.approx(np.mean(macro))
    assert table.loc["overall", "accuracy_std"] == pytest.approx(np.std(macro, ddof=1))
    assert table.loc["overall_raw", "accuracy_mean"] == pytest.approx(
        100 * np.mean([r.accuracy for r in runs]))
    assert table.runs.tolist() == [4] * 5
    md = tables.seeds_markdown(table)
    assert f"| indoor | {indoor.mean():.2f} ± {indoor.std(ddof=1):.2f} |" in md
    assert "4 runs, mean ± sample std. [R1] abstract: 96.6 ± 0.5 %" in md


def test_loco_table_per_city_and_mean():
    per_city = {
        "paris": score_clips(*predictions_from_confusion(np.array(
            [[98, 2, 0], [1, 99, 0], [0, 0, 100]]))),
        "barcelona": score_clips(*predictions_from_confusion(np.array(
            [[80, 20, 0], [10, 90, 0], [0, 0, 100]]))),
    }
    table = tables.loco_table(per_city)
    assert list(table.index) == ["barcelona", "paris", "mean"]
    assert table.loc["barcelona", "accuracy_percent"] == pytest.approx(90.0)
    assert table.loc["paris", "accuracy_percent"] == pytest.approx(99.0)
    assert table.loc["mean", "accuracy_percent"] == pytest.approx(94.5)
    assert table.loc["barcelona", "c1_percent"] == 90.17
    assert table.loc["mean", "c1_percent"] == 95.66
    assert table.loc["mean", "files"] == 600
    md = tables.loco_markdown(table)
    assert "| barcelona | 90.00 | 90.00 |" in md and "| **mean** | **94.50** |" in md
