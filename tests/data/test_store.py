"""The HDF5 feature store: contents, attributes, refusals, bad audio, and resume after kill -9."""
import dataclasses
import json
import multiprocessing
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from dcase_lowcomplexity import __version__
from dcase_lowcomplexity.config import FeatureConfig
from dcase_lowcomplexity.data.audio import read_clip, write_clip
from dcase_lowcomplexity.data.dataset import TauDataset
from dcase_lowcomplexity.data.features import log_mel
from dcase_lowcomplexity.data.extraction import ensure_store, extract_inputs, store_path
from dcase_lowcomplexity.data.inputs import InputSpec
from dcase_lowcomplexity.data.store import (
    FORMAT, TIMING_ATTRIBUTES, FeatureStore, StoreWriter, journal_path, partial_path,
    skipped_report_path,
)
from dcase_lowcomplexity.errors import AudioError, DatasetError, StoreError

REPO = Path(__file__).parents[2]
CLI = [sys.executable, str(REPO / "data_prep" / "extract_features.py")]


def contents(path: Path) -> dict:
    """Everything a store holds except its timing attributes."""
    with h5py.File(path, "r") as f:
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()
                 if k not in TIMING_ATTRIBUTES}
        return {"features": f["features"][()], "filenames": list(f["filenames"].asstr()[()]),
                "attrs": attrs, "chunks": f["features"].chunks, "dtype": str(f["features"].dtype)}


def assert_same_store(a: Path, b: Path) -> None:
    ca, cb = contents(a), contents(b)
    np.testing.assert_array_equal(ca.pop("features"), cb.pop("features"))
    assert ca == cb


@pytest.fixture(scope="module")
def filenames(demo_root) -> list[str]:
    return list(TauDataset(demo_root).table["filename"])


@pytest.fixture(scope="module")
def reference_store(demo_root, filenames, tmp_path_factory) -> Path:
    """An uninterrupted float32 store of the 12 demo clips, one in-process worker."""
    path = tmp_path_factory.mktemp("store") / "reference.h5"
    return extract_inputs(demo_root, filenames, path, workers=1, progress=False)


def test_store_contents(reference_store, demo_root, filenames):
    with FeatureStore.open(reference_store, expected=FeatureConfig()) as store:
        assert len(store) == 12 and store.filenames == filenames
        assert store.shape == (12, 256, 469, 2) and store.dtype == "float32"
        expected = log_mel(read_clip(demo_root / filenames[5]))
        np.testing.assert_array_equal(store[5], expected)
        assert store[5].dtype == np.float32 and store[5].shape == (256, 469, 2)
        batch = store.read_batch([5, 0, 5])
        assert batch.shape == (3, 256, 469, 2)
        np.testing.assert_array_equal(batch[0], expected)
        np.testing.assert_array_equal(batch[1], store[0])
        np.testing.assert_array_equal(store[-1], store[11])
        with pytest.raises(IndexError):
            store[12]
        assert list(store.index_of([filenames[7], filenames[2]])) == [7, 2]
        assert store.index_of(filenames[3]).dtype == np.int64
        with pytest.raises(StoreError, match="1 file\\(s\\) are not in the store"):
            store.index_of(["audio/bus-nowhere-1-1-a.wav"])


def test_store_layout_and_attributes(reference_store):
    with h5py.File(reference_store, "r") as f:
        assert f["features"].shape == (12, 256, 469, 2)
        assert f["features"].chunks == (1, 256, 469, 2)  # one clip per chunk
        assert f["features"].dtype == np.float32
        attrs = dict(f.attrs)
    assert attrs["format"] == FORMAT == "dcase_lowcomplexity.features/3"
    assert attrs["input.kind"] == "logmel256"
    for name, value in dataclasses.asdict(FeatureConfig()).items():
        assert attrs[f"input.features.{name}"] == ("none" if value is None else value)
    spec = json.loads(attrs["input_spec"])
    assert spec["kind"] == "logmel256" and spec["features"] == dataclasses.asdict(FeatureConfig())
    assert spec["waveform"] is None and spec["logmel"] is None and spec["gcc"] is None
    assert attrs["package_version"] == __version__ and attrs["complete"]
    assert attrs["n_clips"] == 12 and json.loads(attrs["skipped"]) == []
    assert attrs["created_utc"] and attrs["completed_utc"]
    leftovers = [p.name for p in reference_store.parent.iterdir() if p != reference_store]
    assert leftovers == []  # no partial, journal or report left behind


