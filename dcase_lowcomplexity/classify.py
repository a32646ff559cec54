"""Classify recordings with a shipped model file of any of the five systems.

    python -m dcase_lowcomplexity.classify runs/task1b_binary/demo-fold1-seed0/model.1bit \
        recordings/ extra.wav --out predictions.csv [--on-error stop|skip]

The model card written beside the file by its run (`MODEL.json`) says which features, clip
length and test-time views the model was scored with; they are applied exactly
(`evaluation.classify`). WAV files of any sample rate (resampled, with a warning), mono or
stereo (mono duplicated, with a warning), shorter clips padded and longer ones classified per
window and averaged. One row per file: filename, scene_label and the three probabilities,
TAB separated as the DCASE output file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dcase_lowcomplexity.cli.experiment import quiet_tensorflow
from dcase_lowcomplexity.errors import ConfigError, cli_errors


def main(argv=None) -> int:
    quiet_tensorflow()
    p = argparse.ArgumentParser(prog="python -m dcase_lowcomplexity.classify",
                                description=__doc__.split("\n")[0])
    p.add_argument("model", type=Path, help="model.1bit or model_*.tflite of a finished run")
    p.add_argument("audio", nargs="+", type=Path, help="WAV files or folders of WAV files")
    p.add_argument("--out", type=Path, default=Path("predictions.csv"),
                   help="predictions file to write (TAB separated)")
    p.add_argument("--on-error", choices=("stop", "skip"), default="stop",
                   help="a bad recording stops the run (default) or is skipped and listed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    with cli_errors():
        from dcase_lowcomplexity.evaluation.classify import classify_files, write_predictions

        if args.out.is_dir():  # refused before the work, not after it
            raise ConfigError("--out names a folder.", args.out,
                              fix="pass the predictions file to write, e.g. predictions.csv")

        frame, skipped = classify_files(
            args.model, args.audio, on_error=args.on_error, progress=not args.quiet,
            warn=lambda message: print(f"warning: {message}", file=sys.stderr))
        for s in skipped:
            print(f"skipped: {s['reason']}", file=sys.stderr)
        if frame.empty:
            print("error: every recording was skipped; nothing written.", file=sys.stderr)
            return 2
        write_predictions(frame, args.out)
        print(f"{len(frame)} recording(s) classified → {args.out}"
              + (f" ({len(skipped)} skipped)" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
