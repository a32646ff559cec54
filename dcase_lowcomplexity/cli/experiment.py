"""The command line every experiments/task1b_*.py script shares.

A script names its system and adds its own options; this module parses the options common
to all five (named as in the reports), checks every value before any work starts, turns them
into a `systems.System` and `pipeline.RunOptions`, and calls `pipeline.run_system`.

`--profile` defaults to `demo`, except that `--data` without `--profile` means the paper
profile: the demo network is never trained on the real dataset without a word.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable

from dcase_lowcomplexity.errors import ConfigError, cli_errors

STRATEGIES = ("default", "mirrored", "multiworker")
OPTIMIZERS = ("sgd", "adam")
MAX_SEED = 2**32 - 1


def quiet_tensorflow(before_devices: Callable[[], None] | None = None) -> list[str]:
    """Imports TensorFlow and lists its GPUs without its C++ start-up lines (oneDNN notes,
    `failed call to cuInit` on every CPU machine), which read as failures; they are printed
    before TF_CPP_MIN_LOG_LEVEL is read, so standard error is closed for the import alone.
    A user who set TF_CPP_MIN_LOG_LEVEL sees everything. `before_devices()` runs after the
    import and before TensorFlow sets up its devices (--devices). Returns the GPU names."""
    user_choice = "TF_CPP_MIN_LOG_LEVEL" in os.environ
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if user_choice or "tensorflow" in sys.modules:
        import tensorflow as tf
        if before_devices is not None:
            before_devices()
        return [d.name for d in tf.config.list_logical_devices("GPU")]
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import tensorflow as tf
            if before_devices is not None:
                before_devices()
            gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return gpus


def base_parser(system_key: str, description: str) -> argparse.ArgumentParser:
    """The options of every experiment script (report behaviour by default)."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--profile", choices=("demo", "paper"), default=None,
                   help="demo: synthetic data, narrow network, minutes on a CPU; paper: every "
                        "number of the report. Default: demo, or paper when --data is given")
    p.add_argument("--data", type=Path, default=None,
                   help="development set folder (TAU-urban-acoustic-scenes-2020-3class-"
                        "development); the demo profile writes a synthetic one when omitted")
    p.add_argument("--eval-data", type=Path, default=None,
                   help="evaluation folder to write the DCASE submission files for")
    p.add_argument("--split", default="fold1",
                   help="fold1 (official), all (every development file, no validation) or "
                        "loco:CITY (leave one city out)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and data order")
    p.add_argument("--out", type=Path, default=None,
                   help=f"run folder (default runs/{system_key}/PROFILE-SPLIT-seedSEED); rerun "
                        "the same command to resume an interrupted run")
    p.add_argument("--store-dir", type=Path, default=Path("features"),
                   help="where input stores are cached (one per dataset, input and parameters)")
    p.add_argument("--store-dtype", choices=("float32", "float16"), default="float32",
                   help="input store precision (float16 halves its size)")
    p.add_argument("--workers", type=int, default=None,
                   help="feature extraction processes (default: all cores)")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="a bad development-set recording stops the run (raise), or is left "
                        "out and listed beside the store (skip); bad evaluation audio always "
                        "stops it")
    p.add_argument("--label", default=None, help="submission label Lastname_Inst_task1b_N")
    g = p.add_argument_group("training (defaults: the profile's; [R2] gives none, ours reuse "
                             "[R1]'s recipe)")
    g.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    g.add_argument("--batch-size", type=int, default=None, help="global batch (paper: 32)")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                   help="sgd: momentum 0.9 as [R1] (default); adam: lr_max 1e-3 unless given")
    g.add_argument("--lr-max", type=float, default=None, help="SGDR peak (paper: 0.025)")
    g.add_argument("--lr-min", type=float, default=None, help="SGDR floor (paper: 2.5e-6)")
    g.add_argument("--mixup-alpha", type=float, default=None,
                   help="λ ~ Beta(α, α) ([R1]: 0.4; [R2] systems, ours: 0.2)")
    g.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="tf.distribute strategy (global batch unchanged): mirrored over the "
                        "local devices, or multiworker over the workers of TF_CONFIG, the "
                        "chief writing the run folder (docs/training.md)")
    g.add_argument("--devices", default=None,
                   help="--strategy mirrored: a count N (the first N GPUs, or N logical CPUs "
                        "without a GPU) or a list such as /gpu:0,/gpu:1; default: every GPU "
                        "(choose them with CUDA_VISIBLE_DEVICES)")
    g.add_argument("--loader-workers", type=int, default=1,
                   help="threads preparing batches; on a GPU use ≥ 2")
    return p


def check_number(name: str, value, *, minimum=None, above=None, integer=False) -> None:
    """Refuses NaN, infinities and values out of range, naming the option."""
    if value is None:
        return
    option = f"--{name.replace('_', '-')}"
    if not math.isfinite(value):
        raise ConfigError(f"{option} must be a finite number, got {value}")
    if above is not None and not value > above:
        raise ConfigError(f"{option} must be greater than {above}, got {value}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{option} must be at least {minimum}, got {value}")


