"""r2_pipeline: profiles ([R2]'s numbers and ours), the resumable input cache, the seeded
batch stream, prediction order, the lottery ticket's saved state."""
import json

import keras
import numpy as np
import pytest

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.config import WaveformAugmentConfig, WaveformConfig
from dcase_lowcomplexity.reported import R2_TABLE
from dcase_lowcomplexity.data.audio import read_clip, write_clip
from dcase_lowcomplexity.data.waveform import WaveformSequence
from dcase_lowcomplexity.errors import AudioError, ConfigError, ModelFileError, RunError
from dcase_lowcomplexity.evaluation.submission import LABEL_PATTERN, R1_DESCRIPTION
from dcase_lowcomplexity.r2_pipeline import inputs, profiles, training
from dcase_lowcomplexity.r2_pipeline.inputs import InputSpec, ensure_inputs


def _args(*argv):
    parser = ex.base_parser("test", "task1b_test")
    profiles.add_training_options(parser)
    return parser.parse_args(list(argv))


# -- profiles --------------------------------------------------------------------------------
def test_paper_training_is_r1s_recipe_in_whole_sgdr_cycles():
    aclnet = profiles.training_config("aclnet", _args("--profile", "paper"))
    assert (aclnet.epochs, aclnet.batch_size, aclnet.optimizer, aclnet.momentum) == (150, 32, "sgd", 0.9)
    assert (aclnet.lr_max, aclnet.lr_min) == (0.025, 2.5e-6)  # [R1] §2.5
    assert aclnet.sgdr().sgdr_cycle_lengths == (10, 20, 40, 80)
    for network in ("teacher", "student", "gccgram"):
        config = profiles.training_config(network, _args("--profile", "paper"))
        assert config.sgdr().sgdr_cycle_lengths == (10, 20, 40) and config.epochs == 70
    demo = profiles.training_config("aclnet", _args())
    assert (demo.epochs, demo.batch_size, demo.sgdr().sgdr_cycle_lengths) == (30, 16, (2, 4, 8, 16))
    teacher = profiles.training_config("teacher", _args())
    assert (teacher.epochs, teacher.sgdr().sgdr_cycle_lengths) == (14, (2, 4, 8))


def test_training_overrides_and_their_checks():
    adam = profiles.training_config("student", _args("--optimizer", "adam"))
    assert (adam.optimizer, adam.lr_max) == ("adam", 1e-3)
    assert profiles.training_config("student", _args("--optimizer", "adam", "--lr-max", "0.01")).lr_max == 0.01
    assert profiles.training_config("student", _args(), epochs=3).epochs == 3
    with pytest.raises(ConfigError, match="--batch-size must be positive"):
        profiles.training_config("student", _args("--batch-size", "0"))
    with pytest.raises(ConfigError, match="lr_min < lr_max"):
        profiles.training_config("student", _args("--lr-min", "0.1", "--lr-max", "0.05"))


def test_lottery_ticket_numbers():
    paper = profiles.lottery_config("paper")
    assert (paper.prune_fraction, paper.scope, paper.rewind_epoch) == (0.196, "global", 2)
    assert profiles.lottery_config("demo").rewind_epoch == 1
    assert profiles.lottery_config("paper", rewind_epoch=0).rewind_epoch == 0
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        profiles.lottery_config("paper", prune_fraction=1.0)


def test_profile_inputs_and_networks_agree():
    assert profiles.gccgram_config("paper").input_shape == profiles.gccphat_config("paper").shape == (40, 500, 3)
    assert profiles.gccgram_config("demo").input_shape == profiles.gccphat_config("demo").shape == (40, 150, 3)
    assert profiles.logmel_config("paper").shape == (64, 1001, 1)  # [R2]: 64 bands, 10 ms hop
    assert profiles.logmel_config("demo").shape == (64, 301, 1)
    assert profiles.waveform_config("paper").n_samples == 160_000
    assert profiles.aclnet_config("demo").bn_momentum == 0.9
    assert profiles.aclnet_config("paper").width_multiplier == 0.5  # AclNet0.5
    assert profiles.feature_augment_config("paper").crop_frames is None


