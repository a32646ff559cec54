#!/usr/bin/env python
"""[R1]: the one-bit-per-weight split-frequency ResNet, from audio to a scored packed-bit model.

    python experiments/task1b_binary.py                       # demo profile, minutes on a CPU
    python experiments/task1b_binary.py --profile paper --data DIR/TAU-urban-acoustic-scenes-2020-3class-development \
        --eval-data DIR/TAU-urban-acoustic-scenes-2020-3class-evaluation --seed 0

Steps: dataset → log-mel store (cached, resumable) → balanced mixup training with SGDR
(resumable: rerun the same command after an interruption) → packed one-bit export → the
model is RELOADED from that file and scored on the validation split with channel-swap
averaging on the full clips → results.md/.csv (Table 1 layout), confusion_matrix.png,
training_curves.png, size table, and the DCASE submission files for an evaluation folder.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from dcase_lowcomplexity.config import PaperConfig, demo_config
from dcase_lowcomplexity.errors import cli_errors
from dcase_lowcomplexity import experiment as ex

SYSTEM = "task1b_binary"
AUTHORS = [{"lastname": "McDonnell", "firstname": "Mark D.",
            "email": "mark.mcdonnell@unisa.edu.au", "corresponding": True,
            "affiliation": {"institution": "University of South Australia"}}]


def parse_args(argv=None):
    p = ex.base_parser(__doc__.split("\n")[1], SYSTEM)
    g = p.add_argument_group("[R1] options (report behaviour by default)")
    g.add_argument("--single-pass", action="store_true",
                   help="C1's inference: one pass instead of averaging both channel orientations")
    g.add_argument("--freq-split", type=int, default=None,
                   help="first bin of path B (default 128 as in C1; [R1]'s text says 0-125)")
    g.add_argument("--num-filters", type=int, default=None, help="width of stack 1 (paper: 26)")
    g.add_argument("--mixup-alpha", type=float, default=None, help="Beta(α, α) (paper: 0.4)")
    g.add_argument("--lr-max", type=float, default=None, help="SGDR peak (paper: 0.025)")
    g.add_argument("--lr-min", type=float, default=None, help="SGDR floor (paper: 2.5e-6)")
    g.add_argument("--batch-size", type=int, default=None, help="global batch (paper: 32)")
    g.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                   default="default", help="tf.distribute strategy (global batch unchanged)")
    g.add_argument("--loader-workers", type=int, default=1,
                   help="threads preparing mixup batches; on a GPU use ≥ 2 (a paper batch "
                        "costs ≈ 0.09 s of CPU, benchmarks/README.md)")
    return p.parse_args(argv)


def build_config(args) -> PaperConfig:
    """The profile's config with the command line's overrides (recorded in the run folder)."""
    config = PaperConfig() if args.profile == "paper" else demo_config()
    model = {k: v for k, v in {"freq_split": args.freq_split,
                               "num_filters": args.num_filters}.items() if v is not None}
    if args.strategy != "default":  # batch statistics over the global batch of 32, as on one GPU
        model["synchronized_bn"] = True
    training = {k: v for k, v in {"epochs": args.epochs, "lr_max": args.lr_max,
                                  "lr_min": args.lr_min,
                                  "batch_size": args.batch_size}.items() if v is not None}
    augment = {} if args.mixup_alpha is None else {"mixup_alpha": args.mixup_alpha}
    for name in ("epochs", "num_filters", "batch_size", "lr_max", "mixup_alpha",
                 "loader_workers"):
        ex.check_positive(name, getattr(args, name))
    return dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, **model),
        training=dataclasses.replace(config.training, seed=args.seed, **training),
        augment=dataclasses.replace(config.augment, **augment),
        inference=dataclasses.replace(config.inference,
                                      channel_swap_average=not args.single_pass),
    )


def train(config: PaperConfig, data: ex.PreparedData, store, run_dir: Path, args):
    """Builds the network and trains it resumably; returns the trained model."""
    import keras

    from dcase_lowcomplexity.evaluation.inference import make_validation
    from dcase_lowcomplexity.models.binary_resnet import build_binary_resnet
    from dcase_lowcomplexity.training.run import train_model
    from dcase_lowcomplexity.training.strategy import make_strategy

    keras.utils.set_random_seed(config.training.seed)
    validation = None
    if data.split.validation is not None:
        val = data.split.validation
        validation = make_validation(store, val.class_index.to_numpy(),
                                     store.index_of(val.filename))
    strategy = make_strategy(args.strategy)
    with strategy.scope():
        model = build_binary_resnet(config.model)
        train_model(model, store, data.split.train.class_index.to_numpy(), config.training,
                    run_dir, augment=config.augment, train_rows=store.index_of(data.split.train.filename),
                    validation=validation, workers=args.loader_workers,
                    # inference options may change between reruns: not part of the run's identity
                    run_config={k: v for k, v in config.to_dict().items() if k != "inference"})
    return model


def export_and_score(config, model, data: ex.PreparedData, store, run_dir: Path, args):
    """Packs the sign bits, reloads the model FROM THAT FILE, and scores the reloaded model."""
    from dcase_lowcomplexity.evaluation.inference import predict_clips
    from dcase_lowcomplexity.evaluation.summary import RunSummary, write_summary
    from dcase_lowcomplexity.export.bitpack import load_packed, save_packed
    from dcase_lowcomplexity.export.size import model_size_report, size_summary
    from dcase_lowcomplexity.reported import R1_NAME, R1_TABLE1

    packed = save_packed(model, run_dir / "model.1bit", config=config.model)
    size = model_size_report(model)
    ex.atomic_write_text(run_dir / "size.md", size.to_markdown() + "\n")
    size.to_csv(run_dir / "size.csv")
    label = args.label or f"McDonnell_USA_task1b_{args.seed % 4 + 1}"
    write_summary(run_dir, RunSummary(  # read by experiments/compare_systems.py
        system=SYSTEM, table_name=R1_NAME, label=label, storage="1bit",
        sizes=size_summary(model, "1bit", packed, base=model), scored=packed.name))
    reloaded = load_packed(packed)
    swap = config.inference.channel_swap_average
    scores = None
    if data.split.validation is not None:
        val = data.split.validation
        probs = predict_clips(reloaded, store, store.index_of(val.filename),
                              channel_swap_average=swap, batch_size=config.inference.batch_size)
        table = ex.write_scores(run_dir, val.filename, val.class_index.to_numpy(), probs,
                                log_csv=run_dir / "training_log.csv",
                                reference=R1_TABLE1 if args.profile == "paper" else None)
        scores = table.scores
        print(table.to_markdown())
    if data.evaluation is not None:
        eval_store = ex.ensure_store(data.evaluation_root, data.evaluation.filename,
                                     config.features, args)
        probs = predict_clips(reloaded, eval_store, channel_swap_average=swap,
                              batch_size=config.inference.batch_size)
        paths = ex.write_submission(
            run_dir, label, eval_store.filenames, probs, complexity=size, scores=scores,
            name="One-bit-per-weight split-frequency ResNet", abbreviation="1bitResNet",
            authors=AUTHORS)
        print("submission files:", *paths, sep="\n  ")
    return packed, size


def main(argv=None) -> int:
    args = parse_args(argv)
    with cli_errors():
        start = time.perf_counter()
        config = build_config(args)
        run_dir = ex.run_dir_for(args, SYSTEM)
        data = ex.prepare_data(args)
        files = data.dataset.table.filename
        store = ex.ensure_store(data.dataset.root, files, config.features, args)
        model = train(config, data, store, run_dir, args)
        packed, size = export_and_score(config, model, data, store, run_dir, args)
        print(f"packed one-bit model: {packed} ({packed.stat().st_size:,} bytes; DCASE size "
              f"{size.size_kb:.2f} KB for {size.total_parameters:,} weights)")
        print(f"run folder: {run_dir}  ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
