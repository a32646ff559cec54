"""Training speed of the one-bit ResNet ([R1] §2.1, §3.2–3.6; SPEC §3–§5), side by side.

1. Train step of the binary network against its float twin (`ModelConfig(binary=False)`: the
   same graph with plain `Conv2D`), same widths and input, compiled with
   `compile_for_training`, fixed data, after warm-up, binary/plain alternated step by step to
   cancel drift, medians. Target: binarisation overhead ≤ 3 %.
2. `MixupStream` ([R1] balanced reversed pairing) batches read from a real HDF5 `FeatureStore` of synthetic clips
   of the real shape (256 × 469 × 2 float32, fold-1 class proportions, page cache warm)
   against train steps of the paper network and of the narrow one. Target: generator ≥ 5×
   faster than a paper-network step on this CPU.
3. `--epoch-timing`: one paper epoch (126 steps of fold-1 class counts) through `model.fit`
   with the generator and SGDR, for a GPU. Target: ≤ 6 s per epoch on an H100 (C1: 97 s).

`--verify-cost` runs only the cost of the store's per-clip CRC32 checks (`data/store_guard.py`):
generator batches from a fresh store object (every clip checked in full the first time it is
touched) against `verify=False`, and `read_batch` of whole clips (checked on every read), runs
alternated; it writes its own README section (`bench_store_verify`).

Every step is timed twice: wall clock and process CPU time (all threads). On a shared CPU
the wall clock also counts other people's work, so the overhead ratio of (1) is judged on CPU
time there; on a GPU (asynchronous work, CPU time meaningless) on wall time.

    .venv/bin/python benchmarks/bench_training.py                # CPU default, ≈ 4 min
    # on a GPU, the paper figures (add --mixed-precision and/or --xla to compare):
    .venv/bin/python benchmarks/bench_training.py --profile paper --epoch-timing
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402

from dcase_lowcomplexity.config import (  # noqa: E402
    AugmentConfig, FeatureConfig, ModelConfig, TrainingConfig,
)
from dcase_lowcomplexity.data.generator import ArrayClipSource, MixupStream  # noqa: E402
from dcase_lowcomplexity.layers import BinaryConv2D  # noqa: E402
from dcase_lowcomplexity.models.binary_resnet import build_binary_resnet  # noqa: E402
from dcase_lowcomplexity.training.run import compile_for_training  # noqa: E402
from dcase_lowcomplexity.training.sgdr import SGDRScheduler  # noqa: E402

try:  # the HDF5 store; the C1-style in-memory array is the fallback
    from dcase_lowcomplexity.data.store import FeatureStore, StoreWriter
except ImportError:  # pragma: no cover - depends on the tree
    FeatureStore = StoreWriter = None

FOLD1_TRAIN_COUNTS = (2704, 3757, 2724)  # SPEC §1: fold1_train.csv by class
C1_EPOCH_S, TARGET_EPOCH_S, TARGET_OVERHEAD, TARGET_GENERATOR = 97.0, 6.0, 0.03, 5.0


@dataclasses.dataclass(frozen=True)
class Profile:
    num_filters: int  # ModelConfig.num_filters of part 1
    head_width: int
    frames: int  # input time frames of part 1 (256 × frames × 2)
    batch_size: int
    warmup: int  # untimed steps per network after the first (tracing) one
    reps: int  # timed steps per network, alternated
    paper_batch: int  # part 2: batch of the paper-width step on this machine
    paper_steps: int  # part 2: timed paper-width steps
    clips: int  # synthetic clips in the store
    gen_batches: int  # timed generator batches


PROFILES = {
    "small": Profile(8, 32, 200, 32, 1, 8, 4, 2, 480, 36),
    "paper": Profile(26, 192, 400, 32, 3, 10, 32, 2, 480, 36),  # part 2 reuses part 1
}


# -- timing helpers --------------------------------------------------------------------------
def timed(fn) -> tuple[float, float]:
    """(wall s, process CPU s) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def med(samples, i: int) -> float:
    return statistics.median(s[i] for s in samples)


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def build(num_filters: int, head_width: int, binary: bool, xla: bool | None) -> keras.Model:
    model = build_binary_resnet(ModelConfig(num_filters=num_filters, head_width=head_width,
                                            binary=binary))
    compile_for_training(model, TrainingConfig())
    if xla is not None:  # None: Keras' "auto" (XLA on a GPU, off on a CPU)
        model.jit_compile = xla
    return model