def test_the_four_submissions():
    systems = list(profiles.SYSTEMS.values())
    assert [s.label for s in systems] == [f"Lopez-Meyer_IL_task1b_{n}" for n in (1, 2, 3, 4)]
    assert [s.r2_name for s in systems] == [r.system for r in R2_TABLE]
    assert [s.storage for s in systems] == [r.storage for r in R2_TABLE]
    for s in systems:
        assert LABEL_PATTERN.match(s.label) and 1 <= len(s.abbreviation) <= 10
        assert set(s.description) <= set(R1_DESCRIPTION)
    assert profiles.AUTHORS[0]["lastname"] == "Lopez-Meyer"
    assert profiles.AUTHORS[0]["affiliation"]["institution"] == "Intel Labs"


# -- the input cache -------------------------------------------------------------------------
@pytest.fixture
def clips(tmp_path):
    """Three 3.2 s stereo 48 kHz clips (24-bit) with different content per channel."""
    rng = np.random.default_rng(0)
    names = [f"audio/clip-{i}.wav" for i in range(3)]
    (tmp_path / "audio").mkdir()
    for name in names:
        audio = (0.1 * rng.standard_normal((153_600, 2))).astype(np.float32)
        write_clip(tmp_path / name, audio, 48000, "PCM_24")
    return tmp_path, names


SPEC = InputSpec("waveform", WaveformConfig(duration_s=3.0))


def test_cached_inputs_are_the_features_of_each_file(clips, tmp_path):
    root, names = clips
    cached = ensure_inputs(root, names, SPEC, store_dir=tmp_path / "cache", progress=False)
    assert cached.array.shape == (3, 48_000) and cached.array.dtype == np.float32
    for i, name in enumerate(names):
        np.testing.assert_array_equal(cached.array[i],
                                      SPEC.compute(read_clip(root / name, SPEC.read_config)))
    np.testing.assert_array_equal(cached.rows([names[2], names[0]]), [2, 0])
    with pytest.raises(ConfigError, match="not in the input cache"):
        cached.rows(["audio/other.wav"])
    assert json.loads(cached.path.with_suffix(".json").read_text())["filenames"] == names


def test_gcc_and_logmel_inputs(clips, tmp_path):
    root, names = clips
    for spec in (InputSpec("gccgram", SPEC.waveform, gcc=profiles.gccphat_config("demo")),
                 InputSpec("logmel64", SPEC.waveform, logmel=profiles.logmel_config("demo"))):
        cached = ensure_inputs(root, names[:1], spec, store_dir=tmp_path / "c", dtype="float16",
                               progress=False)
        assert cached.array.shape == (1, *spec.shape) and cached.array.dtype == np.float16
        direct = spec.compute(read_clip(root / names[0], spec.read_config))
        np.testing.assert_array_equal(cached.array[0], direct.astype(np.float16))


def test_cache_is_reused_and_keyed_by_parameters(clips, tmp_path, monkeypatch):
    root, names = clips
    first = ensure_inputs(root, names, SPEC, store_dir=tmp_path / "c", progress=False)
    monkeypatch.setattr(inputs, "_compute_one", lambda task: pytest.fail("recomputed"))
    again = ensure_inputs(root, names, SPEC, store_dir=tmp_path / "c", progress=False)
    assert again.path == first.path
    other = InputSpec("waveform", WaveformConfig(duration_s=2.0))
    assert inputs.cache_path(tmp_path, root, names, other, "float32") != first.path
    assert inputs.cache_path(tmp_path, root, names, SPEC, "float16") != first.path
    assert inputs.cache_path(tmp_path, root, names[:2], SPEC, "float32") != first.path


