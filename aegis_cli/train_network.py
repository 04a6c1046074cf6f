"""`python -m aegis_cli.train_network`: generate a world and train the network model on it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aegis_cli.argtypes import positive_float, positive_int
from aegis_cli.cmd_generate import add_generator_options, config_from_args
from aegis_cli.errors import CliError
from aegis_lab.graph.training import DEFAULT_MODEL_DIR, TrainConfig, train_network
from aegis_lab.training.dataset import Split
from aegis_lab.world import generate
from agent_services.network.model import HyperParams

# Small enough to train in seconds on a laptop CPU, large enough for every attack type.
DEFAULT_EVENTS = 20_000
# --small: what `make models` trains on a fresh clone before `make run`, in seconds.
SMALL_EVENTS = 6_000
SMALL_EPOCHS = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aegis_cli.train_network",
        description="Generate a seeded login world and train the network agent's GraphSAGE "
        "model on it (GPU when present); writes model.pt + metadata.json to --out.",
    )
    add_generator_options(parser, events_default=None)
    defaults = TrainConfig()
    parser.add_argument("--small", action="store_true",
                        help=f"a small world and few epochs, seconds not minutes (default events "
                        f"{SMALL_EVENTS} instead of {DEFAULT_EVENTS}, epochs {SMALL_EPOCHS} "
                        f"instead of {defaults.epochs})")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR,
                        help="artifact folder (default %(default)s)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help=f"passes over the training logins (default {defaults.epochs})")
    parser.add_argument("--max-steps", type=positive_int, default=None,
                        help="stop after this many batches")
    parser.add_argument("--batch-size", type=positive_int, default=defaults.batch_size,
                        help="logins per batch (default %(default)s)")
    parser.add_argument("--hidden", type=positive_int, default=defaults.params.hidden,
                        help="width of the node embeddings (default %(default)s)")
    parser.add_argument("--layers", type=positive_int, default=defaults.params.layers,
                        help="rounds of message passing (default %(default)s)")
    parser.add_argument("--learning-rate", type=positive_float, default=defaults.learning_rate,
                        help="AdamW learning rate (default %(default)s)")
    parser.add_argument("--train-seed", type=int, default=defaults.seed,
                        help="seed of weights and batch order (default %(default)s)")
    parser.add_argument("--threads", type=positive_int, default=defaults.cpu_threads,
                        help="torch CPU threads (default %(default)s)")
    parser.add_argument("--holdout-share", type=float, default=Split().holdout_share,
                        help="share of users held out of training to measure the model, chosen "
                        "as `aegis train` chooses its holdout users, so that its combiner sees "
                        "this model out of sample; 0: hold out the latest logins instead "
                        "(default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.events is None:
        args.events = SMALL_EVENTS if args.small else DEFAULT_EVENTS
    if args.epochs is None:
        args.epochs = SMALL_EPOCHS if args.small else TrainConfig().epochs
    try:
        world = config_from_args(args, randomise=True)
    except CliError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    config = TrainConfig(
        params=HyperParams(hidden=args.hidden, layers=args.layers),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.train_seed,
        max_steps=args.max_steps,
        cpu_threads=args.threads,
        holdout_users=Split(holdout_share=args.holdout_share).holdout
        if args.holdout_share > 0 else None,
    )
    try:
        report = train_network(generate(world), args.out, config, progress=not args.quiet)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    m = report.metrics
    print(f"network model {report.model_version} -> {report.model_dir} "
          f"({m['training_logins']:.0f} training logins, {m['steps']:.0f} steps on "
          f"{report.device}, {m['training_seconds']:.1f} s)")
    if "validation_roc_auc" in m:
        print(f"held out ({m['validation_logins']:.0f} logins): ROC AUC "
              f"{m['validation_roc_auc']:.4f}, recall at 1% challenged "
              f"{m['validation_recall_at_1pct']:.3f}, ECE {m['validation_ece']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