def fixed_batch(batch: int, frames: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(-8.0, 4.0, size=(batch, 256, frames, 2)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, batch)]
    return tf.constant(x), tf.constant(y)


# -- part 1: binary vs float twin ------------------------------------------------------------
def binarisation_only(model: keras.Model, reps: int) -> tuple[float, float, int]:
    """Median (wall, CPU) of Ŵ = scale·sign(W) and its straight-through gradient, all layers
    (and the number of layers): the whole cost binarisation adds to a step."""
    layers = [l for l in model.layers if isinstance(l, BinaryConv2D)]
    kernels = [l.kernel.value for l in layers]

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            w_hat = [l.binary_kernel() for l in layers]
        return tape.gradient(w_hat, kernels, output_gradients=w_hat)

    step()
    samples = [timed(step) for _ in range(reps)]
    return (*(statistics.median(s) for s in zip(*samples)), len(layers))


def train_step_comparison(p: Profile, xla) -> dict:
    """Part 1: steps of both networks alternated (ABBA…), medians per network."""
    x, y = fixed_batch(p.batch_size, p.frames)
    models = {b: build(p.num_filters, p.head_width, b, xla) for b in (True, False)}
    first = {}
    for binary, model in models.items():  # the first step traces (and compiles) the graph
        first[binary] = timed(lambda: model.train_on_batch(x, y))[0]
        for _ in range(p.warmup):
            model.train_on_batch(x, y)
    samples = {True: [], False: []}
    for r in range(p.reps):
        for binary in ((True, False) if r % 2 == 0 else (False, True)):
            samples[binary].append(timed(lambda: models[binary].train_on_batch(x, y)))
    binarise = binarisation_only(models[True], max(p.reps, 5))
    return {"samples": samples, "first": first, "binarise": binarise,
            "jit": bool(models[True].jit_compile)}


# -- part 2: generator vs model step ---------------------------------------------------------
def fold1_labels(n: int, counts=FOLD1_TRAIN_COUNTS, seed: int = 0) -> np.ndarray:
    """n labels in fold-1 proportions (largest remainders), shuffled."""
    share = np.asarray(counts, dtype=float) * n / sum(counts)
    k = np.floor(share).astype(int)
    k[np.argsort(k - share)[: n - k.sum()]] += 1
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), k))


def synthetic_store(folder: Path, n: int, shape) -> tuple[object, str]:
    """A finished HDF5 FeatureStore of n random clips (or an in-memory array without one)."""
    rng = np.random.default_rng(1)
    clip = lambda: rng.normal(-8.0, 4.0, size=shape).astype("float32")  # noqa: E731
    if StoreWriter is None:
        return ArrayClipSource(np.stack([clip() for _ in range(n)])), "ArrayClipSource (no store)"
    path = folder / f"synthetic_{n}.h5"
    names = [f"audio/synthetic-{i:05d}-a.wav" for i in range(n)]
    writer = StoreWriter.open(path, names, FeatureConfig(), "float32")
    if writer is not None:
        for i in range(n):
            writer.write(i, clip())
        writer.finish()
    return FeatureStore.open(path), "FeatureStore (HDF5)"


def warm_page_cache(source) -> float:
    """Reads every clip once; returns MB/s of that pass."""
    n, t = len(source), time.perf_counter()
    for lo in range(0, n, 32):
        source.read_batch(np.arange(lo, min(n, lo + 32)))
    return n * int(np.prod(FeatureConfig().shape)) * 4 / 1e6 / (time.perf_counter() - t)


def generator_rate(source, labels, batch_size: int, n_batches: int) -> list[tuple[float, float]]:
    gen = MixupStream(source, labels, AugmentConfig(), batch_size=batch_size, seed=0)
    gen[0]  # first batch: file handle, caches
    return [timed(lambda i=i: gen[i]) for i in range(1, n_batches + 1)]


def paper_width_steps(p: Profile, xla) -> tuple[list, int]:
    """Binary paper-width steps at `paper_batch`, 400 frames (the cost is linear in batch)."""
    x, y = fixed_batch(p.paper_batch, 400)
    model = build(ModelConfig().num_filters, ModelConfig().head_width, True, xla)
    model.train_on_batch(x, y)
    steps = max(1, p.paper_steps)
    return [timed(lambda: model.train_on_batch(x, y)) for _ in range(steps)], p.paper_batch