def test_a_bad_file_stops_the_cache_and_a_rerun_resumes_there(clips, tmp_path, monkeypatch):
    root, names = clips
    good = (root / names[1]).read_bytes()
    (root / names[1]).write_bytes(b"RIFF not audio at all")
    with pytest.raises(AudioError) as err:
        ensure_inputs(root, names, SPEC, store_dir=tmp_path / "c", progress=False)
    assert names[1] in str(err.value)
    path = inputs.cache_path(tmp_path / "c", root, names, SPEC, "float32")
    progress = json.loads(path.with_name(path.stem + ".partial.json").read_text())
    assert progress["done"] == 1 and not path.exists()  # nothing half-written in place

    (root / names[1]).write_bytes(good)
    computed = []
    compute = inputs._compute_one
    monkeypatch.setattr(inputs, "_compute_one", lambda task: computed.append(task[1]) or compute(task))
    cached = ensure_inputs(root, names, SPEC, store_dir=tmp_path / "c", progress=False)
    assert computed == names[1:]  # row 0 was kept
    np.testing.assert_array_equal(cached.array[0],
                                  SPEC.compute(read_clip(root / names[0], SPEC.read_config)))
    assert not path.with_name(path.stem + ".partial.json").exists()


# -- batches, prediction, lottery-ticket state -------------------------------------------
def test_epoch_stream_serves_epoch_e_batch_b_at_item_e_times_steps_plus_b():
    rng = np.random.default_rng(0)
    waves = rng.standard_normal((12, 4000)).astype(np.float32)
    augment = WaveformAugmentConfig(crop_samples=1000)
    sequence = WaveformSequence(waves, np.arange(12) % 3, augment, batch_size=4, seed=5)
    stream = training.EpochStream(sequence, start_epoch=2)
    assert stream.steps_per_epoch == 3 and stream.num_batches is None

    def reference(epoch, batch):
        fresh = WaveformSequence(waves, np.arange(12) % 3, augment, batch_size=4, seed=5)
        fresh.epoch = epoch
        return fresh[batch]

    for item, (epoch, batch) in ((0, (2, 0)), (4, (3, 1)), (8, (4, 2)), (1, (2, 1))):
        x, y = stream[item]
        x_ref, y_ref = reference(epoch, batch)
        np.testing.assert_array_equal(x, x_ref)
        np.testing.assert_array_equal(y, y_ref)
    assert not np.array_equal(stream[0][0], stream[3][0])  # a new epoch, new crops
    assert sequence.epoch == 0  # the wrapped sequence is never mutated


def test_predict_rows_keeps_the_order_of_the_rows_and_averages_segments():
    x = np.arange(40, dtype=np.float32).reshape(5, 8)

    def predict(batch):  # a deterministic "model": one probability row per input row
        s = batch.sum(axis=1, keepdims=True)
        return np.hstack([s, 2 * s, 3 * s]) / (6 * s + 1e-9)

    rows = np.array([3, 0, 3, 4])
    np.testing.assert_allclose(training.predict_rows(predict, x, rows, chunk=3), predict(x[rows]))
    seg = training.predict_rows(lambda b: b[:, :3] / b[:, :3].sum(1, keepdims=True), x, [1],
                                segment_samples=4)
    first, second = x[1, :3] / x[1, :3].sum(), x[1, 4:7] / x[1, 4:7].sum()
    np.testing.assert_allclose(seg[0], (first + second) / 2, rtol=1e-6)


def test_rewinding_snapshot_round_trip_and_damage(tmp_path):
    snapshot = {"a/kernel": np.arange(6, dtype=np.float32).reshape(2, 3), "b/bias": np.ones(2)}
    training.save_snapshot(tmp_path / "s.npz", snapshot)
    loaded = training.load_snapshot(tmp_path / "s.npz")
    assert list(loaded) == list(snapshot)
    for key in snapshot:
        np.testing.assert_array_equal(loaded[key], snapshot[key])
    saved = training.SavedRewindSnapshot(2, tmp_path / "s.npz")
    assert saved.snapshot is not None  # a resumed run gets it back from the file
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelFileError, match="rewinding snapshot"):
        training.load_snapshot(tmp_path / "bad.npz")


def test_lottery_phases_refuse_a_rewind_epoch_past_phase_one(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    config = profiles.R2TrainingConfig(epochs=2)
    lottery = profiles.lottery_config("paper")  # rewind after 2 epochs
    with pytest.raises(RunError, match="rewind epoch 2"):
        training.lottery_ticket_phases(model, None, tmp_path, config, config, lottery)
    assert not (tmp_path / "phase1_train").exists()
