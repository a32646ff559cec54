"""Each [R2] system's input from the 48 kHz stereo clips, cached once per dataset (SPEC §6).

- "waveform": 16 kHz mono (`data.waveform.clip_to_waveform`), AclNet INT8 and LT;
- "logmel64": 64-band log-mel (64, 1001, 1) (`data.features_r2.clip_to_logmel64`), KD;
- "gccgram": two 40-band log-mels + GCC-PHAT gram (40, 500, 3) (`data.gccphat`), GCC-grams.

`ensure_inputs` computes the array of a list of files once and keeps it as
`<store-dir>/<dataset>-<kind>-<hash>.npy`, the hash covering the dataset folder, the file
list, every parameter and the dtype; it is opened memory-mapped, one clip read at a time. The
work is resumable: rows are written into `….partial.npy` and the count of finished rows is
recorded (atomically, after a flush) in `….partial.json`; a rerun continues from there, and
the finished array is renamed into place (os.replace) only when every row is written. A bad
audio file stops it with the `AudioError` naming the file; the rows done are kept.

Paper sizes (14,400 clips, float32): waveforms 9.2 GB, log-mels 3.7 GB, GCC-grams 3.5 GB
(`--store-dtype float16` halves them).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from dcase_lowcomplexity.config import FeatureConfig, GccPhatConfig, LogMel64Config, WaveformConfig
from dcase_lowcomplexity.errors import ConfigError, StoreError
from dcase_lowcomplexity.atomic import atomic_write_text

KINDS = ("waveform", "logmel64", "gccgram")
DTYPES = ("float32", "float16")
FORMAT = "dcase_lowcomplexity.r2_inputs/1"
_FLUSH_EVERY = 32  # rows between progress records (a kill loses at most this many)
# Spawned workers import TensorFlow (the feature modules import Keras): seconds each, so a
# pool pays off only for large lists.
POOL_MIN_CLIPS = 400


@dataclass(frozen=True)
class InputSpec:
    """Which input, from which parameters; `shape` is one clip's array."""

    kind: str
    waveform: WaveformConfig = WaveformConfig()
    logmel: LogMel64Config | None = None
    gcc: GccPhatConfig | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"input kind {self.kind!r} is not one of {KINDS}")
        own = {"logmel64": self.logmel, "gccgram": self.gcc}.get(self.kind, self.waveform)
        if own is None:
            raise ConfigError(f"input kind {self.kind!r} needs its feature config")
        if own.duration_s != self.waveform.duration_s:
            raise ConfigError(f"{self.kind}: duration {own.duration_s} s ≠ waveform "
                              f"{self.waveform.duration_s} s", fix="give both the same duration_s")

    @property
    def shape(self) -> tuple[int, ...]:
        if self.kind == "waveform":
            return (self.waveform.n_samples,)
        return tuple(self.logmel.shape if self.kind == "logmel64" else self.gcc.shape)

    @property
    def read_config(self) -> FeatureConfig:
        """What `data.audio.read_clip` needs: 48 kHz stereo, the first duration_s seconds."""
        return FeatureConfig(sample_rate=self.waveform.source_rate,
                             duration_s=self.waveform.duration_s)

    def compute(self, clip: np.ndarray) -> np.ndarray:
        """48 kHz stereo clip → this input (float32)."""
        if self.kind == "waveform":
            from dcase_lowcomplexity.data.waveform import clip_to_waveform
            return clip_to_waveform(clip, self.waveform)
        if self.kind == "logmel64":
            from dcase_lowcomplexity.data.features_r2 import clip_to_logmel64
            return clip_to_logmel64(clip, self.waveform, self.logmel)
        from dcase_lowcomplexity.data.gccphat import clip_to_gccgram
        return clip_to_gccgram(clip, self.waveform, self.gcc)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _compute_one(task: tuple[str, str, InputSpec]) -> np.ndarray:
    from dcase_lowcomplexity.data.audio import read_clip

    root, filename, spec = task
    return spec.compute(read_clip(Path(root) / filename, spec.read_config))


@dataclass(frozen=True)
class CachedInputs:
    """A finished cache: `array[i]` is the input of `filenames[i]` (memory-mapped)."""

    path: Path
    array: np.ndarray
    filenames: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.filenames)

    def rows(self, filenames: Sequence[str]) -> np.ndarray:
        """Row of each file name; ConfigError for a name not in the cache."""
        index = {f: i for i, f in enumerate(self.filenames)}
        missing = [f for f in filenames if f not in index]
        if missing:
            raise ConfigError(f"{missing[0]!r} is not in the input cache", self.path,
                              fix="cache the inputs of the same dataset (ensure_inputs)")
        return np.array([index[f] for f in filenames], dtype=np.int64)