# -- part 3: one paper epoch through fit -----------------------------------------------------
class PooledClips:
    """`n` rows served from a smaller clip source (row i → clip i mod len(base)), so a
    fold-1-size epoch (126 steps) needs no 8.8 GB of synthetic clips."""

    def __init__(self, base, n: int):
        self.base, self.n = base, n

    def __len__(self) -> int:
        return self.n

    def read_batch(self, indices) -> np.ndarray:
        return self.base.read_batch(np.asarray(indices, dtype=np.int64) % len(self.base))


class EpochTimer(keras.callbacks.Callback):
    times: list

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times = [*getattr(self, "times", []), time.perf_counter() - self._t]


def epoch_timing(p: Profile, source, args) -> list[dict]:
    """Per PyDataset worker count: two fold-1-size epochs through fit, the second timed."""
    labels = fold1_labels(sum(FOLD1_TRAIN_COUNTS))
    config = TrainingConfig(batch_size=p.batch_size)
    model = build(p.num_filters, p.head_width, True, args.xla)
    results = []
    for workers in args.workers:
        gen = MixupStream(PooledClips(source, len(labels)), labels, AugmentConfig(),
                          batch_size=config.batch_size, seed=config.seed, workers=workers,
                          use_multiprocessing=args.multiprocessing)
        steps = min(gen.steps_per_epoch, args.epoch_steps or gen.steps_per_epoch)
        timer = EpochTimer()
        model.fit(gen, steps_per_epoch=steps, epochs=2, verbose=2,
                  callbacks=[SGDRScheduler(config, n_batches=steps), timer])
        results.append({"workers": workers, "steps": steps, "full_steps": gen.steps_per_epoch,
                        "epoch_s": timer.times[-1], "first_epoch_s": timer.times[0],
                        "jit": bool(model.jit_compile)})
    return results


# -- report ----------------------------------------------------------------------------------
def fmt_row(what, setting, samples, batch) -> str:
    wall, cpu = med(samples, 0), med(samples, 1)
    lo, hi = min(s[0] for s in samples), max(s[0] for s in samples)
    mean = statistics.fmean(s[0] for s in samples)
    spread = f" ({lo:.3f}–{hi:.3f})" if len(samples) > 1 else ""
    return (f"| {what} | {setting} | {len(samples)} | {wall:.3f}{spread} | {mean:.3f} | "
            f"{cpu:.3f} | {batch / wall:.1f} |")


HEADER = ("| measurement | setting | n | wall s, median (min–max) | wall s, mean | CPU s, median "
          "| examples/s (wall median) |\n|---|---|---|---|---|---|---|")


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def part1_markdown(p: Profile, r: dict, timer: int) -> tuple[str, float]:
    s, shape = r["samples"], f"{p.batch_size} × 256 × {p.frames} × 2"
    width = f"num_filters {p.num_filters}, head {p.head_width}; {shape}"
    ratio = med(s[True], timer) / med(s[False], timer)
    wall_ratio = med(s[True], 0) / med(s[False], 0)
    binarise_pct = 100 * r["binarise"][timer] / med(s[True], timer)
    lines = [
        "### 1. Train step: one-bit network vs its float twin", "", HEADER,
        fmt_row("binary (BinaryConv2D)", width, s[True], p.batch_size),
        fmt_row("plain (Conv2D, binary=False)", width, s[False], p.batch_size),
        f"| Ŵ = scale·sign(W) and its gradient alone, {r['binarise'][2]} convs | same model | "
        f"{max(p.reps, 5)} | {r['binarise'][0]:.4f} | – | {r['binarise'][1]:.4f} | – |", "",
        f"Binary / plain step time: **{ratio:.3f}** on {('wall', 'CPU')[timer]} time "
        f"({wall_ratio:.3f} on wall time), steps alternated, medians. Timed in isolation, "
        f"the binarisation itself (Ŵ of every kernel and its straight-through gradient) costs "
        f"{binarise_pct:.2f} % of a binary step, so step-level differences of a few % either "
        f"way are the noise floor of a shared machine, not binarisation. First (tracing) "
        f"step: binary {r['first'][True]:.1f} s, plain {r['first'][False]:.1f} s wall. "
        f"XLA: {r['jit']}.",
    ]
    return "\n".join(lines), ratio