def check_common(args: argparse.Namespace) -> None:
    for name in ("epochs", "batch_size", "loader_workers", "workers"):
        check_number(name, getattr(args, name), minimum=1)
    check_number("lr_max", args.lr_max, above=0)
    check_number("lr_min", args.lr_min, minimum=0)
    check_number("mixup_alpha", args.mixup_alpha, minimum=0)
    if not 0 <= args.seed <= MAX_SEED:
        raise ConfigError(f"--seed must lie in 0 … {MAX_SEED}, got {args.seed}")
    if args.label is not None:
        from dcase_lowcomplexity.evaluation.submission import check_label
        try:
            check_label(args.label)
        except ConfigError as err:
            raise ConfigError(f"--label {args.label!r} does not follow Lastname_Inst_task1b_N",
                              fix=err.fix) from None


def _training(config, args, epochs: int | None):
    changes = {k: v for k, v in {"epochs": epochs, "batch_size": args.batch_size,
                                 "optimizer": args.optimizer, "lr_max": args.lr_max,
                                 "lr_min": args.lr_min}.items() if v is not None}
    if args.optimizer == "adam" and args.lr_max is None:
        changes["lr_max"] = 1e-3  # Adam's usual peak; SGD's 0.025 would diverge
    config = dataclasses.replace(config, seed=args.seed, **changes)
    if not 0 <= config.lr_min < config.lr_max:
        raise ConfigError(f"need 0 ≤ --lr-min < --lr-max, got --lr-min {config.lr_min} and "
                          f"--lr-max {config.lr_max}")
    return config


def configure_common(system, args: argparse.Namespace):
    """The common overrides applied to every training phase of `system`."""
    changes = {"training": _training(system.training, args, args.epochs)}
    for name in ("retraining", "teacher_training"):
        phase = getattr(system, name)
        if phase is not None:
            changes[name] = _training(phase, args, None)
    if args.mixup_alpha is not None:
        changes["augment"] = dataclasses.replace(system.augment, mixup_alpha=args.mixup_alpha)
    return system.replace(**changes)


def resolve_profile(args: argparse.Namespace) -> str:
    if args.profile is not None:
        return args.profile
    if args.data is not None:
        print("--data given without --profile: using the paper profile (pass --profile demo "
              "for the narrow demo network)", file=sys.stderr)
        return "paper"
    return "demo"


def announce_device(gpus: list[str], strategy: str = "default",
                    devices: tuple[str, ...] | None = None) -> None:
    print(f"training on {len(gpus)} GPU(s): {', '.join(gpus)}" if gpus
          else "training on the CPU (no GPU visible)")
    if strategy == "mirrored":
        print(f"MirroredStrategy over {', '.join(devices) if devices else 'every GPU'}")
    elif strategy == "multiworker":
        print("MultiWorkerMirroredStrategy over the workers of TF_CONFIG")


def choose_devices(args: argparse.Namespace) -> tuple[str, ...] | None:
    """--devices as device names (configuring logical CPUs); None when not given. Starts
    the multiworker strategy, which must exist before TensorFlow sets up its devices."""
    if args.strategy == "multiworker":  # TensorFlow needs it before any other work
        from dcase_lowcomplexity.training.strategy import make_strategy
        make_strategy("multiworker")
    if args.devices is None:
        return None
    if args.strategy != "mirrored":
        raise ConfigError(f"--devices goes with --strategy mirrored, not {args.strategy}",
                          fix="add --strategy mirrored (multiworker: CUDA_VISIBLE_DEVICES "
                              "on each worker)")
    from dcase_lowcomplexity.training.strategy import use_devices
    return tuple(use_devices(args.devices))


def run(system_key: str, description: str, argv=None, *,
        add_options: Callable[[argparse.ArgumentParser], None] | None = None,
        configure: Callable | None = None) -> int:
    """Parses, checks, configures and runs one system; exit status 2 with one message on a
    user error, 130 after Ctrl-C (rerun the same command to resume)."""
    from dcase_lowcomplexity import systems
    from dcase_lowcomplexity.pipeline import RunOptions, run_system

    parser = base_parser(system_key, description)
    if add_options is not None:
        add_options(parser)
    args = parser.parse_args(argv)
    with cli_errors():
        check_common(args)
        profile = resolve_profile(args)
        system = configure_common(systems.system(system_key, profile), args)
        if configure is not None:
            system = configure(system, args)
        start = time.perf_counter()
        chosen = []
        gpus = quiet_tensorflow(lambda: chosen.append(choose_devices(args)))
        options = RunOptions(
            profile=profile, data=args.data, eval_data=args.eval_data, split=args.split,
            out=args.out, store_dir=args.store_dir, store_dtype=args.store_dtype,
            workers=args.workers, on_error=args.on_error, label=args.label,
            loader_workers=args.loader_workers, strategy=args.strategy, devices=chosen[0])
        announce_device(gpus, options.strategy, options.devices)
        result = run_system(system, options)
        print(f"run folder: {result.run_dir}  ({time.perf_counter() - start:.0f} s)")
    return 0
