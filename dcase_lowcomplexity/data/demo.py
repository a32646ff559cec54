"""A small synthetic dataset in exactly the official TAU 2020 3Class layout (SPEC §1).

The real development set (Zenodo 3670185, 30 GB) cannot be downloaded at run time, so the
demos and the end-to-end tests use `make_demo_dataset`: 10 s, 48 kHz, 24-bit stereo WAVs with
real-looking names (`<scene>-<city>-<location>-<segment>-a.wav`, the 10 scenes and 10
cities), meta.csv and fold-1 lists with the official columns, a location-disjoint fold 1
(≈ 2/3 train, 1/3 evaluate, milan only on the evaluate side), and optionally an unlabelled
evaluation folder (`audio/0.wav …`).

The three classes differ the way real scenes do, with per-clip random parameters so that a
spectrogram CNN has something to learn but nothing trivial (the overall level is random and
carries no class information; every class shares a pink background; scenes of one class
differ, and some carry another class's sounds):

- transportation: engine harmonics (f0 25–60 Hz, drifting), low rumble, rolling noise, and
  a motor whine for tram/metro; sometimes passengers talking;
- indoor: reverberant babble, mains hum (50 or 60 Hz with harmonics), ventilation, footsteps,
  PA chimes in airports and metro stations, sometimes a passing train;
- outdoor: gusty broadband wind (decorrelated at the two ears), bird chirps, passing traffic
  panning from one ear to the other, dry voices in pedestrian streets and squares.

Sources are placed with an interaural time and level difference. Everything is numpy,
vectorised per clip, and seeded per clip: the same seed gives byte-identical files.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np

from dcase_lowcomplexity.config import CLASS_NAMES, DEVELOPMENT_CITIES, SCENE_TO_CLASS
from dcase_lowcomplexity.data import synth
from dcase_lowcomplexity.data.audio import write_clip
from dcase_lowcomplexity.data.dataset import DEVELOPMENT_FOLDER, EVALUATION_FOLDER
from dcase_lowcomplexity.errors import ConfigError, DatasetError

SAMPLE_RATE = 48000
DURATION_S = 10.0
MARKER = ".demo_dataset.json"  # in OUT_DIR: parameters of the demo written there
GROUND_TRUTH = "evaluation_ground_truth.csv"  # in OUT_DIR, beside (not in) the eval folder
_GENERATOR_VERSION = 1
_README = """# Synthetic demo of TAU Urban Acoustic Scenes 2020 3Class ({kind})

