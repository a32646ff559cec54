"""Guards of the input store (`data/store.py`): one writer at a time, checksums, read-only media.

- `WriterLock`: an advisory lock of our own, `fcntl.flock` on `STORE.h5.partial.lock`, held
  by the one extraction writing a store. HDF5's file locking already refuses a second writer
  of the partial file, but it can be off (`HDF5_USE_FILE_LOCKING=FALSE`, some network file
  systems); this lock refuses the second extraction cleanly in every case, before it reads
  or touches the partial file. The kernel drops it when the process dies (kill -9 included),
  so a stale lock file never blocks a rerun.
- `ClipVerifier`: the CRC32 of every clip (`/crc32` of the finished store, taken from the
  extraction journal) checked against the raw bytes of its HDF5 chunk. `read_batch` checks
  every clip it reads (the whole chunk is read anyway: ≈ 0.16 ms per log-mel clip);
  `read_crops` reads only a window, so each clip is checked in full the first time a process
  touches it and trusted afterwards (the file of a finished store is never written again).
- `unlink_present`: removes leftovers only when they exist, so opening a finished store on
  read-only media writes nothing (unlink of a missing file fails with EROFS there).
"""
from __future__ import annotations

import errno
import fcntl
import os
import weakref
import zlib
from pathlib import Path

import h5py
import numpy as np

from dcase_lowcomplexity.errors import StoreError, with_path


def partial_path(path: str | Path) -> Path:
    return Path(f"{path}.partial")


def journal_path(path: str | Path) -> Path:
    return Path(f"{path}.partial.journal")


def lock_path(path: str | Path) -> Path:
    return Path(f"{path}.partial.lock")


def unlink_present(path: Path) -> None:
    """Unlinks `path` if it exists; nothing is written when it does not."""
    if os.path.lexists(path):
        path.unlink(missing_ok=True)


_HELD: "weakref.WeakSet[WriterLock]" = weakref.WeakSet()


def _drop_in_child() -> None:
    """A forked child (an extraction worker) closes its copy of the lock descriptors: an
    orphaned worker of a killed writer must not keep the store locked for the rerun."""
    for lock in list(_HELD):
        if lock.fd is not None:
            os.close(lock.fd)
            lock.fd = None


os.register_at_fork(after_in_child=_drop_in_child)


