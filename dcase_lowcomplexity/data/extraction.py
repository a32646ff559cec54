"""Parallel, resumable extraction of any input kind into the HDF5 store (SPEC §2, §6).

A pool of worker processes reads clips (`read_clip(path, spec.read_config)`) and computes
`spec.compute` (`data.inputs`: [R1]'s 256-band log-mel, [R2]'s 16 kHz waveform, 64-band
log-mel or GCC-grams); this process is the ONE writer (`store.StoreWriter`). Workers are
forked (no `if __name__ == "__main__"` guard needed in the caller's script) unless
TensorFlow is already imported: forking a process that runs TensorFlow's threads can
deadlock, so then they are spawned (and the calling script needs the guard). Workers get
`spec.prepare()` built here (the [R1] mel filterbank), so they never import librosa for it.

`ensure_store` keeps one store per (dataset folder, input spec, dtype) in a cache folder,
`<dataset folder name>-<kind>-<hash10>.h5`, and opens it (extracting or finishing it first).

Bad audio raises one `AudioError` naming the file (`on_error="raise"`, the default; clips
already written are kept, so the same command resumes after the file is fixed), or is left
out with `on_error="skip"`: the store then lists it in its `skipped` attribute and in
`STORE.h5.skipped.csv` beside it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dcase_lowcomplexity.config import FeatureConfig
from dcase_lowcomplexity.data.audio import read_clip
from dcase_lowcomplexity.data.inputs import InputSpec, as_spec
from dcase_lowcomplexity.data.store import (
    DTYPES, FORMAT, FeatureStore, StoreWriter, skipped_report_path,
)
from dcase_lowcomplexity.errors import AudioError, ConfigError, DatasetError

ON_ERROR = ("raise", "skip")
_worker_state: dict = {}


def _init_worker(audio_root: str, spec: InputSpec, state, dtype: str) -> None:
    _worker_state.update(root=Path(audio_root), spec=spec, state=state, dtype=dtype)


def _extract_one(task: tuple[int, str]):
    """(index, input in the store dtype, None) or (index, None, AudioError) for bad audio;
    any other error (a configuration that cannot work) propagates and stops the run."""
    index, filename = task
    s = _worker_state
    try:
        audio = read_clip(s["root"] / filename, s["spec"].read_config)
    except AudioError as err:  # pickles with its message, path and fix
        return index, None, err
    return index, s["spec"].compute(audio, s["state"]).astype(s["dtype"]), None


def _results(tasks, workers: int, init_args: tuple):
    """Yields worker results, in-process for one worker, else from a spawned pool."""
    if workers <= 1 or len(tasks) <= 1:
        _init_worker(*init_args)
        yield from map(_extract_one, tasks)
        return
    fork = "tensorflow" not in sys.modules and "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    with context.Pool(min(workers, len(tasks)), initializer=_init_worker,
                      initargs=init_args) as pool:
        yield from pool.imap_unordered(_extract_one, tasks, chunksize=1)


def extract_inputs(audio_root, filenames, store_path,
                   spec: InputSpec | FeatureConfig | None = None, *, dtype: str = "float32",
                   workers: int | None = None, on_error: str = "raise",
                   progress: bool = True) -> Path:
    """Computes `spec`'s input of every file of `filenames` (paths relative to `audio_root`,
    'audio/….wav') into the HDF5 store `store_path`, resuming an interrupted run.

    `spec` is an InputSpec; a FeatureConfig (or None, the paper's) means the logmel256 spec.
    Returns `store_path`. Rerunning on a finished store with the same parameters does
    nothing; a store or partial store with other parameters is refused (StoreError).
    """
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error={on_error!r}.", fix="use 'raise' or 'skip'")
    if dtype not in DTYPES:
        raise ConfigError(f"dtype={dtype!r}.", fix=f"use one of {', '.join(DTYPES)}")
    spec = as_spec(spec)
    filenames, audio_root, store_path = list(filenames), Path(audio_root), Path(store_path)
    _check_names(filenames, audio_root)
    writer = StoreWriter.open(store_path, filenames, spec, dtype)
    if writer is None:
        return store_path
    try:
        pending = [(i, n) for i, n in enumerate(filenames) if i not in writer.done]
        if on_error == "raise":
            _check_exist(pending, audio_root)
        init_args = (str(audio_root), spec, spec.prepare(), dtype)
        skipped = []
        with tqdm(total=len(filenames), initial=len(filenames) - len(pending), unit="clip",
                  desc=f"{spec.kind} → {store_path.name}", disable=not progress) as bar, \
                contextlib.closing(_results(pending, _n_workers(workers), init_args)) as results:
            for index, features, error in results:
                if error is not None:
                    if on_error == "raise":
                        raise error
                    skipped.append({"filename": filenames[index], "reason": str(error)})
                else:
                    writer.write(index, features)
                bar.update(1)
        skipped.sort(key=lambda s: filenames.index(s["filename"]))
        _write_skipped_report(store_path, skipped)
        if len(skipped) == len(filenames):
            raise AudioError(f"all {len(filenames)} files were skipped as bad audio; no store "
                             "was written.", path=skipped_report_path(store_path),
                             fix="check that DATASET_DIR holds the 48 kHz stereo recordings")
        return writer.finish(skipped)
    finally:
        writer.close()


def store_path(store_dir, dataset_root, spec: InputSpec | FeatureConfig | None = None,
               dtype: str = "float32") -> Path:
    """`<store_dir>/<dataset folder name>-<kind>-<hash10>.h5`: the hash covers the resolved
    dataset folder, every field of the spec, the dtype and the store format."""
    spec = as_spec(spec)
    key = json.dumps({"root": str(Path(dataset_root).resolve()), "spec": spec.to_dict(),
                      "dtype": dtype, "format": FORMAT}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return Path(store_dir) / f"{Path(dataset_root).name}-{spec.kind}-{digest}.h5"


def ensure_store(store_dir, dataset_root, filenames, spec: InputSpec | FeatureConfig | None,
                 *, dtype: str = "float32", workers: int | None = None,
                 on_error: str = "raise", progress: bool = True) -> FeatureStore:
    """The store of `filenames` of `dataset_root` for `spec`, one per (dataset folder, spec,
    dtype) under `store_dir`: extracted (or finished) when needed, then opened."""
    path = store_path(store_dir, dataset_root, spec, dtype)
    extract_inputs(dataset_root, filenames, path, spec, dtype=dtype, workers=workers,
                   on_error=on_error, progress=progress)
    return FeatureStore.open(path, expected=spec)


def _check_names(filenames: list[str], audio_root: Path) -> None:
    if not filenames:
        raise DatasetError("no files to extract.", path=audio_root,
                           fix="pass a dataset folder whose meta.csv lists audio files")
    seen = set()
    for k, name in enumerate(filenames):
        if name in seen:
            raise DatasetError(f"{name!r} is listed twice (entry {k + 1} of the file list).",
                               path=audio_root, fix="list each file once")
        seen.add(name)


def _check_exist(pending: list[tuple[int, str]], audio_root: Path) -> None:
    """One DatasetError for listed-but-missing audio, before any work starts."""
    missing = [(i, n) for i, n in pending if not (audio_root / n).is_file()]
    if missing:
        i, name = missing[0]
        raise DatasetError(
            f"{name!r} (entry {i + 1} of the file list) is listed but missing"
            + (f" ({len(missing) - 1} more missing)" if len(missing) > 1 else "") + ".",
            path=audio_root / name,
            fix="unpack all audio archives into audio/, or extract with --on-error skip")


def _write_skipped_report(store_path: Path, skipped: list[dict]) -> None:
    """STORE.h5.skipped.csv (TAB: filename, reason), written atomically; removed if none."""
    report = skipped_report_path(store_path)
    if not skipped:
        report.unlink(missing_ok=True)
        return
    tmp = Path(f"{report}.tmp")
    lines = ["filename\treason"] + [
        f"{s['filename']}\t{' '.join(s['reason'].split())}" for s in skipped]
    try:
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, report)
    except OSError:  # disk full …: no half-written report is left
        tmp.unlink(missing_ok=True)
        raise


def features_array(audio_root, filenames, spec: InputSpec | FeatureConfig | None = None,
                   workers: int | None = None) -> np.ndarray:
    """(n, *spec.shape) float32 for a few files, without a store (bad audio raises
    AudioError); `spec` as in `extract_inputs`."""
    spec = as_spec(spec)
    tasks = list(enumerate(filenames))
    out = np.empty((len(tasks), *spec.shape), dtype=np.float32)
    init_args = (str(audio_root), spec, spec.prepare(), "float32")
    with contextlib.closing(_results(tasks, _n_workers(workers), init_args)) as results:
        for index, features, error in results:
            if error is not None:
                raise error
            out[index] = features
    return out


def _n_workers(workers: int | None) -> int:
    """All cores by default."""
    return (os.cpu_count() or 1) if workers is None else max(1, int(workers))
