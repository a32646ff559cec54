"""Packs a trained `.keras` one-bit model into the packed-bit file of SPEC §5, and checks it.

    python -m dcase_lowcomplexity.export MODEL.keras OUT.1bit [--frames 64]

The file is written beside OUT.1bit under a temporary name, reloaded, and both models are run
on the same random input; only if the largest difference of the class probabilities is within
1e-5 is it moved to OUT.1bit, so a refused pack leaves nothing behind (exit 2). The options are
checked before anything is read or written.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dcase_lowcomplexity.atomic import atomic_path
from dcase_lowcomplexity.errors import ConfigError, ModelFileError, cli_errors
from dcase_lowcomplexity.export.bitpack import load_packed, read_packed, save_packed
from dcase_lowcomplexity.export.size import load_model_file, model_size_report

TOLERANCE = 1e-5


def check_frames(frames) -> int:
    """The check input's frame count must be a positive integer (the option --frames)."""
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1:
        raise ConfigError(f"--frames must be a positive number of time frames, got {frames}",
                          fix="e.g. --frames 64 (the default)")
    return int(frames)


def pack_and_verify(model_file, out_file, frames: int = 64, seed: int = 0):
    """Packs `model_file` into `out_file`; returns the reloaded model and its max |Δp|.
    `out_file` appears only once the reloaded file has been checked."""
    frames = check_frames(frames)
    out = Path(out_file)
    if not out.parent.is_dir():  # a typo in the folder should not create a new tree
        raise ModelFileError("the folder is missing", out,
                             fix="create the folder or choose a writable path")
    model = load_model_file(model_file)
    with atomic_path(out) as tmp:
        save_packed(model, tmp)
        restored = load_packed(tmp)
        config = restored.model_config
        x = np.random.default_rng(seed).normal(
            size=(2, config.input_bins, frames, config.input_channels)).astype("float32")
        diff = float(np.max(np.abs(
            np.asarray(model(x, training=False)) - np.asarray(restored(x, training=False)))))
        if not diff <= TOLERANCE:  # NaN included
            raise ModelFileError(f"reloaded model differs from the source by {diff:.2e}", out,
                                 fix="report this: sign bits and BN arrays should be exact")
    return restored, diff


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dcase_lowcomplexity.export",
                                     description="Pack a trained one-bit model (SPEC §5).")
    parser.add_argument("model_file", help="trained model (.keras)")
    parser.add_argument("out_file", help="packed one-bit file to write")
    parser.add_argument("--frames", type=int, default=64, help="time frames of the check input")
    args = parser.parse_args(argv)
    with cli_errors():
        restored, diff = pack_and_verify(args.model_file, args.out_file, args.frames)
        packed = read_packed(args.out_file)
        report = model_size_report(restored)
        print(f"wrote {packed.path} ({packed.path.stat().st_size:,} bytes on disk): "
              f"{packed.signs.size:,} sign bits in {packed.sign_bytes:,} bytes, "
              f"{packed.floats.size:,} batch-norm floats; DCASE size {report.size_kb:,.2f} KB; "
              f"max |Δp| after reload {diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
