"""training/pruning.py: lottery ticket — prune 19.6 %, rewind, retrain with masks ([R2], SPEC §6)."""
import dataclasses

import keras
import numpy as np
import pytest

from dcase_lowcomplexity.config import (
    ACLNET_AUGMENT, dcase_size_kb, AclNetConfig, LotteryTicketConfig, TrainingConfig,
)
from dcase_lowcomplexity.data.generator import ArrayClipSource, MixupStream
from dcase_lowcomplexity.errors import ConfigError, ModelFileError, RunError
from dcase_lowcomplexity.models.aclnet import build_aclnet
from dcase_lowcomplexity.training import pruning

TINY = AclNetConfig(segment_samples=3200, llf_filters=(4, 8), width_multiplier=0.125,
                    hlf_pool_after=(0, 2, 4), embedding_dim=16)


def _tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    return build_aclnet(TINY)


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, TINY.segment_samples)).astype(np.float32)
    return x, keras.utils.to_categorical(rng.integers(0, 3, n), 3)


def _fit(model, callbacks, epochs=2):
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=1e-3),
                  "categorical_crossentropy", jit_compile=False)
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False)


def test_prunable_weights_are_kernels_only():
    model = build_aclnet()
    names = {v.path for v in pruning.prunable_weights(model)}
    assert "llf_conv1/kernel" in names and "hlf_conv5_dw/kernel" in names
    assert "hlf_conv5/kernel" in names and "logits/kernel" in names
    assert not any("bn" in n.split("/")[0] or n.endswith("bias") for n in names)
    bn = sum(int(np.prod(v.shape)) for v in model.weights if "_bn/" in v.path)
    bias = sum(int(np.prod(v.shape)) for v in model.weights if v.name == "bias")
    prunable = sum(int(np.prod(v.shape)) for v in pruning.prunable_weights(model))
    assert prunable + bias + bn == model.count_params()
    separable = pruning.prunable_weights(build_aclnet(AclNetConfig(hlf_depthwise_bn=False)))
    assert {"hlf_conv5/depthwise_kernel", "hlf_conv5/pointwise_kernel"} <= {
        v.path for v in separable}


def test_global_mask_prunes_exactly_the_fraction_of_smallest_weights():
    model = _tiny_model()
    masks = pruning.magnitude_masks(model, 0.196)
    variables = {v.path: keras.ops.convert_to_numpy(v) for v in pruning.prunable_weights(model)}
    n = sum(m.size for m in masks.values())
    assert sum(m.size - np.count_nonzero(m) for m in masks.values()) == round(0.196 * n)
    pruned = np.concatenate([np.abs(variables[p])[m == 0] for p, m in masks.items()])
    kept = np.concatenate([np.abs(variables[p])[m == 1] for p, m in masks.items()])
    assert pruned.max() <= kept.min()


def test_per_layer_mask_prunes_the_fraction_of_every_kernel():
    masks = pruning.magnitude_masks(_tiny_model(), 0.25, scope="per_layer")
    for mask in masks.values():
        assert mask.size - np.count_nonzero(mask) == round(0.25 * mask.size)


def test_counts_after_pruning_19_6_percent_of_the_paper_aclnet():
    model = build_aclnet()
    counts = pruning.lottery_ticket_counts(model, pruning.magnitude_masks(model, 0.196))
    assert counts["pruned"] == round(0.196 * counts["prunable"])
    # [R2]: 255,740 non-zero trainable; ours 256,024 (tests/models/test_aclnet.py)
    trainable_non_zero = counts["non_zero"] - counts["batch_norm"] // 2  # less moving stats
    assert trainable_non_zero - 255_740 == 284
    assert dcase_size_kb(counts["non_zero_without_bn"], 2) < 500  # FP16 under the limit



def test_rewind_restores_survivors_to_their_early_values():
    model = _tiny_model()
    snap = pruning.RewindSnapshot(rewind_epoch=1)
    _fit(model, [snap], epochs=3)
    trained = pruning.snapshot_weights(model)
    masks = pruning.magnitude_masks(model, 0.5)
    pruning.rewind(model, snap.snapshot, masks)
    after = pruning.snapshot_weights(model)
    for path, value in snap.snapshot.items():
        expected = value * masks[path] if path in masks else value
        np.testing.assert_array_equal(after[path], expected)
    assert any(not np.array_equal(trained[p], snap.snapshot[p]) for p in masks)


def test_rewind_epoch_zero_keeps_the_initialisation():
    model = _tiny_model()
    init = pruning.snapshot_weights(model)
    snap = pruning.RewindSnapshot(rewind_epoch=0)
    _fit(model, [snap], epochs=1)
    for path, value in init.items():
        np.testing.assert_array_equal(snap.snapshot[path], value)


def test_masks_hold_zeros_through_momentum_and_weight_decay():
    model = _tiny_model()
    masks = pruning.magnitude_masks(model, 0.196)
    before = pruning.snapshot_weights(model)
    _fit(model, [pruning.MaskCallback(masks)], epochs=2)
    after = pruning.snapshot_weights(model)
    for path, mask in masks.items():
        assert np.all(after[path][mask == 0] == 0.0)
        assert np.count_nonzero(after[path]) == np.count_nonzero(mask)
    assert any(not np.array_equal(after[p][masks[p] == 1], before[p][masks[p] == 1])
               for p in masks)