def test_parallel_workers_give_the_same_store(reference_store, demo_root, filenames, tmp_path):
    path = extract_inputs(demo_root, filenames, tmp_path / "pool.h5", workers=2,
                            progress=False)
    assert_same_store(path, reference_store)


def test_float16_store(reference_store, demo_root, filenames, tmp_path):
    path = extract_inputs(demo_root, filenames[:4], tmp_path / "half.h5", dtype="float16",
                            workers=1, progress=False)
    with FeatureStore.open(path) as half, FeatureStore.open(reference_store) as full:
        assert half.dtype == "float16" and half[0].dtype == np.float32
        assert np.abs(half.read_batch([0, 1, 2, 3]) - full.read_batch([0, 1, 2, 3])).max() < 0.016
    assert path.stat().st_size < 0.55 * reference_store.stat().st_size * 4 / 12 + 100_000


def test_rerun_on_a_finished_store_does_nothing(reference_store, demo_root, filenames):
    before = reference_store.stat().st_mtime_ns
    assert extract_inputs(demo_root, filenames, reference_store, progress=False) == reference_store
    assert reference_store.stat().st_mtime_ns == before


def test_other_parameters_are_refused(reference_store, demo_root, filenames):
    other = FeatureConfig(n_mels=128)
    with pytest.raises(StoreError, match="features.n_mels=256 \\(expected 128\\)") as err:
        FeatureStore.open(reference_store, expected=other)
    assert "never mixed" in str(err.value)
    with pytest.raises(StoreError, match="other input parameters"):
        extract_inputs(demo_root, filenames, reference_store, other, progress=False)
    with pytest.raises(StoreError, match="dtype float32, not float16"):
        extract_inputs(demo_root, filenames, reference_store, dtype="float16", progress=False)
    with pytest.raises(StoreError, match="another list of files"):
        extract_inputs(demo_root, filenames[:5], reference_store, progress=False)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(StoreError, match="feature store not found.*extract_features.py"):
        FeatureStore.open(tmp_path / "none.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(StoreError, match="not a readable HDF5 file"):
        FeatureStore.open(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["complete"] = True
    with pytest.raises(StoreError, match="not a feature store of this package"):
        FeatureStore.open(tmp_path / "other.h5")


def test_reader_is_fork_safe_and_picklable(reference_store):
    store = FeatureStore.open(reference_store)
    parent = store[3]  # opens the handle in this process
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply(_sum_clip, (store, 3))
    assert child == pytest.approx(float(parent.sum()))
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(clone[3], parent)
    store.close()
    clone.close()


def _sum_clip(store: FeatureStore, i: int) -> float:
    return float(store[i].sum())


# -- resume ----------------------------------------------------------------------------------
def journal_lines(store: Path) -> int:
    try:
        return journal_path(store).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def run_and_kill(args: list[str], store: Path, when) -> bool:
    """Starts the CLI, SIGKILLs it once `when(store)` holds; False if it finished first."""
    process = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if when(store):
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.002)
    process.wait()
    return False


def test_resume_after_kill_9(reference_store, demo_root, tmp_path):
    """Kill the CLI at three moments (store just created, 4 and 8 clips done), rerun each
    time: the finished store equals the uninterrupted one."""
    store = tmp_path / "killed.h5"
    args = [str(demo_root), str(store), "--workers", "1", "--quiet"]
    moments = [lambda s: partial_path(s).exists(), lambda s: journal_lines(s) >= 4,
               lambda s: journal_lines(s) >= 8]
    kills = 0
    for when in moments:
        if run_and_kill(args, store, when):
            kills += 1
            assert not store.exists() and partial_path(store).exists()
            with pytest.raises(StoreError, match="incomplete.*rerun data_prep/extract_features.py"):
                FeatureStore.open(store)
            with pytest.raises(StoreError, match="incomplete"):
                FeatureStore.open(partial_path(store))
    assert kills >= 2  # the kills really landed mid-extraction
    done = subprocess.run(CLI + args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "12 logmel256 clips of (256, 469, 2) float32" in done.stdout
    assert_same_store(store, reference_store)
    assert not partial_path(store).exists() and not journal_path(store).exists()


def write_some(store: Path, demo_root: Path, filenames: list[str], indices) -> None:
    """A partial store with `indices` done, as a killed extraction leaves it."""
    writer = StoreWriter.open(store, filenames)
    for i in indices:
        writer.write(i, log_mel(read_clip(demo_root / filenames[i])))
    writer.close()


def test_resume_recovers_from_torn_writes(reference_store, demo_root, filenames, tmp_path):
    store = tmp_path / "torn.h5"
    write_some(store, demo_root, filenames, [0, 1, 2, 3])
    with h5py.File(partial_path(store), "r+") as f:  # a chunk torn after its journal line
        f["features"][2] = np.zeros((256, 469, 2), np.float32)
    with open(journal_path(store), "a") as f:
        f.write("9 deadbe")  # a journal line torn by the kill
    writer = StoreWriter.open(store, filenames)
    assert writer.done == {0, 1, 3}
    writer.close()
    extract_inputs(demo_root, filenames, store, workers=1, progress=False)
    assert_same_store(store, reference_store)


def test_resume_restarts_from_a_corrupt_partial_file(reference_store, demo_root, filenames,
                                                     tmp_path):
    store = tmp_path / "corrupt.h5"
    write_some(store, demo_root, filenames, [0, 1])
    data = partial_path(store).read_bytes()
    partial_path(store).write_bytes(data[:1000])  # HDF5 structure destroyed
    extract_inputs(demo_root, filenames, store, workers=1, progress=False)
    assert_same_store(store, reference_store)


def test_partial_store_with_other_options_is_refused(demo_root, filenames, tmp_path):
    store = tmp_path / "mixed.h5"
    write_some(store, demo_root, filenames, [0])
    with pytest.raises(StoreError, match="interrupted extraction with other parameters.*dtype"):
        extract_inputs(demo_root, filenames, store, dtype="float16", progress=False)
    with pytest.raises(StoreError, match="other file list"):
        extract_inputs(demo_root, filenames[:6], store, progress=False)


# -- bad audio -----------------------------------------------------------------------------
BAD_AUDIO = {
    "audio/corrupt.wav": "cannot be decoded",
    "audio/truncated.wav": "truncated",
    "audio/rate.wav": "sample rate is 44100 Hz",
    "audio/mono.wav": "has 1 channel",
    "audio/short.wav": "shorter than the 10 s",
    "audio/nan.wav": "NaN or infinite",
}


@pytest.fixture()
def bad_folder(demo_root, filenames, tmp_path) -> tuple[Path, list[str]]:
    """Three good demo clips and one file of each bad kind, interleaved."""
    root = tmp_path / "bad"
    (root / "audio").mkdir(parents=True)
    good = filenames[:3]
    for name in good:
        shutil.copy(demo_root / name, root / name)
    noise = 0.1 * np.random.default_rng(0).standard_normal((480000, 2))
    (root / "audio/corrupt.wav").write_bytes(np.random.default_rng(1).bytes(50_000))
    write_clip(root / "audio/truncated.wav", noise)
    data = (root / "audio/truncated.wav").read_bytes()
    (root / "audio/truncated.wav").write_bytes(data[: len(data) // 2])
    write_clip(root / "audio/rate.wav", noise[:441000], 44100)
    write_clip(root / "audio/mono.wav", noise[:, :1])
    write_clip(root / "audio/short.wav", noise[:400000])
    noise[100, 0] = np.nan
    write_clip(root / "audio/nan.wav", noise, subtype="FLOAT")
    order = [good[0], *list(BAD_AUDIO)[:3], good[1], *list(BAD_AUDIO)[3:], good[2]]
    return root, order


def test_bad_audio_raises_and_keeps_the_good_clips(bad_folder, reference_store, tmp_path):
    root, order = bad_folder
    store = tmp_path / "bad.h5"
    with pytest.raises(AudioError, match="corrupt.wav: cannot be decoded"):
        extract_inputs(root, order, store, workers=1, progress=False)
    assert not store.exists()  # nothing half-written is taken for a finished store
    with pytest.raises(StoreError, match="incomplete"):
        FeatureStore.open(store)
    # the same list with --on-error skip resumes the partial store and finishes it
    extract_inputs(root, order, store, workers=1, on_error="skip", progress=False)
    with FeatureStore.open(store) as bad, FeatureStore.open(reference_store) as good:
        assert bad.filenames == [order[0], order[4], order[-1]]
        np.testing.assert_array_equal(bad.read_batch([0, 1, 2]), good.read_batch([0, 1, 2]))
        assert [s["filename"] for s in bad.skipped] == list(BAD_AUDIO)
        for entry in bad.skipped:
            assert BAD_AUDIO[entry["filename"]] in entry["reason"]
    report = skipped_report_path(store).read_text().splitlines()
    assert report[0] == "filename\treason" and [r.split("\t")[0] for r in report[1:]] == list(
        BAD_AUDIO)


def test_each_bad_file_is_named_with_two_workers(bad_folder, tmp_path):
    root, order = bad_folder
    for k, (name, reason) in enumerate(BAD_AUDIO.items()):
        with pytest.raises(AudioError, match=reason) as err:
            extract_inputs(root, [order[0], name], tmp_path / f"one{k}.h5", workers=2,
                             progress=False)
        assert err.value.path == root / name and "--on-error skip" in str(err.value)


def test_missing_listed_audio(demo_root, filenames, tmp_path):
    listed = filenames[:2] + ["audio/airport-paris-9999-1-a.wav"]
    with pytest.raises(DatasetError, match="entry 3 of the file list\\) is listed but missing"):
        extract_inputs(demo_root, listed, tmp_path / "m.h5", progress=False)
    path = extract_inputs(demo_root, listed, tmp_path / "m.h5", on_error="skip", progress=False)
    with FeatureStore.open(path) as store:
        assert len(store) == 2 and "audio file not found" in store.skipped[0]["reason"]


# -- command line --------------------------------------------------------------------------
def test_cli_on_evaluation_folder(demo_out, tmp_path):
    root = demo_out / "TAU-urban-acoustic-scenes-2020-3class-evaluation"
    result = subprocess.run(CLI + [str(root), str(tmp_path / "eval.h5"), "--dtype", "float16",
                                   "--quiet"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with FeatureStore.open(tmp_path / "eval.h5") as store:
        assert store.filenames == ["audio/0.wav", "audio/1.wav", "audio/2.wav"]
        assert store.dtype == "float16"


def test_cli_errors_exit_2_with_the_message(demo_root, tmp_path):
    result = subprocess.run(CLI + [str(tmp_path / "nowhere"), str(tmp_path / "x.h5")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "error:" in result.stderr
    assert "not found" in result.stderr and "Traceback" not in result.stderr
    copy = tmp_path / "copy"
    shutil.copytree(demo_root, copy)
    missing = TauDataset(copy).table["filename"][4]
    (copy / missing).unlink()
    result = subprocess.run(CLI + [str(copy), str(tmp_path / "y.h5")], capture_output=True,
                            text=True)
    assert result.returncode == 2 and "meta.csv: line 6:" in result.stderr
    assert missing in result.stderr and not (tmp_path / "y.h5").exists()


def test_a_store_being_written_is_not_touched(demo_root, filenames, tmp_path):
    """A second extraction on the same store refuses instead of discarding the first's work."""
    store = tmp_path / "busy.h5"
    writer = StoreWriter.open(store, filenames)  # holds the HDF5 lock, like a running CLI
    try:
        result = subprocess.run(CLI + [str(demo_root), str(store), "--quiet"],
                                capture_output=True, text=True)
        assert result.returncode == 2 and "another extraction is writing" in result.stderr
        assert partial_path(store).exists()
    finally:
        writer.close()


def test_all_files_bad(bad_folder, tmp_path):
    root, _ = bad_folder
    store = tmp_path / "none.h5"
    with pytest.raises(AudioError, match="all 2 files were skipped"):
        extract_inputs(root, ["audio/mono.wav", "audio/nan.wav"], store, on_error="skip",
                         workers=1, progress=False)
    assert not store.exists() and len(skipped_report_path(store).read_text().splitlines()) == 3


def test_read_crops_equals_slices_of_whole_clips(reference_store):
    with FeatureStore.open(reference_store, expected=FeatureConfig()) as store:
        rows, offsets = np.array([7, 0, 7, 11]), np.array([69, 0, 3, 40])
        crops = store.read_crops(rows, offsets, 400)
        assert crops.shape == (4, 256, 400, 2) and crops.dtype == np.float32
        whole = store.read_batch(rows)
        for j, o in enumerate(offsets):
            np.testing.assert_array_equal(crops[j], whole[j][:, o:o + 400, :])
        with pytest.raises(IndexError):
            store.read_crops([0], [70], 400)  # 70 + 400 > 469


# -- every input kind (SPEC §6) ------------------------------------------------------------
KIND_SHAPES = {"waveform": (160000,), "logmel64": (64, 1001, 1), "gccgram": (40, 500, 3)}


@pytest.fixture(scope="module")
def waveform_store(demo_root, filenames, tmp_path_factory) -> Path:
    """An uninterrupted waveform store of the 12 demo clips, one in-process worker."""
    path = tmp_path_factory.mktemp("wave") / "waveform.h5"
    return extract_inputs(demo_root, filenames, path, InputSpec("waveform"), workers=1,
                          progress=False)


@pytest.mark.parametrize("kind", ["waveform", "logmel64", "gccgram"])
def test_every_kind_round_trips_its_values(kind, demo_root, filenames, tmp_path):
    spec, names = InputSpec(kind), [filenames[0], filenames[5], filenames[11]]
    path = extract_inputs(demo_root, names, tmp_path / f"{kind}.h5", spec, workers=1,
                          progress=False)
    with FeatureStore.open(path, expected=spec) as store:
        assert store.spec == spec and store.shape == (3, *KIND_SHAPES[kind])
        expected = np.stack([spec.compute(read_clip(demo_root / n, spec.read_config))
                             for n in names])
        np.testing.assert_array_equal(store.read_batch([0, 1, 2]), expected)
    with h5py.File(path, "r") as f:
        assert f["features"].chunks == (1, *KIND_SHAPES[kind])
        assert f.attrs["input.kind"] == kind and f.attrs["input.waveform.sample_rate"] == 16000
        assert InputSpec.from_dict(json.loads(f.attrs["input_spec"])) == spec


def test_waveform_store_is_the_16k_mono_mix(waveform_store, demo_root, filenames):
    """Row 3 of the store is clip 3's mean of left and right at 16 kHz: its spectrum above
    8 kHz is gone and its energy below matches the 48 kHz mix's."""
    with FeatureStore.open(waveform_store, expected=InputSpec("waveform")) as store:
        x = store[3].astype(np.float64)
    mix = read_clip(demo_root / filenames[3]).astype(np.float64).mean(axis=1)
    assert x.shape == (160000,)
    low = lambda s, sr: np.sum(np.abs(np.fft.rfft(s))[: int(7000 * len(s) / sr)] ** 2) / len(s)
    assert low(x, 16000) == pytest.approx(low(mix, 48000) / 3, rel=0.02)


def test_read_crops_along_the_time_axis(waveform_store, demo_root, filenames, tmp_path):
    with FeatureStore.open(waveform_store) as store:
        rows, offsets = np.array([4, 0, 4]), np.array([144000, 0, 17])
        crops = store.read_crops(rows, offsets, 16000)  # 1 s crops of [R2]'s AclNet
        assert crops.shape == (3, 16000) and crops.dtype == np.float32
        whole = store.read_batch(rows)
        for j, o in enumerate(offsets):
            np.testing.assert_array_equal(crops[j], whole[j][o:o + 16000])
        with pytest.raises(IndexError, match="160000-long time axis"):
            store.read_crops([0], [144001], 16000)
    spec = InputSpec("gccgram")
    path = extract_inputs(demo_root, filenames[:2], tmp_path / "gcc.h5", spec, workers=1,
                          progress=False)
    with FeatureStore.open(path) as store:
        crops = store.read_crops([1, 0], [0, 100], 400)
        assert crops.shape == (2, 40, 400, 3)
        np.testing.assert_array_equal(crops[1], store[0][:, 100:500, :])
        np.testing.assert_array_equal(crops[0], store[1][:, :400, :])


def test_another_spec_is_refused_naming_the_field(waveform_store, demo_root, filenames):
    left = InputSpec("waveform", waveform=dataclasses.replace(InputSpec("waveform").waveform,
                                                              mono="left"))
    with pytest.raises(StoreError, match="waveform.mono='mean' \\(expected 'left'\\)"):
        FeatureStore.open(waveform_store, expected=left)
    with pytest.raises(StoreError, match="kind='waveform' \\(expected 'logmel256'\\)"):
        FeatureStore.open(waveform_store, expected=FeatureConfig())
    with pytest.raises(StoreError, match="other input parameters: waveform.mono"):
        extract_inputs(demo_root, filenames, waveform_store, left, progress=False)


def test_ensure_store_keeps_one_store_per_folder_spec_and_dtype(demo_root, filenames,
                                                                tmp_path):
    names = filenames[:2]
    store = ensure_store(tmp_path, demo_root, names, InputSpec("waveform"), progress=False)
    assert store.spec == InputSpec("waveform") and store.filenames == names
    assert re.fullmatch(f"{demo_root.name}-waveform-[0-9a-f]{{10}}\\.h5", store.path.name)
    assert store.path == store_path(tmp_path, demo_root, InputSpec("waveform"))
    before = store.path.stat().st_mtime_ns
    again = ensure_store(tmp_path, demo_root, names, InputSpec("waveform"), progress=False)
    assert again.path == store.path and store.path.stat().st_mtime_ns == before
    half = ensure_store(tmp_path, demo_root, names, InputSpec("waveform"), dtype="float16",
                        progress=False)
    r1 = ensure_store(tmp_path, demo_root, names, FeatureConfig(), progress=False)
    assert half.dtype == "float16" and r1.spec == InputSpec("logmel256")
    assert len({store.path, half.path, r1.path}) == 3 and r1.path.name.startswith(
        f"{demo_root.name}-logmel256-")
    np.testing.assert_array_equal(r1[1], log_mel(read_clip(demo_root / names[1])))
    for s in (store, again, half, r1):
        s.close()


@pytest.mark.slow
def test_waveform_store_resumes_after_kill_9(waveform_store, demo_root, tmp_path):
    """The waveform CLI killed at three moments and rerun gives the uninterrupted store."""
    store = tmp_path / "killed.h5"
    args = [str(demo_root), str(store), "--input", "waveform", "--workers", "1", "--quiet"]
    moments = [lambda s: partial_path(s).exists(), lambda s: journal_lines(s) >= 4,
               lambda s: journal_lines(s) >= 8]
    kills = sum(run_and_kill(args, store, when) for when in moments)
    assert kills >= 2  # the kills really landed mid-extraction
    done = subprocess.run(CLI + args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "12 waveform clips of (160000,)" in done.stdout
    assert_same_store(store, waveform_store)
    assert not partial_path(store).exists() and not journal_path(store).exists()