def part2_markdown(p: Profile, gens: list, paper, small) -> tuple[str, float]:
    lines = ["### 2. Generator batches vs model steps", "", HEADER]
    lines += [fmt_row(f"MixupStream, {name}", note, samples, p.batch_size)
              for name, note, samples in gens]
    paper_samples, paper_batch = paper
    scale = p.batch_size / paper_batch
    scaled = [(w * scale, c * scale) for w, c in paper_samples]
    lines.append(fmt_row(
        "train step, paper width (binary)", f"26 / 192; {paper_batch} × 256 × 400 × 2"
        + (f", times × {scale:g} → batch {p.batch_size}" if scale != 1 else ""),
        scaled, p.batch_size))
    if small is not None:
        lines.append(fmt_row("train step, narrow width (binary, part 1)",
                             f"{p.num_filters} / {p.head_width}; {p.batch_size} × 256 × "
                             f"{p.frames} × 2", small, p.batch_size))
    gen = gens[0][2]
    ratios = [med(scaled, t) / med(gen, t) for t in (0, 1)]
    lines += ["", f"Paper-network step / generator batch ({gens[0][0]}, one thread): "
              f"**{ratios[0]:.0f}×** on wall time, **{ratios[1]:.0f}×** on CPU time."
              + (f" (The paper step is measured at batch {paper_batch} and scaled linearly; a "
                 "batch of 32 may cost a little less per example, far inside that margin.)"
                 if scale != 1 else "")]
    if small is not None:
        lines[-1] += (f" Narrow network ({p.frames} frames) / generator: "
                      f"{med(small, 0) / med(gen, 0):.1f}× wall, "
                      f"{med(small, 1) / med(gen, 1):.1f}× CPU.")
    epoch_s = 126 * statistics.fmean(c for _, c in gen)
    lines[-1] += (f" For a GPU: a 126-batch epoch costs the generator {epoch_s:.1f} s of CPU "
                  f"time on this machine (mean per batch), so the ≤ {TARGET_EPOCH_S:g} s epoch "
                  f"target needs ≥ {int(np.ceil(epoch_s / TARGET_EPOCH_S))} PyDataset "
                  "workers there (fewer with faster cores).")
    return "\n".join(lines), min(ratios)


def command_line() -> str:
    return " ".join([".venv/bin/python benchmarks/bench_training.py", *sys.argv[1:]]).strip()


GPU_COMMAND = "python benchmarks/bench_training.py --profile paper --epoch-timing"


def part3_markdown(epochs: list | None, gpu: bool) -> tuple[str, str]:
    if not epochs:
        text = (f"### 3. Paper epoch on a GPU\n\nNot measured here (no GPU in this run). "
                f"On a GPU run `{GPU_COMMAND}` (add `--mixed-precision` and/or `--xla` to "
                "compare): it times the second of two epochs of 126 steps (fold-1 class "
                "counts, real-shape clips from the synthetic store, SGDR callback, no "
                "validation or checkpoint) with 1 and 4 PyDataset workers.")
        return text, (f"≤ {TARGET_EPOCH_S:g} s per paper epoch on an H100 (C1: "
                      f"{C1_EPOCH_S:g} s): **not measured** (no GPU); command: "
                      f"`{GPU_COMMAND}`.")
    where = "GPU" if gpu else "CPU (no GPU visible)"
    lines = [f"### 3. Paper epoch on {where}", "",
             "| PyDataset workers | steps timed | s (second epoch) | s per full epoch | "
             "first epoch s (tracing) | XLA |", "|---|---|---|---|---|---|"]
    for e in epochs:
        e["per_epoch"] = e["epoch_s"] * e["full_steps"] / e["steps"]
        lines.append(f"| {e['workers']} | {e['steps']} of {e['full_steps']} | "
                     f"{e['epoch_s']:.2f} | {e['per_epoch']:.2f} | {e['first_epoch_s']:.2f} | "
                     f"{e['jit']} |")
    best = min(epochs, key=lambda e: e["per_epoch"])
    ok = verdict(gpu and best["per_epoch"] <= TARGET_EPOCH_S) if gpu else "**not a GPU figure**"
    return "\n".join(lines), (
        f"≤ {TARGET_EPOCH_S:g} s per paper epoch (C1: {C1_EPOCH_S:g} s): "
        f"{best['per_epoch']:.2f} s on {where} with {best['workers']} worker(s): {ok} "
        f"({C1_EPOCH_S / best['per_epoch']:.1f}× faster than C1).")


