"""Figures: the confusion matrix of [R1] Figure 2 and the training curves of a run.

Matplotlib with the Agg backend (no display needed); PNG files written atomically.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dcase_lowcomplexity.config import CLASS_NAMES  # noqa: E402
from dcase_lowcomplexity.errors import ConfigError  # noqa: E402
from dcase_lowcomplexity.atomic import atomic_path  # noqa: E402


def _save(fig, path: str | Path, dpi: int) -> Path:
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def plot_confusion_matrix(cm, class_names: Sequence[str] = CLASS_NAMES,
                          path: str | Path = "confusion_matrix.png", *,
                          title: str | None = None, dpi: int = 120) -> Path:
    """[R1] Figure 2: counts and row-normalised % per cell; raw and macro accuracy in the title.

    Rows are true classes, columns predicted classes; cell colour = row-normalised share.
    """
    cm = np.asarray(cm)
    k = len(class_names)
    if cm.shape != (k, k):
        raise ConfigError(f"confusion matrix must be {k}×{k}, got {cm.shape}")
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    raw = np.trace(cm) / max(cm.sum(), 1)
    macro = float(np.mean(np.diag(share)[rows[:, 0] > 0]))
    fig, ax = plt.subplots(figsize=(1.6 * k + 2, 1.4 * k + 1.5))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{cm[i, j]:d}\n{100 * share[i, j]:.1f} %", ha="center",
                    va="center", color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), class_names, rotation=20)
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or f"raw accuracy {100 * raw:.2f} %, macro {100 * macro:.2f} %")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return _save(fig, path, dpi)


def plot_training_curves(log_csv: str | Path, path: str | Path = "training_curves.png", *,
                         dpi: int = 120) -> Path:
    """Loss, accuracy, validation balanced accuracy and learning rate against epoch."""
    try:
        log = pd.read_csv(log_csv)
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read the training log ({err})", log_csv,
                          fix="pass the training_log.csv of a run folder") from None
    if "epoch" not in log or log.empty:
        raise ConfigError("the training log has no epoch rows", log_csv,
                          fix="train at least one epoch first")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    e = log["epoch"]
    ax = axes[0]
    for column, label in (("loss", "training loss (mixup targets)"),
                          ("val_log_loss", "validation log loss")):
        if column in log:
            ax.plot(e, log[column], label=label)
    ax.set_title("loss")
    ax = axes[1]
    for column, label in (("accuracy", "training accuracy (mixup)"),
                          ("val_balanced_accuracy", "validation balanced accuracy"),
                          ("val_accuracy", "validation raw accuracy")):
        if column in log:
            ax.plot(e, 100 * log[column], label=label)
    ax.set_title("accuracy (%)")
    ax = axes[2]
    if "lr" in log:
        # Linear scale: SGDR's cosine decays and warm restarts read as in [R1] §2.5; on a log
        # scale the epochs ending at lr_min dominate the picture.
        ax.plot(e, log["lr"], marker=".", label="learning rate at the epoch's last batch")
    ax.set_title("learning rate (SGDR)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path, dpi)