Written by `dcase_lowcomplexity.data.demo.make_demo_dataset` (clips_per_class={cpc},
seed={seed}). Synthetic audio in the official layout; it is NOT the real dataset
(Zenodo 3670185 / 3685835) and its numbers say nothing about real accuracy.
"""


def make_demo_dataset(out_dir: str | Path, clips_per_class: int = 30, seed: int = 0,
                      eval_clips: int = 0) -> Path:
    """Writes the demo development set (and an evaluation set if `eval_clips` > 0) into
    `out_dir`; returns out_dir/TAU-urban-acoustic-scenes-2020-3class-development.

    Calling it again with the same arguments returns at once; with others it rewrites the
    demo folders (never a folder that this function did not write).
    """
    if clips_per_class < 1 or eval_clips < 0:
        raise ConfigError(f"clips_per_class={clips_per_class}, eval_clips={eval_clips}.",
                          fix="use clips_per_class >= 1 and eval_clips >= 0")
    out_dir = Path(out_dir)
    dev, evaluation = out_dir / DEVELOPMENT_FOLDER, out_dir / EVALUATION_FOLDER
    params = {"clips_per_class": int(clips_per_class), "seed": int(seed),
              "eval_clips": int(eval_clips), "generator_version": _GENERATOR_VERSION}
    marker = out_dir / MARKER
    if marker.is_file() and json.loads(marker.read_text()) == params and dev.is_dir():
        return dev
    for folder in (dev, evaluation):
        if folder.exists() and not marker.is_file():
            raise DatasetError("exists and was not written by make_demo_dataset.",
                               path=folder, fix="choose an empty OUT_DIR for the demo dataset")
    marker.unlink(missing_ok=True)
    for folder in (dev, evaluation):
        shutil.rmtree(folder, ignore_errors=True)
    _write_development(dev, clips_per_class, seed)
    (out_dir / GROUND_TRUTH).unlink(missing_ok=True)
    if eval_clips:
        _write_evaluation(evaluation, out_dir / GROUND_TRUTH, eval_clips, seed)
    marker.write_text(json.dumps(params, sort_keys=True) + "\n")
    return dev


def demo_layout(clips_per_class: int) -> list[dict]:
    """File names and fold of every demo clip, interleaved across classes like meta.csv.

    Clips come in locations of 3 segments (1 when there are fewer than 9 clips per class);
    every third location goes to the evaluate side, and only those may be in milan.
    """
    train_cities = [c for c in DEVELOPMENT_CITIES if c != "milan"]
    eval_cities = ["milan"] + train_cities
    per_class = []
    location_id = 1000
    for c, class_name in enumerate(CLASS_NAMES):
        scenes = [s for s, k in SCENE_TO_CLASS.items() if k == class_name]
        size = 3 if clips_per_class >= 9 else 1
        n_locations = math.ceil(clips_per_class / size)
        rows, n_eval = [], 0
        for j in range(n_locations):
            evaluate = j % 3 == 2 or (j == n_locations - 1 and n_eval == 0 and j > 0)
            cities = eval_cities if evaluate else train_cities
            city = cities[(n_eval if evaluate else j - n_eval + 3 * c) % len(cities)]
            n_eval += evaluate
            scene = scenes[j % len(scenes)]
            for _ in range(min(size, clips_per_class - j * size)):
                rows.append({"scene": scene, "city": city, "location": str(location_id),
                             "class_name": class_name,
                             "fold": "evaluate" if evaluate else "train"})
            location_id += 1
        per_class.append(rows)
    clips = [row for group in zip(*per_class) for row in group]  # round-robin over classes
    for k, row in enumerate(clips):
        row["segment"] = str(40000 + k)
        row["filename"] = (f"audio/{row['scene']}-{row['city']}-{row['location']}-"
                           f"{row['segment']}-a.wav")
    return clips


def _write_development(root: Path, clips_per_class: int, seed: int) -> None:
    clips = demo_layout(clips_per_class)
    (root / "audio").mkdir(parents=True)
    for k, row in enumerate(clips):
        audio = synth.scene_clip(row["scene"], np.random.default_rng([seed, 0, k]),
                                 SAMPLE_RATE, DURATION_S)
        write_clip(root / row["filename"], audio, SAMPLE_RATE, "PCM_24")
    meta = ["filename\tscene_label\tidentifier\tsource_label"] + [
        f"{r['filename']}\t{r['class_name']}\t{r['city']}-{r['location']}\ta" for r in clips]
    train = [f"{r['filename']}\t{r['class_name']}" for r in clips if r["fold"] == "train"]
    evaluate = [f"{r['filename']}\t{r['class_name']}" for r in clips if r["fold"] == "evaluate"]
    setup = root / "evaluation_setup"
    setup.mkdir()
    _write_lines(setup / "fold1_train.csv", ["filename\tscene_label"] + train)
    _write_lines(setup / "fold1_evaluate.csv", ["filename\tscene_label"] + evaluate)
    _write_lines(setup / "fold1_test.csv", ["filename"] + [e.split("\t")[0] for e in evaluate])
    (root / "README.md").write_text(_README.format(kind="development", cpc=clips_per_class,
                                                   seed=seed))
    _write_lines(root / "meta.csv", meta)  # last: a folder with meta.csv is complete


def _write_evaluation(root: Path, ground_truth: Path, eval_clips: int, seed: int) -> None:
    rng = np.random.default_rng([seed, 1])
    scenes = list(SCENE_TO_CLASS)
    chosen = [scenes[k % len(scenes)] for k in range(eval_clips)]
    chosen = [chosen[i] for i in rng.permutation(eval_clips)]
    (root / "audio").mkdir(parents=True)
    for k, scene in enumerate(chosen):
        audio = synth.scene_clip(scene, np.random.default_rng([seed, 2, k]), SAMPLE_RATE,
                                 DURATION_S)
        write_clip(root / "audio" / f"{k}.wav", audio, SAMPLE_RATE, "PCM_24")
    names = [f"audio/{k}.wav" for k in range(eval_clips)]
    (root / "evaluation_setup").mkdir()
    _write_lines(root / "evaluation_setup" / "fold1_test.csv", ["filename"] + names)
    (root / "README.md").write_text(_README.format(kind="evaluation", cpc="-", seed=seed))
    _write_lines(root / "meta.csv", ["filename"] + names)
    _write_lines(ground_truth, ["filename\tscene_label\tscene"] + [
        f"{n}\t{SCENE_TO_CLASS[s]}\t{s}" for n, s in zip(names, chosen)])


def _write_lines(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