# -- main ------------------------------------------------------------------------------------
def parse_args(argv=None) -> tuple[argparse.Namespace, Profile]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="small",
                    help="small (default): narrow network for a CPU; paper: [R1]'s widths")
    for f in dataclasses.fields(Profile):
        ap.add_argument("--" + f.name.replace("_", "-"), type=int, default=None,
                        help=f"override the profile's {f.name}")
    ap.add_argument("--timer", choices=("auto", "cpu", "wall"), default="auto",
                    help="clock for the overhead verdict (auto: CPU time without a GPU)")
    ap.add_argument("--epoch-timing", action="store_true",
                    help="also time one paper epoch (126 steps) through model.fit")
    ap.add_argument("--epoch-steps", type=int, default=None,
                    help="time only this many steps of the epoch (scaled to the whole epoch)")
    ap.add_argument("--workers", type=lambda v: [int(w) for w in v.split(",")], default=[1, 4],
                    help="PyDataset worker counts to time the epoch with (default 1,4)")
    ap.add_argument("--multiprocessing", action="store_true", help="PyDataset processes")
    ap.add_argument("--mixed-precision", action="store_true",
                    help="keras.mixed_precision.set_global_policy('mixed_float16')")
    xla = ap.add_mutually_exclusive_group()
    xla.add_argument("--xla", dest="xla", action="store_true", default=None,
                     help="jit_compile=True (default: Keras 'auto', XLA only on a GPU)")
    xla.add_argument("--no-xla", dest="xla", action="store_false", help="jit_compile=False")
    ap.add_argument("--store-dir", type=Path, default=None,
                    help="folder of the synthetic store (default: a temporary folder in /tmp)")
    ap.add_argument("--keep-store", action="store_true", help="do not delete the store")
    ap.add_argument("--no-readme", action="store_true", help="print only; leave README alone")
    ap.add_argument("--verify-cost", action="store_true",
                    help="only the cost of the store's CRC32 checks (own README section)")
    args = ap.parse_args(argv)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(Profile)
                 if getattr(args, f.name) is not None}
    return args, dataclasses.replace(PROFILES[args.profile], **overrides)


def generator_part(p: Profile, args, r1: dict, folder: Path):
    """Part 2: generator batches (HDF5 store, in-memory array) against model steps."""
    print(f"[2/3] generator, load average {load()}", flush=True)
    shape = FeatureConfig().shape
    source, source_name = synthetic_store(folder, p.clips, shape)
    labels = fold1_labels(p.clips)
    mb_s = warm_page_cache(source)
    note = (f"{p.clips} synthetic clips {' × '.join(map(str, shape))} float32, classes "
            f"{'/'.join(map(str, np.bincount(labels)))}, page cache warm ({mb_s:.0f} MB/s read)")
    gens = [(source_name, note, generator_rate(source, labels, p.batch_size, p.gen_batches))]
    if not isinstance(source, ArrayClipSource):
        array = ArrayClipSource(source.read_batch(np.arange(len(source))))
        gens.append(("ArrayClipSource (in memory, C1 style)", "same clips in RAM",
                     generator_rate(array, labels, p.batch_size, p.gen_batches)))
        del array
    same_as_part1 = (p.num_filters, p.head_width, p.frames) == (26, 192, 400)
    paper = ((r1["samples"][True], p.batch_size) if same_as_part1
             else paper_width_steps(p, args.xla))
    small = None if same_as_part1 else r1["samples"][True]
    md2, gen_ratio = part2_markdown(p, gens, paper, small)
    print(md2, flush=True)
    return md2, gen_ratio, source


