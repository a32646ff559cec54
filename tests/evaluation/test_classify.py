"""evaluation/classify.py: any recording, conformed to the model's clips, classified by the
shipped file exactly as the run scored it; and its command line (dcase_lowcomplexity.classify)."""
import json

import keras
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from dcase_lowcomplexity import classify as classify_cli
from dcase_lowcomplexity.config import CLASS_NAMES, FeatureConfig, ModelConfig
from dcase_lowcomplexity.data.audio import read_clip, write_clip
from dcase_lowcomplexity.data.inputs import InputSpec
from dcase_lowcomplexity.errors import AudioError, ConfigError, ModelFileError
from dcase_lowcomplexity.evaluation.classify import (
    CARD_FORMAT, card_path, classify_files, conform, expand_audio, read_card, write_card,
    write_predictions,
)
from dcase_lowcomplexity.evaluation.inference import predict_views
from dcase_lowcomplexity.export.formats import export_model, load_predictor
from dcase_lowcomplexity.models.binary_resnet import build_binary_resnet

RATE = 48000


def _spec(duration_s):
    return InputSpec("logmel256", features=FeatureConfig(duration_s=duration_s))


class Warnings(list):
    def __call__(self, message):
        self.append(message)


# -- conform ------------------------------------------------------------------------------------
def test_mono_is_duplicated_to_both_channels_with_one_warning(tmp_path):
    path = tmp_path / "mono.wav"
    mono = np.random.default_rng(0).uniform(-0.5, 0.5, (RATE, 1)).astype(np.float32)
    warn = Warnings()
    windows = conform(mono, RATE, _spec(1.0), path, warn)
    assert windows.shape == (1, RATE, 2) and windows.dtype == np.float32
    np.testing.assert_array_equal(windows[0, :, 0], mono[:, 0])
    np.testing.assert_array_equal(windows[0, :, 1], mono[:, 0])
    assert len(warn) == 1 and str(path) in warn[0] and "mono" in warn[0]


