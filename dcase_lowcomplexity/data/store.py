"""The HDF5 input store: one (N, *spec.shape) array, one clip per chunk (SPEC §2, §6).

C1 saved one float32 array per split with np.save and loaded it whole (≈ 6.9 GB for the
development set). Here every input kind of `data.inputs` (the [R1] 256-band log-mel, the
[R2] 16 kHz waveform, 64-band log-mel and GCC-grams) lives in an HDF5 file read one clip at
a time:

    /features   (N, *spec.shape) float32 (or float16), chunks (1, *spec.shape)
    /filenames  (N,) UTF-8, 'audio/….wav' as in meta.csv
    /crc32      (N,) uint32, CRC32 of each clip's chunk bytes (from the extraction journal),
                verified on read (`data.store_guard.ClipVerifier`)
    attributes  format, package_version, dtype, n_clips, complete, skipped (JSON),
                input_spec (JSON of InputSpec.to_dict()) and one `input.<field>` per used
                field ('input.kind', 'input.features.n_mels', 'input.waveform.sample_rate' …),
                created_utc / completed_utc (timing: the only attributes that vary)

`StoreWriter` makes it resumable: it writes into `STORE.h5.partial`, whose chunks are all
allocated when it is created (so writing a clip never changes HDF5 metadata and a SIGKILL
cannot corrupt the file structure), records each clip in the journal
`STORE.h5.partial.journal` only after its data is flushed, and renames the partial file to
`STORE.h5` (os.replace) only when every clip is done; one extraction at a time holds
`STORE.h5.partial.lock` (`store_guard.WriterLock`). `FeatureStore.open` refuses anything
else, and opening or "re-extracting" a finished store writes nothing (read-only media). `data.extraction.extract_inputs` drives it with a pool of workers computing the
inputs and the calling process as the one writer (extraction imports this module, never the
reverse).
"""
from __future__ import annotations

import datetime
import json
import os
import zlib
from pathlib import Path

import h5py
import numpy as np

from dcase_lowcomplexity import __version__
from dcase_lowcomplexity.config import FeatureConfig
from dcase_lowcomplexity.data.inputs import InputSpec, as_spec, differences, flat_fields
from dcase_lowcomplexity.data.store_guard import (  # noqa: F401 (paths re-exported)
    ClipVerifier, WriterLock, compact, journal_path, lock_path, partial_path, read_journal,
    remove_leftovers, unlink_present,
)
from dcase_lowcomplexity.errors import ConfigError, StoreError, with_path

FORMAT = "dcase_lowcomplexity.features/3"  # /2: no /crc32; /1: log-mel only
DTYPES = ("float32", "float16")
TIMING_ATTRIBUTES = ("created_utc", "completed_utc")
_VERIFY_TAIL = 16  # journal entries re-checked on resume (only the last writes can be torn)


def skipped_report_path(path: str | Path) -> Path:
    return Path(f"{path}.skipped.csv")


def _finish_fix(path: Path) -> str:
    return (f"rerun data_prep/extract_features.py DATASET_DIR {path} (same options) to finish "
            "it; extraction resumes where it stopped")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def spec_attributes(spec: InputSpec) -> dict[str, object]:
    """The spec as HDF5 attributes: its JSON, and every used field (None written "none")."""
    attrs = {f"input.{k}": ("none" if v is None else v) for k, v in flat_fields(spec).items()}
    attrs["input_spec"] = json.dumps(spec.to_dict(), sort_keys=True)
    return attrs


def _read_header(f: h5py.File, path: Path) -> tuple[InputSpec, list[str], str, np.ndarray]:
    """(input spec, filenames, dtype, CRC32s) of an open store, or StoreError if malformed."""
    try:
        if f.attrs["format"] != FORMAT:
            raise StoreError(f"format {f.attrs['format']!r}, expected {FORMAT!r} (older "
                             "formats keep no checksums).", path=path,
                             fix="delete it and re-extract it with data_prep/extract_features.py")
        spec = InputSpec.from_dict(json.loads(f.attrs["input_spec"]))
        filenames = [n.decode() if isinstance(n, bytes) else n for n in f["filenames"][()]]
        features, crcs = f["features"], f["crc32"][()]
    except (KeyError, TypeError, ValueError, ConfigError) as err:
        raise StoreError(f"is not a feature store of this package ({err}).", path=path,
                         fix="re-extract it with data_prep/extract_features.py") from None
    expected = (len(filenames), *spec.shape)
    if features.shape != expected or features.chunks != (1, *spec.shape) or crcs.shape != (
            len(filenames),):
        raise StoreError(f"features have shape {features.shape} (chunks {features.chunks}, "
                         f"{crcs.shape[0] if crcs.ndim else '?'} CRC32s), expected "
                         f"{expected} in one chunk per clip.", path=path,
                         fix="delete it and re-extract with data_prep/extract_features.py")
    return spec, filenames, str(features.dtype), crcs


