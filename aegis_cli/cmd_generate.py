"""`aegis generate`: a seeded synthetic login world as JSONL or RBA CSV, streamed to a file or
stdout, with its full ground truth in a file of its own."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TextIO

from aegis_cli import rba
from aegis_cli.argtypes import non_negative_int, positive_float, positive_int, utc_datetime
from aegis_cli.errors import USAGE, CliError
from aegis_lab.shifted.config import DEFAULT_START as SHIFTED_START
from aegis_lab.shifted.config import ShiftedConfig
from aegis_lab.shifted.world import generate as generate_shifted
from aegis_lab.world import (
    ATTACK_TYPES,
    DEFAULT_ATTACK_MIX,
    DEFAULT_START,
    GeneratedLogin,
    WorldConfig,
    generate,
    parse_attack_mix,
)
from aegis_lab.world.rows import labels
from router_service.client.eventjson import event_json_line

SHIFTED_USERS = 600
SHIFTED_EVAL_DAYS = 5


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this command to `aegis`; the parsed arguments carry its handler."""
    parser = subparsers.add_parser(
        "generate",
        help="write a seeded synthetic login world (JSONL or RBA CSV)",
        description="Seeded synthetic logins in time order: people with a home, household, "
        "devices, usual hours, work, trips, VPNs and new phones, on shared infrastructure "
        "(mobile carrier NAT, corporate egress, VPN exits); attack campaigns ("
        + ", ".join(ATTACK_TYPES) + "). Same arguments, same bytes. The RBA labels go in a "
        "`labels` object beside each JSONL event, or in the RBA label columns; --truth writes "
        "the full ground truth (attack type, campaign, legitimate hard case) per event.",
    )
    add_generator_options(parser)
    parser.add_argument("--format", choices=("jsonl", "rba"), default="jsonl",
                        help="jsonl (protobuf JSON per line) or rba (the dataset's CSV)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--truth", type=Path, metavar="FILE",
                        help="also write one JSON line per event: event_id, attack, campaign, "
                        "hard_case")
    parser.add_argument("--family", choices=("training", "shifted"), default="training",
                        help="training: the generator training samples from (default); "
                        "shifted: the evaluation family training never sees (other places, "
                        "sharing rates and attack tactics; no device id, session id or "
                        "coordinates): --users people (default 600), --days of which the last "
                        f"{SHIFTED_EVAL_DAYS} hold the hard cases and the attacks; --events and "
                        "--attack-mix do not apply")
    parser.set_defaults(handler=run)


def add_generator_options(
    parser: argparse.ArgumentParser, events_default: int | None = 2000
) -> None:
    """The generator's knobs, shared with `aegis cluster run`, `train` and `evaluate` (a
    command whose default depends on other options passes None and fills it in itself)."""
    parser.add_argument("--users", type=positive_int, default=None,
                        help="number of users (default: one per 20 events, at least 10)")
    parser.add_argument("--events", type=non_negative_int, default=events_default,
                        help="number of logins (default %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default %(default)s)")
    parser.add_argument("--days", type=positive_float, default=30.0,
                        help="time span of the logins (default %(default)s)")
    parser.add_argument("--attack-share", type=float, default=0.03,
                        help="fraction of logins that are attacks (default %(default)s)")
    parser.add_argument("--attack-mix", type=_attack_mix, default=dict(DEFAULT_ATTACK_MIX),
                        metavar="TYPE=SHARE,...",
                        help="how the attacks split between types, e.g. "
                        "credential_stuffing=1,low_and_slow=1 (default: "
                        + ",".join(f"{k}={v:g}" for k, v in DEFAULT_ATTACK_MIX.items()) + ")")
    parser.add_argument("--start", type=utc_datetime, default=None, metavar="ISO8601",
                        help=f"first possible login time, UTC (default {DEFAULT_START:%Y-%m-%d})")
    parser.add_argument("--randomise", action=argparse.BooleanOptionalAction, default=None,
                        help="draw people's habits and sharing (households, company sizes, "
                        "carrier NAT pools, travel, VPNs, new phones, users whose logins carry "
                        "the RBA columns only) from the seed instead of "
                        "the defaults: domain randomisation (default: on for training, off "
                        "otherwise)")


def _attack_mix(text: str) -> dict[str, float]:
    try:
        return parse_attack_mix(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def config_from_args(args: argparse.Namespace, start: datetime | None = None,
                     randomise: bool = False) -> WorldConfig:
    """The world's configuration; `start` and `randomise` are the defaults when --start and
    --randomise are absent."""
    users = args.users if args.users is not None else max(10, args.events // 20)
    try:
        return WorldConfig(
            users=users, events=args.events, seed=args.seed,
            start=args.start or start or DEFAULT_START, days=args.days,
            attack_share=args.attack_share, attack_mix=args.attack_mix,
            randomised=randomise if args.randomise is None else args.randomise,
        )
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None


def write_jsonl(logins: Iterable[GeneratedLogin], out: TextIO) -> None:
    """One event per line, its labels in a `labels` object beside the event's fields."""
    for login in logins:
        out.write(event_json_line(login.event, labels(login)) + "\n")


def write_rba(logins: Iterable[GeneratedLogin], out: TextIO) -> None:
    """The RBA dataset's CSV, labels in its label columns (latitude etc. have no column)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(rba.COLUMNS)
    for index, login in enumerate(logins):
        writer.writerow(rba.format_row(index, login.event, labels(login)))


def with_truth(logins: Iterable[GeneratedLogin], out: TextIO) -> Iterator[GeneratedLogin]:
    """Pass the logins on, writing each one's full ground truth to `out` on the way."""
    for login in logins:
        out.write(json.dumps({"event_id": login.event.event_id, **login.truth.to_json()},
                             separators=(",", ":")) + "\n")
        yield login


def shifted_config(args: argparse.Namespace) -> ShiftedConfig:
    """A world of the shifted family from the generator's options."""
    try:
        return ShiftedConfig(
            users=args.users or SHIFTED_USERS, seed=args.seed, start=args.start or SHIFTED_START,
            history_days=max(1, round(args.days) - SHIFTED_EVAL_DAYS),
            eval_days=SHIFTED_EVAL_DAYS, attack_share=args.attack_share,
        )
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None


def run(args: argparse.Namespace) -> int:
    """Stream the logins to --out or stdout, and the truth to --truth."""
    logins: Iterable[GeneratedLogin] = (
        generate_shifted(shifted_config(args)) if args.family == "shifted"
        else generate(config_from_args(args))
    )
    write = write_rba if args.format == "rba" else write_jsonl
    try:
        with contextlib.ExitStack() as files:
            if args.truth is not None:
                truth = files.enter_context(_open(args.truth))
                logins = with_truth(logins, truth)
            out = files.enter_context(_open(args.out)) if args.out is not None else sys.stdout
            write(logins, out)
    except BrokenPipeError:
        raise  # the reader of stdout went away (`| head`): main ends quietly
    except OSError as exc:
        raise CliError(f"{exc.filename}: cannot write: {exc.strerror}") from None
    return 0


def _open(path: Path) -> TextIO:
    return path.open("w", encoding="utf-8", newline="")
