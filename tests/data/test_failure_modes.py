"""Issue 11, data side: OS errors at the command boundary, read-only media, one writer per
store (HDF5 file locking off too), per-clip CRC32s, and extract_features' folder layout.

Tests run as root, where chmod does not stop writes: read-only media and a full disk are
simulated by patching the os / io / h5py functions to raise OSError(EROFS) or
OSError(ENOSPC) for paths under one folder, as the kernel does (unlink of a missing file
included: on a read-only mount it fails with EROFS, not ENOENT).
"""
import builtins
import errno
import importlib.util
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from dcase_lowcomplexity.data.dataset import TauDataset
from dcase_lowcomplexity.data.extraction import extract_inputs
from dcase_lowcomplexity.data.store import (
    FeatureStore, StoreWriter, journal_path, lock_path, partial_path,
)
from dcase_lowcomplexity.errors import StoreError, cli_errors

REPO = Path(__file__).parents[2]
CLI = [sys.executable, str(REPO / "data_prep" / "extract_features.py")]


def load_cli():
    spec = importlib.util.spec_from_file_location("extract_features_cli",
                                                  REPO / "data_prep" / "extract_features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(argv, capsys) -> tuple[int, str, str]:
    """extract_features.main in this process (so the patches apply): (exit code, out, err)."""
    try:
        code = load_cli().main(argv)
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def filenames(demo_root) -> list[str]:
    return list(TauDataset(demo_root).table["filename"])


@pytest.fixture(scope="module")
def finished(demo_root, filenames, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("finished") / "store.h5"
    return extract_inputs(demo_root, filenames, path, workers=1, progress=False)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- 1. the error boundary -------------------------------------------------------------------
@pytest.mark.parametrize("code, words", [
    (errno.EACCES, "permission denied"), (errno.EROFS, "read-only file system"),
    (errno.ENOSPC, "no space left"), (errno.ENOTDIR, "file where a folder is needed"),
    (errno.EISDIR, "is a folder where a file is needed"), (errno.EIO, "Input/output error")])
def test_cli_errors_turn_os_errors_into_one_line(capsys, code, words):
    with pytest.raises(SystemExit) as stop, cli_errors():
        raise OSError(code, os.strerror(code), "/data/out/store.h5")
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: /data/out/store.h5: ") and words in err and "Fix:" in err


def test_cli_errors_find_the_errno_in_an_hdf5_message(capsys):
    with pytest.raises(SystemExit), cli_errors():
        raise OSError("Can't write data (file write failed: errno = 28, error message = 'No "
                      "space left on device')")
    assert "no space left on the device" in capsys.readouterr().err


def test_store_path_under_a_file_or_naming_a_folder(demo_root, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    code, _, err = run_main([str(demo_root), str(tmp_path / "a_file" / "s.h5"), "--quiet",
                             "--workers", "1"], capsys)
    assert code == 2 and "a_file: is a file, not a folder" in err and "Traceback" not in err
    (tmp_path / "folder.h5").mkdir()
    code, _, err = run_main([str(demo_root), str(tmp_path / "folder.h5"), "--quiet"], capsys)
    assert code == 2 and "folder.h5: is a folder, not a feature store file" in err
    assert files_under(tmp_path) == ["a_file", "folder.h5"]  # nothing written


@pytest.fixture()
def disk_full(monkeypatch):
    """os.write to a store journal fails with ENOSPC after `allow` lines (a full disk)."""
    real_write = os.write
    state = {"allow": 3}

    def write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".journal"):
            if state["allow"] <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            state["allow"] -= 1
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    return monkeypatch


def test_disk_full_during_extraction_exits_2_and_resumes(demo_root, finished, tmp_path,
                                                         capsys, disk_full):
    store = tmp_path / "full" / "store.h5"
    argv = [str(demo_root), str(store), "--quiet", "--workers", "1"]
    code, _, err = run_main(argv, capsys)
    assert code == 2 and f"{partial_path(store)}: no space left on the device" in err
    assert "rerun the same command" in err and "Traceback" not in err
    assert not store.exists() and partial_path(store).exists()  # no finished store
    assert len(journal_path(store).read_text().splitlines()) == 3  # work done is kept
    disk_full.undo()
    code, out, _ = run_main(argv, capsys)
    assert code == 0 and "12 logmel256 clips" in out
    with FeatureStore.open(store) as a, FeatureStore.open(finished) as b:
        np.testing.assert_array_equal(a.read_batch(range(12)), b.read_batch(range(12)))


@pytest.fixture()
def read_only(monkeypatch):
    """Makes `folder` read-only media: every write, create, rename or unlink under it (of a
    missing file too) raises OSError(EROFS), as on a read-only mount."""
    folders = []

    def under(path) -> bool:
        path = os.path.abspath(os.fsdecode(path)) if isinstance(path, (str, bytes, os.PathLike)) \
            else ""
        return any(path == f or path.startswith(f + os.sep) for f in folders)

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    def guard(real, n_paths=1):
        def call(*args, **kwargs):
            for path in args[:n_paths]:
                if under(path):
                    refuse(path)
            return real(*args, **kwargs)
        return call

    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    real_open, real_io_open, real_h5 = os.open, io.open, h5py.File

    def os_open(path, flags, *args, **kwargs):
        if flags & writes and under(path):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def io_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and under(file):
            refuse(file)
        return real_io_open(file, mode, *args, **kwargs)

    def h5_file(name, mode="r", *args, **kwargs):
        if mode != "r" and under(name):
            refuse(name)
        return real_h5(name, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(io, "open", io_open)
    monkeypatch.setattr(builtins, "open", io_open)
    monkeypatch.setattr(h5py, "File", h5_file)
    for name, n in (("unlink", 1), ("remove", 1), ("rmdir", 1), ("mkdir", 1), ("rename", 2),
                    ("replace", 2)):
        monkeypatch.setattr(os, name, guard(getattr(os, name), n))
    return lambda folder: folders.append(os.path.abspath(folder))


def test_finished_store_opens_on_read_only_media(demo_root, filenames, finished, tmp_path,
                                                 capsys, read_only):
    """Issue 11, cause 1: extraction on a finished store on read-only media opens it and
    writes nothing (it used to unlink a .partial that does not exist: EROFS)."""
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(finished, media / "store.h5")
    read_only(media)
    with pytest.raises(OSError, match="Read-only"):  # the simulation works
        (media / "x").unlink(missing_ok=True)
    assert extract_inputs(demo_root, filenames, media / "store.h5", progress=False)
    code, out, err = run_main([str(demo_root), str(media / "store.h5"), "--quiet"], capsys)
    assert code == 0 and "12 logmel256 clips" in out, err
    with FeatureStore.open(media / "store.h5") as store:
        assert store.read_batch([0, 11]).shape == (2, 256, 469, 2)
    # a new store there: one line naming the path, nothing written
    code, _, err = run_main([str(demo_root), str(media / "new.h5"), "--quiet"], capsys)
    assert code == 2 and "read-only file system" in err and str(media) in err
    assert "Traceback" not in err and files_under(media) == ["store.h5"]


# -- one writer per store ----------------------------------------------------------------------
def test_second_writer_is_refused_with_hdf5_locking_off(demo_root, filenames, finished,
                                                        tmp_path):
    """Issue 11, cause 1: with HDF5_USE_FILE_LOCKING=FALSE a second extraction on the same
    store is refused by our own lock (STORE.h5.partial.lock), and the first finishes intact."""
    store = tmp_path / "busy.h5"
    writer = StoreWriter.open(store, filenames)
    try:
        with pytest.raises(StoreError, match="another extraction is writing"):
            StoreWriter.open(store, filenames)  # same process, another descriptor
        env = dict(os.environ, HDF5_USE_FILE_LOCKING="FALSE")
        result = subprocess.run(CLI + [str(demo_root), str(store), "--quiet", "--workers", "1"],
                                capture_output=True, text=True, env=env)
        assert result.returncode == 2, result.stderr
        assert "another extraction is writing" in result.stderr and str(store) in result.stderr
        assert "Traceback" not in result.stderr and not store.exists()
    finally:
        writer.close()
    assert lock_path(store).exists()  # left by a writer that stopped: never blocks a rerun
    extract_inputs(demo_root, filenames, store, workers=1, progress=False)
    assert not lock_path(store).exists() and not partial_path(store).exists()
    with FeatureStore.open(store) as a, FeatureStore.open(finished) as b:
        np.testing.assert_array_equal(a.read_batch(range(12)), b.read_batch(range(12)))


# -- integrity ---------------------------------------------------------------------------------
def overwrite(path: Path, clip: int, at: int, data: bytes) -> None:
    with h5py.File(path, "r") as f:
        offset = f["features"].id.get_chunk_info_by_coord((clip, 0, 0, 0)).byte_offset
    with open(path, "r+b") as f:
        f.seek(offset + at)
        f.write(data)


def test_overwritten_bytes_are_refused(finished, filenames, tmp_path):
    """Issue 11, cause 11: the finished store keeps a CRC32 per clip; overwritten bytes
    (here 3.4e38) are refused on every read path, naming the store and the clip."""
    store = tmp_path / "tampered.h5"
    shutil.copy(finished, store)
    with h5py.File(store, "r") as f, FeatureStore.open(finished) as good:
        assert f["crc32"].shape == (12,) and f["crc32"].dtype == np.uint32
        good.read_batch(range(12))  # every clip passes its check
    overwrite(store, 5, 4000, np.float32(3.4e38).tobytes() * 4)
    pattern = rf"{store}: clip 5 \('{filenames[5]}'\) fails its CRC32 check"
    with FeatureStore.open(store) as s:
        np.testing.assert_array_equal(s.read_batch([4, 6]), FeatureStore.open(finished)
                                      .read_batch([4, 6]))
        with pytest.raises(StoreError, match=pattern):
            s.read_batch([4, 5])
        with pytest.raises(StoreError, match=pattern):
            s[5]
    with FeatureStore.open(store) as s, pytest.raises(StoreError, match=pattern):
        s.read_crops([3, 5], [0, 10], 400)  # first read of clip 5 in this process
    with FeatureStore.open(store, verify=False) as s:  # the documented opt-out serves it
        assert s.read_batch([5]).max() == np.float32(3.4e38)


def test_tampered_checksums_and_older_stores_are_refused(finished, tmp_path):
    store = tmp_path / "crc.h5"
    shutil.copy(finished, store)
    with h5py.File(store, "r+") as f:
        f["crc32"][7] ^= 1
    with FeatureStore.open(store) as s, pytest.raises(StoreError, match="clip 7 .* CRC32"):
        s.read_batch([7])
    with h5py.File(store, "r+") as f:
        del f["crc32"]
        f.attrs["format"] = "dcase_lowcomplexity.features/2"
    with pytest.raises(StoreError, match="features/2.*older formats keep no checksums"):
        FeatureStore.open(store)


# -- 2. extract_features on a development folder without meta.csv -----------------------------
@pytest.mark.parametrize("case", ["missing", "folder", "latin-1"])
def test_development_folder_without_meta_is_refused(demo_root, tmp_path, case):
    """Issue 11, cause 2: it used to exit 0 after extracting only the fold-1 test list."""
    root = tmp_path / "dev"
    shutil.copytree(demo_root, root)
    meta = root / "meta.csv"
    text = meta.read_text()
    meta.unlink()
    if case == "folder":
        meta.mkdir()
    elif case == "latin-1":
        meta.write_bytes(text.encode() + "café\n".encode("latin-1"))
    store = tmp_path / "s.h5"
    result = subprocess.run(CLI + [str(root), str(store), "--quiet"], capture_output=True,
                            text=True)
    expected = {"missing": "meta.csv: is missing: this is a development folder",
                "folder": "meta.csv: is a folder, not a file",
                "latin-1": "meta.csv: is not UTF-8 text"}[case]
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert str(meta) in result.stderr and "Traceback" not in result.stderr
    assert not any(p.name.startswith("s.h5") for p in tmp_path.iterdir())  # nothing written


def test_forked_workers_do_not_keep_the_writer_lock(filenames, tmp_path):
    """A worker forked by the writer (and orphaned by a kill -9) holds no copy of the lock."""
    store = tmp_path / "forked.h5"
    writer = StoreWriter.open(store, filenames)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: wait until the parent has released, then try the lock
        os.close(write)
        os.read(read, 1)
        try:
            from dcase_lowcomplexity.data.store_guard import WriterLock
            WriterLock(store).release()
            os._exit(0)
        except BaseException:
            os._exit(1)
    os.close(read)
    writer.close()  # the parent's lock is gone; the child's inherited copy must be gone too
    probe = subprocess.run([sys.executable, "-c", (
        "import sys; from dcase_lowcomplexity.data.store_guard import WriterLock; "
        "WriterLock(sys.argv[1]).release()"), str(store)], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)))
    os.write(write, b"x")
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert probe.returncode == 0, probe.stderr
    assert os.waitstatus_to_exitcode(status) == 0
