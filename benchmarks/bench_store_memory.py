"""Reading clips from the HDF5 store does not load the store (SPEC §2 vs C1's np.load).

    .venv/bin/python benchmarks/bench_store_memory.py [--dir /tmp] [--clips 14400]
        [--reads 500] [--dtype float16]

Writes two stores of random log-mel-shaped clips with `StoreWriter` (the extraction's
writer): 100 clips and `--clips` (14,400 = the development set; 3.5 GB in float16, 6.9 GB in
float32). For each, a fresh reader process opens the store and reads `--reads` random clips;
its resident memory (RSS) is sampled before opening, after opening and during the reads.
The RSS must not grow with the store. C1 instead loads the whole split: 14,400 × 256 × 469
× 2 × 4 bytes = 6.9 GB. The big store is deleted afterwards. Figures go to the
"bench_store_memory" section of benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write_section  # noqa: E402

from dcase_lowcomplexity.config import FeatureConfig  # noqa: E402
from dcase_lowcomplexity.data.store import FeatureStore, StoreWriter  # noqa: E402

MB = 1024**2


def write_store(path: Path, n_clips: int, dtype: str) -> float:
    """A finished store of `n_clips` random clips; returns seconds taken."""
    config = FeatureConfig()
    rng = np.random.default_rng(0)
    pool = [rng.normal(-8, 4, config.shape).astype(dtype) for _ in range(16)]
    start = time.perf_counter()
    writer = StoreWriter.open(path, [f"audio/clip-{i}.wav" for i in range(n_clips)], config,
                              dtype)
    for i in range(n_clips):
        writer.write(i, pool[i % len(pool)])
    writer.finish()
    return time.perf_counter() - start


def reader(path: str, reads: int) -> None:
    """Child process: prints RSS figures (MiB) and the read time per clip as JSON."""
    import psutil

    process = psutil.Process()
    before = process.memory_info().rss
    store = FeatureStore.open(path)
    opened = process.memory_info().rss
    order = np.random.default_rng(1).integers(0, len(store), reads)
    peak, start = opened, time.perf_counter()
    for i in order:
        clip = store[int(i)]
        peak = max(peak, process.memory_info().rss)
    seconds = time.perf_counter() - start
    batch = store.read_batch(order[:32])
    after_batch = process.memory_info().rss
    store.close()
    print(json.dumps({"before": before / MB, "opened": opened / MB, "peak": peak / MB,
                      "after_batch": after_batch / MB, "ms_per_clip": 1000 * seconds / reads,
                      "clip_shape": list(clip.shape), "batch_mb": batch.nbytes / MB}))


def measure(path: Path, reads: int) -> dict:
    result = subprocess.run([sys.executable, __file__, "--reader", str(path), str(reads)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(directory: Path, n_clips: int, reads: int, dtype: str) -> str:
    clip_bytes = int(np.prod(FeatureConfig().shape)) * np.dtype(dtype).itemsize
    need = n_clips * clip_bytes * 1.05 + 100 * clip_bytes
    free = shutil.disk_usage(directory).free
    if free < need:
        raise SystemExit(f"{directory}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed; "
                         "pass --dir or fewer --clips")
    rows = ["| store | file size | RSS before open | after open | peak during "
            f"{reads} random reads | growth | read ms/clip |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    results = {}
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        for n in (100, n_clips):
            path = Path(tmp) / f"store-{n}.h5"
            write_seconds = write_store(path, n, dtype)
            r = measure(path, reads)
            results[n] = r
            rows.append(
                f"| {n:,} clips ({dtype}) | {path.stat().st_size / MB:,.0f} MiB | "
                f"{r['before']:.0f} MiB | {r['opened']:.0f} MiB | {r['peak']:.0f} MiB | "
                f"{r['peak'] - r['before']:.0f} MiB | {r['ms_per_clip']:.2f} |")
            results[n]["write_s"] = write_seconds
            path.unlink()  # the big file goes at once
    small, big = results[100], results[n_clips]
    c1_gb = n_clips * int(np.prod(FeatureConfig().shape)) * 4 / 1e9
    return "\n".join([
        *rows,
        "",
        f"- Reader RSS growth: {small['peak'] - small['before']:.0f} MiB with 100 clips, "
        f"{big['peak'] - big['before']:.0f} MiB with {n_clips:,} clips (one clip is "
        f"{clip_bytes / MB:.2f} MiB in {dtype}, {np.prod(FeatureConfig().shape) * 4 / MB:.2f} "
        "MiB as float32): the store is never loaded. What grows with N is bookkeeping, not "
        f"clip data: the in-memory file-name index ({small['opened'] - small['before']:.0f} → "
        f"{big['opened'] - big['before']:.0f} MiB at open) and HDF5's metadata cache of the "
        f"chunk index ({small['peak'] - small['opened']:.0f} → "
        f"{big['peak'] - big['opened']:.0f} MiB during reads, bounded by HDF5's cache size), "
        f"i.e. {100 * (big['peak'] - big['before']) * MB / (n_clips * clip_bytes):.2f} % of "
        "the store.",
        f"- C1's np.load of the same split would hold {c1_gb:.1f} GB (float32) in memory "
        "(SPEC §2's \"≈ 6.9 GB\" is the size at 2 bytes per value, i.e. this float16 store).",
        f"- Writing the {n_clips:,}-clip store with StoreWriter (flush + journal per clip): "
        f"{big['write_s']:.0f} s ({n_clips / big['write_s']:.0f} clips/s).",
        "- RSS sampled with psutil in a fresh reader process (page cache is not counted).",
    ])


def main(argv=None) -> None:
    if argv is None and len(sys.argv) == 4 and sys.argv[1] == "--reader":
        reader(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--clips", type=int, default=14400)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    args = parser.parse_args(argv)
    markdown = run(args.dir, args.clips, args.reads, args.dtype)
    print(markdown)
    write_section("bench_store_memory",
                  "## Feature store memory (`bench_store_memory.py`)\n\n" + markdown)


if __name__ == "__main__":
    main()
