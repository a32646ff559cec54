"""MixupStream: [R1]'s balanced reversed pairing (SPEC §4) and [R2]'s random pairing (SPEC §6)."""
import dataclasses

import numpy as np
import pytest
from scipy import stats

from dcase_lowcomplexity.config import ACLNET_AUGMENT, FEATURE_AUGMENT, AugmentConfig
from dcase_lowcomplexity.data.augment import augment_source, spec_augment_masks
from dcase_lowcomplexity.data.generator import ArrayClipSource, MixupStream, steps_per_epoch
from dcase_lowcomplexity.errors import ConfigError

FOLD1_TRAIN_COUNTS = (2704, 3757, 2724)  # SPEC §1


class ZeroClips:
    """A clip source that costs nothing: labels-only tests never look at the values."""

    def __init__(self, n, shape=(1, 469, 2)):
        self.n, self.shape = n, shape

    def __len__(self):
        return self.n

    def read_batch(self, indices):
        return np.zeros((len(indices), *self.shape), np.float32)


def stream(clips, labels, augment=AugmentConfig(), *, batch_size=32, seed=0, **kw):
    return MixupStream(clips, labels, augment, batch_size=batch_size, seed=seed, **kw)


def fold1_labels(seed=0):
    labels = np.repeat(np.arange(3), FOLD1_TRAIN_COUNTS)
    return np.random.default_rng(seed).permutation(labels)


@pytest.fixture(scope="module")
def fold1_gen():
    labels = fold1_labels()
    return stream(ZeroClips(len(labels)), labels, seed=7)


def test_fold1_epoch_has_126_steps_and_8112_entries(fold1_gen):
    assert steps_per_epoch(FOLD1_TRAIN_COUNTS, 32) == 126
    assert fold1_gen.steps_per_epoch == 126
    assert fold1_gen.ordering_length == 8112
    assert len(fold1_gen.epoch_ordering(0)) == 8112


def test_ordering_is_balanced_triplets_of_distinct_clips(fold1_gen):
    labels = fold1_gen.labels
    ordering = fold1_gen.epoch_ordering(3)
    triplets = labels[ordering].reshape(-1, 3)
    assert (np.sort(triplets, axis=1) == [0, 1, 2]).all()
    assert len(np.unique(ordering)) == 8112  # no clip twice in an epoch
    # Every minority-class clip is in the ordering; majority classes give 2704 of theirs.
    assert np.bincount(labels[ordering]).tolist() == [2704, 2704, 2704]
    # Class order inside triplets is random: each class leads about a third of them.
    leads = np.bincount(triplets[:, 0], minlength=3) / len(triplets)
    assert np.all(np.abs(leads - 1 / 3) < 0.03)


def test_epoch_uses_entries_0_4031_against_8111_4080(fold1_gen):
    """126 × 32 = 4032 mixed pairs: entry j meets entry 8111 − j; 4032…4079 sit out."""
    ordering = fold1_gen.epoch_ordering(5)
    firsts, seconds = [], []
    for k in range(126):
        plan = fold1_gen.batch_plan(5, k)
        firsts.append(plan.first)
        seconds.append(plan.second)
    firsts, seconds = np.concatenate(firsts), np.concatenate(seconds)
    np.testing.assert_array_equal(firsts, ordering[:4032])
    np.testing.assert_array_equal(seconds, ordering[::-1][:4032])
    np.testing.assert_array_equal(seconds, ordering[8111 - np.arange(4032)])
    used = np.concatenate([firsts, seconds])
    assert len(used) == 8064 and len(np.unique(used)) == 8064  # each clip at most once
    assert set(ordering[4032:4080]) == set(ordering) - set(used)  # 16 whole triplets unused
    counts = np.bincount(fold1_gen.labels[used], minlength=3)
    assert counts.tolist() == [2688, 2688, 2688]
    # The minority class (indoor, 2704 clips): 2688 used exactly once, 16 not at all.
    per_clip = np.bincount(used, minlength=len(fold1_gen.labels))[fold1_gen.labels == 0]
    assert np.bincount(per_clip).tolist() == [16, 2688]