class WriterLock:
    """Exclusive, non-blocking flock on `STORE.h5.partial.lock` (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = lock_path(path)
        self.fd: int | None = None
        for _ in range(8):  # the file may be replaced under us by a finishing writer
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise StoreError(
                        "another extraction is writing this store right now (it holds "
                        f"{self.path.name}).", path=partial_path(path),
                        fix="wait for it to finish (or stop it) and rerun the command") from None
                raise with_path(err, self.path) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                _HELD.add(self)
                return
            os.close(fd)  # unlinked by the writer that held it: take the new file
        raise StoreError("could not take the writer lock.", path=self.path,
                         fix="rerun the command")

    def release(self, remove: bool = False) -> None:
        """Unlocks; `remove` also deletes the lock file (while still holding it)."""
        if self.fd is None:
            return
        if remove:
            try:
                self.path.unlink(missing_ok=True)
            except OSError:
                pass  # a lock file left behind never blocks: the lock is on the descriptor
        os.close(self.fd)
        self.fd = None


def try_lock(path: Path) -> WriterLock | None:
    """The writer lock if it can be had now (None: busy, or the folder is read-only)."""
    try:
        return WriterLock(path)
    except (StoreError, OSError):
        return None


class ClipVerifier:
    """Checks clips of a finished store against its `/crc32` (one instance per process)."""

    def __init__(self, path: Path, crcs: np.ndarray, filenames: list[str], shape, dtype: str):
        self.path, self.crcs, self.filenames = path, crcs, filenames
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.verified = np.zeros(len(crcs), dtype=bool)

    def read_into(self, features: h5py.Dataset, i: int, out: np.ndarray) -> None:
        """Clip i into `out` (float32, `shape`) from its raw chunk, verified (StoreError if
        altered): one read, no extra copy for a float32 store."""
        raw = out if self.dtype == out.dtype else np.empty(self.shape, self.dtype)
        view = raw.reshape(-1).view(np.uint8)
        _, data = features.id.read_direct_chunk((i,) + (0,) * len(self.shape), out=view)
        if len(data) != view.nbytes:
            raise StoreError(f"clip {i} ({self.filenames[i]!r}) has a chunk of {len(data)} "
                             f"bytes, expected {view.nbytes}.", path=self.path,
                             fix="delete the store and re-extract it")
        self._check(i, zlib.crc32(view))
        if raw is not out:
            out[...] = raw

    def ensure(self, features: h5py.Dataset, indices) -> None:
        """Verifies the clips of `indices` not yet verified in this process."""
        todo = np.unique(indices)
        todo = todo[~self.verified[todo]]
        if todo.size:
            scratch = np.empty(self.shape, self.dtype)
            for i in todo:
                self.read_into(features, int(i), scratch)

    def _check(self, i: int, crc: int) -> None:
        if crc != int(self.crcs[i]):
            raise StoreError(
                f"clip {i} ({self.filenames[i]!r}) fails its CRC32 check (stored "
                f"{int(self.crcs[i]):08x}, read {crc:08x}): its bytes were altered on disk.",
                path=self.path,
                fix="delete the store and re-extract it with data_prep/extract_features.py "
                    "(check the disk if this repeats)")
        self.verified[i] = True


# -- write side helpers of StoreWriter -----------------------------------------------------
def remove_leftovers(path: Path) -> None:
    """Partial, journal and lock files of a run killed between the final rename and the
    clean-up: removed only when present and no writer holds the lock (a finished store on
    read-only media is opened without writing anything)."""
    leftovers = [partial_path(path), journal_path(path), lock_path(path)]
    if not any(os.path.lexists(p) for p in leftovers):
        return
    lock = try_lock(path)
    if lock is None:
        return
    try:
        for p in leftovers[:2]:
            unlink_present(p)
    except OSError:
        pass  # best effort: they are never read while the finished store exists
    lock.release(remove=True)


def read_journal(path: Path, n_clips: int) -> dict[int, int]:
    """index → crc32 of the journaled clips; a torn last line is ignored."""
    journal = journal_path(path)
    done: dict[int, int] = {}
    if not journal.exists():
        return done
    # text after the last \n is torn
    for line in journal.read_text(errors="replace").split("\n")[:-1]:
        parts = line.split()
        if (len(parts) == 2 and parts[0].isdigit() and int(parts[0]) < n_clips
                and len(parts[1]) == 8 and all(c in "0123456789abcdef" for c in parts[1])):
            done[int(parts[0])] = int(parts[1], 16)
    return done


def compact(partial: Path, path: Path, keep: list[int], attrs: dict, crcs: np.ndarray) -> None:
    """Copies the kept clips of `partial` into a new finished store at `path`."""
    tmp = Path(f"{path}.tmp")
    try:
        _copy_rows(partial, tmp, keep, attrs, crcs)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _copy_rows(partial: Path, tmp: Path, keep: list[int], attrs: dict, crcs) -> None:
    with h5py.File(partial, "r") as src, h5py.File(tmp, "w") as dst:
        features = src["features"]
        out = dst.create_dataset("features", shape=(len(keep), *features.shape[1:]),
                                 dtype=features.dtype, chunks=(1, *features.shape[1:]),
                                 track_times=False)
        for j, i in enumerate(keep):
            out[j] = features[i]
        names = src["filenames"][()]
        dst.create_dataset("filenames", data=names[keep], dtype=h5py.string_dtype(),
                           track_times=False)
        dst.create_dataset("crc32", data=crcs, track_times=False)
        dst.attrs.update(dict(src.attrs))
        dst.attrs.update(attrs)
        dst.attrs["n_clips"] = len(keep)
