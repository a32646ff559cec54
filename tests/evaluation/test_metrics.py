"""Task 1b metrics (SPEC §1, §5): macro/raw accuracy, log loss, per-class, confusion matrix."""
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from scoring_cases import FIGURE2

from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation import metrics as m


def test_hand_made_confusion_and_accuracies():
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 2, 2]
    cm = m.confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    np.testing.assert_allclose(m.per_class_accuracy(cm), [0.5, 2 / 3, 1.0])
    assert m.balanced_accuracy(y_true, y_pred) == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert m.balanced_accuracy(y_true, y_pred) == pytest.approx(0.7222222222)
    assert m.accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_agreement_with_sklearn_on_random_predictions():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    logits = rng.normal(size=(500, 3)) + 1.5 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    np.testing.assert_array_equal(m.confusion_matrix(y, pred), skm.confusion_matrix(y, pred))
    assert m.balanced_accuracy(y, pred) == pytest.approx(skm.balanced_accuracy_score(y, pred),
                                                         rel=1e-12)
    assert m.accuracy(y, pred) == pytest.approx(skm.accuracy_score(y, pred), rel=1e-12)
    assert m.log_loss(y, probs) == pytest.approx(skm.log_loss(y, probs, labels=[0, 1, 2]),
                                                 rel=1e-12)
    per_class = m.per_class_log_loss(y, probs)
    for c in range(3):
        sel = y == c
        want = skm.log_loss(y[sel], probs[sel], labels=[0, 1, 2])
        assert per_class[c] == pytest.approx(want, rel=1e-12)


def test_hand_made_log_losses_and_eps():
    y = [0, 2, 2]
    probs = [[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.0, 0.0, 1.0]]
    # −ln 0.5, −ln 0.25, −ln(1 − eps) ≈ 0
    assert m.log_loss(y, probs) == pytest.approx((math.log(2) + math.log(4)) / 3, rel=1e-12)
    np.testing.assert_allclose(m.per_class_log_loss(y, probs),
                               [math.log(2), np.nan, math.log(4) / 2], rtol=1e-12)
    # A zero probability for the true class costs −ln(eps) = 36.04, as in sklearn (float64).
    zero = [[0.0, 1.0, 0.0]]
    assert m.log_loss([0], zero) == pytest.approx(-math.log(np.finfo(np.float64).eps))
    assert m.log_loss([0], zero) == pytest.approx(36.04365338911715)
    assert m.log_loss([0], zero) == pytest.approx(skm.log_loss([0], zero, labels=[0, 1, 2]))


def test_figure2_raw_97_18_vs_macro_97_14():
    assert FIGURE2.sum(axis=1).tolist() == [1297, 1604, 1284]
    assert FIGURE2.sum() == 4185
    per_class = m.per_class_accuracy(FIGURE2)
    np.testing.assert_allclose(np.round(100 * per_class, 1), [94.7, 97.8, 98.9])
    assert round(100 * m.raw_accuracy_from_confusion(FIGURE2), 2) == 97.18  # 4067 / 4185
    assert round(100 * m.balanced_accuracy_from_confusion(FIGURE2), 2) == 97.14
    assert round(100 * m.balanced_accuracy_from_confusion(FIGURE2), 1) == 97.1  # Table 1


def test_score_clips_collects_everything():
    y = np.array([0, 0, 1, 2, 2, 2])
    probs = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1],
                      [0.1, 0.1, 0.8], [0.5, 0.2, 0.3], [0.2, 0.2, 0.6]])
    s = m.score_clips(y, probs)
    np.testing.assert_array_equal(s.confusion, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    np.testing.assert_allclose(s.per_class_accuracy, [0.5, 1.0, 2 / 3])
    assert s.balanced_accuracy == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert s.accuracy == pytest.approx(4 / 6)
    want = -np.log([0.8, 0.3, 0.7, 0.8, 0.3, 0.6])
    assert s.log_loss == pytest.approx(want.mean())
    np.testing.assert_allclose(s.per_class_log_loss,
                               [want[:2].mean(), want[2], want[3:].mean()])
    assert s.n_files == 6 and s.class_names == ("indoor", "outdoor", "transportation")


def test_bad_inputs():
    with pytest.raises(ConfigError, match="labels must be integers in 0…2"):
        m.confusion_matrix([0, 3], [0, 1])
    with pytest.raises(ConfigError, match=r"shape \(2, 3\)"):
        m.log_loss([0, 1], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ConfigError, match="2 true labels for 3 predictions"):
        m.confusion_matrix([0, 1], [0, 1, 2])