def test_majority_classes_draw_fresh_subsets_each_epoch(fold1_gen):
    outdoor = fold1_gen.labels == 1
    e0 = {i for i in fold1_gen.epoch_ordering(0) if outdoor[i]}
    e1 = {i for i in fold1_gen.epoch_ordering(1) if outdoor[i]}
    assert len(e0) == len(e1) == 2704 and e0 != e1
    assert not np.array_equal(fold1_gen.epoch_ordering(0), fold1_gen.epoch_ordering(1))


def test_same_seed_and_epoch_replay_exactly():
    labels = fold1_labels()
    a = stream(ZeroClips(len(labels)), labels, seed=3)
    b = stream(ZeroClips(len(labels)), labels, seed=3)
    c = stream(ZeroClips(len(labels)), labels, seed=4)
    np.testing.assert_array_equal(a.epoch_ordering(9), b.epoch_ordering(9))
    assert not np.array_equal(a.epoch_ordering(9), c.epoch_ordering(9))
    pa, pb = a.batch_plan(9, 17), b.batch_plan(9, 17)
    for field in ("first", "second", "offset_first", "offset_second", "swap_first",
                  "swap_second", "lam"):
        np.testing.assert_array_equal(getattr(pa, field), getattr(pb, field))
    assert not np.array_equal(pa.lam, a.batch_plan(9, 18).lam)


def test_crop_offsets_swaps_and_lambda_distribution(fold1_gen):
    plans = [fold1_gen.batch_plan(e, k) for e in range(2) for k in range(126)]
    offsets = np.concatenate([np.r_[p.offset_first, p.offset_second] for p in plans])
    assert offsets.min() == 0 and offsets.max() == 69  # 469 → 400 frames
    assert len(np.unique(offsets)) == 70
    swaps = np.concatenate([np.r_[p.swap_first, p.swap_second] for p in plans])
    assert abs(swaps.mean() - 0.5) < 0.02  # 16,128 draws: 0.02 is 5 standard deviations
    lam = np.concatenate([p.lam for p in plans])
    assert len(lam) == 8064
    assert stats.kstest(lam, stats.beta(0.4, 0.4).cdf).pvalue > 0.01
    # The two sources of an example draw their offsets and swaps independently.
    first = np.concatenate([p.offset_first for p in plans])
    second = np.concatenate([p.offset_second for p in plans])
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.05


def small_generator(values, labels, seed=0, **augment):
    clips = ArrayClipSource(values)
    return stream(clips, labels, AugmentConfig(**augment), batch_size=4, seed=seed)


def test_inputs_and_targets_mixed_with_the_same_lambda():
    labels = np.repeat([0, 1, 2], [5, 6, 7])
    c = np.arange(len(labels), dtype=np.float32) * 10 + 1  # clip i is the constant c_i
    values = np.broadcast_to(c[:, None, None, None], (len(c), 3, 469, 2)).copy()
    gen = small_generator(values, labels, seed=1)
    assert gen.steps_per_epoch == (15 // 4) // 2 == 1
    x, y = gen.batch(2, 0)
    plan = gen.batch_plan(2, 0)
    lam = plan.lam
    assert x.shape == (4, 3, 400, 2) and y.shape == (4, 3)
    assert x.dtype == np.float32 and y.dtype == np.float32
    expected_x = lam * c[plan.first] + (1 - lam) * c[plan.second]
    np.testing.assert_allclose(x, np.broadcast_to(expected_x[:, None, None, None], x.shape),
                               rtol=1e-6)
    eye = np.eye(3)
    expected_y = lam[:, None] * eye[labels[plan.first]] + (1 - lam[:, None]) * eye[
        labels[plan.second]]
    np.testing.assert_allclose(y, expected_y, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)


def test_batch_equals_crop_swap_and_mix_of_its_plan():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [8, 9, 10])
    values = rng.normal(size=(len(labels), 5, 469, 2)).astype(np.float32)
    gen = small_generator(values, labels, seed=2)
    for k in range(gen.steps_per_epoch):
        plan = gen.batch_plan(4, k)
        x, _ = gen.batch(4, k)

        def source(pos, off, swap):
            clip = values[pos, :, off:off + 400, :]
            return clip[..., ::-1] if swap else clip

        for i in range(4):
            lam = np.float32(plan.lam[i])
            want = (lam * source(plan.first[i], plan.offset_first[i], plan.swap_first[i])
                    + (1 - lam) * source(plan.second[i], plan.offset_second[i],
                                         plan.swap_second[i]))
            np.testing.assert_allclose(x[i], want, rtol=1e-5, atol=1e-6)


