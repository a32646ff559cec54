"""`python -m dcase_lowcomplexity.export.size`: the DCASE size table of a model, or `--r2`:
each [R2] paper network's trainable-parameter count beside the report's.

    python -m dcase_lowcomplexity.export.size [MODEL_FILE] [--storage S] [--config paper|demo]
    python -m dcase_lowcomplexity.export.size --r2
"""
from __future__ import annotations

import argparse

from dcase_lowcomplexity.config import LotteryTicketConfig, PaperConfig, demo_config
from dcase_lowcomplexity.errors import cli_errors
from dcase_lowcomplexity.export.size import (
    STORAGE_BITS, load_model_file, model_size_report, trainable_parameters,
)
from dcase_lowcomplexity.reported import R2_TABLE1, R2_TEXT_PARAMETERS, r2_system


def r2_network_counts() -> list[tuple[str, int, str]]:
    """(network, our trainable count, the report's count(s) as text) for each [R2] paper
    network built by models/ today; the lottery ticket's is the trainable count less the
    kernels that magnitude pruning at [R2]'s 19.6 % zeroes."""
    from dcase_lowcomplexity.models.aclnet import build_aclnet
    from dcase_lowcomplexity.models.gccgram import build_gccgram_cnn
    from dcase_lowcomplexity.models.student import build_student
    from dcase_lowcomplexity.models.teacher import build_teacher
    from dcase_lowcomplexity.training.pruning import magnitude_masks

    aclnet = build_aclnet()
    fraction = LotteryTicketConfig().prune_fraction
    pruned = sum(int(m.size - m.sum()) for m in magnitude_masks(aclnet, fraction).values())
    table1 = {row.model: row.parameters for row in R2_TABLE1}
    student_table2 = r2_system("Student CNN (KD)").parameters
    return [
        ("AclNet0.5", trainable_parameters(aclnet), f"{R2_TEXT_PARAMETERS['AclNet0.5']:,}"),
        (f"AclNet0.5 LT ({100 * fraction:.1f} % pruned, non-zero)",
         trainable_parameters(aclnet) - pruned, f"{R2_TEXT_PARAMETERS['AclNet0.5 LT']:,}"),
        ("Teacher CNN (VGG-12)", trainable_parameters(build_teacher()),
         f"{table1['Teacher CNN']:,}"),
        ("Student CNN", trainable_parameters(build_student()),
         f"{R2_TEXT_PARAMETERS['Student CNN']:,} (§2.3); {student_table2:,} (Table 2)"),
        ("GCC-grams CNN", trainable_parameters(build_gccgram_cnn()),
         f"{R2_TEXT_PARAMETERS['GCC-grams CNN']:,}"),
    ]


def r2_markdown(rows: list[tuple[str, int, str]]) -> str:
    lines = ["| [R2] network | trainable parameters (ours) | [R2] | gap |", "|---|---:|---:|---:|"]
    for name, ours, theirs in rows:
        first = int(theirs.split(" ")[0].replace(",", ""))
        lines.append(f"| {name} | {ours:,} | {theirs} | {ours - first:+,} "
                     f"({100 * (ours / first - 1):+.4f} %) |")
    return "\n".join(lines) + (
        "\n\nTrainable parameters as [R2] counts them: batch-norm γ and β included, moving "
        "statistics not. Gaps against the first figure given.")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dcase_lowcomplexity.export.size",
        description="DCASE2020 model size (non-zero parameters × bits, batch norm excluded).",
    )
    parser.add_argument("model_file", nargs="?", help=".keras or packed one-bit file; "
                        "without it the untrained network of --config is sized")
    parser.add_argument("--storage", choices=sorted(STORAGE_BITS), default=None,
                        help="force the bits of every parameter (default: each weight's own)")
    parser.add_argument("--config", choices=("paper", "demo"), default="paper",
                        help="architecture to size when no MODEL_FILE is given")
    parser.add_argument("--r2", action="store_true",
                        help="the [R2] paper networks' trainable counts beside the report's")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_errors():
        if args.r2:
            print(r2_markdown(r2_network_counts()))
            return 0
        if args.model_file:
            model = load_model_file(args.model_file)
        else:
            from dcase_lowcomplexity.models.binary_resnet import build_binary_resnet

            config = PaperConfig() if args.config == "paper" else demo_config()
            model = build_binary_resnet(config.model)
        print(model_size_report(model, storage=args.storage).to_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