def cache_path(store_dir: str | Path, dataset_root: str | Path, filenames: Sequence[str],
               spec: InputSpec, dtype: str) -> Path:
    """One cache per (dataset folder, file list, parameters, dtype)."""
    key = json.dumps({"root": str(Path(dataset_root).resolve()), "files": list(filenames),
                      "spec": spec.to_dict(), "dtype": dtype, "format": FORMAT},
                     sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return Path(store_dir) / f"{Path(dataset_root).name}-{spec.kind}-{digest}.npy"


def _header(filenames, spec: InputSpec, dtype: str) -> dict:
    return {"format": FORMAT, "kind": spec.kind, "dtype": dtype, "shape": list(spec.shape),
            "spec": json.loads(json.dumps(spec.to_dict(), default=str)),
            "filenames": list(filenames)}


def _open_finished(path: Path, header: dict) -> CachedInputs:
    meta_path = path.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as err:
        raise StoreError(f"the input cache cannot be read ({err})", path,
                         fix="delete it (and its .json) to recompute it") from None
    expected = (len(header["filenames"]), *header["shape"])
    if meta != header or array.shape != expected or array.dtype != np.dtype(header["dtype"]):
        raise StoreError(f"the input cache holds {array.shape} {array.dtype}, not {expected} "
                         f"{header['dtype']} for these parameters", path,
                         fix="delete it (and its .json) to recompute it")
    return CachedInputs(path, array, tuple(header["filenames"]))


def _digest(header: dict) -> str:
    return hashlib.sha256(json.dumps(header, sort_keys=True).encode()).hexdigest()


def _open_partial(partial: Path, progress_file: Path, header: dict):
    """(memmap, rows done): resumes a partial cache of the same header, else starts anew."""
    shape = (len(header["filenames"]), *header["shape"])
    if partial.exists() and progress_file.exists():
        try:
            state = json.loads(progress_file.read_text(encoding="utf-8"))
            array = np.lib.format.open_memmap(partial, mode="r+")
            if state.get("header") == _digest(header) and array.shape == shape:
                return array, int(state["done"])
        except (OSError, ValueError, KeyError):
            pass  # unreadable leftovers of a killed run: start again
    partial.unlink(missing_ok=True)
    array = np.lib.format.open_memmap(partial, mode="w+", dtype=header["dtype"], shape=shape)
    return array, 0


def _results(root: Path, names: list[str], spec: InputSpec, workers: int):
    tasks = [(str(root), name, spec) for name in names]
    if workers <= 1 or len(tasks) < POOL_MIN_CLIPS:
        yield from map(_compute_one, tasks)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        yield from pool.map(_compute_one, tasks, chunksize=8)


def ensure_inputs(dataset_root: str | Path, filenames: Sequence[str], spec: InputSpec, *,
                  store_dir: str | Path, dtype: str = "float32", workers: int | None = None,
                  progress: bool = True) -> CachedInputs:
    """Computes (or finishes computing) the inputs of `filenames`, then opens them."""
    if dtype not in DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not one of {DTYPES}")
    filenames, root = [str(f) for f in filenames], Path(dataset_root)
    if not filenames:
        raise ConfigError("no files to compute inputs for")
    path = cache_path(store_dir, root, filenames, spec, dtype)
    header = _header(filenames, spec, dtype)
    if path.exists():
        return _open_finished(path, header)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.npy")
    progress_file = path.with_name(path.stem + ".partial.json")
    array, done = _open_partial(partial, progress_file, header)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    digest, recorded = _digest(header), done

    def record():  # rows [0, done) are complete: flush them, then say so
        array.flush()
        atomic_write_text(progress_file, json.dumps({"header": digest, "done": done}))

    bar = tqdm(total=len(filenames), initial=done, desc=f"{spec.kind} inputs", unit="clip",
               disable=not progress)
    try:
        for x in _results(root, filenames[done:], spec, workers):
            array[done] = x
            done += 1
            bar.update()
            if done % _FLUSH_EVERY == 0:
                record()
                recorded = done
    finally:
        bar.close()
        if done != recorded or done == len(filenames):
            record()  # also after an error: a rerun resumes at the failing file
    del array
    atomic_write_text(path.with_suffix(".json"), json.dumps(header) + "\n")
    os.replace(partial, path)
    progress_file.unlink(missing_ok=True)
    return _open_finished(path, header)