def test_time_crop_and_channel_swap_on_a_ramp():
    """Frame t holds t in the left channel and −t in the right: the crop start is visible."""
    labels = np.repeat([0, 1, 2], 4)
    t = np.arange(469, dtype=np.float32)
    values = np.zeros((12, 2, 469, 2), np.float32)
    values[..., 0], values[..., 1] = t, -t
    gen = small_generator(values, labels, mixup_alpha=0.0, seed=5)  # α = 0: λ = 1
    for epoch in range(30):
        x, _ = gen.batch(epoch, 0)
        plan = gen.batch_plan(epoch, 0)
        assert (plan.lam == 1).all()
        sign = np.where(plan.swap_first, -1.0, 1.0)
        np.testing.assert_array_equal(x[:, 0, 0, 0], sign * plan.offset_first)
        np.testing.assert_array_equal(x[:, 0, :, 0] - x[:, 0, :1, 0],
                                      sign[:, None] * np.arange(400))


def test_rows_map_labels_into_a_larger_store_and_stream_index_maps_epochs():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(40, 2, 469, 2)).astype(np.float32)
    rows = np.array([3, 7, 11, 20, 21, 22, 30, 31, 35, 39, 0, 1])
    labels = np.repeat([0, 1, 2], 4)
    gen = stream(ArrayClipSource(values), labels, batch_size=2, rows=rows, start_epoch=6)
    assert gen.steps_per_epoch == 3 and gen.num_batches is None
    x_stream, _ = gen[4]  # item 4 = epoch 6 + 4 // 3 = 7, batch 1
    x_direct, _ = gen.batch(7, 1)
    np.testing.assert_array_equal(x_stream, x_direct)
    plan = gen.batch_plan(7, 1)
    lam = np.float32(plan.lam[0])
    src1 = values[rows[plan.first[0]], :, plan.offset_first[0]:plan.offset_first[0] + 400]
    src2 = values[rows[plan.second[0]], :, plan.offset_second[0]:plan.offset_second[0] + 400]
    src1 = src1[..., ::-1] if plan.swap_first[0] else src1
    src2 = src2[..., ::-1] if plan.swap_second[0] else src2
    np.testing.assert_allclose(x_direct[0], lam * src1 + (1 - lam) * src2, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("labels, augment, seed, message", [
    (np.repeat([0, 1], 40), AugmentConfig(), 0, "class 2 has no training clips"),
    (np.repeat([0, 1, 2], 10), AugmentConfig(), 0, "gives no batch"),
    (np.repeat([0, 1, 2], 10), FEATURE_AUGMENT, 0, "gives no batch"),
    (np.repeat([0, 1, 3], 40), AugmentConfig(), 0, "labels must lie in"),
    (np.repeat([0, 1, 2], 40), AugmentConfig(crop=500), 0, "exceeds the clips' 469"),
    (np.repeat([0, 1, 2], 40), AugmentConfig(), -1, "seed must be ≥ 0"),
    (np.repeat([0, 1, 2], 40), AugmentConfig(pairing="sorted"), 0, "pairing"),
    (np.repeat([0, 1, 2], 40), AugmentConfig(time_masks=-1), 0, "must be ≥ 0"),
])
def test_bad_inputs_raise_config_error(labels, augment, seed, message):
    with pytest.raises(ConfigError, match=message):
        stream(ZeroClips(len(labels)), labels, augment, seed=seed)


def test_batches_built_by_threads_in_any_order_equal_sequential_ones():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1, 2], [12, 15, 13])
    values = rng.normal(size=(len(labels), 3, 469, 2)).astype(np.float32)
    gen = small_generator(values, labels, seed=9)
    items = list(range(3 * gen.steps_per_epoch))  # three epochs of the stream
    sequential = [gen[i] for i in items]
    with ThreadPoolExecutor(4) as pool:
        shuffled = list(pool.map(lambda i: (i, gen[i]), rng.permutation(items)))
    for i, (x, y) in shuffled:
        np.testing.assert_array_equal(x, sequential[i][0])
        np.testing.assert_array_equal(y, sequential[i][1])