class FeatureStore:
    """Read side: clips are read one chunk at a time; the file is opened lazily per process
    (a forked or spawned reader reopens it), so readers never hold the whole array."""

    def __init__(self, path: Path, spec: InputSpec, filenames: list[str], dtype: str,
                 skipped: list[dict], crcs: np.ndarray | None = None, verify: bool = True):
        self.path = path
        self.spec = spec
        self.filenames = filenames
        self.dtype = dtype
        self.skipped = skipped
        self.verify = verify and crcs is not None
        self._crcs = crcs
        self._index = {name: i for i, name in enumerate(filenames)}
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._verifier: ClipVerifier | None = None

    @classmethod
    def open(cls, path: str | Path, expected: InputSpec | FeatureConfig | None = None,
             verify: bool = True) -> "FeatureStore":
        """Opens a finished store; StoreError if incomplete or made with another input spec
        than `expected` (a FeatureConfig means the logmel256 spec; None accepts any).
        `verify` (default) checks each clip's CRC32 on read (`store_guard.ClipVerifier`)."""
        path = Path(path)
        if path.is_dir():
            raise StoreError("is a folder, not a feature store file.", path=path,
                             fix=f"name the store file, e.g. {path / 'features.h5'}")
        if path.name.endswith(".partial") or (not path.exists() and partial_path(path).exists()):
            final = Path(str(path)[: -len(".partial")]) if path.name.endswith(".partial") else path
            raise StoreError("the feature store is incomplete (extraction was interrupted).",
                             path=path, fix=_finish_fix(final))
        if not path.is_file():
            raise StoreError("feature store not found.", path=path,
                             fix=f"create it with data_prep/extract_features.py DATASET_DIR {path}")
        try:
            with h5py.File(path, "r") as f:
                if not bool(f.attrs.get("complete", False)):
                    raise StoreError("the feature store is incomplete.", path=path,
                                     fix=_finish_fix(path))
                spec, filenames, dtype, crcs = _read_header(f, path)
                skipped = json.loads(f.attrs.get("skipped", "[]"))
        except OSError as err:
            raise StoreError(
                f"is not a readable HDF5 file ({err}).", path=path,
                fix="delete it and re-extract with data_prep/extract_features.py") from None
        if expected is not None and spec != as_spec(expected):
            raise StoreError(
                "was made with other input parameters: "
                + ", ".join(differences(spec, as_spec(expected))) + ".", path=path,
                fix="extract a new store with the parameters you need (stores are never mixed)")
        return cls(path, spec, filenames, dtype, skipped, crcs, verify)

    # -- lazy, per-process handle ----------------------------------------------------------
    def _features(self) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            # One chunk of cache is enough: each clip is read once per request.
            chunk_bytes = int(np.prod(self.spec.shape)) * np.dtype(self.dtype).itemsize
            self._file = h5py.File(self.path, "r", rdcc_nbytes=chunk_bytes + 4096)
            self._pid = os.getpid()
            self._verifier = ClipVerifier(self.path, self._crcs, self.filenames,
                                          self.spec.shape, self.dtype) if self.verify else None
        return self._file["features"]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"], state["_pid"], state["_verifier"] = None, None, None
        return state

    def __len__(self) -> int:
        return len(self.filenames)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.spec.shape)

    def __getitem__(self, i: int) -> np.ndarray:
        """Clip i as a float32 array of `spec.shape`."""
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"clip {i} out of range for a store of {len(self)} clips")
        return self.read_batch([i % len(self)])[0]

    def read_batch(self, indices) -> np.ndarray:
        """Clips `indices` (any order, repeats allowed) as (n, …) float32, each checked
        against its CRC32 (StoreError naming the clip if its bytes were altered)."""
        indices = self._checked(indices)
        features = self._features()
        out = np.empty((len(indices), *self.spec.shape), dtype=np.float32)
        for j, i in enumerate(indices):
            if self._verifier is not None:
                self._verifier.read_into(features, int(i), out[j])
            elif self.dtype == "float32":
                features.read_direct(out, np.s_[i], np.s_[j])
            else:
                out[j] = features[i]
        return out

    def read_crops(self, indices, offsets, length: int) -> np.ndarray:
        """Time crops, read without a whole-clip buffer: crop j is clip indices[j] at
        offsets[j] … offsets[j] + length − 1 along `spec.time_axis` (frames of an (F, T, C)
        input, samples of the waveform); (n, *spec.shape with `length` on that axis) float32.
        A clip is verified in full the first time this process reads it (`ClipVerifier`)."""
        indices = self._checked(indices)
        offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
        axis, shape = self.spec.time_axis, list(self.spec.shape)
        total = shape[axis]
        if len(offsets) != len(indices) or length < 1 or (offsets.size and (
                offsets.min() < 0 or offsets.max() + length > total)):
            raise IndexError(f"crops of {length} at offsets outside the {total}-long time axis "
                             f"of the clips of {self.path}")
        shape[axis] = length
        features = self._features()
        if self._verifier is not None:
            self._verifier.ensure(features, indices)
        out = np.empty((len(indices), *shape), dtype=np.float32)
        window = [slice(None)] * len(shape)
        for j, (i, o) in enumerate(zip(indices, offsets)):
            window[axis] = slice(int(o), int(o) + length)
            selection = (int(i), *window)
            if self.dtype == "float32":
                features.read_direct(out, selection, np.s_[j])
            else:
                out[j] = features[selection]
        return out

    def _checked(self, indices) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"indices outside [0, {len(self)}) for {self.path}")
        return indices

    def index_of(self, filenames) -> np.ndarray:
        """Row of each file name ('audio/….wav') as int64; StoreError for unknown names."""
        names = [filenames] if isinstance(filenames, str) else list(filenames)
        unknown = [n for n in names if n not in self._index]
        if unknown:
            raise StoreError(
                f"{len(unknown)} file(s) are not in the store, e.g. {unknown[0]!r}.",
                path=self.path,
                fix="extract the store from the same dataset folder (skipped files are listed "
                    f"in {skipped_report_path(self.path).name})")
        return np.fromiter((self._index[n] for n in names), dtype=np.int64, count=len(names))

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._pid = None, None

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.path)!r}, {len(self)} clips, {self.dtype})"


