"""The DCASE2020 Task 1b metrics ([R1] §4, Table 1, Figure 2; SPEC §1, §5).

- accuracy in the task's sense = macro-average ("balanced") accuracy: the mean over classes of
  the per-class accuracy (= recall, correct / files of that class);
- raw accuracy = correct / total, reported beside it (Figure 2: raw 97.18 % vs macro 97.14 %);
- log loss = multi-class cross-entropy of the three probability columns, averaged over files
  (sklearn's `log_loss`); per-class log loss = the same mean over one class's files. [R1]'s
  overall 0.094 is this file-weighted mean: its class-wise 0.149 / 0.082 / 0.054 over
  1297 / 1604 / 1284 files give 0.0942, whereas their plain average would be 0.095.

Probabilities are clipped to [eps, 1 − eps] with eps = float64 machine epsilon (2.2e-16)
before the logarithm, as sklearn ≥ 1.5 does for float64 input; rows are not renormalised.
Everything is computed in float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.errors import ConfigError

LOG_LOSS_EPS = float(np.finfo(np.float64).eps)


def _labels(y_true, num_classes: int) -> np.ndarray:
    y = np.asarray(y_true).reshape(-1)
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0
                   or y.max() >= num_classes):
        raise ConfigError(f"labels must be integers in 0…{num_classes - 1}",
                          fix="code labels alphabetically: indoor=0, outdoor=1, "
                              "transportation=2")
    return y.astype(np.int64)


def _probabilities(probs, n: int, num_classes: int) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (n, num_classes):
        raise ConfigError(f"probabilities must have shape ({n}, {num_classes}), got {p.shape}")
    return p


def confusion_matrix(y_true, y_pred, num_classes: int = 3) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class (as in [R1] Figure 2)."""
    t, p = _labels(y_true, num_classes), _labels(y_pred, num_classes)
    if t.shape != p.shape:
        raise ConfigError(f"{t.size} true labels for {p.size} predictions")
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(
        num_classes, num_classes)


def per_class_accuracy(cm) -> np.ndarray:
    """Recall of each class (diagonal / row sum); NaN for a class with no files."""
    cm = np.asarray(cm, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / cm.sum(axis=1)


def balanced_accuracy_from_confusion(cm) -> float:
    """Macro-average accuracy: mean recall over the classes that have files."""
    return float(np.nanmean(per_class_accuracy(cm)))


def raw_accuracy_from_confusion(cm) -> float:
    cm = np.asarray(cm)
    return float(np.trace(cm) / cm.sum())


def balanced_accuracy(y_true, y_pred, num_classes: int = 3) -> float:
    return balanced_accuracy_from_confusion(confusion_matrix(y_true, y_pred, num_classes))


def accuracy(y_true, y_pred, num_classes: int = 3) -> float:
    return raw_accuracy_from_confusion(confusion_matrix(y_true, y_pred, num_classes))


def clip_log_losses(y_true, probs, num_classes: int = 3, eps: float = LOG_LOSS_EPS) -> np.ndarray:
    """−log p(true class) of every file, p clipped to [eps, 1 − eps]."""
    y = _labels(y_true, num_classes)
    p = _probabilities(probs, y.size, num_classes)
    return -np.log(np.clip(p[np.arange(y.size), y], eps, 1.0 - eps))


def log_loss(y_true, probs, num_classes: int = 3, eps: float = LOG_LOSS_EPS) -> float:
    """Multi-class log loss averaged over files (agrees with sklearn.metrics.log_loss)."""
    return float(clip_log_losses(y_true, probs, num_classes, eps).mean())


def per_class_log_loss(y_true, probs, num_classes: int = 3,
                       eps: float = LOG_LOSS_EPS) -> np.ndarray:
    """Mean log loss over each class's files; NaN for a class with no files."""
    y = _labels(y_true, num_classes)
    losses = clip_log_losses(y, probs, num_classes, eps)
    sums = np.bincount(y, weights=losses, minlength=num_classes)
    counts = np.bincount(y, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


@dataclass(frozen=True)
class ClipScores:
    """Every number of [R1] Table 1 / Figure 2 for one set of predictions (fractions, not %)."""

    balanced_accuracy: float
    accuracy: float
    log_loss: float
    per_class_accuracy: np.ndarray
    per_class_log_loss: np.ndarray
    confusion: np.ndarray
    class_names: tuple[str, ...] = CLASS_NAMES

    @property
    def n_files(self) -> int:
        return int(self.confusion.sum())


def score_clips(y_true, probs, class_names: tuple[str, ...] = CLASS_NAMES) -> ClipScores:
    """All metrics from true labels and class probabilities (argmax = the decision)."""
    k = len(class_names)
    y = _labels(y_true, k)
    p = _probabilities(probs, y.size, k)
    if y.size == 0:
        raise ConfigError("no files to score")
    cm = confusion_matrix(y, p.argmax(axis=1), k)
    return ClipScores(
        balanced_accuracy=balanced_accuracy_from_confusion(cm),
        accuracy=raw_accuracy_from_confusion(cm),
        log_loss=log_loss(y, p, k),
        per_class_accuracy=per_class_accuracy(cm),
        per_class_log_loss=per_class_log_loss(y, p, k),
        confusion=cm,
        class_names=tuple(class_names),
    )
