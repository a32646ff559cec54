#!/usr/bin/env python
"""[R2] AclNet0.5 LT: lottery-ticket pruning (19.6 %) with rewinding, then FP16, scored as a .tflite file.

    python experiments/task1b_lottery.py                       # demo profile, minutes on a CPU
    python experiments/task1b_lottery.py --profile paper --data DIR/TAU-urban-acoustic-scenes-2020-3class-development \
        --eval-data DIR/TAU-urban-acoustic-scenes-2020-3class-evaluation

Steps ([R2]): 16 kHz waveforms (cached, shared with task1b_int8) → phase 1: train AclNet0.5
(phase1_train/; the weights after --rewind-epoch epochs are kept in rewind_snapshot.npz) →
the FP32 base is scored (fp32/) → prune the 19.6 % smallest-magnitude conv/dense weights
(masks.npz) → rewind the survivors to their early values → phase 2: retrain with the mask held
after every step (phase2_retrain/) → the sparsity is checked unchanged (lottery.json) → the
pruned FP32 model is scored (fp32_pruned/) → FP16 .tflite → THAT FILE is scored by LiteRT
(1 s segments averaged) → results, size.md (DCASE size counts non-zero weights; the file stores
the zeros), summary.json, submission files (Lopez-Meyer_IL_task1b_2). Every phase resumes.
"""
from __future__ import annotations

import sys
import time

from dcase_lowcomplexity import experiment as ex
from dcase_lowcomplexity.errors import ConfigError, cli_errors
from dcase_lowcomplexity.r2_pipeline import profiles

SYSTEM = "task1b_lottery"


def parse_args(argv=None):
    p = ex.base_parser(__doc__.split("\n")[1], SYSTEM)
    profiles.add_training_options(p)
    g = p.add_argument_group("lottery ticket ([R2]: 19.6 %; rewinding epoch and scope ours)")
    g.add_argument("--retrain-epochs", type=int, default=None,
                   help="epochs of phase 2 (default: those of phase 1, --epochs)")
    g.add_argument("--rewind-epoch", type=int, default=None,
                   help="survivors rewound to the weights after this many epochs "
                        "(paper 2, demo 1; 0 = initialisation)")
    g.add_argument("--prune-fraction", type=float, default=None, help="[R2]: 0.196")
    g.add_argument("--prune-scope", choices=("global", "per_layer"), default=None,
                   help="one magnitude threshold over all kernels (default) or per kernel")
    return p.parse_args(argv)


def build_config(args) -> dict:
    profiles.check_epochs(args, "retrain_epochs")
    aclnet = profiles.aclnet_config(args.profile)
    train = profiles.training_config("aclnet", args, args.epochs)
    retrain = profiles.training_config("aclnet", args, args.retrain_epochs or train.epochs)
    lottery = profiles.lottery_config(args.profile, args.rewind_epoch, args.prune_fraction,
                                      args.prune_scope)
    if lottery.rewind_epoch >= train.epochs:
        raise ConfigError(f"--rewind-epoch {lottery.rewind_epoch} must be smaller than the "
                          f"{train.epochs} epochs of phase 1",
                          fix="lower --rewind-epoch or raise --epochs")
    return profiles.as_dict(
        system=SYSTEM, profile=args.profile, split=args.split,
        waveform=profiles.waveform_config(args.profile), model=aclnet,
        augment=profiles.waveform_augment_config(aclnet), training=train, retraining=retrain,
        lottery=lottery)


def main(argv=None) -> int:
    args = parse_args(argv)
    with cli_errors():
        start = time.perf_counter()
        config = build_config(args)
        run_dir = ex.run_dir_for(args, SYSTEM)
        data = ex.prepare_data(args)

        import keras

        from dcase_lowcomplexity.config import (
            AclNetConfig, LotteryTicketConfig, WaveformAugmentConfig, WaveformConfig,
        )
        from dcase_lowcomplexity.models.aclnet import build_aclnet
        from dcase_lowcomplexity.r2_pipeline import report, runs, training
        from dcase_lowcomplexity.r2_pipeline.inputs import InputSpec
        from dcase_lowcomplexity.training.pruning import lottery_ticket_counts
        from dcase_lowcomplexity.training.run import prepare_run_dir

        prepare_run_dir(run_dir, config)  # refuses a folder of another configuration
        aclnet = AclNetConfig(**config["model"])
        augment = WaveformAugmentConfig(**config["augment"])
        si = runs.split_inputs(data, InputSpec("waveform", WaveformConfig(**config["waveform"])),
                               args, segment_samples=aclnet.segment_samples)
        keras.utils.set_random_seed(args.seed)
        model = build_aclnet(aclnet)
        base = keras.models.clone_model(model)

        def on_base_trained(trained):
            base.set_weights(trained.get_weights())
            report.save_keras(base, run_dir / "model_fp32_base.keras")
            runs.score_model(run_dir / "fp32", base, si, title="AclNet0.5 FP32 base (unpruned)",
                             log_csv=run_dir / "phase1_train" / "training_log.csv")

        masks = training.lottery_ticket_phases(
            model, lambda cfg: runs.waveform_stream(si, augment, cfg), run_dir,
            profiles.R2TrainingConfig(**config["training"]),
            profiles.R2TrainingConfig(**config["retraining"]),
            LotteryTicketConfig(**config["lottery"]), validation=runs.validation_for(si),
            run_config=config, on_base_trained=on_base_trained)
        counts = {**lottery_ticket_counts(model, masks),
                  **training.masked_zero_counts(model, masks)}
        ex.write_json(run_dir / "lottery.json", counts)
        report.save_keras(model, run_dir / "model_fp32_pruned.keras")
        runs.score_model(run_dir / "fp32_pruned", model, si, title="AclNet0.5 LT, FP32")
        runs.ship(run_dir, profiles.SYSTEMS[SYSTEM], model, si, args, base=base,
                  log_csv=run_dir / "phase2_retrain" / "training_log.csv",
                  folders={"fp32": "fp32", "fp32_pruned": "fp32_pruned"}, extra=counts)
        print(f"pruned {counts['pruned']:,} of {counts['prunable']:,} weights; "
              f"{counts['non_zero']:,} non-zero parameters ([R2]: 255,740 of 317,038)")
        print(f"run folder: {run_dir}  ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