class StoreWriter:
    """Write side: a preallocated partial store plus a completion journal (resumable)."""

    def __init__(self, path: Path, filenames: list[str], spec: InputSpec, dtype: str,
                 done: set[int], lock: WriterLock):
        self.path, self.filenames, self.spec, self.dtype = path, filenames, spec, dtype
        self.done, self._lock = done, lock
        self._file = self._journal = None
        try:
            self._file = h5py.File(partial_path(path), "r+", rdcc_nbytes=0)  # no write cache
            self._journal = os.open(journal_path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                                    0o644)
        except OSError as err:
            self.close()
            raise with_path(err, partial_path(path)) from None

    @classmethod
    def open(cls, path: str | Path, filenames, spec: InputSpec | FeatureConfig | None = None,
             dtype: str = "float32") -> "StoreWriter | None":
        """Starts or resumes the store at `path` (spec: an InputSpec, or a FeatureConfig or
        None for the logmel256 one); None if it is already finished."""
        path, filenames, spec = Path(path), list(filenames), as_spec(spec)
        if dtype not in DTYPES:
            raise StoreError(f"unsupported dtype {dtype!r}.", path=path,
                             fix=f"use one of {', '.join(DTYPES)}")
        if path.exists() or path.is_symlink():
            _check_finished(path, filenames, spec, dtype)  # reads only: read-only media work
            remove_leftovers(path)
            return None
        if path.parent.exists() and not path.parent.is_dir():
            raise StoreError("is a file, not a folder: the store cannot be written inside it.",
                             path=path.parent, fix="choose another store path")
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(path)  # before the partial file is read or touched
        try:
            if path.exists():  # finished by the writer that held the lock until now
                _check_finished(path, filenames, spec, dtype)
                lock.release(remove=True)
                return None
            done = _resume(path, filenames, spec, dtype)
            if done is None:
                _create_partial(path, filenames, spec, dtype)
                done = set()
            return cls(path, filenames, spec, dtype, done, lock)
        except BaseException:
            lock.release()
            raise

    def write(self, index: int, features: np.ndarray) -> None:
        """Stores clip `index`, then journals it (data flushed first: a kill loses ≤ 1 clip).
        An OSError (disk full …) names the partial file; the clips done are kept."""
        data = np.ascontiguousarray(features, dtype=self.dtype)
        try:
            self._file["features"][index] = data
            self._file.flush()
            os.write(self._journal, f"{index} {zlib.crc32(data):08x}\n".encode())
        except OSError as err:
            raise with_path(err, partial_path(self.path)) from None
        self.done.add(index)

    def finish(self, skipped: list[dict] | None = None) -> Path:
        """Marks the store complete and moves it to `path` (compacting out skipped clips)."""
        skipped = skipped or []
        left_out = {s["filename"] for s in skipped}
        keep = [i for i, name in enumerate(self.filenames) if name not in left_out]
        missing = [i for i in keep if i not in self.done]
        if missing:
            raise StoreError(f"{len(missing)} clip(s) were never written, e.g. "
                             f"{self.filenames[missing[0]]!r}.", path=partial_path(self.path),
                             fix=_finish_fix(self.path))
        crcs = read_journal(self.path, len(self.filenames))
        if any(i not in crcs for i in keep):
            raise StoreError("the extraction journal lost entries (it was removed or edited "
                             "while the store was written).", path=journal_path(self.path),
                             fix=_finish_fix(self.path))
        attrs = {"complete": True, "skipped": json.dumps(skipped), "completed_utc": _now()}
        try:
            if skipped:
                self._file.close()
                compact(partial_path(self.path), self.path, keep, attrs,
                         np.array([crcs[i] for i in keep], dtype=np.uint32))
                partial_path(self.path).unlink()
            else:
                self._file["crc32"][...] = np.array([crcs[i] for i in keep], dtype=np.uint32)
                self._file.attrs.update(attrs)
                self._file.close()
                os.replace(partial_path(self.path), self.path)
        except OSError as err:
            raise with_path(err, partial_path(self.path)) from None
        self.close(finished=True)
        return self.path

    def close(self, finished: bool = False) -> None:
        if self._file:
            self._file.close()
        if self._journal is not None:
            os.close(self._journal)
            self._journal = None
        if finished:
            journal_path(self.path).unlink(missing_ok=True)
        self._lock.release(remove=finished)


