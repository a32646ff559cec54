"""SGDR of [R1] §2.5 (SPEC §4): per-batch cosine with restarts at epochs 1, 11, 31, 71, 151."""
import math

import keras
import numpy as np
import pytest

from dcase_lowcomplexity.config import TrainingConfig
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.training.sgdr import SGDRScheduler, sgdr_cycle, sgdr_learning_rate

PAPER = TrainingConfig()
N = 126  # fold-1 steps per epoch


def test_paper_cycle_table():
    assert PAPER.sgdr_cycle_starts == (1, 11, 31, 71, 151)
    assert PAPER.sgdr_cycle_lengths == (10, 20, 40, 80, 160)
    assert sgdr_cycle(1, PAPER) == (1, 10) and sgdr_cycle(10, PAPER) == (1, 10)
    assert sgdr_cycle(11, PAPER) == (11, 20) and sgdr_cycle(150, PAPER) == (71, 80)
    assert sgdr_cycle(310, PAPER) == (151, 160)


@pytest.mark.parametrize("epoch, batch, expected", [
    (1, 0, 0.025),  # start: lr_max
    (10, N - 1, 2.5e-6),  # end of cycle 1: exactly lr_min
    (11, 0, 0.025),  # warm restart
    (30, N - 1, 2.5e-6),
    (31, 0, 0.025),
    (151, 0, 0.025),
    (310, N - 1, 2.5e-6),  # last batch of the last epoch
    (6, 0, 0.01250125),  # t = 5 = T/2: lr_min + (lr_max − lr_min)/2
    (21, 0, 0.01250125),  # t = 10 of T = 20
    (12, 63, 0.02465282285145178),  # t = 1 + 63/125 of T = 20, by hand
])
def test_values_at_chosen_points(epoch, batch, expected):
    assert sgdr_learning_rate(epoch, batch, N, PAPER) == pytest.approx(expected, rel=1e-12,
                                                                       abs=1e-15)


def test_mid_epoch_value_by_hand():
    # 5 batches: batch 2 of epoch 3 is t = 2 + 2/4 = 2.5 of T = 10; cos(π/4) = √½.
    want = 2.5e-6 + 0.5 * (0.025 - 2.5e-6) * (1 + math.sqrt(0.5))
    assert sgdr_learning_rate(3, 2, 5, PAPER) == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(0.0213392009, rel=1e-9)


def test_every_cycle_restarts_at_lr_max_and_ends_at_lr_min_decreasing_inside():
    for start, length in zip(PAPER.sgdr_cycle_starts, PAPER.sgdr_cycle_lengths):
        rates = [sgdr_learning_rate(e, b, N, PAPER)
                 for e in range(start, start + length) for b in range(N)]
        assert rates[0] == 0.025
        assert rates[-1] == pytest.approx(2.5e-6, abs=1e-15)
        assert all(a >= b for a, b in zip(rates, rates[1:]))
        # An epoch's last batch and the next epoch's first share t, hence the rate.
        assert sgdr_learning_rate(start, N - 1, N, PAPER) == pytest.approx(
            sgdr_learning_rate(start + 1, 0, N, PAPER), rel=1e-12)


def test_single_batch_epochs_and_out_of_range():
    # Tiny data can give one batch per epoch: each epoch then runs at its start value.
    demo = TrainingConfig(epochs=12, sgdr_first_cycle=4)  # cycles 4 + 8
    assert demo.sgdr_cycle_starts == (1, 5)
    assert sgdr_learning_rate(5, 0, 1, demo) == 0.025
    assert sgdr_learning_rate(3, 0, 1, demo) == pytest.approx(0.01250125)
    with pytest.raises(ConfigError, match="outside the SGDR cycles"):
        sgdr_learning_rate(311, 0, N, PAPER)
    with pytest.raises(ConfigError, match="outside an epoch"):
        sgdr_learning_rate(1, N, N, PAPER)


class RecordRate(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate.numpy()))


def _tiny_fit(initial_epoch, epochs, config, steps=4):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(momentum=0.9), "categorical_crossentropy")
    x = np.ones((8 * steps, 3), np.float32)
    y = np.tile([[1.0, 0.0]], (8 * steps, 1))
    recorder = RecordRate()
    history = model.fit(x, y, batch_size=8, epochs=epochs, initial_epoch=initial_epoch,
                        callbacks=[SGDRScheduler(config), recorder], verbose=0, shuffle=False)
    return recorder.rates, history.history["lr"]


def test_callback_in_fit_maps_keras_epochs_and_resumes_at_the_same_position():
    config = TrainingConfig(epochs=6, sgdr_first_cycle=2)  # cycles 2 + 4: restarts at 3
    full, logged = _tiny_fit(0, 6, config)
    want = [sgdr_learning_rate(e, b, 4, config) for e in range(1, 7) for b in range(4)]
    np.testing.assert_allclose(full, want, rtol=1e-6)
    assert full[0] == pytest.approx(0.025) and full[8] == pytest.approx(0.025)  # epoch 3
    assert full[7] == pytest.approx(2.5e-6, rel=1e-5)  # last batch of epoch 2
    np.testing.assert_allclose(logged, [full[4 * e + 3] for e in range(6)], rtol=1e-6)
    resumed, _ = _tiny_fit(4, 6, config)  # as after an interruption at the end of epoch 4
    np.testing.assert_allclose(resumed, full[16:], rtol=1e-6)
