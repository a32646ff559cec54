"""config.py holds the report's numbers (SPEC §2–5)."""
import pytest

from dcase_lowcomplexity.config import (
    ACLNET_AUGMENT, CLASS_NAMES, DEVELOPMENT_CITIES, FEATURE_AUGMENT, SCENE_TO_CLASS,
    AugmentConfig, FeatureConfig, ModelConfig, PaperConfig, TrainingConfig, demo_config,
)
from dcase_lowcomplexity.errors import ConfigError


def test_feature_numbers():
    f = FeatureConfig()
    assert (f.sample_rate, f.n_fft, f.hop_length, f.n_mels) == (48000, 4096, 1024, 256)
    assert (f.fmin, f.fmax, f.htk, f.mel_norm, f.power) == (0.0, 24000.0, True, None, 2.0)
    assert f.log_offset == 1e-8
    assert f.n_samples == 480000
    assert f.n_frames == 469
    assert f.shape == (256, 469, 2)


def test_model_layer_table():
    m = ModelConfig()
    assert [s.width for s in m.stacks] == [26, 52, 104, 208]
    assert [s.time_stride for s in m.stacks] == [1, 2, 2, 2]
    assert [s.blocks for s in m.stacks] == [2, 2, 2, 2]
    assert (m.freq_split, m.head_width, m.num_classes) == (128, 192, 3)
    assert (m.bn_epsilon, m.bn_momentum, m.weight_decay) == (1e-5, 0.99, 5e-4)


def test_training_numbers():
    t = TrainingConfig()
    assert (t.epochs, t.batch_size, t.optimizer, t.momentum, t.nesterov) == (
        310, 32, "sgd", 0.9, False)
    assert (t.lr_max, t.lr_min) == (0.025, 2.5e-6)
    assert t.sgdr_cycle_lengths == (10, 20, 40, 80, 160)
    assert t.sgdr_cycle_starts == (1, 11, 31, 71, 151)
    assert sum(t.sgdr_cycle_lengths) == t.epochs


def test_augment_numbers():
    a = PaperConfig().augment  # [R1] §2.2
    assert (a.pairing, a.mixup_alpha, a.crop, a.channel_swap_prob) == (
        "balanced_reversed", 0.4, 400, 0.5)
    assert (a.gain_db, a.noise_prob, a.freq_masks, a.time_masks) == (None, 0.0, 0, 0)
    w = ACLNET_AUGMENT  # SPEC §6: 1 s crops at 16 kHz; the rest ours
    assert (w.pairing, w.mixup_alpha, w.crop, w.channel_swap_prob) == ("random", 0.2, 16000, 0.0)
    assert (w.gain_db, w.noise_prob, w.noise_snr_db) == ((-6.0, 6.0), 0.5, (20.0, 50.0))
    f = FEATURE_AUGMENT
    assert (f.pairing, f.mixup_alpha, f.crop, f.channel_swap_prob) == ("random", 0.2, None, 0.0)


def test_bad_optimizer_is_refused():
    with pytest.raises(ConfigError, match="optimizer"):
        TrainingConfig(optimizer="rmsprop")


def test_classes_and_cities():
    assert CLASS_NAMES == ("indoor", "outdoor", "transportation")
    assert len(SCENE_TO_CLASS) == 10
    assert sorted(SCENE_TO_CLASS.values()).count("outdoor") == 4
    assert len(DEVELOPMENT_CITIES) == 10


def test_config_round_trip():
    c = demo_config(seed=3)
    assert PaperConfig.from_dict(c.to_dict()) == c
    assert c.training.sgdr_cycle_lengths == (2, 4, 8, 16)
    assert c.features.n_frames == 141 == c.inference.frames
    assert c.augment.crop == 120 < c.features.n_frames
    assert PaperConfig.from_dict(PaperConfig(augment=ACLNET_AUGMENT).to_dict()).augment == (
        ACLNET_AUGMENT)  # tuples survive the dict round trip
    assert isinstance(AugmentConfig(gain_db=[-1.0, 1.0]).gain_db, tuple)
    assert PaperConfig().inference.channel_swap_average is True