class _WholeClipsOnly:
    """A clip source without `read_crops`: the generator must read whole clips instead."""

    def __init__(self, array):
        self.array = array

    def __len__(self):
        return len(self.array)

    def read_batch(self, indices):
        return np.asarray(self.array[np.asarray(indices)], dtype=np.float32)


def test_crop_reads_and_whole_clip_reads_give_identical_batches():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(30, 4, 20, 2)).astype(np.float32)
    labels = np.repeat([0, 1, 2], 10)
    augment = AugmentConfig(crop=12)
    crops = stream(ArrayClipSource(values), labels, augment, batch_size=4, seed=5)
    whole = stream(_WholeClipsOnly(values), labels, augment, batch_size=4, seed=5)
    assert hasattr(crops.clips, "read_crops") and not hasattr(whole.clips, "read_crops")
    for epoch, k in [(0, 0), (0, 2), (3, 1)]:
        (xa, ya), (xb, yb) = crops.batch(epoch, k), whole.batch(epoch, k)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


# -- random pairing ([R2] systems, SPEC §6) ---------------------------------------------------
def test_random_pairing_epoch_uses_two_seeded_permutations():
    labels = np.repeat([0, 1, 2], [5, 9, 4])  # 18 clips, batch 4: 4 steps, 2 clips left out
    gen = stream(ZeroClips(18, (2, 10, 1)), labels, FEATURE_AUGMENT, batch_size=4, seed=3)
    assert gen.steps_per_epoch == 4 == steps_per_epoch([5, 9, 4], 4, "random")
    order, partners = gen.epoch_pairs(2)
    rng = np.random.default_rng([3, 2])
    np.testing.assert_array_equal(order, rng.permutation(18))
    np.testing.assert_array_equal(partners, rng.permutation(18))
    firsts = np.concatenate([gen.batch_sources(2, k)[0] for k in range(4)])
    assert len(np.unique(firsts)) == 16  # each clip at most once as a first source
    assert not np.array_equal(gen.epoch_pairs(3)[0], order)


def test_random_pairing_without_mixup_serves_whole_clips_and_one_hot_targets():
    feats = np.arange(6 * 4 * 10, dtype=np.float32).reshape(6, 4, 10, 1)
    labels = np.array([0, 1, 2, 0, 1, 2])
    gen = stream(ArrayClipSource(feats), labels, dataclasses.replace(FEATURE_AUGMENT,
                                                                     mixup_alpha=0.0),
                 batch_size=3, seed=1)
    for k in range(gen.steps_per_epoch):
        x, y = gen.batch(0, k)
        first, _ = gen.batch_sources(0, k)
        np.testing.assert_array_equal(x, feats[first])
        np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32)[labels[first]])


def test_random_pairing_draws_augment_lambda_augment_per_example():
    """Batch k of epoch e: from default_rng([seed, e, k]), per example augment(x_i), λ,
    augment(x_j); then x = λ·x_i' + (1 − λ)·x_j', the targets mixed with the same λ."""
    rng = np.random.default_rng(0)
    waves = rng.normal(size=(14, 300)).astype(np.float32)
    rows = rng.permutation(14)[:12]
    labels = np.repeat([0, 1, 2], 4)
    aug = dataclasses.replace(ACLNET_AUGMENT, crop=100)
    gen = stream(ArrayClipSource(waves), labels, aug, batch_size=4, seed=6, rows=rows)
    eye = np.eye(3, dtype=np.float32)
    for epoch, k in [(0, 0), (4, 2)]:
        x, y = gen.batch(epoch, k)
        assert x.shape == (4, 100) and y.shape == (4, 3) and x.dtype == y.dtype == np.float32
        draws = np.random.default_rng([6, epoch, k])
        for n, (i, j) in enumerate(zip(*gen.batch_sources(epoch, k))):
            a = augment_source(waves[rows[i]], aug, draws, 0)
            lam = np.float32(draws.beta(0.2, 0.2))
            b = augment_source(waves[rows[j]], aug, draws, 0)
            np.testing.assert_array_equal(x[n], lam * a + (1 - lam) * b)
            np.testing.assert_array_equal(y[n], lam * eye[labels[i]] + (1 - lam) * eye[labels[j]])


