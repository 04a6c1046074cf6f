"""`aegis train`: train the behavior population, the detection model and the combiner on a
generated world, with progress bars."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from aegis_cli import cmd_generate
from aegis_cli.argtypes import non_negative_int, positive_int
from aegis_cli.errors import FAILURE, CliError
from audit_service.settings import AuditSettings

if TYPE_CHECKING:
    from aegis_lab.training.pipeline import ProgressFactory, TrainReport

DEFAULT_MODEL_DIR = Path(".aegis/models")
FULL = {"events": 200_000, "rounds": 300, "combiner_legit": 15_000, "combiner_events": 50_000,
        "shifted_users": 600, "worlds": 3}
# Seconds, not minutes: what a fresh clone trains before `make run`.
SMALL = {"events": 6_000, "rounds": 40, "combiner_legit": 1_500, "combiner_events": 4_000,
         "shifted_users": 100, "worlds": 1}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this command to `aegis`; the parsed arguments carry its handler."""
    parser = subparsers.add_parser(
        "train",
        help="train the models on a generated world (behavior, detection, combiner)",
        description="Generate a world (see `aegis generate`), replay it in time order with the "
        "context the audit service would give each login, then publish under --model-dir: "
        "behavior/population.json, detection/model.json + metadata.json (XGBoost, isotonic "
        "calibration on holdout users, feature list, training window, data hash, metrics) and "
        "router/combiner.json (a logistic combiner over every agent's signal, the network "
        "agent's included when its model is there: train it first; fitted on a combiner world "
        "of its own: seed + 1000, later, other users, every attack type in equal share, and "
        "with as much weight on a world of the shifted family: seed + 3000).",
    )
    cmd_generate.add_generator_options(parser, events_default=None)
    parser.add_argument("--small", action="store_true",
                        help=f"a small world and few rounds, seconds not minutes (default "
                        f"events {SMALL['events']} instead of {FULL['events']})")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, metavar="DIR",
                        help="where the agents read their models (default %(default)s)")
    parser.add_argument("--rounds", type=positive_int, default=None,
                        help=f"boosting rounds (default {FULL['rounds']}, {SMALL['rounds']} with "
                        "--small)")
    parser.add_argument("--combiner-events", type=positive_int, default=None,
                        help=f"logins of the combiner world (default {FULL['combiner_events']}, "
                        f"{SMALL['combiner_events']} with --small)")
    parser.add_argument("--shifted-users", type=non_negative_int, default=None,
                        help=f"users of the shifted-family world the combiner also learns on "
                        f"(default {FULL['shifted_users']}, {SMALL['shifted_users']} with "
                        "--small; 0: none)")
    parser.add_argument("--worlds", type=positive_int, default=None,
                        help=f"training worlds the logins are shared among, each of its own seed "
                        f"(seed + 100k) and so, randomised, its own habits and sharing (default "
                        f"{FULL['worlds']}, {SMALL['worlds']} with --small)")
    parser.add_argument("--warmup-days", type=float, default=7.0,
                        help="logins before then only build history (default %(default)s)")
    parser.add_argument("--if-missing", action="store_true",
                        help="do nothing when a detection model of this code's features is "
                        "already there")
    parser.add_argument("--only", choices=("combiner",),
                        help="refit only the combiner (after training the network agent)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bars")
    parser.add_argument("--combiner-legit", type=non_negative_int, default=None,
                        help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 once every artifact is published."""
    # Heavy imports (numpy, xgboost) only for this command.
    from aegis_lab.training.detection import DetectionParams, is_current
    from aegis_lab.training.pipeline import (
        TrainPlan,
        TrainReport,
        replay_combiner_world,
        replay_shifted_world,
        train_all,
        train_combiner,
    )

    if args.if_missing and is_current(args.model_dir):
        print(f"models present in {args.model_dir}; not training", file=sys.stderr)
        return 0
    sizes = SMALL if args.small else FULL
    if args.events is None:
        args.events = sizes["events"]
    world = cmd_generate.config_from_args(args, randomise=True)
    split_legit = args.combiner_legit or sizes["combiner_legit"]
    plan = TrainPlan(
        world=world,
        bounds=AuditSettings().context_bounds(),
        model_dir=args.model_dir,
        params=DetectionParams(rounds=args.rounds or sizes["rounds"]),
        combiner_events=args.combiner_events or sizes["combiner_events"],
        shifted_users=sizes["shifted_users"] if args.shifted_users is None
        else args.shifted_users,
        worlds=args.worlds or sizes["worlds"],
    )
    plan = replace(plan, split=replace(plan.split, warmup_days=args.warmup_days,
                                       combiner_legit=split_legit))
    progress = _bars(args.progress)
    seeds = ", ".join(str(w.seed) for w in plan.training_worlds)
    print(f"training on {world.events} logins of {world.users} users over {world.days:g} days "
          f"(seeds {seeds}) into {args.model_dir}", file=sys.stderr)
    try:
        if args.only == "combiner":
            report = TrainReport()
            train_combiner(plan, replay_combiner_world(plan, progress), progress, report,
                           shifted=replay_shifted_world(plan, progress))
        else:
            report = train_all(plan, progress)
    except ValueError as exc:
        raise CliError(str(exc), FAILURE) from None
    _print(report, args.json)
    return 0


def _bars(enabled: bool) -> ProgressFactory:
    @contextlib.contextmanager
    def bar(description: str, total: int) -> Iterator[tqdm]:
        with tqdm(total=total, desc=description, unit="", file=sys.stderr,
                  dynamic_ncols=True, disable=None if enabled else True) as progress:
            yield progress

    return bar


def _print(report: TrainReport, as_json: bool) -> None:
    document = {
        "versions": report.versions,
        "detection": report.detection_metrics,
        "combiner": {"agents": report.combiner_agents, **report.combiner_metrics},
        "agents_left_out": report.skipped_agents,
    }
    if as_json:
        print(json.dumps(document, sort_keys=True))
        return
    for name, version in report.versions.items():
        print(f"{name:<10} {version}")
    metrics = report.detection_metrics
    if metrics:
        print(f"detection on holdout users: ROC AUC {metrics['roc_auc']:.4f}  recall at 1% "
              f"challenged {metrics['recall_at_1pct']:.3f}  at 0.1% "
              f"{metrics['recall_at_0_1pct']:.3f}  ECE {metrics['ece']:.4f}")
        per = "  ".join(f"{k} {v:.2f}" for k, v in metrics["recall_at_1pct_by_attack"].items())
        print(f"  recall at 1% by attack: {per}")
    combiner = report.combiner_metrics
    budgets = ", ".join(f"{share:g} {risk:.3f}"
                        for share, risk in combiner["risk_at_challenge_share"].items())
    print(f"combiner over {', '.join(report.combiner_agents)}: recall at 1% "
          f"{combiner['recall_at_1pct']:.3f}, ECE {combiner['ece']:.4f} (in-sample, combiner "
          f"world); risk at shares of legitimate logins challenged: {budgets}")
    for name, why in report.skipped_agents.items():
        print(f"left out of the combiner: {name}: {why}")
