"""`python -m dcase_lowcomplexity.export.tflite`: converts a saved model to an FP16 or INT8
.tflite file and prints its DCASE and file sizes; `--r2` exports the four [R2] networks,
untrained, as their submissions were, and measures them.

    python -m dcase_lowcomplexity.export.tflite MODEL.keras OUT.tflite [--storage int8 --calibration X.npy]
    python -m dcase_lowcomplexity.export.tflite --r2
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from dcase_lowcomplexity.errors import ConfigError, cli_errors
from dcase_lowcomplexity.export.size import load_model_file
from dcase_lowcomplexity.export.tflite import ExportSizes, convert_fp16, convert_int8, export_sizes

HEADER = ("| system | storage | non-zero parameters | DCASE KB | .tflite KB |\n"
          "|---|---|---:|---:|---:|")


def untrained_r2_exports(folder: Path) -> list[tuple[str, ExportSizes]]:
    """The four [R2] networks, untrained (biases drawn at random so that, as after training,
    only pruned weights are zero), exported as their submissions were; sizes measured."""
    from dcase_lowcomplexity.config import LotteryTicketConfig
    from dcase_lowcomplexity.models.aclnet import build_aclnet
    from dcase_lowcomplexity.models.gccgram import build_gccgram_cnn
    from dcase_lowcomplexity.models.student import build_student
    from dcase_lowcomplexity.training.pruning import apply_masks, magnitude_masks

    rng = np.random.default_rng(0)

    def fresh(model):
        for v in model.weights:
            if v.name == "bias":
                v.assign(rng.normal(0.0, 0.01, v.shape).astype(np.float32))
        return model

    rows = []
    aclnet = fresh(build_aclnet())
    calibration = rng.standard_normal((32, 16000)).astype(np.float32) * 0.1
    path = convert_int8(aclnet, calibration, folder / "aclnet_int8.tflite")
    rows.append(("AclNet0.5 INT8", export_sizes(aclnet, path, "int8")))
    apply_masks(aclnet, magnitude_masks(aclnet, LotteryTicketConfig().prune_fraction))
    path = convert_fp16(aclnet, folder / "aclnet_lt_fp16.tflite")
    rows.append(("AclNet0.5 LT", export_sizes(aclnet, path, "float16")))
    student = fresh(build_student())
    path = convert_fp16(student, folder / "student_fp16.tflite", input_shape=(64, 1001, 1))
    rows.append(("Student CNN (KD)", export_sizes(student, path, "float16")))
    gcc = fresh(build_gccgram_cnn())
    path = convert_fp16(gcc, folder / "gccgram_fp16.tflite")
    rows.append(("GCC-grams CNN", export_sizes(gcc, path, "float16")))
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dcase_lowcomplexity.export.tflite",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("model_file", nargs="?", help=".keras model to convert")
    parser.add_argument("output", nargs="?", help="the .tflite file to write")
    parser.add_argument("--storage", choices=("float16", "int8"), default="float16")
    parser.add_argument("--calibration", help=".npy array of model inputs (INT8 only)")
    parser.add_argument("--input-shape", help="per-example shape, e.g. 64,1001,1")
    parser.add_argument("--r2", action="store_true", help="size the untrained [R2] networks")
    return parser.parse_args(argv)


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """--input-shape "64,1001,1" → (64, 1001, 1); ConfigError naming the option otherwise."""
    if text is None:
        return None
    try:
        shape = tuple(int(d) for d in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape):
        raise ConfigError(f"--input-shape must be positive integers separated by commas, "
                          f"got {text!r}", fix="e.g. --input-shape 64,1001,1")
    return shape


def model_input_shape(model, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    """The per-example shape the .tflite file gets: the model's, or --input-shape's."""
    free = tuple(model.input_shape[1:])
    if shape is None:
        if any(d is None for d in free):
            raise ConfigError(f"the model accepts inputs of shape {free}: a .tflite file needs "
                              "every size fixed", fix="pass --input-shape, e.g. "
                              f"--input-shape {','.join(str(d or 1001) for d in free)}")
        return free
    if len(shape) != len(free) or any(f is not None and f != d for f, d in zip(free, shape)):
        raise ConfigError(f"--input-shape {','.join(map(str, shape))} does not fit the model's "
                          f"inputs {free}", fix="give one size per axis, None axes free")
    return shape


def load_calibration(path: str | None, shape: tuple[int, ...]) -> np.ndarray:
    """The --calibration array (.npy, no pickles) of model inputs of `shape`."""
    if not path:
        raise ConfigError("INT8 needs --calibration inputs.npy")
    path = Path(path)
    if not path.is_file():
        raise ConfigError("--calibration file not found", path,
                          fix="pass a .npy array of model inputs (n, *input shape)")
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise ConfigError(f"--calibration is not a readable .npy array ({err})", path,
                          fix="save the inputs with numpy.save") from None
    if data.ndim != len(shape) + 1 or tuple(data.shape[1:]) != shape or len(data) == 0:
        raise ConfigError(f"--calibration holds an array of shape {data.shape}; the model "
                          f"needs (n, {', '.join(map(str, shape))}) with n ≥ 1", path,
                          fix="pass inputs of the model's (or --input-shape's) shape")
    return data


def convert_file(args: argparse.Namespace) -> list[tuple[str, ExportSizes]]:
    """Converts MODEL_FILE to OUTPUT as the options say; one row of sizes. Every option is
    checked before the model is converted."""
    if not (args.model_file and args.output):
        raise ConfigError("give MODEL_FILE and OUTPUT, or --r2")
    requested = parse_shape(args.input_shape)
    model = load_model_file(args.model_file)
    shape = model_input_shape(model, requested)
    if args.storage == "int8":
        data = load_calibration(args.calibration, shape)
        path = convert_int8(model, data, args.output, input_shape=shape)
    else:
        path = convert_fp16(model, args.output, input_shape=shape)
    return [(Path(args.model_file).name, export_sizes(model, path, args.storage))]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_errors():
        if args.r2:
            with tempfile.TemporaryDirectory() as folder:
                rows = untrained_r2_exports(Path(folder))
        else:
            rows = convert_file(args)
        print(HEADER)
        for name, sizes in rows:
            print(f"| {name} {sizes.to_markdown()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