def test_random_pairing_stream_index_and_threads():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(2)
    feats = rng.normal(size=(20, 3, 12, 1)).astype(np.float32)
    gen = stream(ArrayClipSource(feats), rng.integers(0, 3, 20),
                 dataclasses.replace(FEATURE_AUGMENT, crop=8), batch_size=6, seed=4,
                 start_epoch=5)
    items = list(range(3 * gen.steps_per_epoch))
    sequential = [gen[i] for i in items]
    np.testing.assert_array_equal(sequential[4][0], gen.batch(6, 1)[0])  # 4 = 1 · 3 + 1
    with ThreadPoolExecutor(3) as pool:
        shuffled = list(pool.map(lambda i: (i, gen[i]), rng.permutation(items)))
    for i, (x, y) in shuffled:
        np.testing.assert_array_equal(x, sequential[i][0])
        np.testing.assert_array_equal(y, sequential[i][1])


# -- waveform clips in the balanced pairing; SpecAugment in the stream ------------------------
def test_balanced_pairing_crops_waveforms_along_samples():
    waves = np.tile(np.arange(50, dtype=np.float32), (12, 1)) + 1000 * np.arange(12)[:, None]
    labels = np.repeat([0, 1, 2], 4)
    aug = AugmentConfig(crop=20, channel_swap_prob=0.0, mixup_alpha=0.0)
    gen = stream(ArrayClipSource(waves), labels, aug, batch_size=2, seed=1)
    x, _ = gen.batch(0, 0)
    plan = gen.batch_plan(0, 0)
    np.testing.assert_array_equal(x, waves[plan.first[:, None],
                                           plan.offset_first[:, None] + np.arange(20)])
    with pytest.raises(ConfigError, match="channel axis"):
        stream(ArrayClipSource(waves), labels, AugmentConfig(crop=20), batch_size=2, seed=1)


def test_spec_augment_masks_follow_the_batch_stream_after_its_other_draws():
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1, 2], 6)
    values = rng.normal(size=(18, 16, 30, 2)).astype(np.float32)
    plain = AugmentConfig(crop=24)
    masked = dataclasses.replace(plain, freq_masks=2, freq_mask_width=5, time_masks=1,
                                 time_mask_width=8)
    kept = values.copy()
    a = stream(ArrayClipSource(values), labels, plain, batch_size=4, seed=2)
    b = stream(ArrayClipSource(values), labels, masked, batch_size=4, seed=2)
    for epoch, k in [(0, 0), (3, 1)]:
        (xa, ya), (xb, yb) = a.batch(epoch, k), b.batch(epoch, k)
        np.testing.assert_array_equal(ya, yb)  # masks never touch the targets
        assert not np.array_equal(xa, xb)
        draws = np.random.default_rng([2, epoch, 1, k])
        draws.integers(0, 7, size=(2, 4)), draws.random((2, 4)), draws.beta(0.4, 0.4, size=4)
        for n in range(4):
            want = xa[n].copy()
            for axis, start, width in spec_augment_masks(want.shape, draws, 2, 5, 1, 8):
                assert width <= (5 if axis == 0 else 8)
                index = [slice(None)] * 3
                index[axis] = slice(start, start + width)
                want[tuple(index)] = np.float32(xa[n].mean(dtype=np.float64))
            np.testing.assert_array_equal(xb[n], want)
    np.testing.assert_array_equal(values, kept)  # the source (validation reads it) unmasked