def test_44k1_is_resampled_to_48k_keeping_length_and_pitch(tmp_path):
    path = tmp_path / "cd.wav"
    seconds, f0 = 2, 1000.0
    t = np.arange(44100 * seconds) / 44100
    sine = 0.5 * np.sin(2 * np.pi * f0 * t)
    audio = np.stack([sine, -sine], axis=1).astype(np.float32)
    warn = Warnings()
    windows = conform(audio, 44100, _spec(float(seconds)), path, warn)
    assert windows.shape == (1, RATE * seconds, 2)  # 2 s stay 2 s, now at 48 kHz
    for channel in range(2):
        spectrum = np.abs(np.fft.rfft(windows[0, :, channel]))
        freqs = np.fft.rfftfreq(RATE * seconds, 1 / RATE)
        assert freqs[np.argmax(spectrum)] == pytest.approx(f0, abs=0.5)
    # The amplitude survives too (away from the filter's edge effects).
    middle = windows[0, RATE // 2: -RATE // 2, 0]
    assert np.abs(middle).max() == pytest.approx(0.5, abs=0.01)
    assert len(warn) == 1 and str(path) in warn[0]
    assert "44100" in warn[0] and "48000" in warn[0]


def test_a_short_recording_is_zero_padded_with_a_warning(tmp_path):
    path = tmp_path / "short.wav"
    audio = np.random.default_rng(1).uniform(-1, 1, (RATE // 2, 2)).astype(np.float32)
    warn = Warnings()
    windows = conform(audio, RATE, _spec(1.0), path, warn)
    assert windows.shape == (1, RATE, 2)
    np.testing.assert_array_equal(windows[0, :RATE // 2], audio)
    assert not windows[0, RATE // 2:].any()
    assert len(warn) == 1 and str(path) in warn[0] and "padded" in warn[0]


@pytest.mark.parametrize("seconds, starts", [
    (10, [0, 3, 6, 7]),  # ceil(10 / 3) windows, the last one ending at the end
    (9, [0, 3, 6]),  # an exact multiple: no extra window
    (3, [0]),
    (3.5, [0, 0.5]),
])
def test_a_long_recording_gives_windows_the_last_ending_at_its_end(tmp_path, seconds, starts):
    n = int(seconds * RATE)
    ramp = np.arange(n, dtype=np.float32)  # each sample holds its own index (exact in float32)
    audio = np.stack([ramp, -ramp], axis=1)
    warn = Warnings()
    windows = conform(audio, RATE, _spec(3.0), tmp_path / "long.wav", warn)
    length = 3 * RATE
    assert windows.shape == (len(starts), length, 2)
    assert [w[0, 0] / RATE for w in windows] == starts
    for w, start in zip(windows, starts):
        np.testing.assert_array_equal(w, audio[int(start * RATE):int(start * RATE) + length])
    assert windows[-1, -1, 0] == n - 1  # the last window ends at the recording's end
    assert warn == []  # stereo, 48 kHz, long enough: nothing to warn about


def test_more_than_two_channels_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "surround.wav"
    audio = np.zeros((RATE, 6), np.float32)
    with pytest.raises(AudioError) as info:
        conform(audio, RATE, _spec(1.0), path, Warnings())
    assert str(path) in str(info.value) and "6 channels" in str(info.value)
    with pytest.raises(AudioError, match="3 channels"):
        conform(np.zeros((RATE, 3), np.float32), RATE, _spec(1.0), path, Warnings())


# -- the model card -----------------------------------------------------------------------------
def test_card_round_trips(tmp_path):
    model = tmp_path / "model.1bit"
    spec = _spec(1.0).to_dict()
    path = write_card(model, system="task1b_binary", name="one-bit ResNet", input_spec=spec,
                      views="channel_swap", segment=None, batch_size=32)
    assert path == tmp_path / "model.1bit.json" == card_path(model)
    card = read_card(model)
    assert card["format"] == CARD_FORMAT and card["input"] == spec
    assert InputSpec.from_dict(card["input"]) == _spec(1.0)
    assert (card["views"], card["segment"], card["batch_size"]) == ("channel_swap", None, 32)
    assert card["class_names"] == list(CLASS_NAMES) and card["model_file"] == "model.1bit"


@pytest.mark.parametrize("content", [
    None,  # missing
    "{not json",
    "",
    json.dumps(["a", "list"]),
    json.dumps({"format": "someone.else/1", "input": {}}),
    json.dumps({"system": "task1b_binary"}),  # no format at all
], ids=["missing", "malformed", "empty", "list", "other-format", "no-format"])
def test_a_bad_card_is_refused_naming_the_json(tmp_path, content):
    model = tmp_path / "model.1bit"
    if content is not None:
        card_path(model).write_text(content, encoding="utf-8")
    with pytest.raises(ModelFileError) as info:
        read_card(model)
    assert info.value.path == tmp_path / "model.1bit.json"
    assert str(tmp_path / "model.1bit.json") in str(info.value)


# -- audio arguments ----------------------------------------------------------------------------
def test_folders_expand_to_their_sorted_wav_files(tmp_path):
    folder = tmp_path / "recordings"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.wav", "a.WAV", "sub/c.wav", "notes.txt", "d.flac"):
        (folder / name).write_bytes(b"x")
    single = tmp_path / "z_single.wav"
    single.write_bytes(b"x")
    assert expand_audio([single, folder]) == [
        single, folder / "a.WAV", folder / "b.wav", folder / "sub" / "c.wav"]
    assert expand_audio([str(folder / "b.wav")]) == [folder / "b.wav"]
    (folder / "old.wav").mkdir()  # a folder named like a recording is not one
    assert folder / "old.wav" not in expand_audio([folder])


def test_an_empty_folder_and_a_missing_path_are_refused_naming_them(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError) as info:
        expand_audio([empty])
    assert str(empty) in str(info.value) and "no .wav" in str(info.value)
    only_text = tmp_path / "texts"
    only_text.mkdir()
    (only_text / "a.txt").write_text("x")
    with pytest.raises(ConfigError, match="no .wav"):
        expand_audio([only_text])
    missing = tmp_path / "no" / "such.wav"
    with pytest.raises(ConfigError) as info:
        expand_audio([missing])
    assert str(missing) in str(info.value)


def test_predictions_file_is_tab_separated_with_six_decimals(tmp_path):
    frame = pd.DataFrame([["a.wav", "indoor", 1 / 3, 1 / 3, 1 / 3],
                          ["dir/b.wav", "transportation", 0.1, 0.2, 0.7]],
                         columns=["filename", "scene_label", *CLASS_NAMES])
    path = write_predictions(frame, tmp_path / "predictions.csv")
    assert path.read_text().splitlines() == [
        "filename\tscene_label\tindoor\toutdoor\ttransportation",
        "a.wav\tindoor\t0.333333\t0.333333\t0.333333",
        "dir/b.wav\ttransportation\t0.100000\t0.200000\t0.700000",
    ]


# -- end to end through the library, with a real (tiny) shipped model ---------------------------
@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A tiny one-bit ResNet exported to model.1bit with its card (1 s clips, channel swap),
    and two 1 s 48 kHz stereo recordings whose left and right channels differ."""
    root = tmp_path_factory.mktemp("classify")
    config = ModelConfig(num_filters=2, head_width=4)
    keras.utils.set_random_seed(5)
    model = build_binary_resnet(config)
    rng = np.random.default_rng(5)
    for layer in model.layers:  # random batch norm, so that the file's floats matter
        if isinstance(layer, keras.layers.BatchNormalization):
            for var in layer.weights:
                low = 0.5 if var.name in ("gamma", "moving_variance") else -0.5
                var.assign(rng.uniform(low, low + 1.0, var.shape).astype("float32"))
    path = export_model(model, root / "model.1bit", "1bit", model_config=config)
    write_card(path, system="task1b_binary", name="tiny", input_spec=_spec(1.0).to_dict(),
               views="channel_swap", segment=None, batch_size=32)
    audio = root / "audio"
    audio.mkdir()
    t = np.arange(RATE) / RATE
    clips = {
        "a.wav": np.stack([0.3 * np.sin(2 * np.pi * 440 * t),
                           0.05 * rng.normal(size=RATE)], axis=1),
        "b.wav": np.stack([0.02 * rng.normal(size=RATE),
                           0.4 * np.sign(np.sin(2 * np.pi * 3000 * t))], axis=1),
    }
    for name, clip in clips.items():
        write_clip(audio / name, clip.astype(np.float32))
    return path, audio


def _expected(model_path, wav, views="channel_swap"):
    """The probabilities the run's scoring gives the clip: features of InputSpec.compute on
    the clip as read_clip reads it, through the reloaded file and the card's views."""
    spec = _spec(1.0)
    x = spec.compute(read_clip(wav, spec.read_config), spec.prepare())[None]
    return predict_views(load_predictor(model_path), x, views)[0]


def test_classify_files_equals_the_scoring_of_the_shipped_file(shipped):
    model, audio = shipped
    warn = Warnings()
    frame, skipped = classify_files(model, [audio], progress=False, warn=warn)
    assert skipped == [] and warn == []
    assert list(frame.columns) == ["filename", "scene_label", *CLASS_NAMES]
    assert list(frame.filename) == [str(audio / "a.wav"), str(audio / "b.wav")]
    probs = frame[list(CLASS_NAMES)].to_numpy()
    for row, name in zip(probs, ("a.wav", "b.wav")):
        expected = _expected(model, audio / name)
        np.testing.assert_allclose(row, expected, atol=1e-6, rtol=0)
        # The card's channel-swap average really is applied (not the single pass).
        assert not np.allclose(row, _expected(model, audio / name, "single"), atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert list(frame.scene_label) == [CLASS_NAMES[i] for i in probs.argmax(axis=1)]


def test_the_command_line_writes_the_same_predictions(shipped, tmp_path, capsys):
    model, audio = shipped
    frame, _ = classify_files(model, [audio], progress=False)
    out = tmp_path / "predictions.csv"
    assert classify_cli.main([str(model), str(audio), "--out", str(out), "--quiet"]) == 0
    written = pd.read_csv(out, sep="\t")
    assert list(written.columns) == ["filename", "scene_label", *CLASS_NAMES]
    assert list(written.filename) == list(frame.filename)
    assert list(written.scene_label) == list(frame.scene_label)
    np.testing.assert_allclose(written[list(CLASS_NAMES)].to_numpy(),
                               frame[list(CLASS_NAMES)].to_numpy(), atol=5e-7, rtol=0)
    assert "2 recording(s) classified" in capsys.readouterr().out


def test_a_corrupt_recording_is_skipped_and_listed_or_stops_the_run(shipped, tmp_path, capsys):
    model, audio = shipped
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFFjunk")
    frame, skipped = classify_files(model, [audio / "a.wav", corrupt, audio / "b.wav"],
                                    on_error="skip", progress=False)
    assert list(frame.filename) == [str(audio / "a.wav"), str(audio / "b.wav")]
    np.testing.assert_allclose(frame[list(CLASS_NAMES)].to_numpy()[1],
                               _expected(model, audio / "b.wav"), atol=1e-6, rtol=0)
    assert [s["filename"] for s in skipped] == [str(corrupt)]
    assert str(corrupt) in skipped[0]["reason"]
    with pytest.raises(AudioError, match="corrupt.wav"):
        classify_files(model, [corrupt, audio], progress=False)

    out = tmp_path / "skip.csv"
    capsys.readouterr()
    assert classify_cli.main([str(model), str(audio / "a.wav"), str(corrupt),
                              "--out", str(out), "--on-error", "skip", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "skipped:" in captured.err and str(corrupt) in captured.err
    assert "1 skipped" in captured.out
    assert list(pd.read_csv(out, sep="\t").filename) == [str(audio / "a.wav")]

    out = tmp_path / "stop.csv"
    with pytest.raises(SystemExit) as info:
        classify_cli.main([str(model), str(audio / "a.wav"), str(corrupt), "--out", str(out),
                           "--quiet"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and str(corrupt) in err and "Traceback" not in err
    assert not out.exists()  # nothing written when the run stops


def test_an_out_folder_is_refused_before_any_work(shipped, tmp_path, capsys):
    model, audio = shipped
    with pytest.raises(SystemExit) as info:
        classify_cli.main([str(model), str(audio), "--out", str(tmp_path), "--quiet"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--out" in err and str(tmp_path) in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_mono_and_44k1_recordings_are_classified_with_warnings(shipped, tmp_path, capsys):
    """What the CLI prints for a recording that needs converting, and that the conversion
    gives what the stereo 48 kHz original gives (mono: a clip with equal channels)."""
    model, _ = shipped
    t = np.arange(RATE) / RATE
    mono = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    write_clip(tmp_path / "mono.wav", mono[:, None])
    write_clip(tmp_path / "stereo.wav", np.stack([mono, mono], axis=1))
    frame, _ = classify_files(model, [tmp_path / "mono.wav"], progress=False, warn=Warnings())
    np.testing.assert_allclose(frame[list(CLASS_NAMES)].to_numpy()[0],
                               _expected(model, tmp_path / "stereo.wav"), atol=1e-6, rtol=0)
    sf.write(str(tmp_path / "cd.wav"), np.stack([mono[:44100]] * 2, axis=1), 44100)
    capsys.readouterr()
    assert classify_cli.main([str(model), str(tmp_path / "mono.wav"), str(tmp_path / "cd.wav"),
                              "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {tmp_path / 'mono.wav'}: mono recording" in err
    assert f"warning: {tmp_path / 'cd.wav'}: resampled from 44100 Hz to 48000 Hz" in err