def _check_finished(path: Path, filenames: list[str], spec: InputSpec, dtype: str) -> None:
    store = FeatureStore.open(path, expected=spec)
    if store.dtype != dtype:
        raise StoreError(f"exists with dtype {store.dtype}, not {dtype}.", path=path,
                         fix="choose another store path, or delete this store to re-extract")
    wanted = [n for n in filenames if n not in {s["filename"] for s in store.skipped}]
    if store.filenames != wanted:
        raise StoreError("exists with another list of files.", path=path,
                         fix="choose another store path, or delete this store to re-extract")


def _create_partial(path: Path, filenames: list[str], spec: InputSpec, dtype: str) -> None:
    """A new partial store whose chunks (and /crc32, filled at finish) are all allocated now
    (raw writes only, later)."""
    unlink_present(journal_path(path))
    tmp = Path(f"{partial_path(path)}.tmp")
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("features", shape=(len(filenames), *spec.shape), dtype=dtype,
                             chunks=(1, *spec.shape), dcpl=dcpl, track_times=False,
                             fill_time="never")
            f.create_dataset("filenames", data=np.array(filenames, dtype=h5py.string_dtype()),
                             track_times=False)
            f.create_dataset("crc32", data=np.zeros(len(filenames), np.uint32),
                             track_times=False)
            f.attrs.update(spec_attributes(spec))
            f.attrs.update({"format": FORMAT, "package_version": __version__, "dtype": dtype,
                            "n_clips": len(filenames), "complete": False, "skipped": "[]",
                            "created_utc": _now(), "completed_utc": ""})
        os.replace(tmp, partial_path(path))
    except OSError as err:  # disk full, read-only …: no half-written file is left
        unlink_present(tmp)
        raise with_path(err, partial_path(path)) from None


def _resume(path: Path, filenames: list[str], spec: InputSpec, dtype: str) -> set[int] | None:
    """Clips already done in a partial store, or None when there is nothing to resume."""
    partial = partial_path(path)
    if not partial.exists():
        return None
    try:
        with h5py.File(partial, "r") as f:
            found, names, found_dtype, _ = _read_header(f, partial)
            done = read_journal(path, len(names))
            for index in sorted(done)[-_VERIFY_TAIL:]:
                data = f["features"][index]
                if zlib.crc32(data.tobytes()) != done[index]:
                    del done[index]  # torn by the kill: compute it again
    except BlockingIOError:  # HDF5's file lock: a writer has it open
        raise StoreError("another extraction is writing this store right now.", path=partial,
                         fix="wait for it to finish (or stop it) and rerun the command") from None
    except (OSError, StoreError):
        partial.unlink()  # unreadable: nothing in it can be trusted, start again
        return None
    if found != spec or found_dtype != dtype or names != filenames:
        what = differences(found, spec) + (
            [f"dtype={found_dtype!r}"] if found_dtype != dtype else [])
        raise StoreError(
            "an interrupted extraction with other parameters or files is in progress here"
            + (f" ({', '.join(what)})" if what else " (other file list)") + ".", path=partial,
            fix="rerun the original command to finish it, or delete it to start over")
    return set(done)
