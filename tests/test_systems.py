"""The five systems as data: each one's input, network, phases, export and views are the
reports' (SPEC §2-6), in the paper profile; the demo profile narrows without changing them."""
import dataclasses

import pytest

from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.systems import SYSTEM_KEYS, system


def test_r1_system_is_the_report():
    s = system("task1b_binary", "paper")
    assert s.input.kind == "logmel256" and s.input.shape == (256, 469, 2)  # SPEC §2
    f = s.input.features
    assert (f.sample_rate, f.n_fft, f.hop_length, f.n_mels, f.htk) == (48000, 4096, 1024, 256,
                                                                        True)
    assert f.pad_mode == "reflect"  # C1 ran librosa 0.6.3: reflection padding
    assert s.network == "binary_resnet" and s.model.num_filters == 26  # [R1] §3.3
    t = s.training
    assert (t.epochs, t.batch_size, t.optimizer, t.momentum, t.lr_max, t.lr_min) == (
        310, 32, "sgd", 0.9, 0.025, 2.5e-6)  # [R1] §2.5, SPEC §4
    a = s.augment
    assert (a.pairing, a.mixup_alpha, a.crop, a.channel_swap_prob) == (
        "balanced_reversed", 0.4, 400, 0.5)  # [R1] §2.2
    assert (a.freq_masks, a.time_masks) == (0, 0)  # "No frequency augmentation" (SPEC §4)
    assert (s.phases, s.storage, s.views) == ("single", "1bit", "channel_swap")  # [R1] §3.7
    assert [s.replace(training=dataclasses.replace(t, seed=k)).label for k in range(5)] == [
        f"McDonnell_USA_task1b_{n}" for n in (1, 2, 3, 4, 1)]


@pytest.mark.parametrize("key, storage, phases", [
    ("task1b_int8", "int8", "single"), ("task1b_lottery", "float16", "lottery")])
def test_aclnet_systems(key, storage, phases):
    s = system(key, "paper")
    assert s.input.kind == "waveform" and s.input.shape == (160_000,)  # 10 s at 16 kHz
    assert s.input.waveform.sample_rate == 16_000  # [R2] §2.1
    assert s.network == "aclnet" and s.model.width_multiplier == 0.5  # AclNet0.5
    assert (s.storage, s.phases, s.views, s.segment) == (storage, phases, "segments", 16_000)
    assert s.augment.crop == 16_000  # [R2] §2.1: "random cropping of 1-second"
    assert s.augment.gain_db is not None and s.augment.noise_prob > 0  # gain, noise
    assert s.augment.mixup_alpha > 0  # and mixup
    assert s.submission.label == f"Lopez-Meyer_IL_task1b_{1 if storage == 'int8' else 2}"


def test_lottery_ticket_is_r2s():
    s = system("task1b_lottery", "paper")
    assert s.lottery.prune_fraction == 0.196  # [R2] §2.2: pruned at 19.6 %
    assert s.lottery.rewind_epoch == 0  # "the original randomly initialized weights"
    assert s.retraining.epochs == s.training.epochs


def test_distillation_is_r2s():
    s = system("task1b_distill", "paper")
    assert s.input.kind == "logmel64" and s.input.shape == (64, 1001, 1)
    m = s.input.logmel
    assert (m.win_length, m.hop_length, m.n_mels) == (400, 160, 64)  # 25 ms, 10 ms at 16 kHz
    d = s.distillation
    assert (d.embedding_weight, d.output_weight, d.ce_weight) == (0.25, 0.25, 0.5)
    # §2.3: "Spec augment [10] was used as a data augmentation process during training".
    assert s.augment.freq_masks > 0 and s.augment.time_masks > 0
    assert s.teacher is not None and s.teacher_training is not None
    assert (s.network, s.phases, s.storage, s.views) == ("student", "distill", "float16",
                                                          "whole")


def test_gccgram_system_is_r2s():
    s = system("task1b_gccgram", "paper")
    assert s.input.kind == "gccgram" and s.input.shape == (40, 500, 3)  # 3 × 40 × 500
    assert s.model.input_shape == (40, 500, 3)
    assert (s.storage, s.views) == ("float16", "whole")


@pytest.mark.parametrize("key", SYSTEM_KEYS)
def test_demo_profile_keeps_the_system_and_reads_3_s(key):
    paper, demo = system(key, "paper"), system(key, "demo")
    assert (demo.input.kind, demo.network, demo.phases, demo.storage, demo.views) == (
        paper.input.kind, paper.network, paper.phases, paper.storage, paper.views)
    assert demo.input.read_config.duration_s == 3.0
    assert paper.input.read_config.duration_s == 10.0


def test_unknown_system_and_profile_are_refused():
    with pytest.raises(ConfigError, match="task1b_foo"):
        system("task1b_foo")
    with pytest.raises(ConfigError, match="profile"):
        system("task1b_binary", "tiny")
