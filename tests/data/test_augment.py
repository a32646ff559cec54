"""data/augment.py: the training augmentations as pure functions (SPEC §4, §6; Park et al. 2019)."""
import dataclasses

import numpy as np
import pytest

from dcase_lowcomplexity.config import ACLNET_AUGMENT, FEATURE_AUGMENT
from dcase_lowcomplexity.data import augment as aug
from dcase_lowcomplexity.errors import ConfigError


def _db(a, b):
    return 10 * np.log10(np.mean(np.square(a, dtype=np.float64))
                         / np.mean(np.square(b, dtype=np.float64)))


def test_time_crop_along_either_axis():
    x = np.arange(2 * 10 * 3, dtype=np.float32).reshape(2, 10, 3)
    np.testing.assert_array_equal(aug.time_crop(x, 4, 5, axis=1), x[:, 4:9])
    np.testing.assert_array_equal(aug.time_crop(np.arange(9), 2, 3), [2, 3, 4])
    with pytest.raises(ConfigError):
        aug.time_crop(x, 6, 5, axis=1)


def test_random_crop_is_a_window_at_a_seeded_offset():
    x = np.arange(100, dtype=np.float32)
    y = aug.random_crop(x, 30, np.random.default_rng(1))
    start = np.random.default_rng(1).integers(0, 71)
    np.testing.assert_array_equal(y, x[start:start + 30])
    with pytest.raises(ConfigError, match="longer"):
        aug.random_crop(x, 101, np.random.default_rng(1))


def test_swap_channels_exchanges_left_and_right():
    x = np.stack([np.ones((2, 3)), -np.ones((2, 3))], axis=-1)
    np.testing.assert_array_equal(aug.swap_channels(x), -x)


def test_random_gain_in_db_is_uniform_within_the_range():
    rng = np.random.default_rng(0)
    x = np.random.default_rng(1).normal(size=1000).astype(np.float32)
    gains = np.array([_db(aug.random_gain(x, (-6.0, 6.0), rng), x) for _ in range(400)])
    assert gains.min() >= -6.0 - 1e-4 and gains.max() <= 6.0 + 1e-4
    assert gains.min() < -5.5 and gains.max() > 5.5 and abs(gains.mean()) < 0.5
    fixed = aug.random_gain(x, (3.0, 3.0), rng)
    assert _db(fixed, x) == pytest.approx(3.0, abs=1e-4) and fixed.dtype == np.float32


@pytest.mark.parametrize("snr", [20.0, 35.0, 50.0])
def test_add_noise_hits_the_requested_snr(snr):
    x = np.sin(np.arange(200000) * 0.01).astype(np.float32)
    noise = aug.add_noise(x, snr, np.random.default_rng(0)) - x
    assert _db(x, noise) == pytest.approx(snr, abs=0.1)
    silence = np.zeros(10, np.float32)
    assert np.all(aug.add_noise(silence, 20.0, np.random.default_rng(0)) == 0)


def test_augment_source_draw_order_for_aclnet():
    """crop offset, gain, noise coin, then (when it lands) SNR and noise: one generator."""
    x = np.random.default_rng(3).normal(size=400).astype(np.float32)
    config = dataclasses.replace(ACLNET_AUGMENT, crop=100)
    for seed in range(6):
        got = aug.augment_source(x, config, np.random.default_rng(seed), time_axis=0)
        rng = np.random.default_rng(seed)
        want = aug.random_gain(aug.random_crop(x, 100, rng), (-6.0, 6.0), rng)
        if rng.random() < 0.5:
            want = aug.add_noise(want, rng.uniform(20.0, 50.0), rng)
        np.testing.assert_array_equal(got, want)


def test_augment_source_draws_nothing_for_whole_feature_clips():
    x = np.ones((4, 6, 1), np.float32)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(aug.augment_source(x, FEATURE_AUGMENT, rng, 1), x)
    assert rng.random() == np.random.default_rng(0).random()  # the generator was not used


def test_mixup_of_inputs_and_targets_per_example():
    x1, x2 = np.ones((2, 3, 4), np.float32), np.zeros((2, 3, 4), np.float32)
    lam = np.array([0.25, 0.9], np.float32)
    mixed = aug.mixup(x1, x2, lam)
    np.testing.assert_allclose(mixed[:, 0, 0], lam)
    eye = np.eye(3, dtype=np.float32)
    y = aug.mix_targets(eye[[0, 1]], eye[[2, 2]], lam)
    np.testing.assert_allclose(y, [[0.25, 0, 0.75], [0, 0.9, 0.1]], rtol=1e-6)
    assert aug.mixup(x1, x2, lam, in_place=True) is x1
    np.testing.assert_array_equal(x1, mixed)


def test_spec_augment_masks_have_the_configured_sizes_where_the_seed_says():
    x = np.random.default_rng(0).normal(size=(64, 100, 1)).astype(np.float32)
    for seed in range(20):
        masks = aug.spec_augment_masks(x.shape, np.random.default_rng(seed), 2, 8, 3, 20)
        assert [m[0] for m in masks] == [0, 0, 1, 1, 1]
        rng = np.random.default_rng(seed)
        for axis, start, width in masks:  # width ~ U{0…W}, then start ~ U{0…ν − w}
            limit, size = (8, 64) if axis == 0 else (20, 100)
            assert width == rng.integers(0, limit + 1) and start == rng.integers(0, size - width + 1)
        out = aug.spec_augment(x, np.random.default_rng(seed), 2, 8, 3, 20)
        hit = np.zeros(x.shape, bool)
        for axis, start, width in masks:
            hit[start:start + width] |= axis == 0
            hit[:, start:start + width] |= axis == 1
        np.testing.assert_array_equal(out[hit], np.float32(x.mean(dtype=np.float64)))
        np.testing.assert_array_equal(out[~hit], x[~hit])


def test_spec_augment_with_no_masks_changes_nothing_and_draws_nothing():
    x = np.random.default_rng(0).normal(size=(8, 10, 2)).astype(np.float32)
    rng = np.random.default_rng(4)
    out = aug.spec_augment(x, rng, 0, 5, 0, 5)
    np.testing.assert_array_equal(out, x)
    assert out is not x
    assert rng.random() == np.random.default_rng(4).random()
    with pytest.raises(ConfigError, match="frequency, time, channel"):
        aug.spec_augment(np.zeros(100, np.float32), rng, 1, 2, 0, 0)
