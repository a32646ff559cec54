"""Figures: the confusion matrix ([R1] Figure 2) and training curves are real PNG files."""
import matplotlib.image as mpimg
import numpy as np
import pytest
from scoring_cases import FIGURE2

from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.figures import plot_confusion_matrix, plot_training_curves
from dcase_lowcomplexity.training.run import write_log
from dcase_lowcomplexity.training.sgdr import sgdr_learning_rate
from dcase_lowcomplexity.config import TrainingConfig

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path, min_width, min_height):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] >= min_height and image.shape[1] >= min_width
    assert image.shape[0] <= 3000 and image.shape[1] <= 3000
    rgb = image[..., :3]
    assert rgb.std() > 0.05  # something was drawn, not a blank canvas
    return image


def test_confusion_matrix_png(tmp_path):
    path = plot_confusion_matrix(FIGURE2, ("indoor", "outdoor", "transportation"),
                                 tmp_path / "figure2.png")
    assert path == tmp_path / "figure2.png"
    image = _check_png(path, 300, 250)
    # The darkest blue is on the diagonal (≥ 94.7 % of each row): the image has deep blues.
    rgb = image[..., :3]
    assert ((rgb[..., 2] > 0.2) & (rgb[..., 0] < 0.15)).mean() > 0.02
    assert [p.name for p in tmp_path.iterdir()] == ["figure2.png"]  # no temporary left


def test_training_curves_png(tmp_path):
    config = TrainingConfig()
    rows = [{"epoch": e, "loss": 1.0 / e, "accuracy": 0.5 + 0.4 * e / 40,
             "lr": sgdr_learning_rate(e, 125, 126, config), "val_balanced_accuracy":
             0.6 + 0.3 * e / 40, "val_log_loss": 0.9 / e} for e in range(1, 41)]
    log = write_log(tmp_path / "training_log.csv", rows)
    _check_png(plot_training_curves(log, tmp_path / "curves.png"), 800, 250)


def test_bad_inputs(tmp_path):
    with pytest.raises(ConfigError, match="must be 3×3"):
        plot_confusion_matrix(np.eye(2, dtype=int), ("a", "b", "c"), tmp_path / "x.png")
    (tmp_path / "empty.csv").write_text("epoch,loss\n")
    with pytest.raises(ConfigError, match="empty.csv: the training log has no epoch rows"):
        plot_training_curves(tmp_path / "empty.csv", tmp_path / "y.png")
    with pytest.raises(ConfigError, match="cannot read the training log"):
        plot_training_curves(tmp_path / "missing.csv", tmp_path / "y.png")
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()
