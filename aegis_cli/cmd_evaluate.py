"""`aegis evaluate`: replay a held-out world through the running cluster and write a report."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from aegis_cli import cmd_generate
from aegis_cli.argtypes import positive_float, positive_int
from aegis_cli.cmd_train import DEFAULT_MODEL_DIR
from aegis_cli.errors import FAILURE, USAGE, CliError
from aegis_cli.readers import FORMATS
from aegis_domain.convert import timestamp_to_seconds
from aegis_domain.registry import Registry, default_registry
from aegis_lab.world import DEFAULT_START, WorldConfig
from aegis_mesh.cluster import (
    ClusterError,
    ClusterPaths,
    LocalCluster,
    cluster_stages,
    router_address,
)
from aegis_runtime.artifacts import METADATA_FILE, ArtifactError, find_artifact
from agent_services.base import build_agent
from agent_services.trained import TrainedModelAgent
from audit_service.settings import AuditSettings
from router_service.combiner import LogisticCombiner, combiner_path, load_combiner

DEFAULT_EVENTS = 40_000
# The held-out world starts this long after the training world ends: later in time.
_GAP = timedelta(days=14)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this command to `aegis`; the parsed arguments carry its handler."""
    parser = subparsers.add_parser(
        "evaluate",
        help="replay a held-out world through the cluster and write a report",
        description="Generate a held-out world (another seed: users never seen in training; "
        "starting two weeks after the training world ends), replay it through the router's "
        "ScoreStream and write a report (Markdown, PNG plots, metrics.json): ROC and PR "
        "curves, recall at 0.1%% and 1%% of legitimate logins challenged, per attack type, "
        "false positives per legitimate hard case, escalation rate, calibration, and each "
        "agent alone against the mesh. Without --router it brings up a cluster of its own "
        "with a fresh audit store under --state-dir and stops it afterwards.",
    )
    cmd_generate.add_generator_options(parser, events_default=DEFAULT_EVENTS)
    parser.set_defaults(seed=None)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, metavar="DIR",
                        help="the trained models (default %(default)s)")
    parser.add_argument("--router", metavar="HOST:PORT",
                        help="a cluster already running (its audit store must not hold this "
                        "world yet); default: start one")
    parser.add_argument("--state-dir", type=Path, default=Path(".aegis/evaluate"), metavar="DIR",
                        help="state of the cluster this command starts (default %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="report folder (default .aegis/reports/evaluate-TIMESTAMP)")
    parser.add_argument("--warmup-days", type=positive_float, default=7.0,
                        help="logins before then build history and are not measured "
                        "(default %(default)s)")
    parser.add_argument("--max-in-flight", type=positive_int, default=4, metavar="N",
                        help="requests awaiting their decision at most (default %(default)s)")
    parser.add_argument("--timeout", type=positive_float, default=120.0, metavar="SECONDS",
                        help="for the cluster to come up (default %(default)s)")
    parser.add_argument("--world", type=Path, metavar="FILE",
                        help="evaluate the logins of this file (RBA CSV or JSONL, in time "
                        "order) instead of a generated world; needs --truth")
    parser.add_argument("--truth", type=Path, metavar="FILE",
                        help="the world file's truth: one JSON line per record, in the same "
                        "order, with `attack` (\"\" for the owner's own login) and optionally "
                        "`hard_case`, as `aegis generate --truth` writes")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="format of --world (default: from its extension)")
    parser.add_argument("--allow-untrained", action="store_true",
                        help="evaluate even when an agent has no model in --model-dir or the "
                        "combiner was fitted without it (the mesh measured is then not the "
                        "full one)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")
    parser.set_defaults(handler=run)


