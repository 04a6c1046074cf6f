"""`aegis generate`: seeded synthetic logins as JSONL or RBA CSV, streamed to a file or stdout."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from aegis_cli import rba
from aegis_cli.argtypes import non_negative_int, positive_float, positive_int, utc_datetime
from aegis_cli.errors import USAGE, CliError
from aegis_cli.eventjson import event_json_line
from aegis_cli.generator import DEFAULT_START, GeneratedLogin, GeneratorConfig, generate


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this command to `aegis`; the parsed arguments carry its handler."""
    parser = subparsers.add_parser(
        "generate",
        help="write seeded synthetic logins (JSONL or RBA CSV)",
        description="Seeded synthetic logins in time order: users with a home city, ISP, "
        "devices and usual hours, occasional trips, and a few percent attacks (credential "
        "stuffing, account takeover). Same arguments, same bytes. Ground truth goes in a "
        "`labels` object beside each JSONL event, or in the RBA label columns.",
    )
    add_generator_options(parser)
    parser.add_argument("--format", choices=("jsonl", "rba"), default="jsonl",
                        help="jsonl (protobuf JSON per line) or rba (the dataset's CSV)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    parser.set_defaults(handler=run)


def add_generator_options(parser: argparse.ArgumentParser, events_default: int = 2000) -> None:
    """The generator's knobs, shared with `aegis cluster run`."""
    parser.add_argument("--users", type=positive_int, default=None,
                        help="number of users (default: one per 20 events, at least 10)")
    parser.add_argument("--events", type=non_negative_int, default=events_default,
                        help="number of logins (default %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default %(default)s)")
    parser.add_argument("--days", type=positive_float, default=30.0,
                        help="time span of the logins (default %(default)s)")
    parser.add_argument("--attack-share", type=float, default=0.03,
                        help="fraction of logins that are attacks (default %(default)s)")
    parser.add_argument("--start", type=utc_datetime, default=None, metavar="ISO8601",
                        help=f"first possible login time, UTC (default {DEFAULT_START:%Y-%m-%d})")


def config_from_args(args: argparse.Namespace, start: datetime | None = None) -> GeneratorConfig:
    """The generator's configuration; `start` is the default when --start is absent."""
    users = args.users if args.users is not None else max(10, args.events // 20)
    try:
        return GeneratorConfig(
            users=users, events=args.events, seed=args.seed,
            start=args.start or start or DEFAULT_START, days=args.days,
            attack_share=args.attack_share,
        )
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None


def write_jsonl(logins: Iterable[GeneratedLogin], out: TextIO) -> None:
    """One event per line, its labels in a `labels` object beside the event's fields."""
    for login in logins:
        out.write(event_json_line(login.event, login.labels) + "\n")


def write_rba(logins: Iterable[GeneratedLogin], out: TextIO) -> None:
    """The RBA dataset's CSV, labels in its label columns (latitude etc. have no column)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(rba.COLUMNS)
    for index, login in enumerate(logins):
        writer.writerow(rba.format_row(index, login.event, login.labels))


def run(args: argparse.Namespace) -> int:
    """Stream the logins to --out or stdout."""
    logins = generate(config_from_args(args))
    write = write_rba if args.format == "rba" else write_jsonl
    if args.out is None:
        write(logins, sys.stdout)
        return 0
    try:
        with args.out.open("w", encoding="utf-8", newline="") as out:
            write(logins, out)
    except OSError as exc:
        raise CliError(f"{args.out}: cannot write: {exc.strerror}") from None
    return 0