def verify_cost(p: Profile, folder: Path, rounds: int = 2) -> str:
    """`--verify-cost`: per-batch time with and without the CRC32 checks, alternated."""
    shape = FeatureConfig().shape
    path = synthetic_store(folder, p.clips, shape)[0].path
    labels = fold1_labels(p.clips)
    mb_s = warm_page_cache(FeatureStore.open(path, verify=False))
    rng = np.random.default_rng(0)
    batches = [rng.choice(p.clips, p.batch_size, replace=False) for _ in range(p.gen_batches)]
    gen, whole = {False: [], True: []}, {False: [], True: []}
    for _ in range(rounds):
        for verify in (False, True):
            gen[verify] += generator_rate(FeatureStore.open(path, verify=verify), labels,
                                          p.batch_size, p.gen_batches)
            store = FeatureStore.open(path, verify=verify)
            whole[verify] += [timed(lambda b=b: store.read_batch(b)) for b in batches]
    note = (f"{p.clips} synthetic clips {' × '.join(map(str, shape))} float32, page cache warm "
            f"({mb_s:.0f} MB/s), {rounds} alternated rounds")
    rows = [fmt_row(f"MixupStream batch, {'CRC32 verified' if v else 'verify=False'}",
                    note + (", fresh store object: each clip checked on first touch" if v
                            else ""), gen[v], p.batch_size) for v in (False, True)]
    rows += [fmt_row(f"read_batch of {p.batch_size} whole clips, "
                     f"{'CRC32 verified' if v else 'verify=False'}", "random clips, "
                     + ("every clip checked" if v else "no check"), whole[v], p.batch_size)
             for v in (False, True)]
    mean = lambda x: statistics.fmean(w for w, _ in x)  # noqa: E731
    g0, g1, w0, w1 = mean(gen[False]), mean(gen[True]), med(whole[False], 0), med(whole[True], 0)
    return "\n".join([
        "## Store checksums (`bench_training.py --verify-cost`)", "", HEADER, *rows, "",
        f"CRC32 checks cost {1e3 * (g1 - g0):+.1f} ms per generator batch of {p.batch_size} "
        f"(wall means, {1e3 * g0:.1f} → {1e3 * g1:.1f} ms, {100 * (g1 / g0 - 1):+.0f} %; every "
        "clip is checked in full on its first touch within the timed batches, the worst case: "
        f"later epochs read crops unchecked) and {1e3 * (w1 - w0):+.1f} ms per read_batch of "
        f"{p.batch_size} whole clips (wall medians, {1e3 * w0:.1f} → {1e3 * w1:.1f} ms, "
        f"{100 * (w1 / w0 - 1):+.0f} %, every clip of every read checked)."])


def run_parts(args, p: Profile, gpu: bool, folder: Path) -> list[str]:
    """Runs parts 1–3, printing as it goes; returns the markdown blocks."""
    timer = 0 if (args.timer == "wall" or (args.timer == "auto" and gpu)) else 1
    print(f"[1/3] train steps, load average {load()}", flush=True)
    r1 = train_step_comparison(p, args.xla)
    md1, ratio = part1_markdown(p, r1, timer)
    print(md1, flush=True)
    md2, gen_ratio, source = generator_part(p, args, r1, folder)
    epoch = None
    if args.epoch_timing:
        print(f"[3/3] paper epoch through fit, load average {load()}", flush=True)
        epoch = epoch_timing(p, source, args)
    md3, target3 = part3_markdown(epoch, gpu)
    print(md3, flush=True)
    clock = ("wall", "CPU")[timer]
    targets = [
        "### Targets", "",
        f"- Binarisation overhead ≤ 3 %: {100 * (ratio - 1):+.1f} % on {clock} time "
        f"({p.num_filters}/{p.head_width} widths, {p.frames} frames): "
        f"{verdict(ratio - 1 <= TARGET_OVERHEAD)}.",
        f"- Generator ≥ {TARGET_GENERATOR:g}× faster than a paper-network step on this "
        f"machine: {gen_ratio:.0f}× (the lower of wall and CPU): "
        f"{verdict(gen_ratio >= TARGET_GENERATOR)}.",
        f"- {target3}",
    ]
    return [md1, md2, md3, "\n".join(targets)]


def main(argv=None) -> int:
    args, p = parse_args(argv)
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    gpu = bool(tf.config.list_physical_devices("GPU"))
    start = time.perf_counter()
    header = (f"Profile `{args.profile}` ({dataclasses.asdict(p)}), device "
              f"{'GPU' if gpu else 'CPU only'}, {os.cpu_count()} cores, policy "
              f"{keras.mixed_precision.global_policy().name}, load average at start {load()}.")
    print(header, flush=True)
    folder = args.store_dir or Path(tempfile.mkdtemp(prefix="bench_training_", dir="/tmp"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if args.verify_cost:
            text = verify_cost(p, folder)
            footer = (f"Command: `{command_line()}`; {time.perf_counter() - start:.0f} s; load "
                      f"average at the end {load()}.")
            print(text + "\n\n" + footer)
            if not args.no_readme:
                write_section("bench_store_verify", text + "\n\n" + footer)
            return 0
        blocks = run_parts(args, p, gpu, folder)
    finally:
        if not args.keep_store and args.store_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    footer = (f"Command: `{command_line()}`; {time.perf_counter() - start:.0f} s in all; "
              f"load average at the end {load()} (1/5/15 min; the machine is shared).")
    print(blocks[-1] + "\n\n" + footer)
    if not args.no_readme:
        write_section("bench_training", "\n\n".join(
            ["## Training speed (`bench_training.py`)", header, *blocks, footer]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