def test_masks_file_round_trip_and_corruption(tmp_path):
    masks = pruning.magnitude_masks(_tiny_model(), 0.3)
    path = tmp_path / "masks.npz"
    pruning.save_masks(path, masks)
    loaded = pruning.load_masks(path)
    assert list(loaded) == list(masks)
    assert all(np.array_equal(loaded[p], masks[p]) for p in masks)
    assert [p.name for p in tmp_path.iterdir()] == ["masks.npz"]  # no temp file left
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="masks.npz"):
        pruning.load_masks(path)
    with pytest.raises(ModelFileError, match="missing.npz"):
        pruning.load_masks(tmp_path / "missing.npz")


def test_bad_options():
    model = _tiny_model()
    with pytest.raises(ConfigError):
        pruning.magnitude_masks(model, 1.0)
    with pytest.raises(ConfigError):
        pruning.magnitude_masks(model, 0.2, scope="layerwise")
    with pytest.raises(ConfigError):
        pruning.apply_masks(model, {"nope/kernel": np.zeros(3)})


# -- the shipped phases ([R2] §2.2): train → prune 19.6 % → rewind → retrain ------------------
PHASE = TrainingConfig(epochs=2, batch_size=4, lr_max=0.05, sgdr_first_cycle=2, seed=1)


def _stream_for(config):
    rng = np.random.default_rng(0)
    waves = rng.standard_normal((16, 4000)).astype(np.float32)
    augment = dataclasses.replace(ACLNET_AUGMENT, crop=TINY.segment_samples)
    return MixupStream(ArrayClipSource(waves), np.arange(16) % 3, augment,
                       batch_size=config.batch_size, seed=config.seed)


def _phases(run_dir, validation=None, lottery=LotteryTicketConfig(rewind_epoch=0)):
    model = _tiny_model()
    init = pruning.snapshot_weights(model)
    base = {}
    masks = pruning.lottery_ticket_phases(
        model, _stream_for, run_dir, PHASE, PHASE, lottery, validation=validation,
        on_base_trained=lambda m: base.update(pruning.snapshot_weights(m)), verbose=0)
    return model, masks, init, base


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("lt")
    return (run_dir, *_phases(run_dir))


def test_phases_prune_19_6_percent_and_hold_the_mask(uninterrupted):
    run_dir, model, masks, _, base = uninterrupted
    n = sum(m.size for m in masks.values())
    assert sum(m.size - np.count_nonzero(m) for m in masks.values()) == round(0.196 * n)
    counts = pruning.masked_zero_counts(model, masks)
    assert counts["pruned"] == counts["pruned_still_zero"] == round(0.196 * n)
    weights = pruning.snapshot_weights(model)
    assert any(not np.array_equal(weights[p][m == 1], base[p][m == 1]) for p, m in masks.items())
    for name in ("phase1_train", "phase2_retrain", "rewind_snapshot.npz", "masks.npz"):
        assert (run_dir / name).exists()
    saved = pruning.load_masks(run_dir / "masks.npz")
    assert all(np.array_equal(saved[p], masks[p]) for p in masks)


def test_rewind_epoch_0_restores_the_initial_weights(uninterrupted):
    run_dir, _, masks, init, base = uninterrupted
    snapshot = pruning.load_snapshot(run_dir / "rewind_snapshot.npz")
    assert list(snapshot) == list(init)
    for path, value in init.items():
        np.testing.assert_array_equal(snapshot[path], value)
    assert any(not np.array_equal(base[p], init[p]) for p in masks)  # phase 1 did train
    model = _tiny_model(seed=3)  # any model of the architecture
    pruning.rewind(model, snapshot, masks)
    rewound = pruning.snapshot_weights(model)
    for path, value in init.items():
        np.testing.assert_array_equal(rewound[path], value * masks[path] if path in masks
                                      else value)


class _Interrupt(Exception):
    pass


def test_interrupted_retraining_resumes_from_the_saved_snapshot_and_masks(tmp_path,
                                                                          uninterrupted):
    """A run stopped in phase 2's last epoch (before its checkpoint) and rerun ends with the
    uninterrupted run's weights, without retraining phase 1 or re-pruning."""
    _, reference, ref_masks, _, _ = uninterrupted
    calls = []

    def stop_in_retraining(model):  # epochs 1–2: phase 1, 3–4: phase 2
        calls.append(1)
        if len(calls) == 4:
            raise _Interrupt
        return {}

    with pytest.raises(_Interrupt):
        _phases(tmp_path, validation=stop_in_retraining)
    masks_written = (tmp_path / "masks.npz").stat().st_mtime_ns
    phase1 = (tmp_path / "phase1_train" / "checkpoint.npz").stat().st_mtime_ns
    model, masks, _, _ = _phases(tmp_path)
    assert (tmp_path / "masks.npz").stat().st_mtime_ns == masks_written
    assert (tmp_path / "phase1_train" / "checkpoint.npz").stat().st_mtime_ns == phase1
    assert all(np.array_equal(masks[p], ref_masks[p]) for p in masks)
    got, want = pruning.snapshot_weights(model), pruning.snapshot_weights(reference)
    for path in want:
        np.testing.assert_array_equal(got[path], want[path])


def test_rewind_epoch_must_come_before_the_end_of_phase_1(tmp_path):
    with pytest.raises(RunError, match="rewind epoch 2"):
        _phases(tmp_path, lottery=LotteryTicketConfig(rewind_epoch=2))


def test_damaged_snapshot_is_a_model_file_error(tmp_path):
    path = tmp_path / "rewind_snapshot.npz"
    pruning.save_snapshot(path, {"a/kernel": np.ones(3, np.float32)})
    assert pruning.load_snapshot(path)["a/kernel"].tolist() == [1, 1, 1]
    path.write_bytes(b"PK\x03\x04 half")
    with pytest.raises(ModelFileError, match="phase1_train"):
        pruning.load_snapshot(path)
