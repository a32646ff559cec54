"""predict_clips: full-length inference, channel-swap averaging of [R1] §3.7 (SPEC §5)."""
import dataclasses

import keras
import numpy as np
import pytest

from dcase_lowcomplexity.data.generator import ArrayClipSource
from dcase_lowcomplexity.evaluation.inference import make_validation, predict_clips
from dcase_lowcomplexity.evaluation.metrics import score_clips


@pytest.fixture(scope="module")
def channel_sensitive():
    """A tiny all-convolutional model whose output changes when L and R are swapped."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((4, None, 2)),
        keras.layers.Conv2D(3, (1, 1)),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Softmax(),
    ])
    rng = np.random.default_rng(0)
    clips = rng.normal(size=(11, 4, 469, 2)).astype(np.float32)
    clips[:, :, :, 0] *= 3.0  # louder left channel: the swap matters
    return model, clips


def test_average_is_the_mean_of_both_orientations(channel_sensitive):
    model, clips = channel_sensitive
    direct = model.predict_on_batch(clips)
    swapped = model.predict_on_batch(np.ascontiguousarray(clips[..., ::-1]))
    assert np.abs(direct - swapped).max() > 1e-2  # the model does depend on channel order
    averaged = predict_clips(model, ArrayClipSource(clips), batch_size=4, progress=False)
    assert averaged.shape == (11, 3)
    np.testing.assert_allclose(averaged, 0.5 * (direct + swapped), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(averaged.sum(axis=1), 1.0, rtol=1e-6)
    single = predict_clips(model, ArrayClipSource(clips), channel_swap_average=False,
                           batch_size=4, progress=False)
    np.testing.assert_allclose(single, direct, rtol=1e-5, atol=1e-7)


def test_indices_keep_their_order_and_duplicates(channel_sensitive):
    model, clips = channel_sensitive
    indices = [9, 2, 2, 0, 7]
    all_probs = predict_clips(model, ArrayClipSource(clips), batch_size=3, progress=False)
    some = predict_clips(model, ArrayClipSource(clips), indices, batch_size=3, progress=False)
    np.testing.assert_allclose(some, all_probs[indices], rtol=1e-5, atol=1e-7)


def test_make_validation_scores_the_whole_split(channel_sensitive):
    model, clips = channel_sensitive
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    rows = np.array([10, 0, 1, 2, 3, 4, 5, 6])
    validation = make_validation(ArrayClipSource(clips), labels, rows, batch_size=3)
    got = validation(model)
    want = score_clips(labels, model.predict_on_batch(clips[rows]))
    assert set(got) == {"val_balanced_accuracy", "val_accuracy", "val_log_loss"}
    assert got["val_balanced_accuracy"] == pytest.approx(want.balanced_accuracy)
    assert got["val_accuracy"] == pytest.approx(want.accuracy)
    assert got["val_log_loss"] == pytest.approx(want.log_loss, rel=1e-6)


def test_spec_augment_masks_training_batches_never_the_scored_inputs():
    """[R2] §2.3 SpecAugment is a training augmentation: the KD system's stream masks its
    examples, while validation and scoring (predict_store) see the stored clips unchanged."""
    from dcase_lowcomplexity.data.generator import ArrayClipSource, MixupStream
    from dcase_lowcomplexity.evaluation.inference import predict_store
    from dcase_lowcomplexity.systems import system

    kd = system("task1b_distill", "demo")
    assert kd.augment.freq_masks > 0 and kd.augment.time_masks > 0
    rng = np.random.default_rng(0)
    clips = rng.normal(size=(12, 16, 120, 1)).astype(np.float32)
    labels = np.repeat(np.arange(3), 4)
    augment = dataclasses.replace(kd.augment, mixup_alpha=0.0, crop=None, freq_mask_width=4,
                                  time_mask_width=10)
    x, _ = MixupStream(ArrayClipSource(clips), labels, augment, batch_size=4, seed=1).batch(0, 0)
    constant_rows = [(e, f) for e in range(len(x)) for f in range(x.shape[1])
                     if np.ptp(x[e, f]) == 0]  # a masked frequency band: one value throughout
    assert constant_rows and not any(np.ptp(clips[i, f]) == 0 for i in range(12)
                                     for f in range(16))
    seen = []
    predict_store(lambda b: seen.append(b.copy()) or np.full((len(b), 3), 1 / 3),
                  ArrayClipSource(clips), views=kd.views, batch_size=5, progress=False)
    np.testing.assert_array_equal(np.concatenate(seen), clips)