def _training_world(model_dir: Path) -> dict[str, Any] | None:
    path = model_dir / "detection" / METADATA_FILE
    try:
        world = json.loads(path.read_text())["world"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return world if isinstance(world, dict) else None


def held_out_world(args: argparse.Namespace, trained_on: dict[str, Any] | None) -> WorldConfig:
    """Another seed than training's, and a start after the training world's end."""
    if trained_on is None:
        start, seed = DEFAULT_START + timedelta(days=60), 1
    else:
        end = datetime.fromisoformat(trained_on["start"]) + timedelta(days=trained_on["days"])
        start, seed = end + _GAP, int(trained_on["seed"]) + 1
    if args.seed is None:
        args.seed = seed
    if trained_on is not None:
        combiner = trained_on.get("combiner_world") or {}
        training = trained_on.get("training_worlds") or [trained_on]
        for name, seen in (*(("training", w) for w in training), ("combiner", combiner)):
            if args.seed == seen.get("seed"):
                raise CliError(f"--seed {args.seed} is the {name} world's: its users are not "
                               "unseen")
    return cmd_generate.config_from_args(args, start=start)


def untrained_agents(model_dir: Path, registry: Registry,
                     combiner: LogisticCombiner | None) -> dict[str, str]:
    """The registry's agents that would not take their full part in the mesh evaluated, and
    why: no model in `model_dir` (the agent answers NO_MODEL), or a combiner that ignores them
    (it was fitted before their model was trained)."""
    untrained = {}
    for entry in registry.agents:
        agent = build_agent(entry, model_dir / entry.name)
        if isinstance(agent, TrainedModelAgent) and find_artifact(
            agent.model_dir, agent.model_file
        ) is None:
            untrained[entry.name] = f"no trained model in {agent.model_dir}"
        elif combiner is not None and entry.name not in combiner.spec.agents:
            untrained[entry.name] = ("the combiner was fitted without it: train its model, "
                                     "then `aegis train`")
    return untrained


def run(args: argparse.Namespace) -> int:
    """Exit 0 once the report is written (whether or not the targets were met)."""
    # Heavy imports (numpy, matplotlib) only for this command.
    from aegis_cli.labelled_file import read_labelled
    from aegis_lab.evaluation.analysis import analyse
    from aegis_lab.evaluation.collect import Labelled, collect, world_logins
    from aegis_lab.evaluation.report import write_report

    trained_on = _training_world(args.model_dir)
    if (args.world is None) != (args.truth is None):
        raise CliError("--world and --truth come together", USAGE)
    logins: Iterable[Labelled]
    if args.world is not None:
        labelled = read_labelled(args.world, args.truth, args.format)
        logins, count = labelled, len(labelled)
        about_world: dict[str, Any] = {"file": str(args.world), "truth": str(args.truth),
                                       "logins": count}
        start_s = timestamp_to_seconds(labelled[0].row.event.timestamp) if labelled else 0.0
        print(f"evaluating on {count} logins of {args.world}", file=sys.stderr)
    else:
        world = held_out_world(args, trained_on)
        logins, count, start_s = world_logins(world), world.events, world.start_ms / 1000
        about_world = {"seed": world.seed, "users": world.users, "events": world.events,
                       "start": world.start.isoformat(), "days": world.days,
                       "attack_share": world.attack_share, "attack_mix": dict(world.attack_mix)}
        print(f"evaluating on {world.events} logins of {world.users} unseen users (seed "
              f"{world.seed}, from {world.start:%Y-%m-%d})", file=sys.stderr)
    registry = default_registry()
    try:
        combiner = load_combiner(combiner_path(args.model_dir))
    except ArtifactError as exc:
        raise CliError(str(exc)) from None
    untrained = untrained_agents(args.model_dir, registry, combiner)
    if untrained and not args.allow_untrained:
        raise CliError("not the full mesh: " + "; ".join(
            f"{name}: {why}" for name, why in untrained.items()) + " (or --allow-untrained)")
    cluster = None if args.router else _own_cluster(args)
    try:
        with tqdm(total=count, unit="ev", file=sys.stderr, dynamic_ncols=True,
                  disable=None if args.progress else True) as bar:
            collected = collect(logins, count, args.router or router_address(), registry.names,
                                max_in_flight=args.max_in_flight,
                                bounds=AuditSettings().context_bounds(), on_outcome=bar.update)
    finally:
        if cluster is not None:
            cluster.down()
    warm_after = start_s + args.warmup_days * 86_400
    try:
        analysis = analyse(collected, warm_after,
                           {e.name: e.weight for e in registry.agents}, combiner)
    except ValueError as exc:
        raise CliError(f"cannot evaluate: {exc}", FAILURE) from None
    now = datetime.now(UTC)
    folder = args.out or Path(".aegis/reports") / f"evaluate-{now:%Y%m%dT%H%M%SZ}"
    about = {
        "command": "aegis " + " ".join(sys.argv[1:]) if sys.argv[1:] else "aegis evaluate",
        "evaluated_at": now.isoformat(timespec="seconds"),
        "world": about_world,
        "training_world": trained_on,
        "untrained_agents": untrained,
        "router": args.router or f"{router_address()} (started by this command)",
        "max_in_flight": args.max_in_flight, "warmup_days": args.warmup_days,
        "elapsed_s": collected.elapsed_s,
    }
    path = write_report(folder, analysis, about)
    mesh = analysis.scores["mesh"].summary
    print(f"mesh: recall at 1% {mesh.recall_at_1pct:.4f}, at 0.1% {mesh.recall_at_0_1pct:.4f}, "
          f"ROC AUC {mesh.roc_auc:.4f}, ECE {analysis.reliability.ece:.4f}")
    for target, met in analysis.targets.items():
        print(f"  [{'x' if met else ' '}] {target}")
    print(f"report: {path}")
    return 0


def _own_cluster(args: argparse.Namespace) -> LocalCluster:
    """A cluster with an empty audit store, serving the models of --model-dir."""
    paths = ClusterPaths(args.state_dir)
    shutil.rmtree(paths.audit_data, ignore_errors=True)
    # The services inherit the environment: point them at the models evaluated.
    os.environ["AEGIS_AGENT_MODEL_DIR"] = str(args.model_dir.resolve())
    os.environ["AEGIS_ROUTER_COMBINER_PATH"] = str(combiner_path(args.model_dir).resolve())
    cluster = LocalCluster(cluster_stages(paths), paths)
    try:
        cluster.up(args.timeout)
    except ClusterError as exc:
        raise CliError(f"cluster up failed: {exc} (or pass --router to use a running "
                       "cluster)") from None
    return cluster
